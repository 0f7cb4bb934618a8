package backend_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestListingCountsUnread: a listing of a follower that is behind
// answers with the flags it has and counts the records it has not
// replayed; once it has replayed them, it lists the flags computed from
// the records, and a new record changes them.
func TestListingCountsUnread(t *testing.T) {
	x := lottest.New(t)
	const lots = 12
	var exts []string
	for i := range lots {
		site := lottest.MineSite
		if i%4 == 3 {
			site = lottest.NearBorder // BORDER_CORRIDOR
		}
		exts = append(exts, x.Extract(x.Mine, fmt.Sprintf("L%d", i), 1000, 3, 9, site, 1))
	}
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if size := x.S.Log().Size(); r.GetUnreadRecords() != size || len(r.GetFlags()) != 0 {
		t.Fatalf("before replaying: %d flags, %d unread records; want none and %d", len(r.GetFlags()), r.GetUnreadRecords(), size)
	}

	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	r, err = b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: verifier.RuleBorderCorridor})
	if err != nil {
		t.Fatal(err)
	}
	r0 := r
	if r.GetPendingLots() != 0 || r.GetUnreadRecords() != 0 {
		t.Fatalf("after replaying: %d pending lots, %d unread records", r.GetPendingLots(), r.GetUnreadRecords())
	}
	got := map[string]bool{}
	for _, f := range r.GetFlags() {
		got[f.GetLotId()] = true
	}
	for i := range lots {
		if want := i%4 == 3; got[fmt.Sprintf("L%d", i)] != want {
			t.Errorf("lot L%d flagged %v, want %v (flags %v)", i, got[fmt.Sprintf("L%d", i)], want, r.GetFlags())
		}
	}

	// A dispatch leaves L2 in transit: counted until replayed, then
	// flagged as such, and listed as such.
	x.Dispatch(x.Mine, "L2", exts[2], x.Exp, 1000, 2)
	if r, err = b.ListFlags(t.Context(), &apipb.ListFlagsRequest{}); err != nil {
		t.Fatal(err)
	}
	if r.GetUnreadRecords() != 1 {
		t.Fatalf("after one dispatch: %d unread records, want 1", r.GetUnreadRecords())
	}
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	r, err = b.ListFlags(t.Context(), &apipb.ListFlagsRequest{LotId: "L2", Rule: verifier.RuleUnconfirmedCustody})
	if err != nil || len(r.GetFlags()) != 1 {
		t.Fatalf("L2 in transit: %v, %v", r.GetFlags(), err)
	}
	l, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{HolderPartyId: x.Exp.ID})
	if err != nil || len(l.GetLots()) != 1 || l.GetLots()[0].GetLot().GetLotId() != "L2" {
		t.Fatalf("lots in transit to the exporter: %v, %v", l.GetLots(), err)
	}

	// A rule is named in any case, as the listings' enum values are (a
	// new user's trial: rule=origin_volume was refused).
	lower := strings.ToLower(verifier.RuleBorderCorridor)
	if lr, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: lower}); err != nil || len(lr.GetFlags()) != len(r0.GetFlags()) || len(lr.GetFlags()) == 0 {
		t.Fatalf("flags of rule %q: %d, %v; of %s: %d", lower, len(lr.GetFlags()), err, verifier.RuleBorderCorridor, len(r0.GetFlags()))
	}
	ll, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{Rule: lower})
	if err != nil || len(ll.GetLots()) != len(got) {
		t.Fatalf("lots of rule %q: %d, %v; want the %d flagged", lower, len(ll.GetLots()), err, len(got))
	}
	// A rule that does not exist is refused, not answered with nothing.
	if _, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: "BOGUS"}); !errors.Is(err, record.ErrMalformed) {
		t.Fatalf("unknown rule: %v, want ErrMalformed", err)
	}
	// So is a time range that holds nothing (a new user's trial: since
	// after until answered 200 with no flags).
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct{ since, until time.Time }{{at, at.Add(-time.Hour)}, {at, at}} {
		if _, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Since: timestamppb.New(c.since), Until: timestamppb.New(c.until)}); !errors.Is(err, record.ErrMalformed) || !strings.Contains(err.Error(), "must be after since") {
			t.Fatalf("since %v, until %v: %v, want ErrMalformed", c.since, c.until, err)
		}
	}
	if _, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Since: timestamppb.New(at), Until: timestamppb.New(at.Add(time.Second))}); err != nil {
		t.Fatalf("a one-second range: %v", err)
	}
}

