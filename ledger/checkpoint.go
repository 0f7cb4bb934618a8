package ledger

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/multiformats/go-multihash"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// A Checkpoint is the body of a signed tree head in the C2SP tlog-checkpoint
// format: the log's origin, the tree size and the RFC 6962 root hash at that
// size. It holds no signature; see [OpenCheckpoint].
type Checkpoint struct {
	Origin string   // unique identifier of the log, e.g. "antimony.example/log"
	Size   uint64   // number of entries the root covers
	Root   [32]byte // RFC 6962 Merkle tree hash of the first Size entries
}

// Marshal returns the checkpoint body: three newline-terminated lines, the
// origin, the decimal size and the standard base64 root hash.
func (c Checkpoint) Marshal() string {
	return c.Origin + "\n" + strconv.FormatUint(c.Size, 10) + "\n" +
		base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"
}

// ParseCheckpoint parses a checkpoint body as produced by [Checkpoint.Marshal].
// Optional extension lines after the root hash are accepted and ignored, as
// the C2SP specification allows. The size must be canonical decimal and the
// root canonical base64 of exactly 32 bytes.
func ParseCheckpoint(text string) (Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return Checkpoint{}, errors.New("checkpoint: body does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("checkpoint: %d lines, want at least 3", len(lines))
	}
	for _, ln := range lines {
		if ln == "" {
			return Checkpoint{}, errors.New("checkpoint: empty line in body")
		}
	}
	var c Checkpoint
	c.Origin = lines[0]
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint: malformed tree size %q", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint: malformed root hash %q", lines[2])
	}
	copy(c.Root[:], root)
	return c, nil
}

// OpenCheckpoint verifies the signed note signedNote with v and parses its
// body. It fails if the signature does not verify, the body is malformed,
// or the origin is not v.Name(): the pinned key names the log, so an
// operator cannot pass off another tree, signed with the same key under
// another origin, as a new log that no earlier checkpoint constrains.
func OpenCheckpoint(signedNote []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signedNote, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("opening checkpoint note: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint origin %q is not the pinned log %q", c.Origin, v.Name())
	}
	return c, nil
}

// GenerateNoteKey generates an Ed25519 note signing key named name and
// returns its encoded private key (for [note.NewSigner]) and public
// verifier key (for [note.NewVerifier]).
func GenerateNoteKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// LeafHash returns the RFC 6962 leaf hash of data: SHA-256(0x00 || data).
func LeafHash(data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{rfc6962.RFC6962LeafHashPrefix})
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// LeafID returns the ID an entry with these bytes has or would have: the
// sha2-256 multihash whose digest is the RFC 6962 leaf hash of data.
// Clients use it to link to entries before or without fetching them.
func LeafID(data []byte) multihash.Multihash {
	h := LeafHash(data)
	return leafHashID(h)
}

func leafHashID(h [32]byte) multihash.Multihash {
	id, err := multihash.Encode(h[:], multihash.SHA2_256)
	if err != nil {
		panic("ledger: encoding sha2-256 multihash: " + err.Error()) // cannot happen for 32 bytes
	}
	return id
}

// leafHashFromID returns the leaf hash carried by a sha2-256 multihash.
func leafHashFromID(id multihash.Multihash) ([32]byte, error) {
	dec, err := multihash.Decode(id)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: entry id: %v", ErrInvalidInput, err)
	}
	if dec.Code != multihash.SHA2_256 || len(dec.Digest) != 32 {
		return [32]byte{}, fmt.Errorf("%w: entry id is multihash code %#x length %d, want sha2-256 of 32 bytes",
			ErrInvalidInput, dec.Code, len(dec.Digest))
	}
	return [32]byte(dec.Digest), nil
}

// VerifyInclusion checks that proof shows the leaf with hash leafHash at
// index is included in the tree of the given size with the given root.
// It returns nil only if the proof verifies.
func VerifyInclusion(leafHash [32]byte, index, size uint64, proofHashes [][32]byte, root [32]byte) error {
	return proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash[:], sliceHashes(proofHashes), root[:])
}

// InclusionRoot returns the root of the tree of the given size in which
// proof puts the leaf with hash leafHash at index. The inclusion is shown
// once that root is a trusted one, or is proved consistent with one.
func InclusionRoot(leafHash [32]byte, index, size uint64, proofHashes [][32]byte) ([32]byte, error) {
	root, err := proof.RootFromInclusionProof(rfc6962.DefaultHasher, index, size, leafHash[:], sliceHashes(proofHashes))
	if err != nil {
		return [32]byte{}, err
	}
	return [32]byte(root), nil
}

// VerifyConsistency checks that proof shows the tree of size2 with root2 is
// an append-only extension of the tree of size1 with root1. It returns nil
// only if the proof verifies.
func VerifyConsistency(size1, size2 uint64, proofHashes [][32]byte, root1, root2 [32]byte) error {
	return proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, sliceHashes(proofHashes), root1[:], root2[:])
}

func sliceHashes(hs [][32]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// signCheckpoint returns the signed note text of c.
func signCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: c.Marshal()}, s)
	if err != nil {
		return nil, fmt.Errorf("signing checkpoint: %w", err)
	}
	return msg, nil
}

// noteBody returns the unverified body of a signed note the log itself wrote.
func noteBody(msg []byte) (string, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return "", errors.New("malformed signed note")
	}
	return string(msg[:i+1]), nil
}
