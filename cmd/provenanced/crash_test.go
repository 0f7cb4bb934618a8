package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	"github.com/antimony-ledger/provenance/ledger"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"

	"github.com/antimony-ledger/provenance/client"
)

// crashWorkers is the number of concurrent clients submitting custody
// chains while the daemon is killed.
const crashWorkers = 16

// TestCrashKillRestart is the kill -9 test of the real daemon. It runs the
// provenanced binary on one data directory, drives crashWorkers concurrent
// gRPC clients submitting signed extraction -> dispatch -> receipt chains,
// SIGKILLs the process at a random moment 50-400 ms into the load, restarts
// it on the same directory and checks, after every restart:
//
//   - every acknowledged record is in the log, byte for byte, at the index
//     the server acknowledged (GetEntry, and a full StreamEntries read);
//   - entries below the size verified after the previous restart are
//     unchanged;
//   - every checkpoint the server handed out before the kill (in
//     SubmitResponse.checkpoint or from GetCheckpoint) verifies with
//     DIR/log.pub, is no larger than the new tree, matches the root the
//     served entries produce at its size, and a consistency proof from it
//     to the new checkpoint verifies with ledger.VerifyConsistency;
//   - the new checkpoint verifies with DIR/log.pub and its root is the root
//     of the served entries;
//   - nothing is half-visible: every entry decodes (canonical envelope,
//     valid statement, valid signature by its party's registered key) and
//     is a legal step of the custody state machine replayed from the log;
//     GetRecord finds it by hash at its index; GetLot of its lot lists it,
//     and the lot's state (holder, in-transit party, head, pending dispatch,
//     mass, origin) and whole history equal the replay; GetParty and
//     ListPartyLots agree with the replay for every party.
//
// After the last cycle the daemon is stopped gracefully and the store is
// opened directly and fully audited (ledger.Log.Audit) against its last
// checkpoint.
func TestCrashKillRestart(t *testing.T) {
	cycles := 20
	if testing.Short() {
		cycles = 3
	}
	started := time.Now()
	data := filepath.Join(t.TempDir(), "data")
	regArgs, regKey := offlineRegistrar(t)
	args := append([]string{"--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "warn"}, regArgs...)
	d := startDaemon(t, args...)
	h := newCrashHarness(t, data, d)
	h.registrar = regKey
	h.registerParties(d)

	totalAcked := 0
	for cycle := range cycles {
		n := h.loadAndKill(d, cycle)
		totalAcked += n
		d = startDaemon(t, args...)
		h.verify(d, cycle, cycle == cycles-1)
		if t.Failed() {
			t.FailNow()
		}
	}
	if totalAcked == 0 {
		t.Fatal("no record was acknowledged in any cycle")
	}
	d.stop(t)
	h.auditStore()
	t.Logf("%d kill/restart cycles, %d records acknowledged under load, final tree size %d, %d distinct checkpoints checked, %v",
		cycles, totalAcked, len(h.entries), h.checkpointsChecked, time.Since(started).Round(time.Millisecond))
}

// crashParty is a registered party and its key.
type crashParty struct {
	id  string
	key ed25519.PrivateKey
}

// crashAck is an acknowledged submission.
type crashAck struct {
	index uint64
	leaf  string // base58 record id the server returned
	data  []byte // canonical envelope bytes we sent
	cycle int
}

// lotModel is a lot's state replayed from the log.
type lotModel struct {
	holder, inTransit, head, pending, origin string
	mass                                     float64
	hist                                     []uint64
}

type crashHarness struct {
	t         *testing.T
	dataDir   string
	registrar ed25519.PrivateKey // the offline registrar key
	verifier  note.Verifier
	vkey      string
	start     time.Time

	mines, exporters []*crashParty

	mu          sync.Mutex
	acked       map[uint64]crashAck
	checkpoints map[string]bool // notes handed out since the last verification

	// What the previous verification saw, and the replay of it.
	entries            [][]byte // data by index
	lots               map[string]*lotModel
	parties            map[string]*pb.PartyRegistration // party id -> registration
	partyRecord        map[string]string                // party id -> registration record id
	keys               map[string]ed25519.PublicKey     // key id -> key
	checkpointsChecked int
}

func newCrashHarness(t *testing.T, dataDir string, d *daemon) *crashHarness {
	vkey, err := os.ReadFile(filepath.Join(dataDir, logPubFile))
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatalf("%s: %v", logPubFile, err)
	}
	if d.verifierKey != strings.TrimSpace(string(vkey)) {
		t.Fatalf("printed verifier key %q differs from %s %q", d.verifierKey, logPubFile, vkey)
	}
	return &crashHarness{
		t: t, dataDir: dataDir, verifier: v, vkey: strings.TrimSpace(string(vkey)),
		start:       time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		acked:       map[uint64]crashAck{},
		checkpoints: map[string]bool{},
		lots:        map[string]*lotModel{},
		parties:     map[string]*pb.PartyRegistration{},
		partyRecord: map[string]string{},
		keys:        map[string]ed25519.PublicKey{},
	}
}

func dialDaemon(t *testing.T, d *daemon) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(d.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), d.operator(t))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// registerParties registers a mine and an exporter per worker with the
// offline registrar key, recording the acknowledgements.
func (h *crashHarness) registerParties(d *daemon) {
	t := h.t
	regKey := h.registrar
	conn := dialDaemon(t, d)
	defer conn.Close()
	lc := apipb.NewLedgerServiceClient(conn)
	for w := range crashWorkers {
		for _, role := range []pb.Role{pb.Role_ROLE_MINE, pb.Role_ROLE_EXPORTER} {
			_, priv, err := record.GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			p := &crashParty{key: priv}
			reg := &pb.PartyRegistration{Roles: []pb.Role{role}, Country: "PK",
				Keys: []*pb.PartyKey{{PublicKey: priv.Public().(ed25519.PublicKey), NotBefore: timestamppb.New(h.start)}}}
			if role == pb.Role_ROLE_MINE {
				p.id = fmt.Sprintf("crash-mine-%02d", w)
				reg.Mine = &pb.MineProfile{Deposit: "crash test", AnnualOreCapacityKg: 1e9, GradeMinPct: 5, GradeMaxPct: 15}
				h.mines = append(h.mines, p)
			} else {
				p.id = fmt.Sprintf("crash-exp-%02d", w)
				h.exporters = append(h.exporters, p)
			}
			reg.PartyId, reg.Name = p.id, "crash test "+p.id
			env, err := record.Sign(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: timestamppb.New(h.start),
				Body: &pb.Statement_PartyRegistration{PartyRegistration: reg}}, regKey)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.submit(t.Context(), lc, env, -1); err != nil {
				t.Fatalf("registering %s: %v", p.id, err)
			}
		}
	}
}

