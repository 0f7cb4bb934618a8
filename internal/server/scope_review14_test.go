package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/client"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// review14World starts a server over a lottest harness's store, with a
// running follower, and returns the harness and the policy world.
func review14World(t *testing.T) (*lottest.H, *policyWorld) {
	t.Helper()
	x := lottest.New(t)
	h := start(t, x.C, t.TempDir(), func(o *server.Options) {
		o.Store = x.S
		b := backend.New(x.S, x.Trust(), verifier.DefaultConfig())
		t.Cleanup(b.Close)
		o.Verifier = b
	})
	t.Cleanup(func() { server.SetScope(true) }) // whatever a failure left it
	return x, &policyWorld{h: h, c: x.C, idx: map[string]uint64{}}
}

// waitFlag lists flags as the operator until one has rule and a message
// containing substr.
func waitFlag(t *testing.T, w *policyWorld, x *lottest.H, rule, substr string) {
	t.Helper()
	op := who{"the operator", server.OperatorPartyID, x.C.LogSigner.PrivateKey()}
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, f := range allFlags(t, w, op, &apipb.ListFlagsRequest{Rule: rule}) {
			if strings.Contains(f, substr) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s flag mentioning %q listed", rule, substr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestScopedFlagsOfACorrectionRecord_review14: a flag that a full
// verification finds on a correction record (here KEY_MISUSE: the
// mine's key revoked, backdated to before the correction) is stored by
// AddFlags under F/ but propagated to no node (verifier's statementLots
// has no lot for a correction), so it is in no lot summary's Keys. The
// scan path lists it to the exporter, which may read lot X; the scoped
// path (flagKeysOf) never sees it.
func TestScopedFlagsOfACorrectionRecord_review14(t *testing.T) {
	x, w := review14World(t)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 10000, 2)
	x.Receive(x.Exp, "X", d, 10000, 3)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 4)
	// The mine's key, revoked as of day 3.5, logged after the correction
	// and within the revocation reach: the correction is signed by a key
	// revoked as of its time.
	x.Submit(x.C.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: x.Mine.ID, KeyId: x.Mine.KeyID(), RevokedAt: x.Day(3.5), Reason: "stolen"}}}))
	waitFlag(t, w, x, "KEY_MISUSE", " X ")
	exp := who{x.Exp.ID, x.Exp.ID, x.Exp.Key}
	server.SetScope(false)
	want := allFlags(t, w, exp, &apipb.ListFlagsRequest{})
	server.SetScope(true)
	before := server.Scoped()
	got := allFlags(t, w, exp, &apipb.ListFlagsRequest{})
	if server.Scoped() == before {
		t.Fatal("the exporter's listing was not scoped")
	}
	if !slices.ContainsFunc(want, func(f string) bool { return strings.Contains(f, "KEY_MISUSE X") }) {
		t.Fatalf("the scan does not list the KEY_MISUSE flag on X: %q", want)
	}
	if !slices.Equal(got, want) {
		t.Errorf("the exporter's flags, scoped:\n%q\nwant, from a scan:\n%q", got, want)
	}
}

