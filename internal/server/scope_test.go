package server_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// allFlags follows ListFlags' pages as c and returns the flags' lots,
// rules and indexes, one string a flag, in the listing's order.
func allFlags(t *testing.T, w *policyWorld, c who, req *apipb.ListFlagsRequest) []string {
	t.Helper()
	var out []string
	err := w.callGRPC(t, c, func(ctx context.Context, cl *client.Client) error {
		for pages := 0; ; pages++ {
			if pages > 2000 {
				t.Fatal("more than 2,000 pages: the tokens do not advance")
			}
			r, err := cl.Verifier.ListFlags(ctx, req)
			if err != nil {
				return err
			}
			if r.GetPendingLots() > 0 || r.GetUnreadRecords() > 0 {
				time.Sleep(50 * time.Millisecond)
				out, req.PageToken = nil, "" // start again once current
				continue
			}
			for _, f := range r.GetFlags() {
				out = append(out, fmt.Sprintf("%d %s %s %s", f.GetIndex(), f.GetRule(), f.GetLotId(), f.GetMessage()))
			}
			if r.GetNextPageToken() == "" {
				return nil
			}
			req.PageToken = r.GetNextPageToken()
		}
	})
	if err != nil {
		t.Fatalf("ListFlags as %s: %v", c.name, err)
	}
	return out
}

// lottestWorld starts a server over a lottest harness's store, with a
// running follower, and returns the harness and the policy world.
func lottestWorld(t testing.TB) (*lottest.H, *policyWorld) {
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

// TestScopedListingsEqualScan: a party's lot and flag listings, read from
// the lots it held or was sent and their ancestry (the read policy's
// scope), are the listings read from a scan of every lot and reduced to
// what it may read, page for page, for every party of random logs (with
// splits, merges and smelts, lab nominations and assays, flags of every
// kind) and every filter; a lab's listings are not scoped.
func TestScopedListingsEqualScan(t *testing.T) {
	for _, seed := range []uint64{21} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			x, w := lottestWorld(t)
			lottest.Workload(t, x, seed, 500)
			as := func(p *ct.Party) who { return who{p.ID, p.ID, p.Key} }
			// The filters' values, from the whole listing.
			aud := who{"the operator", server.OperatorPartyID, x.C.LogSigner.PrivateKey()}
			_, sums := allLots(t, w, aud, &apipb.ListLotsRequest{PageSize: 1000})
			var rules []string
			for _, s := range sums {
				for _, r := range s.GetRules() {
					if !slices.Contains(rules, r) {
						rules = append(rules, r)
					}
				}
			}
			slices.Sort(rules)
			if len(sums) < 100 || len(rules) < 4 {
				t.Fatalf("the log has %d lots and rules %v: too few to test", len(sums), rules)
			}
			lotReqs := []*apipb.ListLotsRequest{
				{PageSize: 3}, {},
				{Verdict: pb.Verdict_VERDICT_FLAGGED, PageSize: 3},
				{Verdict: pb.Verdict_VERDICT_VERIFIED},
				{Product: pb.Product_PRODUCT_TRIOXIDE},
				{HolderPartyId: x.Exp.ID, PageSize: 2},
				{HolderPartyId: x.Buyer.ID},
			}
			flagReqs := []*apipb.ListFlagsRequest{
				{PageSize: 7}, {},
				{MinSeverity: pb.Severity_SEVERITY_CRITICAL, PageSize: 4},
				{PartyId: x.Mine.ID},
				{Since: x.Day(3), Until: x.Day(40), PageSize: 5},
			}
			for _, r := range rules[:4] {
				lotReqs = append(lotReqs, &apipb.ListLotsRequest{Rule: r, PageSize: 2})
				flagReqs = append(flagReqs, &apipb.ListFlagsRequest{Rule: r, PageSize: 3})
			}
			// A lot's flags, from its summary, are those of every flag
			// with its lot id, as the operator sees them.
			every := allFlags(t, w, aud, &apipb.ListFlagsRequest{PageSize: 5000})
			for i, l := range slices.Sorted(maps.Keys(sums)) {
				if i%5 != 0 {
					continue
				}
				var want []string
				for _, f := range every {
					if strings.Fields(f)[2] == l {
						want = append(want, f)
					}
				}
				if got := allFlags(t, w, aud, &apipb.ListFlagsRequest{LotId: l, PageSize: 3}); !slices.Equal(got, want) {
					t.Errorf("lot %s's flags:\n%q\nwant those of every flag with its id:\n%q", l, got, want)
				}
			}
			for _, p := range []*ct.Party{x.Mine, x.Mn2, x.Exp, x.Smelter, x.Buyer, x.Lab} {
				c := as(p)
				mine, _ := allLots(t, w, c, &apipb.ListLotsRequest{PageSize: 1000})
				flagReqs := slices.Clone(flagReqs)
				for _, l := range mine[:min(2, len(mine))] {
					flagReqs = append(flagReqs, &apipb.ListFlagsRequest{LotId: l, PageSize: 2})
				}
				listed := 0
				for _, req := range lotReqs {
					server.SetScope(false)
					want, _ := allLots(t, w, c, cloneReq(req))
					server.SetScope(true)
					before := server.Scoped()
					got, _ := allLots(t, w, c, cloneReq(req))
					if scoped := server.Scoped() > before; scoped != (p != x.Lab) {
						t.Errorf("%s's ListLots %v: scoped %v", p.ID, req, scoped)
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s's ListLots %v, scoped:\n%v\nwant, from a scan:\n%v", p.ID, req, got, want)
					}
					listed += len(got)
				}
				for _, req := range flagReqs {
					server.SetScope(false)
					want := allFlags(t, w, c, cloneReq(req))
					server.SetScope(true)
					got := allFlags(t, w, c, cloneReq(req))
					if !slices.Equal(got, want) {
						t.Errorf("%s's ListFlags %v, scoped:\n%q\nwant, from a scan:\n%q", p.ID, req, got, want)
					}
					listed += len(got)
				}
				if listed == 0 {
					t.Errorf("%s listed nothing: the comparison shows nothing", p.ID)
				}
				t.Logf("%s: %d lots, %d rows listed", p.ID, len(mine), listed)
			}
		})
	}
}