// submit submits env and records the acknowledgement and its checkpoint.
func (h *crashHarness) submit(ctx context.Context, lc apipb.LedgerServiceClient, env *pb.Envelope, cycle int) (string, error) {
	data, err := record.EncodeEnvelope(env)
	if err != nil {
		return "", err
	}
	link := tlog.RecordIDOf(data).String()
	r, err := lc.Submit(ctx, &apipb.SubmitRequest{Envelope: env})
	if err != nil {
		return "", err
	}
	if r.GetLeafHash() != link || r.GetDuplicate() {
		return "", fmt.Errorf("acknowledgement of %s: leaf %s, duplicate %v", link, r.GetLeafHash(), r.GetDuplicate())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.acked[r.GetIndex()]; ok {
		return "", fmt.Errorf("index %d acknowledged twice: %s and %s", r.GetIndex(), prev.leaf, link)
	}
	h.acked[r.GetIndex()] = crashAck{index: r.GetIndex(), leaf: link, data: data, cycle: cycle}
	h.checkpoints[r.GetCheckpoint()] = true
	return link, nil
}

// loadAndKill drives the load on d and SIGKILLs it at a random moment.
// It returns the number of records acknowledged.
func (h *crashHarness) loadAndKill(d *daemon, cycle int) int {
	t := h.t
	conn := dialDaemon(t, d)
	defer conn.Close()
	lc := apipb.NewLedgerServiceClient(conn)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		killed atomic.Bool
		acks   atomic.Int64
		wg     sync.WaitGroup
	)
	// failed reports an error that was not caused by the kill.
	failed := func(what string, err error) {
		if !killed.Load() {
			t.Errorf("cycle %d: %s before the kill: %v", cycle, what, err)
		}
	}
	for w := range crashWorkers {
		mine, exp := h.mines[w], h.exporters[w]
		wg.Go(func() {
			et := timestamppb.New(h.start.Add(time.Hour))
			for n := 0; ctx.Err() == nil; n++ {
				lot := fmt.Sprintf("c%02d-w%02d-%d", cycle, w, n)
				steps := []struct {
					who *crashParty
					st  func(prev string) *pb.Statement
				}{
					{mine, func(string) *pb.Statement {
						return &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
							LotId: lot, MassKg: 8000, MoisturePct: 3, SbGradePct: 9.5, Product: pb.Product_PRODUCT_ORE,
							Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}}
					}},
					{mine, func(prev string) *pb.Statement {
						return &pb.Statement{Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
							LotId: lot, CustodyLink: prev, ToPartyId: exp.id, MassKg: 8000, MoisturePct: 3,
							Seals: []string{"S-" + lot}, Transport: "truck"}}}
					}},
					{exp, func(prev string) *pb.Statement {
						return &pb.Statement{Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
							LotId: lot, DispatchLink: prev, MassKg: 7990 - float64(n%7), SealsIntact: true}}}
					}},
				}
				prev := ""
				for _, step := range steps {
					st := step.st(prev)
					st.PartyId, st.EventTime = step.who.id, et
					env, err := record.Sign(st, step.who.key)
					if err != nil {
						t.Error(err)
						return
					}
					if prev, err = h.submit(ctx, lc, env, cycle); err != nil {
						failed("submit", err)
						return
					}
					acks.Add(1)
				}
			}
		})
	}
	// A reader polling checkpoints, as an auditor or witness would.
	wg.Go(func() {
		for ctx.Err() == nil {
			r, err := lc.GetCheckpoint(ctx, &apipb.GetCheckpointRequest{})
			if err != nil {
				failed("GetCheckpoint", err)
				return
			}
			h.mu.Lock()
			h.checkpoints[r.GetCheckpoint()] = true
			h.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	})

	time.Sleep(time.Duration(50+rand.IntN(351)) * time.Millisecond)
	killed.Store(true)
	if err := d.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	d.cmd.Wait()
	cancel()
	wg.Wait()
	if acks.Load() == 0 {
		// A kill before the first commit is a crash worth having too.
		t.Logf("cycle %d: killed before any acknowledgement", cycle)
	}
	return int(acks.Load())
}

