package formatspec

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/testserver"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// Everything from here to the tests is written from docs/FORMAT.md alone,
// with the standard library: no function of this repository encodes,
// hashes, signs or names a record here.

// payloadType is the DSSE payload type of every statement (FORMAT.md §3).
const payloadType = "application/vnd.antimony.statement.v1+proto"

// marshalStatement serializes a statement as the Go tools do (FORMAT.md
// §3.3): deterministic protobuf encoding.
func marshalStatement(t *testing.T, st *pb.Statement) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		t.Fatalf("encoding statement: %v", err)
	}
	return b
}

// pae is the DSSE v1 pre-authentication encoding (FORMAT.md §4).
func pae(typ string, payload []byte) []byte {
	b := []byte("DSSEv1 " + strconv.Itoa(len(typ)) + " " + typ + " " + strconv.Itoa(len(payload)) + " ")
	return append(b, payload...)
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58btc encodes b in the Bitcoin base58 alphabet: each leading zero
// byte is a '1', the rest is the big-endian number in base 58.
func base58btc(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	var digits []byte // base 58, least significant first
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, 0, zeros+len(digits))
	for range zeros {
		out = append(out, '1')
	}
	for i := len(digits) - 1; i >= 0; i-- {
		out = append(out, base58Alphabet[digits[i]])
	}
	return string(out)
}

// sha256ID is the base58btc sha2-256 multihash of a digest: 0x12 0x20
// then the 32 bytes, no multibase prefix (FORMAT.md §2.2, §7).
func sha256ID(digest [32]byte) string {
	return base58btc(append([]byte{0x12, 0x20}, digest[:]...))
}

// keyID is the key id of an Ed25519 public key (FORMAT.md §2.2).
func keyID(pub ed25519.PublicKey) string { return sha256ID(sha256.Sum256(pub)) }

// leafHash is the RFC 6962 leaf hash of stored envelope bytes.
func leafHash(data []byte) [32]byte { return sha256.Sum256(append([]byte{0x00}, data...)) }

// nodeHash is the RFC 6962 interior node hash.
func nodeHash(l, r [32]byte) [32]byte {
	return sha256.Sum256(append(append([]byte{0x01}, l[:]...), r[:]...))
}

// recordID is the id of the record whose stored bytes are data (FORMAT.md §7).
func recordID(data []byte) string { return sha256ID(leafHash(data)) }

// leafEncoding is the leaf the log's tree commits for a record (FORMAT.md
// §10.1): version 2, the integration time, the record id digest, the extra
// data and the map root, if any. Its tree leaf hash is leafHash of it.
func leafEncoding(logTime time.Time, digest [32]byte, extra []byte, mapRoot *[32]byte) []byte {
	b := []byte{2}
	b = binary.BigEndian.AppendUint64(b, uint64(logTime.UnixNano()))
	b = append(b, digest[:]...)
	b = binary.AppendUvarint(b, uint64(len(extra)))
	b = append(b, extra...)
	if mapRoot == nil {
		return append(b, 0)
	}
	return append(append(b, 1), mapRoot[:]...)
}

// A chain is a value of the log's map (FORMAT.md §10.4).
type chain struct {
	count, head uint64
	hash        [32]byte
}

func (c chain) add(index uint64, digest [32]byte) chain {
	msg := append([]byte("antimony chain v1"), c.hash[:]...)
	msg = binary.BigEndian.AppendUint64(msg, index)
	return chain{count: c.count + 1, head: index, hash: sha256.Sum256(append(msg, digest[:]...))}
}

func (c chain) bytes() []byte {
	b := binary.BigEndian.AppendUint64(nil, c.count)
	b = binary.BigEndian.AppendUint64(b, c.head)
	return append(b, c.hash[:]...)
}

// mapRoot is the root of the log's sparse Merkle tree holding entries, key
// to value (FORMAT.md §10.4), computed from the definition: a subtree with
// no entry is 32 zero bytes, with one its leaf, with more an interior node
// over its halves by the next bit of SHA-256(key).
func mapRoot(entries map[string][]byte) [32]byte {
	type kv struct{ k, v [32]byte }
	var all []kv
	for k, v := range entries {
		all = append(all, kv{sha256.Sum256([]byte(k)), sha256.Sum256(v)})
	}
	var root func(es []kv, d int) [32]byte
	root = func(es []kv, d int) [32]byte {
		switch len(es) {
		case 0:
			return [32]byte{}
		case 1:
			return mapLeafHash(es[0].k, es[0].v)
		}
		var l, r []kv
		for _, e := range es {
			if bitOf(e.k, d) == 0 {
				l = append(l, e)
			} else {
				r = append(r, e)
			}
		}
		return mapNodeHash(root(l, d+1), root(r, d+1))
	}
	return root(all, 0)
}

func bitOf(h [32]byte, d int) byte { return h[d/8] >> (7 - d%8) & 1 }

func mapLeafHash(kh, vh [32]byte) [32]byte {
	return sha256.Sum256(append(append([]byte{0x10}, kh[:]...), vh[:]...))
}

func mapNodeHash(l, r [32]byte) [32]byte {
	return sha256.Sum256(append(append([]byte{0x11}, l[:]...), r[:]...))
}

// A mapProof is a map proof as a bundle carries it (FORMAT.md §10.5).
type mapProof struct {
	Key        []byte   `json:"key"`
	Value      []byte   `json:"value"`
	Absent     bool     `json:"absent"`
	Siblings   [][]byte `json:"siblings"`
	OtherKey   []byte   `json:"otherKey"`
	OtherValue []byte   `json:"otherValue"`
}

// verify checks the proof against root, following FORMAT.md §10.4.
func (p mapProof) verify(root [32]byte) bool {
	kh := sha256.Sum256(p.Key)
	var h [32]byte
	switch {
	case !p.Absent:
		h = mapLeafHash(kh, sha256.Sum256(p.Value))
	case len(p.OtherKey) > 0:
		ok := [32]byte(p.OtherKey)
		if ok == kh {
			return false
		}
		for d := range p.Siblings {
			if bitOf(ok, d) != bitOf(kh, d) {
				return false
			}
		}
		h = mapLeafHash(ok, [32]byte(p.OtherValue))
	}
	if len(p.Siblings) > 256 {
		return false
	}
	for d := len(p.Siblings) - 1; d >= 0; d-- {
		if bitOf(kh, d) == 0 {
			h = mapNodeHash(h, [32]byte(p.Siblings[d]))
		} else {
			h = mapNodeHash([32]byte(p.Siblings[d]), h)
		}
	}
	return h == root
}

