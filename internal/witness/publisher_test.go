package witness_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/internal/witness"
	"github.com/antimony-ledger/provenance/internal/witnesstest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/tlog"
	"github.com/antimony-ledger/provenance/verifier"
	"google.golang.org/protobuf/proto"
)

// lot moves lot L1 of mass kg from the mine to the exporter.
func lot(x *lottest.H, kg float64) {
	ext := x.Extract(x.Mine, "L1", kg, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "L1", ext, x.Exp, kg, 2)
	x.Receive(x.Exp, "L1", d, kg, 3)
}

// publish starts a publisher for x's log, stopped when the test ends.
func publish(t *testing.T, x *lottest.H, ws ...tlog.Witness) *witness.Publisher {
	t.Helper()
	return publishWithin(t, x, 5*time.Second, ws...)
}

// publishWithin is publish with a time limit on each witness's answer.
func publishWithin(t *testing.T, x *lottest.H, timeout time.Duration, ws ...tlog.Witness) *witness.Publisher {
	t.Helper()
	p, err := witness.New(x.S.Log(), witness.Config{Witnesses: ws, Interval: 50 * time.Millisecond, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// bundle returns x's bundle of L1 with the cosignatures p keeps.
func bundle(t *testing.T, x *lottest.H, p *witness.Publisher, wait time.Duration) *pb.Bundle {
	t.Helper()
	be := backend.New(x.S, x.Trust(), verifier.DefaultConfig())
	t.Cleanup(be.Close)
	be.SetWitness(p, wait)
	b, err := be.Bundle(t.Context(), "L1")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func policy(t *testing.T, quorum string, ws ...*witnesstest.Witness) *tlog.Policy {
	t.Helper()
	var text strings.Builder
	var names []string
	for i, w := range ws {
		fmt.Fprintf(&text, "witness w%d %s %s\n", i, w.VKey, w.URL)
		names = append(names, fmt.Sprintf("w%d", i))
	}
	fmt.Fprintf(&text, "group g %s %s\nquorum g\n", quorum, strings.Join(names, " "))
	p, err := tlog.ParsePolicy(text.String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func verify(x *lottest.H, b *pb.Bundle, p *tlog.Policy) *pb.VerificationReport {
	trust := x.Trust()
	trust.Witnesses = p
	return verifier.VerifyLot("L1", b, trust, verifier.DefaultConfig())
}

// TestWitnesses runs a log through two real, independent witnesses
// (litewitness, each with its key in its own ssh-agent and its state in
// SQLite) and attacks it as an operator holding the log key would:
//
//   - the honest log's bundle carries both cosignatures and verifies under a
//     policy that needs both;
//   - a second tree of the same size, signed with the same log key, is
//     refused by both witnesses, so it never reaches a quorum: its own
//     bundle has no cosignature, and the honest log's cosigned checkpoint
//     grafted onto it fails the consistency check (a split view);
//   - with one witness down, appends go on, bundles carry the other's
//     cosignature, a policy that needs both refuses them naming the one
//     missing, and one that needs either accepts them; restarted, the
//     witness cosigns again.
func TestWitnesses(t *testing.T) {
	w1, w2 := witnesstest.Start(t, "w1.example"), witnesstest.Start(t, "w2.example")
	x := lottest.New(t)
	for _, w := range []*witnesstest.Witness{w1, w2} {
		w.AddLog(ct.Origin, x.C.LogVerifierKey)
	}
	lot(x, 10000)
	p := publish(t, x, w1.Witness, w2.Witness)
	both := policy(t, "all", w1, w2)
	b := bundle(t, x, p, 20*time.Second)
	first := b
	rep := verify(x, b, both)
	if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED || !slices.Equal(rep.GetWitnessedBy(), []string{"w1.example", "w2.example"}) {
		t.Fatalf("honest log: %s\nwitnessed by %v", verifier.Text(rep), rep.GetWitnessedBy())
	}
	if !strings.Contains(rep.GetText(), "witnessed by w1.example, w2.example") {
		t.Errorf("report text does not name the witnesses:\n%s", rep.GetText())
	}
	// A policy whose quorum is none needs no cosignature.
	none, err := tlog.ParsePolicy("witness a " + w1.VKey + "\nquorum none\n")
	if err != nil {
		t.Fatal(err)
	}
	bareB := &pb.Bundle{LotId: b.GetLotId(), Checkpoint: b.GetCheckpoint(), Records: b.GetRecords(), MapProofs: b.GetMapProofs()}
	if rep := verify(x, bareB, none); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("quorum none, no cosignatures: %s", verifier.Text(rep))
	}

	// A frozen view: two hours on, the operator re-signs this tree at a
	// fresh time and hands it out with the witnesses' genuine but old
	// cosignatures. The log's time is the operator's word; the witnesses'
	// is not, and a buyer with a one-hour maximum age refuses it.
	c, err := tlog.OpenCheckpoint([]byte(b.GetCheckpoint()), x.C.LogVerifier)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Hour)
	c.Time = later.Truncate(time.Second)
	resigned, err := tlog.SignCheckpoint(c, x.C.LogSigner)
	if err != nil {
		t.Fatal(err)
	}
	frozen := proto.CloneOf(b)
	frozen.Checkpoint = string(resigned)
	cfg := verifier.DefaultConfig()
	cfg.Now = func() time.Time { return later }
	cfg.MaxAge = time.Hour
	trust := x.Trust()
	trust.Witnesses = both
	if rep := verifier.VerifyLot("L1", frozen, trust, cfg); rep.GetVerdict() != pb.Verdict_VERDICT_INVALID || !strings.Contains(strings.Join(rep.GetErrors(), " "), "made within the last 1h") {
		t.Fatalf("frozen view with old cosignatures: %s", verifier.Text(rep))
	}
	trust.Witnesses = nil
	if rep := verifier.VerifyLot("L1", frozen, trust, cfg); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("frozen view without a witness policy: %s", verifier.Text(rep))
	}

	// Without the cosignatures, a policy refuses the bundle, naming the
	// witnesses.
	bare := &pb.Bundle{LotId: b.GetLotId(), Checkpoint: b.GetCheckpoint(), Records: b.GetRecords(), MapProofs: b.GetMapProofs()}
	if rep := verify(x, bare, both); rep.GetVerdict() != pb.Verdict_VERDICT_INVALID || !strings.Contains(strings.Join(rep.GetErrors(), " "), "needs those of w1.example, w2.example") {
		t.Fatalf("bundle without cosignatures: %s", verifier.Text(rep))
	}

	// The fork: the same log key, the same size, another history (the
	// exporter received 9000 kg, not 10000).
	fork := lottest.New(t)
	lot(fork, 9000)
	if fork.S.Log().Size() != x.S.Log().Size() {
		t.Fatalf("fork of size %d, log %d", fork.S.Log().Size(), x.S.Log().Size())
	}
	fp := publish(t, fork, w1.Witness, w2.Witness)
	fb := bundle(t, fork, fp, 2*time.Second)
	if fb.GetWitnessedCheckpoint() != "" {
		t.Fatalf("a witness cosigned the forked tree:\n%s", fb.GetWitnessedCheckpoint())
	}
	if c, sts := fp.Latest(); c.Signed != nil || len(sts) != 2 || sts[0].Err == "" || sts[1].Err == "" {
		t.Fatalf("fork: cosigned %q, statuses %+v", c.Signed, sts)
	} else {
		t.Logf("the witnesses' answers to the fork: %q, %q", sts[0].Err, sts[1].Err)
	}
	if rep := verify(fork, fb, both); rep.GetVerdict() != pb.Verdict_VERDICT_INVALID {
		t.Fatalf("forked bundle without cosignatures: %s", verifier.Text(rep))
	}
	fb.WitnessedCheckpoint = b.GetWitnessedCheckpoint()
	if rep := verify(fork, fb, both); rep.GetVerdict() != pb.Verdict_VERDICT_INVALID || !strings.Contains(strings.Join(rep.GetErrors(), " "), "split view") {
		t.Fatalf("forked bundle with the honest log's cosignatures: %s", verifier.Text(rep))
	}
	// Without a witness policy the fork verifies: what the witnesses add.
	if rep := verify(fork, fb, nil); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("fork without a policy: %s", verifier.Text(rep))
	}

	// One witness down.
	w2.Stop()
	x.Extract(x.Mine, "L2", 500, 3, 9, lottest.MineSite, 4)
	b = bundle(t, x, p, 20*time.Second)
	rep = verify(x, b, both)
	if errs := strings.Join(rep.GetErrors(), " "); rep.GetVerdict() != pb.Verdict_VERDICT_INVALID || !strings.Contains(errs, "missing cosignatures of w2.example") || !strings.Contains(errs, "cosigned by w1.example") {
		t.Fatalf("one witness down, policy needs both: %s", verifier.Text(rep))
	}
	if rep := verify(x, b, policy(t, "any", w1, w2)); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED || !slices.Equal(rep.GetWitnessedBy(), []string{"w1.example"}) {
		t.Fatalf("one witness down, policy needs either: %s", verifier.Text(rep))
	}
	if _, sts := p.Latest(); sts[1].Err == "" {
		t.Errorf("the stopped witness has no error: %+v", sts[1])
	}
	w2.Restart()
	x.Extract(x.Mine, "L3", 500, 3, 9, lottest.MineSite, 5)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, _ := p.Latest(); c.Size == x.S.Log().Size() && len(c.By) == 2 {
			break
		}
		if time.Now().After(deadline) {
			c, sts := p.Latest()
			t.Fatalf("after the restart: cosigned size %d by %v, log %d; %+v", c.Size, c.By, x.S.Log().Size(), sts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	last := bundle(t, x, p, 20*time.Second)
	if rep := verify(x, last, both); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("after the restart: %s", verifier.Text(rep))
	}
	// From a second review: the first bundle's tree, re-signed by the
	// operator at a fresh time, passed off with the witnesses' fresh
	// cosignature of the live, larger tree (whose extra records, here
	// L2 and L3, could be a revocation or a later sale). The witnesses
	// must cosign the bundle's own tree.
	oc, err := tlog.OpenCheckpoint([]byte(first.GetCheckpoint()), x.C.LogVerifier)
	if err != nil {
		t.Fatal(err)
	}
	oc.Time = time.Now().Truncate(time.Second)
	resignedOld, err := tlog.SignCheckpoint(oc, x.C.LogSigner)
	if err != nil {
		t.Fatal(err)
	}
	stale := proto.CloneOf(first)
	stale.Checkpoint, stale.WitnessedCheckpoint = string(resignedOld), last.GetWitnessedCheckpoint()
	if rep := verify(x, stale, both); rep.GetVerdict() != pb.Verdict_VERDICT_INVALID || !strings.Contains(strings.Join(rep.GetErrors(), " "), "must cosign the bundle's own tree") {
		t.Fatalf("an old tree with a later tree's cosignatures: %s", verifier.Text(rep))
	}
}

// TestGarbageWitness: a witness that answers 200 with something other
// than its cosignature, or with another witness's, gives no cosignature;
// the other witness's still goes out.
func TestGarbageWitness(t *testing.T) {
	w1 := witnesstest.Start(t, "w1.example")
	x := lottest.New(t)
	w1.AddLog(ct.Origin, x.C.LogVerifierKey)
	lot(x, 10000)
	// An impostor: a real HTTP server with another witness's name and key
	// in the policy, answering with w1's cosignature or with junk.
	w3 := witnesstest.Start(t, "w3.example") // only for a key; never sent to
	var replies = []string{"garbage\n", "— w3.example AAAA\n"}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, replies[n%len(replies)])
		n++
	}))
	t.Cleanup(srv.Close)
	bad := w3.Witness
	bad.URL = srv.URL
	p := publish(t, x, w1.Witness, bad)
	b := bundle(t, x, p, 20*time.Second)
	pol := policy(t, "all", w1, w3)
	rep := verify(x, b, pol)
	if errs := strings.Join(rep.GetErrors(), " "); rep.GetVerdict() != pb.Verdict_VERDICT_INVALID || !strings.Contains(errs, "missing cosignatures of w3.example") {
		t.Fatalf("garbage witness: %s", verifier.Text(rep))
	}
	_, sts := p.Latest()
	if !strings.Contains(sts[1].Err, "no valid cosignature") || sts[0].Err != "" {
		t.Fatalf("statuses %+v", sts)
	}
}

// TestHangingWitness: a witness that fails once, then accepts requests
// and never answers, does not keep the others' cosignatures out of
// bundles: once it has failed, a bundle goes out as soon as the healthy
// witness has cosigned, not when the hanging request times out (30 s;
// the bound below is half that, a hundred times what the healthy witness
// needs).
func TestHangingWitness(t *testing.T) {
	w1 := witnesstest.Start(t, "w1.example")
	w3 := witnesstest.Start(t, "w3.example") // for a key: the policy's second witness
	x := lottest.New(t)
	w1.AddLog(ct.Origin, x.C.LogVerifierKey)
	lot(x, 10000)
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	hang := w3.Witness
	hang.URL = srv.URL
	p := publishWithin(t, x, 30*time.Second, w1.Witness, hang)
	// The first round: the witness fails.
	for {
		if _, sts := p.Latest(); sts[1].Err != "" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	x.Extract(x.Mine, "L2", 500, 3, 9, lottest.MineSite, 4)
	start := time.Now()
	b := bundle(t, x, p, time.Minute)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the bundle took %s: it waited for the hanging witness", d)
	}
	if rep := verify(x, b, policy(t, "any", w1, w3)); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("hanging witness, policy needs either: %s", verifier.Text(rep))
	}
}