// verify checks the restarted daemon d against everything recorded.
func (h *crashHarness) verify(d *daemon, cycle int, final bool) {
	t := h.t
	ctx := t.Context()
	began := time.Now()
	if d.verifierKey != h.vkey {
		t.Fatalf("cycle %d: verifier key changed across restart: %s -> %s", cycle, h.vkey, d.verifierKey)
	}
	conn := dialDaemon(t, d)
	defer conn.Close()
	lc, cc := apipb.NewLedgerServiceClient(conn), apipb.NewCustodyServiceClient(conn)

	// The new checkpoint verifies with log.pub.
	ck, err := lc.GetCheckpoint(ctx, &apipb.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cur, err := tlog.OpenCheckpoint([]byte(ck.GetCheckpoint()), h.verifier)
	if err != nil {
		t.Fatalf("cycle %d: checkpoint after restart does not verify with %s: %v", cycle, logPubFile, err)
	}
	if ck.GetTreeSize() != cur.Size {
		t.Fatalf("cycle %d: GetCheckpoint tree_size %d, checkpoint says %d", cycle, ck.GetTreeSize(), cur.Size)
	}
	prevSize := uint64(len(h.entries))
	if cur.Size < prevSize {
		t.Fatalf("cycle %d: tree size %d after restart is below %d verified before", cycle, cur.Size, prevSize)
	}

	// Stream the whole log; recompute the tree; keep the roots at the sizes
	// of the checkpoints handed out.
	h.mu.Lock()
	notes := make([]string, 0, len(h.checkpoints))
	for n := range h.checkpoints {
		notes = append(notes, n)
	}
	clear(h.checkpoints)
	h.mu.Unlock()
	handed := map[string]tlog.Checkpoint{}
	wantRoot := map[uint64][32]byte{}
	for _, n := range notes {
		c, err := tlog.OpenCheckpoint([]byte(n), h.verifier)
		if err != nil {
			t.Fatalf("cycle %d: a checkpoint handed out before the kill does not verify with %s: %v\n%s", cycle, logPubFile, err, n)
		}
		if c.Origin != cur.Origin {
			t.Fatalf("cycle %d: checkpoint origin %q, then %q", cycle, c.Origin, cur.Origin)
		}
		if c.Size > cur.Size {
			t.Fatalf("cycle %d: a checkpoint of size %d was handed out before the kill, the tree after restart has size %d: acknowledged history lost",
				cycle, c.Size, cur.Size)
		}
		handed[n] = c
		wantRoot[c.Size] = [32]byte{}
	}
	var (
		rng     = (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
		rootAt  = map[uint64][32]byte{}
		entries = make([][]byte, 0, cur.Size)
	)
	root := func() [32]byte {
		if rng.End() == 0 {
			return [32]byte(rfc6962.DefaultHasher.EmptyRoot())
		}
		r, err := rng.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		return [32]byte(r)
	}
	if _, ok := wantRoot[0]; ok {
		rootAt[0] = root()
	}
	stream, err := lc.StreamEntries(ctx, &apipb.StreamEntriesRequest{Start: 0, End: cur.Size})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("cycle %d: streaming entries: %v", cycle, err)
		}
		e := r.GetEntry()
		i := uint64(len(entries))
		if e.GetIndex() != i {
			t.Fatalf("cycle %d: streamed entry %d where %d was due", cycle, e.GetIndex(), i)
		}
		if id := tlog.RecordIDOf(e.GetData()).String(); e.GetLeafHash() != id {
			t.Fatalf("cycle %d: entry %d: leaf_hash %s, data hashes to %s", cycle, i, e.GetLeafHash(), id)
		}
		if i < prevSize && !bytes.Equal(e.GetData(), h.entries[i]) {
			t.Fatalf("cycle %d: entry %d changed across the restart", cycle, i)
		}
		entries = append(entries, e.GetData())
		leaf, err := client.EntryLeaf(e)
		if err != nil {
			t.Fatalf("cycle %d: entry %d: %v", cycle, i, err)
		}
		lh := leaf.Hash()
		if err := rng.Append(lh[:], nil); err != nil {
			t.Fatal(err)
		}
		if _, ok := wantRoot[rng.End()]; ok {
			rootAt[rng.End()] = root()
		}
	}
	if uint64(len(entries)) != cur.Size {
		t.Fatalf("cycle %d: streamed %d entries, checkpoint size %d", cycle, len(entries), cur.Size)
	}
	if root() != cur.Root {
		t.Fatalf("cycle %d: the served entries produce root %x, the checkpoint says %x", cycle, root(), cur.Root)
	}
	if _, err := lc.GetEntry(ctx, &apipb.GetEntryRequest{Index: cur.Size}); status.Code(err) != codes.NotFound {
		t.Fatalf("cycle %d: GetEntry(%d) beyond the tree: %v, want NotFound", cycle, cur.Size, err)
	}

	// Every acknowledged record is there, byte for byte; those of this
	// cycle are also fetched one by one.
	h.mu.Lock()
	acked := make([]crashAck, 0, len(h.acked))
	for _, a := range h.acked {
		acked = append(acked, a)
	}
	h.mu.Unlock()
	for _, a := range acked {
		if a.index >= cur.Size {
			t.Fatalf("cycle %d: acknowledged record %s at index %d is beyond the tree size %d after restart", cycle, a.leaf, a.index, cur.Size)
		}
		if !bytes.Equal(entries[a.index], a.data) {
			t.Fatalf("cycle %d: acknowledged record %s: index %d holds other bytes", cycle, a.leaf, a.index)
		}
		if a.cycle == cycle {
			r, err := lc.GetEntry(ctx, &apipb.GetEntryRequest{Index: a.index})
			if err != nil || !bytes.Equal(r.GetEntry().GetData(), a.data) || r.GetEntry().GetLeafHash() != a.leaf {
				t.Fatalf("cycle %d: GetEntry(%d) of acknowledged record %s: %v, bytes equal %v", cycle, a.index, a.leaf, err,
					err == nil && bytes.Equal(r.GetEntry().GetData(), a.data))
			}
		}
	}

	// Every checkpoint handed out is a prefix of the new tree.
	for n, c := range handed {
		if rootAt[c.Size] != c.Root {
			t.Fatalf("cycle %d: checkpoint of size %d handed out before the kill has root %x; the entries served after restart give %x",
				cycle, c.Size, c.Root, rootAt[c.Size])
		}
		p, err := lc.GetConsistencyProof(ctx, &apipb.GetConsistencyProofRequest{First: c.Size, Second: cur.Size})
		if err != nil {
			t.Fatalf("cycle %d: consistency proof %d -> %d: %v", cycle, c.Size, cur.Size, err)
		}
		hashes := make([][32]byte, len(p.GetHashes()))
		for i, b := range p.GetHashes() {
			if len(b) != 32 {
				t.Fatalf("cycle %d: consistency proof hash of %d bytes", cycle, len(b))
			}
			hashes[i] = [32]byte(b)
		}
		if err := tlog.VerifyConsistency(c.Size, cur.Size, hashes, c.Root, cur.Root); err != nil {
			t.Fatalf("cycle %d: tree %d after restart is not consistent with checkpoint %d handed out before the kill: %v\n%s",
				cycle, cur.Size, c.Size, err, n)
		}
	}
	h.checkpointsChecked += len(handed)

	// Replay the new entries and check every index they should be in.
	touchedLots := map[string]bool{}
	for i := prevSize; i < cur.Size; i++ {
		lot := h.replay(cycle, i, entries[i])
		if lot != "" {
			touchedLots[lot] = true
		}
		r, err := lc.GetRecord(ctx, &apipb.GetRecordRequest{LeafHash: tlog.RecordIDOf(entries[i]).String()})
		if err != nil || r.GetEntry().GetIndex() != i {
			t.Fatalf("cycle %d: GetRecord of entry %d: %v, index %d", cycle, i, err, r.GetEntry().GetIndex())
		}
	}
	h.entries = entries
	if final {
		for id := range h.lots {
			touchedLots[id] = true
		}
	}
	for id := range touchedLots {
		h.checkLot(ctx, cc, cycle, id)
	}
	for _, p := range append(slices.Clone(h.mines), h.exporters...) {
		h.checkParty(ctx, cc, cycle, p.id)
	}
	t.Logf("cycle %d: tree %d -> %d, %d acknowledged in all, %d checkpoints handed out, %d lots checked, verified in %v",
		cycle, prevSize, cur.Size, len(acked), len(handed), len(touchedLots), time.Since(began).Round(time.Millisecond))
}