// tallyExtra encodes one running tally of an extraction's leaf (FORMAT.md
// §10.4).
func tallyExtra(key string, prev, count, oreG, sbG, otherSbG uint64) []byte {
	b := binary.AppendUvarint(nil, uint64(len(key)))
	b = append(b, key...)
	for _, v := range []uint64{prev, count, oreG, sbG, otherSbG} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

// grams is an extraction's wet mass and contained Sb in grams (FORMAT.md
// §10.4).
func grams(massKg, moisturePct, gradePct float64) (uint64, uint64) {
	return uint64(math.Round(massKg * 1000)), uint64(math.Round(massKg * (1 - moisturePct/100) * gradePct / 100 * 1000))
}

// storedJSON builds the stored DSSE JSON form byte by byte (FORMAT.md §6).
func storedJSON(payload []byte, keyids []string, sigs [][]byte) []byte {
	var b strings.Builder
	b.WriteString(`{"payloadType":"` + payloadType + `","payload":"` + base64.StdEncoding.EncodeToString(payload) + `","signatures":[`)
	for i := range sigs {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"keyid":"` + keyids[i] + `","sig":"` + base64.StdEncoding.EncodeToString(sigs[i]) + `"}`)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// A record is one statement signed by hand.
type record struct {
	payload []byte
	sig     []byte // the first (here the only) signature
	stored  []byte // stored DSSE JSON
	id      string // record id
}

// sign encodes st, signs its PAE with key and builds the stored bytes and
// the record id.
func sign(t *testing.T, st *pb.Statement, key ed25519.PrivateKey) record {
	t.Helper()
	payload := marshalStatement(t, st)
	sig := ed25519.Sign(key, pae(payloadType, payload))
	stored := storedJSON(payload, []string{keyID(key.Public().(ed25519.PublicKey))}, [][]byte{sig})
	return record{payload: payload, sig: sig, stored: stored, id: recordID(stored)}
}

// restBody is the body of POST /v1/envelopes: the stored form is also the
// protojson form of the envelope (FORMAT.md §8.2).
func (r record) restBody() []byte {
	return append(append([]byte(`{"envelope":`), r.stored...), '}')
}

// A noteKey is a parsed log verifier key "NAME+HASH+BASE64" (FORMAT.md §9).
type noteKey struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func parseVerifierKey(t *testing.T, vkey string) noteKey {
	t.Helper()
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || len(parts[1]) != 8 {
		t.Fatalf("verifier key %q is not NAME+HASH+KEY", vkey)
	}
	h, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		t.Fatalf("verifier key hash %q: %v", parts[1], err)
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 33 || key[0] != 0x01 {
		t.Fatalf("verifier key %q: want base64 of 0x01 and 32 key bytes (%v)", parts[2], err)
	}
	if got := noteKeyHash(parts[0], key[1:]); got != uint32(h) {
		t.Fatalf("verifier key hash %08x, computed %08x", h, got)
	}
	return noteKey{name: parts[0], hash: uint32(h), pub: ed25519.PublicKey(key[1:])}
}

// noteKeyHash is the first four bytes, big-endian, of
// SHA-256(name || "\n" || 0x01 || pub).
func noteKeyHash(name string, pub []byte) uint32 {
	sum := sha256.Sum256(append(append([]byte(name+"\n"), 0x01), pub...))
	return binary.BigEndian.Uint32(sum[:4])
}

// cosigKeyHash is the key hash of the checkpoint's time line: algorithm
// byte 0x04 (FORMAT.md §9).
func cosigKeyHash(name string, pub []byte) uint32 {
	sum := sha256.Sum256(append(append([]byte(name+"\n"), 0x04), pub...))
	return binary.BigEndian.Uint32(sum[:4])
}

// A checkpoint is a verified, parsed checkpoint.
type checkpoint struct {
	size uint64
	root [32]byte
	time time.Time // from the cosignature/v1 line
}

// openCheckpoint verifies a signed checkpoint note with k and parses its
// body, following FORMAT.md §9.
func openCheckpoint(t *testing.T, k noteKey, signed string) checkpoint {
	t.Helper()
	i := strings.LastIndex(signed, "\n\n")
	if i < 0 || !strings.HasSuffix(signed, "\n") {
		t.Fatalf("checkpoint %q: no signature block", signed)
	}
	body, sigs := signed[:i+1], signed[i+2:]
	verified := false
	var signedAt time.Time
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "\u2014 ")
		if !ok {
			t.Fatalf("signature line %q does not start with an em dash and a space", line)
		}
		name, b64, _ := strings.Cut(rest, " ")
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != b64 || len(raw) < 5 {
			t.Fatalf("signature %q is not canonical base64 (%v)", b64, err)
		}
		if name == k.name && binary.BigEndian.Uint32(raw[:4]) == cosigKeyHash(k.name, k.pub) {
			// The time line (FORMAT.md §9): BE8(t) and a signature of
			// "cosignature/v1\ntime <t>\n" and the body.
			if len(raw) != 4+8+ed25519.SignatureSize {
				t.Fatalf("time line of %d bytes", len(raw))
			}
			at := binary.BigEndian.Uint64(raw[4:12])
			msg := "cosignature/v1\ntime " + strconv.FormatUint(at, 10) + "\n" + body
			if !ed25519.Verify(k.pub, []byte(msg), raw[12:]) {
				t.Fatalf("the checkpoint's time line does not verify")
			}
			signedAt = time.Unix(int64(at), 0).UTC()
			continue
		}
		if name != k.name || binary.BigEndian.Uint32(raw[:4]) != k.hash {
			continue
		}
		if len(raw) != 4+ed25519.SignatureSize || !ed25519.Verify(k.pub, []byte(body), raw[4:]) {
			t.Fatalf("checkpoint signature by %s does not verify", name)
		}
		verified = true
	}
	if !verified {
		t.Fatalf("checkpoint %q has no signature by %s+%08x", signed, k.name, k.hash)
	}
	if signedAt.IsZero() {
		t.Fatalf("checkpoint %q has no time line", signed)
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("checkpoint body %q: %d lines, want 3", body, len(lines))
	}
	if lines[0] != k.name {
		t.Fatalf("checkpoint origin %q, want the key name %q", lines[0], k.name)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		t.Fatalf("checkpoint size %q is not canonical decimal", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != 32 || base64.StdEncoding.EncodeToString(root) != lines[2] {
		t.Fatalf("checkpoint root %q is not canonical base64 of 32 bytes", lines[2])
	}
	return checkpoint{size: size, root: [32]byte(root), time: signedAt}
}

// inclusionRoot is RFC 9162 §2.1.3.2: the root an inclusion proof leads to.
func inclusionRoot(t *testing.T, index, size uint64, leaf [32]byte, proof [][32]byte) [32]byte {
	t.Helper()
	if index >= size {
		t.Fatalf("index %d not in a tree of size %d", index, size)
	}
	fn, sn, r := index, size-1, leaf
	for _, p := range proof {
		if sn == 0 {
			t.Fatalf("inclusion proof for %d in %d is too long", index, size)
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		t.Fatalf("inclusion proof for %d in %d is too short", index, size)
	}
	return r
}

// verifyConsistency is RFC 9162 §2.1.4.2, for 0 < first < second.
func verifyConsistency(t *testing.T, first, second uint64, proof [][32]byte, firstRoot, secondRoot [32]byte) {
	t.Helper()
	if first == 0 || first >= second || len(proof) == 0 {
		t.Fatalf("consistency %d -> %d: unexpected sizes or empty proof", first, second)
	}
	if first&(first-1) == 0 {
		proof = append([][32]byte{firstRoot}, proof...)
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if sn == 0 {
			t.Fatalf("consistency proof %d -> %d is too long", first, second)
		}
		if fn&1 == 1 || fn == sn {
			fr, sr = nodeHash(c, fr), nodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = nodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || fr != firstRoot || sr != secondRoot {
		t.Fatalf("consistency proof %d -> %d does not verify", first, second)
	}
}

// rest is a plain net/http client of the REST gateway.
type rest struct {
	t    *testing.T
	base string
	http *http.Client
	// token authenticates every request: the operator's, which may
	// submit and read everything (docs/FORMAT.md, "Authentication").
	token string
}

func newREST(t *testing.T, srv *testserver.Server) rest {
	c := &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	tok, err := srv.Operator().Token()
	if err != nil {
		t.Fatal(err)
	}
	return rest{t: t, base: "http://" + srv.HTTPAddr, http: c, token: tok}
}

func (r rest) do(method, path string, body []byte) (int, []byte) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(r.t.Context(), method, r.base+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, b
}

func (r rest) get(path string, v any) {
	r.t.Helper()
	code, b := r.do("GET", path, nil)
	if code != http.StatusOK {
		r.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		r.t.Fatalf("GET %s: decoding %s: %v", path, b, err)
	}
}

// submitAnswer is the JSON answer of POST /v1/envelopes. 64-bit integers
// are JSON strings (FORMAT.md §8.2).
type submitAnswer struct {
	Index      string `json:"index"`
	LeafHash   string `json:"leafHash"`
	Duplicate  bool   `json:"duplicate"`
	Checkpoint string `json:"checkpoint"`
}

func decodeAnswer(t *testing.T, code int, b []byte) submitAnswer {
	t.Helper()
	if code != http.StatusOK {
		t.Fatalf("POST /v1/envelopes: %d %s", code, b)
	}
	var a submitAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return a
}

func (r rest) submit(rec record) submitAnswer {
	r.t.Helper()
	code, b := r.do("POST", "/v1/envelopes", rec.restBody())
	return decodeAnswer(r.t, code, b)
}

// pipeline writes every body as a POST /v1/envelopes on one HTTP/1.1
// connection before reading any answer, then reads the answers in order.
func (r rest) pipeline(addr string, bodies [][]byte) []submitAnswer {
	r.t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		r.t.Fatal(err)
	}
	w := bufio.NewWriter(conn)
	for _, body := range bodies {
		req, err := http.NewRequest("POST", r.base+"/v1/envelopes", bytes.NewReader(body))
		if err != nil {
			r.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+r.token)
		if err := req.Write(w); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		r.t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	var out []submitAnswer
	for i := range bodies {
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			r.t.Fatalf("reading answer %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			r.t.Fatalf("reading answer %d: %v", i, err)
		}
		out = append(out, decodeAnswer(r.t, resp.StatusCode, b))
	}
	return out
}

// entry is GET /v1/entries/{index} and GET /v1/records/{leaf_hash}.
type entry struct {
	Entry struct {
		Index      string `json:"index"`
		LeafHash   string `json:"leafHash"`
		Data       string `json:"data"`
		RecordTime string `json:"recordTime"`
		Extra      []byte `json:"extra"`
		MapRoot    []byte `json:"mapRoot"`
	} `json:"entry"`
}

// servedEntry is an entry as served, with its leaf (FORMAT.md §10.2).
type servedEntry struct {
	time    time.Time
	extra   []byte
	mapRoot *[32]byte
	leaf    []byte
}

// checkEntry checks that the log holds exactly rec's stored bytes at index,
// and returns the entry's leaf, built from what is served.
func (r rest) checkEntry(index uint64, rec record) servedEntry {
	r.t.Helper()
	var e entry
	r.get(fmt.Sprintf("/v1/entries/%d", index), &e)
	data, err := base64.StdEncoding.Strict().DecodeString(e.Entry.Data)
	if err != nil {
		r.t.Fatalf("entry %d: data %q is not standard base64: %v", index, e.Entry.Data, err)
	}
	if !bytes.Equal(data, rec.stored) {
		r.t.Errorf("entry %d holds\n%s\nthe record built by hand is\n%s", index, data, rec.stored)
	}
	if e.Entry.LeafHash != rec.id || e.Entry.Index != strconv.FormatUint(index, 10) {
		r.t.Errorf("entry %d: index %s, leafHash %s; want %d, %s", index, e.Entry.Index, e.Entry.LeafHash, index, rec.id)
	}
	var byID entry
	r.get("/v1/records/"+rec.id, &byID)
	if byID.Entry.Index != strconv.FormatUint(index, 10) {
		r.t.Errorf("GET /v1/records/%s: index %s, want %d", rec.id, byID.Entry.Index, index)
	}
	se := servedEntry{extra: e.Entry.Extra}
	if se.time, err = time.Parse(time.RFC3339Nano, e.Entry.RecordTime); err != nil {
		r.t.Fatalf("entry %d: recordTime %q: %v", index, e.Entry.RecordTime, err)
	}
	switch len(e.Entry.MapRoot) {
	case 0:
	case 32:
		root := [32]byte(e.Entry.MapRoot)
		se.mapRoot = &root
	default:
		r.t.Fatalf("entry %d: mapRoot of %d bytes", index, len(e.Entry.MapRoot))
	}
	se.leaf = leafEncoding(se.time, leafHash(data), se.extra, se.mapRoot)
	return se
}

func (r rest) checkpoint(k noteKey) checkpoint {
	r.t.Helper()
	var resp struct {
		Checkpoint string `json:"checkpoint"`
		Origin     string `json:"origin"`
		TreeSize   string `json:"treeSize"`
		RootHash   string `json:"rootHash"`
	}
	r.get("/v1/checkpoint", &resp)
	c := openCheckpoint(r.t, k, resp.Checkpoint)
	if resp.Origin != k.name || resp.TreeSize != strconv.FormatUint(c.size, 10) || resp.RootHash != base64.StdEncoding.EncodeToString(c.root[:]) {
		r.t.Errorf("GET /v1/checkpoint: origin %q size %s root %s disagree with the signed note (%q, %d, %x)",
			resp.Origin, resp.TreeSize, resp.RootHash, k.name, c.size, c.root)
	}
	return c
}

func decodeHashes(t *testing.T, in []string) [][32]byte {
	t.Helper()
	out := make([][32]byte, len(in))
	for i, s := range in {
		h, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(h) != 32 {
			t.Fatalf("proof hash %q is not base64 of 32 bytes (%v)", s, err)
		}
		out[i] = [32]byte(h)
	}
	return out
}

// inclusionProof fetches and checks an inclusion proof of rec, whose leaf
// is leaf, at index in the tree of c.size, and returns its hashes as
// served.
func (r rest) inclusionProof(c checkpoint, index uint64, rec record, leaf []byte) []string {
	r.t.Helper()
	var resp struct {
		Index    string   `json:"index"`
		TreeSize string   `json:"treeSize"`
		Hashes   []string `json:"hashes"`
		LeafHash string   `json:"leafHash"`
	}
	r.get(fmt.Sprintf("/v1/proofs/inclusion?index=%d&tree_size=%d", index, c.size), &resp)
	if resp.LeafHash != rec.id {
		r.t.Errorf("inclusion proof of %d names %s, want %s", index, resp.LeafHash, rec.id)
	}
	if got := inclusionRoot(r.t, index, c.size, leafHash(leaf), decodeHashes(r.t, resp.Hashes)); got != c.root {
		r.t.Errorf("inclusion proof of %d leads to %x, the checkpoint's root is %x", index, got, c.root)
	}
	return resp.Hashes
}

// A bundle is the part of a bundle document (FORMAT.md §10.5) these tests
// read.
type bundle struct {
	LotID     string     `json:"lotId"`
	MapProofs []mapProof `json:"mapProofs"`
}

// bundle fetches a lot's bundle over REST.
func (r rest) bundle(lot string) bundle {
	r.t.Helper()
	var b bundle
	r.get("/v1/lots/"+lot+"/bundle", &b)
	if b.LotID != lot {
		r.t.Fatalf("bundle of %s names lot %q", lot, b.LotID)
	}
	return b
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func ts(t *testing.T, s string) *timestamppb.Timestamp {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return timestamppb.New(tm)
}

func index(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("index %q: %v", s, err)
	}
	return n
}

// TestBase58 checks the test's own base58btc encoder against the vectors
// of draft-msporny-base58.
func TestBase58(t *testing.T) {
	for in, want := range map[string]string{
		"Hello World!":                                 "2NEpo7TZRRrLZSi2U",
		"\x00\x00\x28\x7f\xb4\xcd":                     "11233QC4",
		"The quick brown fox jumps over the lazy dog.": "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z",
	} {
		if got := base58btc([]byte(in)); got != want {
			t.Errorf("base58btc(%q) = %s, want %s", in, got, want)
		}
	}
}

// The worked example of FORMAT.md §11. Its keys are the RFC 8032 §7.1
// test keys: TEST 1 for the mine, TEST 2 for the registrar, TEST 3 for
// the log.
var (
	exampleMineSeed      = mustHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	exampleRegistrarSeed = mustHex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
	exampleLogSeed       = mustHex("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7")
)

const (
	exampleOrigin = "antimony-ledger.local/log"

	exampleMinePrivPEM = "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g"
	exampleMinePubPEM  = "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	exampleMineKeyID   = "QmQdLyVK6Df2XQfexRd1LJr3zdu4uZV6dBm6kQHnXKrLdW"
	exampleRegKeyID    = "QmSEvTuu81BLWYiWXfSAuLVryKe3sSuX2isrrFqoBkE7Fc"

	exampleExtPayloadHex = "0a0c6d696e652d6578616d706c6512060880baaebf066a3e0a0445582d3111000000000070c7401900000000000010402100000000000026402a19093333333333f34140113333333333f351401a054b72696e6a3001"
	exampleExtPAEPrefix  = "DSSEv1 43 application/vnd.antimony.statement.v1+proto 86 "
	exampleExtSigHex     = "9ac8b0f91cde183d9c6a178c6ae8baf3700d61684cf3d34f94b8bab6da9cf41d8be816531671eddddbff8b1d2de9ff7aa805671f40e6808f846aca5c7a187503"
	exampleExtStored     = `{"payloadType":"application/vnd.antimony.statement.v1+proto","payload":"CgxtaW5lLWV4YW1wbGUSBgiAuq6/Bmo+CgRFWC0xEQAAAAAAcMdAGQAAAAAAABBAIQAAAAAAACZAKhkJMzMzMzPzQUARMzMzMzPzUUAaBUtyaW5qMAE=","signatures":[{"keyid":"QmQdLyVK6Df2XQfexRd1LJr3zdu4uZV6dBm6kQHnXKrLdW","sig":"msiw+RzeGD2caheMaui683ANYWhM89NPlLi6ttqc9B2L6BZTFnHt3dv/ix0t6f96qAVnH0DmgI+Easpcehh1Aw=="}]}`
	exampleExtLeafHex    = "f1c895fc7371d6a11999941c65f312fcdeb10f9eb5fddbb2657508be3eb7476d"
	exampleExtID         = "QmecUN4K84bGFjn8WF2HLwNc3UZqNyL6QgwZuaH2risCf6"

	exampleRegStored = `{"payloadType":"application/vnd.antimony.statement.v1+proto","payload":"CglyZWdpc3RyYXISBgiAi9K7BlJ1CgxtaW5lLWV4YW1wbGUSFUV4YW1wbGUgQW50aW1vbnkgTWluZRoBASICUEs6GxEAAAAAAEztQBkAAAAAAAAUQCEAAAAAAAAuQEIqCiDXWpgBgrEKt9VL/tPJZAc6DuFy89qmIyWvAhpo9wdRGhIGCICL0rsG","signatures":[{"keyid":"QmSEvTuu81BLWYiWXfSAuLVryKe3sSuX2isrrFqoBkE7Fc","sig":"e3ojExIsmfyL9Wue3hSZwS+2kDCzBq7NO5J9PiCMrDdo4YuHSFb7wzZ4Dh0KkYAx8ca1aXDFDlfjl/sIG5C8Dw=="}]}`
	exampleRegID     = "QmZtYtckkUwUSSDbbkovqHqH49xktBWhKxMuzjw71ZQEcB"

	exampleAssayStored = `{"payloadType":"application/vnd.antimony.statement.v1+proto","payload":"CgxtaW5lLWV4YW1wbGUSBgiA3bO/BnJKCgRFWC0xEi5RbWVjVU40Szg0YkdGam44V0YySEx3TmMzVVpxTnlMNlFnd1p1YUgycmlzQ2Y2GgNTLTEiDQoCU2IRZmZmZmZmJkA=","signatures":[{"keyid":"QmQdLyVK6Df2XQfexRd1LJr3zdu4uZV6dBm6kQHnXKrLdW","sig":"CnHaCNgI2aCMGiJ+C0zQxXA8sMr9gDxw8Oz+gWWdnXUn45keYhjMtp7/28e1cyyr51IhlSgDwJTx6ZT+hMVpAA=="}]}`
	exampleAssayID     = "QmZYf8wetbrYA1uZ4UjRwVnjA5fatTXhz9TjEUshYPzVyh"

	exampleChainParty        = "000000000000000100000000000000004791fdb49665c9ecdc0b8f5a645c5968c108a0e0ee6a1ecd8f1a04e4988d8be9"
	exampleChainLot1         = "000000000000000100000000000000016d6a2d48a44d479aeb51c70d53653b4b52fa28063f02f49cca811c96f9009aec"
	exampleChainLot2         = "000000000000000200000000000000026b15b6b42d3215d4c9385c88fcd5b818882cfc97d68f863e4053a789c78143be"
	exampleExtExtraHex       = "116d696e65006d696e652d6578616d706c65ffffffffffffffff00000000000000010000000000b71b00000000000013560000000000000000000a636f756e74727900504bffffffffffffffff00000000000000010000000000b71b0000000000001356000000000000000000"
	exampleExtLeafEncHex     = "02183222f954295800f1c895fc7371d6a11999941c65f312fcdeb10f9eb5fddbb2657508be3eb7476d6d116d696e65006d696e652d6578616d706c65ffffffffffffffff00000000000000010000000000b71b00000000000013560000000000000000000a636f756e74727900504bffffffffffffffff00000000000000010000000000b71b00000000000013560000000000000000000150809e0081637d4636c7241ee11bc435671b2aba1fca4e511b65991b928568de"
	exampleRootB64           = "K+SOTrOD3CCF4U3YKM5rMu17Adfp4U36mCQN3o4/6sI="
	exampleProof1            = `["FdJikt4uxSgPSHmV156rUtgunM2+9HRxAnrWE1dAqic=","wWBY8h9U587raqWehMzEgOPzyZXwqGVgKlrzmW36CPw="]`
	exampleVerifierKey       = "antimony-ledger.local/log+de9add2c+AfxRzY5iGKGjjaR+0AIw8FgIFu0TujMDrF3rkRVIkIAl"
	exampleCheckpointSig     = "3prdLGD6rUbyu+2vm70C6cisOkKKUyylULbh5tFe8bu36n8ihL88O0k2qVqJzl4qvGYb8ZtMAGswyNKGbTebXznR8ww="
	exampleCheckpointTimeSig = "OSFiOwAAAABn7O68O5ZB6qyIHdSJzrDBhkcguBKsb55T0F4GtLfXJfNbtxF6u8qIx7Ml/vNS4dKsDSPVL/c3g1eYnuEXmjEkAsAzAA=="
)

// exampleStatements returns the three statements of the worked example,
// the assay linking to the extraction's id as computed by hand.
func exampleStatements(t *testing.T, minePub ed25519.PublicKey, extID string) (reg, ext, assay *pb.Statement) {
	reg = &pb.Statement{PartyId: "registrar", EventTime: ts(t, "2025-01-01T00:00:00Z"), Body: &pb.Statement_PartyRegistration{PartyRegistration: &pb.PartyRegistration{
		PartyId: "mine-example", Name: "Example Antimony Mine", Roles: []pb.Role{pb.Role_ROLE_MINE}, Country: "PK",
		Mine: &pb.MineProfile{AnnualOreCapacityKg: 60000, GradeMinPct: 5, GradeMaxPct: 15},
		Keys: []*pb.PartyKey{{PublicKey: minePub, NotBefore: ts(t, "2025-01-01T00:00:00Z")}},
	}}}
	ext = &pb.Statement{PartyId: "mine-example", EventTime: ts(t, "2025-04-01T08:00:00Z"), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "EX-1", MassKg: 12000, MoisturePct: 4, SbGradePct: 11,
		Site: &pb.Location{Lat: 35.9, Lon: 71.8, Name: "Krinj"}, Product: pb.Product_PRODUCT_ORE,
	}}}
	assay = &pb.Statement{PartyId: "mine-example", EventTime: ts(t, "2025-04-02T08:00:00Z"), Body: &pb.Statement_Assay{Assay: &pb.Assay{
		LotId: "EX-1", SubjectLink: extID, SampleId: "S-1", Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: 11.2}},
	}}}
	return reg, ext, assay
}

// TestWorkedExample recomputes every value of the worked example, checks
// that FORMAT.md shows each verbatim, and submits the example's three
// records to a real server whose registrar key is the example's: the
// server must name the ids computed here, hold the bytes built here, and
// serve the example's tree root and inclusion proof.
func TestWorkedExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	inDoc := func(what, s string) {
		t.Helper()
		if !bytes.Contains(doc, []byte(s)) {
			t.Errorf("FORMAT.md does not show the %s %s", what, s)
		}
	}
	same := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", what, got, want)
		}
		inDoc(what, want)
	}

	mine := ed25519.NewKeyFromSeed(exampleMineSeed)
	minePub := mine.Public().(ed25519.PublicKey)
	registrar := ed25519.NewKeyFromSeed(exampleRegistrarSeed)
	logKey := ed25519.NewKeyFromSeed(exampleLogSeed)

	// Keys: PEM forms are fixed DER prefixes followed by the raw key.
	privDER := append(mustHex("302e020100300506032b657004220420"), exampleMineSeed...)
	pubDER := append(mustHex("302a300506032b6570032100"), minePub...)
	same("PKCS #8 private key", base64.StdEncoding.EncodeToString(privDER), exampleMinePrivPEM)
	same("PKIX public key", base64.StdEncoding.EncodeToString(pubDER), exampleMinePubPEM)
	inDoc("public key PEM", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})))
	inDoc("private key PEM", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})))
	inDoc("mine public key", hex.EncodeToString(minePub))
	for _, seed := range [][]byte{exampleMineSeed, exampleRegistrarSeed, exampleLogSeed} {
		inDoc("seed", hex.EncodeToString(seed))
	}
	same("mine key id", keyID(minePub), exampleMineKeyID)
	same("registrar key id", keyID(registrar.Public().(ed25519.PublicKey)), exampleRegKeyID)

	// The extraction, byte by byte.
	_, extSt, _ := exampleStatements(t, minePub, "")
	ext := sign(t, extSt, mine)
	same("extraction payload", hex.EncodeToString(ext.payload), exampleExtPayloadHex)
	msg := pae(payloadType, ext.payload)
	same("PAE prefix", string(msg[:len(msg)-len(ext.payload)]), exampleExtPAEPrefix)
	inDoc("PAE length", fmt.Sprintf("%d ASCII bytes", len(msg)-len(ext.payload)))
	inDoc("PAE length", fmt.Sprintf("(%d bytes)", len(msg)))
	inDoc("PAE prefix of every statement", "the 54 bytes `"+string(pae(payloadType, nil)[:54])+"`")
	same("extraction signature", hex.EncodeToString(ext.sig), exampleExtSigHex)
	same("extraction stored JSON", string(ext.stored), exampleExtStored)
	inDoc("stored length", fmt.Sprintf("The stored form (%d bytes)", len(ext.stored)))
	same("extraction leaf hash", fmt.Sprintf("%x", leafHash(ext.stored)), exampleExtLeafHex)
	same("extraction id", ext.id, exampleExtID)
	inDoc("REST body", string(ext.restBody()))

	regSt, _, assaySt := exampleStatements(t, minePub, ext.id)
	reg := sign(t, regSt, registrar)
	assay := sign(t, assaySt, mine)
	same("registration stored JSON", string(reg.stored), exampleRegStored)
	same("registration id", reg.id, exampleRegID)
	same("assay stored JSON", string(assay.stored), exampleAssayStored)
	same("assay id", assay.id, exampleAssayID)

	// The log integrates the three records at these times (the test
	// server's clock is set to each before its record is sent).
	times := []time.Time{
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 4, 1, 8, 1, 0, 0, time.UTC),
		time.Date(2025, 4, 2, 8, 1, 0, 0, time.UTC),
	}
	d0, d1, d2 := leafHash(reg.stored), leafHash(ext.stored), leafHash(assay.stored)

	// The map after each record, and its roots (§10.4).
	partyKey, lotKey := "party\x00mine-example", "lot\x00EX-1"
	party := chain{}.add(0, d0)
	lot1 := chain{}.add(1, d1)
	lot2 := lot1.add(2, d2)
	same("party chain", hex.EncodeToString(party.bytes()), exampleChainParty)
	same("lot chain after the extraction", hex.EncodeToString(lot1.bytes()), exampleChainLot1)
	same("lot chain after the assay", hex.EncodeToString(lot2.bytes()), exampleChainLot2)
	roots := [][32]byte{
		mapRoot(map[string][]byte{partyKey: party.bytes()}),
		mapRoot(map[string][]byte{partyKey: party.bytes(), lotKey: lot1.bytes()}),
		mapRoot(map[string][]byte{partyKey: party.bytes(), lotKey: lot2.bytes()}),
	}
	for i, m := range roots {
		inDoc("map root", fmt.Sprintf("M%d = %s", i, base64.StdEncoding.EncodeToString(m[:])))
	}

	// The extraction's running tallies: the mine's and Pakistan's first.
	ore, sb := grams(12000, 4, 11)
	extra := append(tallyExtra("mine\x00mine-example", 1<<64-1, 1, ore, sb, 0), tallyExtra("country\x00PK", 1<<64-1, 1, ore, sb, 0)...)
	same("extraction's extra", hex.EncodeToString(extra), exampleExtExtraHex)

	// The leaves, the tree and its checkpoint, signed by hand.
	leaves := [][]byte{
		leafEncoding(times[0], d0, nil, &roots[0]),
		leafEncoding(times[1], d1, extra, &roots[1]),
		leafEncoding(times[2], d2, nil, &roots[2]),
	}
	same("extraction's leaf", hex.EncodeToString(leaves[1]), exampleExtLeafEncHex)
	l0, l1, l2 := leafHash(leaves[0]), leafHash(leaves[1]), leafHash(leaves[2])
	for i, l := range [][32]byte{l0, l1, l2} {
		inDoc("leaf hash", fmt.Sprintf("L%d = %s", i, base64.StdEncoding.EncodeToString(l[:])))
	}
	empty := sha256.Sum256(nil)
	inDoc("empty root", base64.StdEncoding.EncodeToString(empty[:]))
	root := nodeHash(nodeHash(l0, l1), l2)
	same("root", base64.StdEncoding.EncodeToString(root[:]), exampleRootB64)
	proof1, _ := json.Marshal([]string{base64.StdEncoding.EncodeToString(l0[:]), base64.StdEncoding.EncodeToString(l2[:])})
	same("inclusion proof of index 1", string(proof1), exampleProof1)
	if got := inclusionRoot(t, 1, 3, l1, [][32]byte{l0, l2}); got != root {
		t.Errorf("the example's inclusion proof leads to %x, not the root %x", got, root)
	}
	logPub := logKey.Public().(ed25519.PublicKey)
	hash := noteKeyHash(exampleOrigin, logPub)
	vkey := fmt.Sprintf("%s+%08x+%s", exampleOrigin, hash, base64.StdEncoding.EncodeToString(append([]byte{0x01}, logPub...)))
	same("log verifier key", vkey, exampleVerifierKey)
	body := exampleOrigin + "\n3\n" + exampleRootB64 + "\n"
	sig := binary.BigEndian.AppendUint32(nil, hash)
	sig = append(sig, ed25519.Sign(logKey, []byte(body))...)
	same("checkpoint signature", base64.StdEncoding.EncodeToString(sig), exampleCheckpointSig)
	signedAt := uint64(times[2].Unix())
	tsig := binary.BigEndian.AppendUint32(nil, cosigKeyHash(exampleOrigin, logPub))
	tsig = binary.BigEndian.AppendUint64(tsig, signedAt)
	tsig = append(tsig, ed25519.Sign(logKey, []byte("cosignature/v1\ntime "+strconv.FormatUint(signedAt, 10)+"\n"+body))...)
	same("checkpoint time line", base64.StdEncoding.EncodeToString(tsig), exampleCheckpointTimeSig)
	note := body + "\n\u2014 " + exampleOrigin + " " + base64.StdEncoding.EncodeToString(sig) +
		"\n\u2014 " + exampleOrigin + " " + base64.StdEncoding.EncodeToString(tsig) + "\n"
	inDoc("signed checkpoint", note)
	if c := openCheckpoint(t, parseVerifierKey(t, vkey), note); c.size != 3 || c.root != root || !c.time.Equal(times[2]) {
		t.Errorf("the example checkpoint opens to size %d root %x time %s", c.size, c.root, c.time)
	}

	// A real server whose registrar is the example's, and whose clock
	// reads the example's times, holds exactly this tree. (Its log key
	// and origin are the test chain's.)
	lc := ct.New()
	lc.Registrar = registrar
	srv := testserver.Start(t, lc)
	api := newREST(t, srv)
	for i, rec := range []record{reg, ext, assay} {
		lc.Clock.Advance(times[i])
		a := api.submit(rec)
		if a.Index != strconv.Itoa(i) || a.LeafHash != rec.id || a.Duplicate {
			t.Errorf("record %d: answer %+v, want index %d, leafHash %s, not a duplicate", i, a, i, rec.id)
		}
		if got := api.checkEntry(uint64(i), rec).leaf; !bytes.Equal(got, leaves[i]) {
			t.Errorf("entry %d: the served entry's leaf is\n%x\nthe example's is\n%x", i, got, leaves[i])
		}
	}
	c := api.checkpoint(parseVerifierKey(t, lc.LogVerifierKey))
	if c.size != 3 || c.root != root || !c.time.Equal(times[2]) {
		t.Errorf("server checkpoint: size %d root %x time %s, want 3 %x %s", c.size, c.root, c.time, root, times[2])
	}
	if got, _ := json.Marshal(api.inclusionProof(c, 1, ext, leaves[1])); string(got) != exampleProof1 {
		t.Errorf("served inclusion proof of index 1: %s, want %s", got, exampleProof1)
	}

	// The lot's bundle proves the lot's and the mine's chains against the
	// map root of the checkpoint's last leaf, and that the registrar's
	// chain (its rotations) is empty.
	b := api.bundle("EX-1")
	want := map[string][]byte{lotKey: lot2.bytes(), partyKey: party.bytes(), "party\x00registrar": nil}
	for _, p := range b.MapProofs {
		if w, ok := want[string(p.Key)]; !ok || p.Absent != (w == nil) || !bytes.Equal(p.Value, w) || !p.verify(roots[2]) {
			t.Errorf("bundle map proof for %q: value %x, verifies %v; want %x", p.Key, p.Value, p.verify(roots[2]), w)
		}
		delete(want, string(p.Key))
	}
	if len(want) > 0 {
		t.Errorf("the bundle lacks map proofs for %q", want)
	}
}

// TestOutsiderSubmit plays an exporter's own software: its own keys, its
// own encoding, PAE, signatures, stored bytes and ids, and plain HTTP. The
// registrar (the test chain) registers its two parties.
func TestOutsiderSubmit(t *testing.T) {
	lc := ct.New()
	srv := testserver.Start(t, lc)
	api := newREST(t, srv)
	logKey := parseVerifierKey(t, lc.LogVerifierKey)

	minePub, mineKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	expPub, expKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	party := func(id string, pub ed25519.PublicKey, key ed25519.PrivateKey, role pb.Role) *ct.Party {
		reg := &pb.PartyRegistration{
			PartyId: id, Name: id, Roles: []pb.Role{role}, Country: "PK",
			Keys: []*pb.PartyKey{{PublicKey: pub, NotBefore: lc.At(0)}},
		}
		if role == pb.Role_ROLE_MINE {
			reg.Mine = &pb.MineProfile{AnnualOreCapacityKg: 500_000, GradeMinPct: 5, GradeMaxPct: 15}
		}
		return &ct.Party{ID: id, Key: key, Reg: reg}
	}
	mine := party("fs-mine", minePub, mineKey, pb.Role_ROLE_MINE)
	exp := party("fs-exporter", expPub, expKey, pb.Role_ROLE_EXPORTER)
	ct.Submit(t, srv.Store, lc.Register(mine), lc.Register(exp))

	// The server's key id of each registered key is the one computed here.
	for _, p := range []struct {
		id  string
		pub ed25519.PublicKey
	}{{mine.ID, minePub}, {exp.ID, expPub}} {
		var resp struct {
			Party struct {
				Keys []struct {
					KeyID string `json:"keyId"`
				} `json:"keys"`
			} `json:"party"`
		}
		api.get("/v1/parties/"+p.id, &resp)
		if len(resp.Party.Keys) != 1 || resp.Party.Keys[0].KeyID != keyID(p.pub) {
			t.Errorf("party %s: keys %+v, want one with key id %s", p.id, resp.Party.Keys, keyID(p.pub))
		}
	}

	before := api.checkpoint(logKey)
	if before.size != 2 {
		t.Fatalf("tree size %d after two registrations", before.size)
	}

	// Three records, each linking to the one before by the id computed
	// here, all built before anything is sent.
	ext := sign(t, &pb.Statement{PartyId: mine.ID, EventTime: ts(t, "2025-03-01T08:00:00Z"), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "FS-1", MassKg: 8000, MoisturePct: 3.5, SbGradePct: 9.5,
		Site: &pb.Location{Lat: 30.7, Lon: 66.6, Name: "pit 2"}, Product: pb.Product_PRODUCT_ORE,
	}}}, mineKey)
	disp := sign(t, &pb.Statement{PartyId: mine.ID, EventTime: ts(t, "2025-03-02T06:00:00Z"), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "FS-1", CustodyLink: ext.id, ToPartyId: exp.ID, MassKg: 8000, MoisturePct: 3.5,
		Seals: []string{"PK-0001"}, Transport: "truck",
	}}}, mineKey)
	rcpt := sign(t, &pb.Statement{PartyId: exp.ID, EventTime: ts(t, "2025-03-04T20:00:00Z"), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
		LotId: "FS-1", DispatchLink: disp.id, MassKg: 7990, SealsIntact: true,
	}}}, expKey)
	recs := []record{ext, disp, rcpt}
	for i, r := range recs {
		if len(r.id) != 46 || !strings.HasPrefix(r.id, "Qm") {
			t.Errorf("record %d: id %q is not 46 characters starting Qm", i, r.id)
		}
	}

	// Pipelined on one connection: no answer is read before all three are
	// sent, so the dispatch and the receipt can only link by the ids
	// computed here. The log's clock reads a day after the receipt.
	logTime := time.Date(2025, 3, 5, 20, 0, 0, 0, time.UTC)
	lc.Clock.Advance(logTime)
	answers := api.pipeline(srv.HTTPAddr, [][]byte{ext.restBody(), disp.restBody(), rcpt.restBody()})
	for i, a := range answers {
		want := before.size + uint64(i)
		if a.LeafHash != recs[i].id || a.Index != strconv.FormatUint(want, 10) || a.Duplicate {
			t.Errorf("record %d: answer index %s leafHash %s duplicate %v; want index %d, leafHash %s (computed before submitting), not a duplicate",
				i, a.Index, a.LeafHash, a.Duplicate, want, recs[i].id)
		}
		if c := openCheckpoint(t, logKey, a.Checkpoint); c.size <= index(t, a.Index) {
			t.Errorf("record %d: the answer's checkpoint has size %d, not covering index %s", i, c.size, a.Index)
		}
	}
	leaves := make([][]byte, len(recs))
	for i, r := range recs {
		e := api.checkEntry(before.size+uint64(i), r)
		if !e.time.Equal(logTime) {
			t.Errorf("record %d: recordTime %s, want the log's clock %s", i, e.time, logTime)
		}
		leaves[i] = e.leaf
	}

	// The body's JSON spelling does not matter: the server derives the
	// stored bytes from the envelope's fields. The same envelope in
	// proto field names, URL-safe unpadded base64 and with spaces is the
	// same record.
	odd := fmt.Sprintf(` { "envelope" : { "payload_type" : %q , "payload" : %q , "signatures" : [ { "keyid" : %q , "sig" : %q } ] } } `,
		payloadType, base64.RawURLEncoding.EncodeToString(ext.payload), keyID(minePub), base64.RawURLEncoding.EncodeToString(ext.sig))
	code, b := api.do("POST", "/v1/envelopes", []byte(odd))
	if a := decodeAnswer(t, code, b); a.LeafHash != ext.id || !a.Duplicate || a.Index != answers[0].Index {
		t.Errorf("resubmitting the extraction in another JSON spelling: %+v, want a duplicate of index %s, %s", a, answers[0].Index, ext.id)
	}

	// A signature over the bare payload, not its PAE, is refused.
	st := &pb.Statement{PartyId: mine.ID, EventTime: ts(t, "2025-03-05T08:00:00Z"), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "FS-2", MassKg: 100, SbGradePct: 9, Site: &pb.Location{Lat: 30.7, Lon: 66.6}, Product: pb.Product_PRODUCT_ORE,
	}}}
	payload := marshalStatement(t, st)
	bare := record{stored: storedJSON(payload, []string{keyID(minePub)}, [][]byte{ed25519.Sign(mineKey, payload)})}
	code, b = api.do("POST", "/v1/envelopes", bare.restBody())
	var refusal struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &refusal); err != nil || code != http.StatusUnauthorized || refusal.Code != 16 ||
		refusal.Message != "bad signature: signature by key "+keyID(minePub)+" does not verify" {
		t.Errorf("a signature without PAE: %d %s, want 401 with code 16 and a bad signature message", code, b)
	}

	// The tree: every record's inclusion proof leads to the signed root,
	// which is consistent with the one before the three were sent.
	after := api.checkpoint(logKey)
	if after.size != before.size+3 {
		t.Fatalf("tree size %d after three records on %d", after.size, before.size)
	}
	for i, r := range recs {
		api.inclusionProof(after, before.size+uint64(i), r, leaves[i])
	}
	if !after.time.Equal(logTime) {
		t.Errorf("checkpoint time %s, want %s", after.time, logTime)
	}

	// The lot's chain, computed here from the three ids, is the one the
	// bundle proves against the map root of the checkpoint's last leaf.
	var lot chain
	for i, r := range recs {
		lot = lot.add(before.size+uint64(i), leafHash(r.stored))
	}
	var last entry
	api.get(fmt.Sprintf("/v1/entries/%d", after.size-1), &last)
	if len(last.Entry.MapRoot) != 32 {
		t.Fatalf("the checkpoint's last leaf has a map root of %d bytes", len(last.Entry.MapRoot))
	}
	found := false
	for _, p := range api.bundle("FS-1").MapProofs {
		if string(p.Key) == "lot\x00FS-1" {
			found = true
			if p.Absent || !bytes.Equal(p.Value, lot.bytes()) || !p.verify([32]byte(last.Entry.MapRoot)) {
				t.Errorf("map proof of lot FS-1: value %x (want %x), verifies %v", p.Value, lot.bytes(), p.verify([32]byte(last.Entry.MapRoot)))
			}
		}
	}
	if !found {
		t.Errorf("the bundle of FS-1 has no map proof of its chain")
	}

	// An event time more than 10 minutes after the log's clock is
	// refused, naming both times (§8.3), and nothing is written.
	late := sign(t, &pb.Statement{PartyId: mine.ID, EventTime: timestamppb.New(logTime.Add(11 * time.Minute)), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "FS-3", MassKg: 100, SbGradePct: 9, Site: &pb.Location{Lat: 30.7, Lon: 66.6}, Product: pb.Product_PRODUCT_ORE,
	}}}, mineKey)
	code, b = api.do("POST", "/v1/envelopes", late.restBody())
	if code != http.StatusBadRequest || !strings.Contains(string(b), "2025-03-05T20:11:00Z") || !strings.Contains(string(b), "2025-03-05T20:00:00Z") {
		t.Errorf("an event 11 minutes after the log's clock: %d %s, want 400 naming both times", code, b)
	}
	if c := api.checkpoint(logKey); c.size != after.size {
		t.Errorf("tree size %d after the refusal, want %d", c.size, after.size)
	}
	var cons struct {
		Hashes []string `json:"hashes"`
	}
	api.get(fmt.Sprintf("/v1/proofs/consistency?first=%d&second=%d", before.size, after.size), &cons)
	verifyConsistency(t, before.size, after.size, decodeHashes(t, cons.Hashes), before.root, after.root)
}

// handToken makes a token as §8.4 says, without package authtoken.
func handToken(origin, party string, key ed25519.PrivateKey, now time.Time) string {
	pub := key.Public().(ed25519.PublicKey)
	msg := fmt.Sprintf("provenance-auth/v1\norigin: %s\nparty: %s\nkey: %s\nissued: %d\nexpires: %d\n",
		origin, party, base64.StdEncoding.EncodeToString(pub), now.Add(-30*time.Second).Unix(), now.Add(5*time.Minute).Unix())
	b64u := base64.RawURLEncoding.EncodeToString
	return b64u([]byte(msg)) + "." + b64u(ed25519.Sign(key, []byte(msg)))
}

// TestOutsiderToken: a token made from §8.4 alone authenticates its party,
// which then reads its own entry in full; the same token for another
// ledger, or with one byte changed, is refused.
func TestOutsiderToken(t *testing.T) {
	lc := ct.New()
	srv := testserver.Start(t, lc)
	p := lc.AddParty("fs-buyer", "Outsider Buyer", "US", pb.Role_ROLE_BUYER)
	ct.Submit(t, srv.Store, lc.Register(p))
	api := newREST(t, srv)
	var resp struct {
		Party struct {
			Keys []struct {
				KeyID string `json:"keyId"`
			} `json:"keys"`
		} `json:"party"`
	}
	api.token = handToken(ct.Origin, "fs-buyer", p.Key, time.Now())
	api.get("/v1/parties/fs-buyer", &resp)
	if len(resp.Party.Keys) != 1 || resp.Party.Keys[0].KeyID != p.KeyID() {
		t.Errorf("the party's own entry, read with a hand-made token: %+v", resp)
	}
	for name, tok := range map[string]string{
		"another ledger": handToken("other.example/log", "fs-buyer", p.Key, time.Now()),
		"one byte off":   strings.Replace(api.token, api.token[10:11], string(api.token[10]^1), 1),
		"anonymous":      "",
	} {
		api.token = tok
		if code, body := api.do("GET", "/v1/parties/fs-buyer", nil); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, code, body)
		}
	}
}
