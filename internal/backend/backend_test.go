package backend_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
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

	// A rule that does not exist is refused, not answered with nothing.
	if _, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: "BOGUS"}); !errors.Is(err, record.ErrMalformed) {
		t.Fatalf("unknown rule: %v, want ErrMalformed", err)
	}
}
