package backend_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestListFlagsBudget: a listing that runs out of time answers with the
// flags that are current and counts the lots and records it has not
// caught up with; given time, it completes, verifying lots on every core,
// and lists the flags computed from the records.
func TestListFlagsBudget(t *testing.T) {
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
	b := backend.NewListingBackend(x.S, x.Trust(), verifier.DefaultConfig(), time.Nanosecond)
	defer b.Close()

	// Out of time at once: the log is read one record, nothing verified.
	r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if size := x.S.Log().Size(); r.GetUnreadRecords() != size-1 || len(r.GetFlags()) != 0 {
		t.Fatalf("first listing: %d flags, %d pending lots, %d unread records; want no flags and %d unread", len(r.GetFlags()), r.GetPendingLots(), r.GetUnreadRecords(), size-1)
	}

	// With time, the listing completes.
	backend.SetListBudget(b, 0)
	r, err = b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: verifier.RuleBorderCorridor})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetPendingLots() != 0 || r.GetUnreadRecords() != 0 {
		t.Fatalf("complete listing still counts %d pending lots, %d unread records", r.GetPendingLots(), r.GetUnreadRecords())
	}
	got := map[string]bool{}
	for _, f := range r.GetFlags() {
		got[f.GetLotId()] = true
	}
	for i := range lots {
		if want := i%4 == 3; got[fmt.Sprintf("L%d", i)] != want {
			t.Errorf("lot L%d lottest.Flagged %v, want %v (flags %v)", i, got[fmt.Sprintf("L%d", i)], want, r.GetFlags())
		}
	}

	// A new record makes its lot stale; out of time, the listing counts it.
	x.Dispatch(x.Mine, "L3", exts[3], x.Exp, 1000, 2)
	backend.SetListBudget(b, time.Nanosecond)
	if r, err = b.ListFlags(t.Context(), &apipb.ListFlagsRequest{}); err != nil {
		t.Fatal(err)
	}
	if r.GetPendingLots() != 1 || r.GetUnreadRecords() != 0 {
		t.Fatalf("after one dispatch: %d pending lots, %d unread records; want 1 and 0", r.GetPendingLots(), r.GetUnreadRecords())
	}

	// A rule that does not exist is refused, not answered with nothing.
	if _, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: "BOGUS"}); !errors.Is(err, record.ErrMalformed) {
		t.Fatalf("unknown rule: %v, want ErrMalformed", err)
	}
}