// replay decodes entry i, checks it is a legal step from the replayed
// state, applies it, and returns the lot it names, if any.
func (h *crashHarness) replay(cycle int, i uint64, data []byte) string {
	t := h.t
	env, err := record.DecodeEnvelope(data)
	if err != nil {
		t.Fatalf("cycle %d: entry %d does not decode: %v", cycle, i, err)
	}
	st, err := record.DecodeStatement(env.GetPayload())
	if err != nil {
		t.Fatalf("cycle %d: entry %d: statement does not decode: %v", cycle, i, err)
	}
	if len(env.GetSignatures()) != 1 {
		t.Fatalf("cycle %d: entry %d has %d signatures", cycle, i, len(env.GetSignatures()))
	}
	sig := env.GetSignatures()[0]
	id := tlog.RecordIDOf(data).String()
	bad := func(format string, a ...any) {
		t.Helper()
		t.Fatalf("cycle %d: entry %d (%s) is in the log but is not a legal step: %s", cycle, i, id, fmt.Sprintf(format, a...))
	}
	if reg := st.GetPartyRegistration(); reg != nil {
		if st.GetPartyId() != record.RegistrarPartyID {
			bad("registration by %q", st.GetPartyId())
		}
		if _, ok := h.parties[reg.GetPartyId()]; ok {
			bad("party %s registered twice", reg.GetPartyId())
		}
		h.parties[reg.GetPartyId()] = reg
		h.partyRecord[reg.GetPartyId()] = id
		for _, k := range reg.GetKeys() {
			h.keys[record.KeyID(k.GetPublicKey())] = k.GetPublicKey()
		}
		return ""
	}
	pub, ok := h.keys[sig.GetKeyid()]
	if !ok || record.KeyID(pub) != sig.GetKeyid() || !record.VerifySignature(env, pub, sig.GetSig()) {
		bad("signature by key %s does not verify with a registered key", sig.GetKeyid())
	}
	if reg := h.parties[st.GetPartyId()]; reg == nil || record.KeyID(reg.GetKeys()[0].GetPublicKey()) != sig.GetKeyid() {
		bad("signed by key %s, not the key of party %q", sig.GetKeyid(), st.GetPartyId())
	}
	switch b := st.GetBody().(type) {
	case *pb.Statement_Extraction:
		x := b.Extraction
		if _, ok := h.lots[x.GetLotId()]; ok {
			bad("lot %s extracted twice", x.GetLotId())
		}
		h.lots[x.GetLotId()] = &lotModel{holder: st.GetPartyId(), head: id, origin: id, mass: x.GetMassKg(), hist: []uint64{i}}
		return x.GetLotId()
	case *pb.Statement_Dispatch:
		x := b.Dispatch
		l := h.lots[x.GetLotId()]
		switch {
		case l == nil:
			bad("dispatch of unknown lot %s", x.GetLotId())
		case l.holder != st.GetPartyId() || l.inTransit != "" || l.head != x.GetCustodyLink():
			bad("dispatch of lot %s by %s linking %s; holder %s, in transit to %q, head %s",
				x.GetLotId(), st.GetPartyId(), x.GetCustodyLink(), l.holder, l.inTransit, l.head)
		case h.parties[x.GetToPartyId()] == nil:
			bad("dispatch to unregistered %s", x.GetToPartyId())
		}
		l.inTransit, l.pending = x.GetToPartyId(), id
		l.hist = append(l.hist, i)
		return x.GetLotId()
	case *pb.Statement_Receipt:
		x := b.Receipt
		l := h.lots[x.GetLotId()]
		switch {
		case l == nil:
			bad("receipt of unknown lot %s", x.GetLotId())
		case l.inTransit != st.GetPartyId() || l.pending != x.GetDispatchLink():
			bad("receipt of lot %s by %s linking %s; in transit to %q, pending %s",
				x.GetLotId(), st.GetPartyId(), x.GetDispatchLink(), l.inTransit, l.pending)
		}
		l.holder, l.mass, l.head, l.inTransit, l.pending = st.GetPartyId(), x.GetMassKg(), id, "", ""
		l.hist = append(l.hist, i)
		return x.GetLotId()
	default:
		bad("unexpected statement %T", b)
	}
	return ""
}