// TestScopeFallbackRegathersEveryPage_review14: a party with more than
// maxScopedLots lots is answered from the scan, as before, but only
// after scope has gathered 20,001 of its lots again, on every page:
// partyLots does not remember custody.ErrTooManyLots, so each page of
// the parties with the most lots reads 20,001 party-lot keys (and, for
// a party whose ancestry takes it over the bound, madeFrom for each)
// and throws them away. Here, the follower caught up, a page of 100 of
// the mine's lots takes some 45 ms with the scope on against about 2 ms
// with it off (the commit's own figure for a scan page of such a party
// is 2 ms): the parties the bound was to keep on the scan pay 20 times
// the scan for each page.
func TestScopeFallbackRegathersEveryPage_review14(t *testing.T) {
	x := lottest.New(t)
	t.Cleanup(func() { server.SetScope(true) }) // whatever a failure left it
	const n = 20001
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				env := x.C.Sign(x.Mine, &pb.Statement{EventTime: x.Day(1), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
					LotId: fmt.Sprintf("BIG-%06d", i), MassKg: 10000, SbGradePct: 9, Site: lottest.MineSite, Product: pb.Product_PRODUCT_ORE}}})
				if _, err := x.S.Submit(context.Background(), env); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	h := start(t, x.C, t.TempDir(), func(o *server.Options) {
		o.Store = x.S
		b := backend.New(x.S, x.Trust(), verifier.DefaultConfig())
		t.Cleanup(b.Close)
		o.Verifier = b
	})
	w := &policyWorld{h: h, c: x.C, idx: map[string]uint64{}}
	mine := who{x.Mine.ID, x.Mine.ID, x.Mine.Key}
	// Wait for the follower: a page then reads 100 summaries.
	caught := time.Now()
	for {
		var unread uint64
		err := w.callGRPC(t, mine, func(ctx context.Context, cl *client.Client) error {
			r, err := cl.Verifier.ListLots(ctx, &apipb.ListLotsRequest{})
			unread = r.GetUnreadRecords() + uint64(r.GetPendingLots())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if unread == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("follower caught up in %v", time.Since(caught))
	pages := func(scoped bool) time.Duration {
		server.SetScope(scoped)
		defer server.SetScope(true)
		var took time.Duration
		err := w.callGRPC(t, mine, func(ctx context.Context, cl *client.Client) error {
			if _, err := cl.Verifier.ListLots(ctx, &apipb.ListLotsRequest{}); err != nil { // warm
				return err
			}
			start := time.Now()
			for range 10 {
				if _, err := cl.Verifier.ListLots(ctx, &apipb.ListLotsRequest{}); err != nil {
					return err
				}
			}
			took = time.Since(start) / 10
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return took
	}
	before := server.Scoped()
	on := pages(true)
	if server.Scoped() != before {
		t.Fatal("the listing of a party with more than 20,000 lots was scoped")
	}
	off := pages(false)
	t.Logf("a page of the mine's %d lots: %v with the scope on (falling back to the scan), %v with it off", n, on, off)
	if on > 3*off {
		t.Errorf("a page of a party over maxScopedLots takes %v with the scope on, %.0f times the %v of the scan it falls back to: its lots are gathered again for every page",
			on, float64(on)/float64(off), off)
	}
}

// TestScopedFlagPageCost_review14: maxScopedFlagLots bounds the lots a
// scoped flag page reads, not what it reads: flagKeysOf decodes every
// scoped lot's summary, all its Keys (the flags of the lot's whole
// ancestry), and sorts their union, on every page, whatever the page
// size. A mine that assayed its lot A 200 times (ASSAY_MISMATCH each)
// and split 1,999 lots off it has 2,000 lots, each summary with some
// 200 keys: every page of its flags, scoped, decodes 400,000 keys to
// answer 10 flags. Here a page of 10 takes some 55 ms scoped against
// 0.4 ms from the scan (over 100 times), and the 203 flags ten at a time
// 1.2 s against 8 ms. The holder decides how many assays its lot has,
// so the keys a page decodes, 2,000 times the flags of the ancestry,
// have no bound.
func TestScopedFlagPageCost_review14(t *testing.T) {
	x, w := review14World(t)
	ext := x.Extract(x.Mine, "A", 1e6, 3, 9, lottest.MineSite, 1)
	for i := range 200 {
		x.Assay(x.Mine, "A", ext, map[string]float64{"As": 3, "Hg": 0.1, "Sb": 9}, 1.1+float64(i)*0.001)
	}
	head, made := ext, 0
	for k := 0; made < 1999; k++ {
		tf := &pb.Transformation{Kind: pb.TransformationKind_TRANSFORMATION_KIND_SPLIT, Site: lottest.MineSite}
		for j := 0; j < 256 && made < 1999; j++ {
			tf.Outputs = append(tf.Outputs, &pb.TransformationOutput{LotId: fmt.Sprintf("A-%d-%03d", k, j), MassKg: 1, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9})
			made++
		}
		tf.Inputs = []*pb.TransformationInput{{LotId: "A", Link: head, MassKg: float64(len(tf.Outputs))}}
		head = x.Submit(x.C.Sign(x.Mine, &pb.Statement{EventTime: x.Day(2 + float64(k)*0.01), Body: &pb.Statement_Transformation{Transformation: tf}}))
	}
	mine := who{x.Mine.ID, x.Mine.ID, x.Mine.Key}
	server.SetScope(false)
	want := allFlags(t, w, mine, &apipb.ListFlagsRequest{PageSize: 5000}) // and waits for the follower
	server.SetScope(true)
	if len(want) < 200 {
		t.Fatalf("the mine's flags: %d, want at least 200", len(want))
	}
	pages := func(scoped bool) time.Duration {
		server.SetScope(scoped)
		defer server.SetScope(true)
		var took time.Duration
		err := w.callGRPC(t, mine, func(ctx context.Context, cl *client.Client) error {
			req := &apipb.ListFlagsRequest{PageSize: 10}
			if _, err := cl.Verifier.ListFlags(ctx, req); err != nil { // warm
				return err
			}
			start := time.Now()
			for range 10 {
				r, err := cl.Verifier.ListFlags(ctx, req)
				if err != nil {
					return err
				}
				if len(r.GetFlags()) != 10 {
					t.Errorf("a page of %d flags, want 10", len(r.GetFlags()))
				}
				req.PageToken = r.GetNextPageToken()
			}
			took = time.Since(start) / 10
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return took
	}
	before := server.Scoped()
	on := pages(true)
	if server.Scoped() == before {
		t.Fatal("the mine's flag listing was not scoped")
	}
	off := pages(false)
	t.Logf("a page of 10 of the mine's %d flags: %v scoped, %v from the scan", len(want), on, off)
	if on > 5*off {
		t.Errorf("a scoped page of 10 flags takes %v, %.0f times the scan's %v: each page decodes every scoped summary's keys",
			on, float64(on)/float64(off), off)
	}
}