func cloneReq[M proto.Message](m M) M { return proto.Clone(m).(M) }

// TestScopeFollowsNewLots: the lots a party's listings are limited to are
// remembered from page to page, and gathered again when a record gives it
// a lot: a lot dispatched to the buyer after it listed its lots is in its
// next listing, of lots and of flags.
func TestScopeFollowsNewLots(t *testing.T) {
	w := newPolicyWorld(t)
	buyer := w.as(w.buyerA)
	before := server.Scoped()
	if got, _ := allLots(t, w, buyer, &apipb.ListLotsRequest{}); !slices.Equal(got, []string{"L1", "L1a"}) {
		t.Fatalf("the buyer's lots: %v, want [L1 L1a]", got)
	}
	if server.Scoped() == before {
		t.Fatal("the buyer's listing was not scoped")
	}
	// Records that do not involve the buyer leave what it reads as it was.
	day := func(d int) *timestamppb.Timestamp { return w.c.At(time.Duration(d) * ct.Day) }
	x3 := w.submit("L3 extraction", w.c.Sign(w.mineA, &pb.Statement{EventTime: day(6), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L3", MassKg: 9000, SbGradePct: 9, Site: &pb.Location{Lat: 30, Lon: 67.2}, Product: pb.Product_PRODUCT_ORE}}}))
	if got, _ := allLots(t, w, buyer, &apipb.ListLotsRequest{}); !slices.Equal(got, []string{"L1", "L1a"}) {
		t.Fatalf("the buyer's lots after another's extraction: %v, want [L1 L1a]", got)
	}
	// A dispatch to the buyer: L3 and its flags are the buyer's to read
	// now.
	w.submit("L3 dispatch", w.c.Sign(w.mineA, &pb.Statement{EventTime: day(7), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L3", CustodyLink: x3, ToPartyId: "buyer-a", MassKg: 9000, Seals: []string{"SEAL-3"}, Transport: "vessel"}}}))
	if got, _ := allLots(t, w, buyer, &apipb.ListLotsRequest{}); !slices.Equal(got, []string{"L1", "L1a", "L3"}) {
		t.Errorf("the buyer's lots after a dispatch to it: %v, want [L1 L1a L3]", got)
	}
	server.SetScope(false)
	want := allFlags(t, w, buyer, &apipb.ListFlagsRequest{})
	server.SetScope(true)
	if got := allFlags(t, w, buyer, &apipb.ListFlagsRequest{}); !slices.Equal(got, want) {
		t.Errorf("the buyer's flags after a dispatch to it:\n%q\nwant, from a scan:\n%q", got, want)
	}
}

// TestScopeTooManyLots: a party with more lots than a listing is limited
// to is answered from a scan, as if unscoped, and its lots are not
// gathered again for every page: they only grow.
func TestScopeTooManyLots(t *testing.T) {
	w := newPolicyWorld(t)
	server.SetMaxScopedLots(t, 2)
	exp := w.as(w.expA) // L1, L1a, L1b
	before, gathered := server.Scoped(), server.Gathered()
	for range 3 {
		if got, _ := allLots(t, w, exp, &apipb.ListLotsRequest{PageSize: 1}); !slices.Equal(got, []string{"L1", "L1a", "L1b"}) {
			t.Fatalf("exp-a's lots: %v, want [L1 L1a L1b]", got)
		}
	}
	if server.Scoped() != before {
		t.Error("a party with more lots than the bound was scoped")
	}
	if n := server.Gathered() - gathered; n != 1 {
		t.Errorf("exp-a's lots gathered %d times for 3 listings of 3 pages, want once", n)
	}
}