// checkLot compares GetLot with the replayed lot: state and history.
func (h *crashHarness) checkLot(ctx context.Context, cc apipb.CustodyServiceClient, cycle int, id string) {
	t := h.t
	want := h.lots[id]
	r, err := cc.GetLot(ctx, &apipb.GetLotRequest{LotId: id})
	if err != nil {
		t.Fatalf("cycle %d: GetLot(%s), a lot the log created: %v", cycle, id, err)
	}
	got := r.GetLot()
	if got.GetHolderPartyId() != want.holder || got.GetInTransitTo() != want.inTransit || got.GetHead() != want.head ||
		got.GetPendingDispatch() != want.pending || got.GetOriginRecord() != want.origin || got.GetMassKg() != want.mass || got.GetConsumed() {
		t.Fatalf("cycle %d: lot %s state is not what its history in the log gives:\n got holder %s in transit %q head %s pending %q origin %s mass %v consumed %v\nwant holder %s in transit %q head %s pending %q origin %s mass %v",
			cycle, id, got.GetHolderPartyId(), got.GetInTransitTo(), got.GetHead(), got.GetPendingDispatch(), got.GetOriginRecord(), got.GetMassKg(), got.GetConsumed(),
			want.holder, want.inTransit, want.head, want.pending, want.origin, want.mass)
	}
	var hist []uint64
	for _, e := range r.GetHistory() {
		hist = append(hist, e.GetIndex())
		if e.GetIndex() >= uint64(len(h.entries)) || !bytes.Equal(e.GetData(), h.entries[e.GetIndex()]) {
			t.Fatalf("cycle %d: lot %s history entry %d does not match the log", cycle, id, e.GetIndex())
		}
	}
	if !slices.Equal(hist, want.hist) {
		t.Fatalf("cycle %d: lot %s history indexes %v, the log has %v", cycle, id, hist, want.hist)
	}
}