// TestListingIndexes: listings by rule, party, verdict and holder, read
// from their indexes, list exactly what the whole listing holds for them,
// page after page.
func TestListingIndexes(t *testing.T) {
	x := lottest.New(t)
	lottest.Workload(t, x, 5, 400)
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	allFlags := func(req *apipb.ListFlagsRequest) []string {
		var out []string
		for req.PageSize = 7; ; {
			r, err := b.ListFlags(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range r.GetFlags() {
				out = append(out, verifier.ReplayFlagKey(f))
			}
			if req.PageToken = r.GetNextPageToken(); req.PageToken == "" {
				return out
			}
		}
	}
	every := map[string]*pb.Flag{}
	r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{PageSize: backend.MaxFlagPage})
	if err != nil || r.GetNextPageToken() != "" {
		t.Fatal(err, r.GetNextPageToken())
	}
	rules, parties := map[string]bool{}, map[string]bool{}
	for _, f := range r.GetFlags() {
		every[verifier.ReplayFlagKey(f)] = f
		rules[f.GetRule()], parties[f.GetPartyId()] = true, true
	}
	rules[""], parties[""] = true, true
	for rule := range rules {
		for party := range parties {
			var want []string
			for k, f := range every {
				if (rule == "" || f.GetRule() == rule) && (party == "" || f.GetPartyId() == party) {
					want = append(want, k)
				}
			}
			slices.Sort(want)
			if got := allFlags(&apipb.ListFlagsRequest{Rule: rule, PartyId: party}); !slices.Equal(got, want) {
				t.Errorf("flags of %q by %q: %d listed, want %d", rule, party, len(got), len(want))
			}
		}
	}
	delete(rules, "")
	allLots := func(req *apipb.ListLotsRequest) []string {
		var out []string
		for req.PageSize = 5; ; {
			r, err := b.ListLots(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range r.GetLots() {
				out = append(out, fmt.Sprintf("%s %v %v", l.GetLot().GetLotId(), l.GetVerdict(), l.GetRules()))
			}
			if req.PageToken = r.GetNextPageToken(); req.PageToken == "" {
				return out
			}
		}
	}
	lots, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{PageSize: backend.MaxLotPage})
	if err != nil {
		t.Fatal(err)
	}
	for _, holder := range []string{x.Mine.ID, x.Exp.ID, x.Smelter.ID, x.Buyer.ID} {
		var want []string
		for _, l := range lots.GetLots() {
			if l.GetLot().GetHolderPartyId() == holder || l.GetLot().GetInTransitTo() == holder {
				want = append(want, fmt.Sprintf("%s %v %v", l.GetLot().GetLotId(), l.GetVerdict(), l.GetRules()))
			}
		}
		if got := allLots(&apipb.ListLotsRequest{HolderPartyId: holder}); !slices.Equal(got, want) {
			t.Errorf("lots held by or in transit to %q: %d listed, want %d", holder, len(got), len(want))
		}
	}
	for _, v := range []pb.Verdict{pb.Verdict_VERDICT_VERIFIED, pb.Verdict_VERDICT_FLAGGED} {
		for rule := range rules {
			for _, holder := range []string{"", x.Exp.ID, x.Smelter.ID} {
				var want []string
				for _, l := range lots.GetLots() {
					if l.GetVerdict() == v && slices.Contains(l.GetRules(), rule) == (v == pb.Verdict_VERDICT_FLAGGED) &&
						(holder == "" || l.GetLot().GetHolderPartyId() == holder || l.GetLot().GetInTransitTo() == holder) {
						want = append(want, fmt.Sprintf("%s %v %v", l.GetLot().GetLotId(), l.GetVerdict(), l.GetRules()))
					}
				}
				req := &apipb.ListLotsRequest{Verdict: v, HolderPartyId: holder}
				if v == pb.Verdict_VERDICT_FLAGGED {
					req.Rule = rule
				}
				if got := allLots(req); !slices.Equal(got, want) {
					t.Errorf("lots %v %s held by %q: %d listed, want %d", v, req.Rule, holder, len(got), len(want))
				}
			}
		}
	}
	if len(every) < 50 || len(lots.GetLots()) < 50 {
		t.Fatalf("only %d flags and %d lots", len(every), len(lots.GetLots()))
	}
}

// TestStoreSmallTables: the flag state's store has Badger build tables of
// its base size at every level below level 0 (ledger.SmallTables): 16 MiB
// tables' builders took the heap past 1.5 GiB while the flag state caught
// up at 3.3M records.
func TestStoreSmallTables(t *testing.T) {
	x := lottest.New(t)
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := backend.StoreOptions(b).TableSizeMultiplier; got != 1 {
		t.Errorf("TableSizeMultiplier %d, want 1", got)
	}
}