// checkParty compares GetParty and ListPartyLots with the replay.
func (h *crashHarness) checkParty(ctx context.Context, cc apipb.CustodyServiceClient, cycle int, id string) {
	t := h.t
	p, err := cc.GetParty(ctx, &apipb.GetPartyRequest{PartyId: id})
	if err != nil {
		t.Fatalf("cycle %d: GetParty(%s): %v", cycle, id, err)
	}
	// The store keeps the keys in the party's key list, not in the
	// registration.
	wantReg := proto.CloneOf(h.parties[id])
	wantReg.Keys = nil
	keys := p.GetParty().GetKeys()
	if !proto.Equal(p.GetParty().GetRegistration(), wantReg) || p.GetParty().GetRegistrationRecord() != h.partyRecord[id] ||
		len(keys) != 1 || !bytes.Equal(keys[0].GetPublicKey(), h.parties[id].GetKeys()[0].GetPublicKey()) || keys[0].GetRevoked() {
		t.Fatalf("cycle %d: party %s is not what its registration in the log gives: record %s (log %s), %d keys",
			cycle, id, p.GetParty().GetRegistrationRecord(), h.partyRecord[id], len(keys))
	}
	r, err := cc.ListPartyLots(ctx, &apipb.ListPartyLotsRequest{PartyId: id})
	if err != nil {
		t.Fatalf("cycle %d: ListPartyLots(%s): %v", cycle, id, err)
	}
	var got, want []string
	for _, l := range r.GetLots() {
		got = append(got, l.GetLotId())
	}
	for lid, l := range h.lots {
		if l.holder == id || l.inTransit == id {
			want = append(want, lid)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("cycle %d: ListPartyLots(%s) = %d lots, the log gives %d; first differences: %v",
			cycle, id, len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	var out []string
	for _, s := range got {
		if !w[s] && len(out) < 5 {
			out = append(out, "+"+s)
		}
	}
	for _, s := range want {
		if !g[s] && len(out) < 10 {
			out = append(out, "-"+s)
		}
	}
	return strings.Join(out, " ")
}

// auditStore opens the stopped daemon's store directly and audits every
// stored entry, hash index and tree node against the last checkpoint.
func (h *crashHarness) auditStore() {
	t := h.t
	skey, err := os.ReadFile(filepath.Join(h.dataDir, logKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tlog.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	regPub, err := keyfile.ReadPublic(filepath.Join(h.dataDir, registrarPubFile))
	if err != nil {
		t.Fatal(err)
	}
	s, err := custody.Open(t.Context(), filepath.Join(h.dataDir, ledgerDir), custody.Config{Origin: signer.Name(), LogSigner: signer, Registrar: regPub})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Log().Size(); got != uint64(len(h.entries)) {
		t.Fatalf("store size %d after graceful stop, %d entries verified", got, len(h.entries))
	}
	if err := s.Log().Audit(t.Context(), s.Log().Checkpoint(), h.verifier, nil); err != nil {
		var ae *ledger.AuditError
		if errors.As(err, &ae) {
			t.Fatalf("audit after %d crashes: entry %d: %v", len(h.entries), ae.Index, err)
		}
		t.Fatalf("audit: %v", err)
	}
}
