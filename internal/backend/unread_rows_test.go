package backend_test

import (
	"fmt"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

func lotRow(t *testing.T, b *backend.Backend, req *apipb.ListLotsRequest, lot string) (*apipb.LotSummary, *apipb.ListLotsResponse) {
	t.Helper()
	r, err := b.ListLots(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range r.GetLots() {
		if l.GetLot().GetLotId() == lot {
			return l, r
		}
	}
	return nil, r
}

// TestRowUnreadIsALowerBound: a record that changes a lot's verdict
// without naming it (a correction of the parent lot's receipt, past a
// split) is not in the child's row count, which is a lower bound; the
// listing's own unread_records counts it, so the listing never reads as
// complete (a second review's proof of concept).
func TestRowUnreadIsALowerBound(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	r1 := receivedAndSplit(t, x, b, 3000) // clean: L1a VERIFIED, replayed
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(30000)}, 5, x.Mine)
	if v := x.Verify("L1a").GetVerdict(); v != pb.Verdict_VERDICT_FLAGGED {
		t.Fatalf("full verification of L1a after the correction: %v, want FLAGGED", v)
	}
	row, resp := lotRow(t, b, &apipb.ListLotsRequest{}, "L1a")
	t.Logf("before replay: page unread %d; L1a row: %v, unread_records %d", resp.GetUnreadRecords(), row.GetVerdict(), row.GetUnreadRecords())
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	row2, _ := lotRow(t, b, &apipb.ListLotsRequest{}, "L1a")
	t.Logf("after replay: L1a row: %v %v", row2.GetVerdict(), row2.GetRules())
	if row.GetVerdict() == row2.GetVerdict() {
		t.Fatalf("L1a's row said %v before and after the correction was read; want it changed by a record not naming it", row.GetVerdict())
	}
	if row.GetUnreadRecords() == 0 && resp.GetUnreadRecords() == 0 {
		t.Errorf("L1a row said %v, its listing and the row 0 unread, yet an appended record turned it %v", row.GetVerdict(), row2.GetVerdict())
	}
}

// TestRowUnreadOnLaterPage: a row on a later page counts from where the
// follower stands as that page is read, not from the first page's
// position: its verdict already reflects what the follower read since (a
// second review's proof of concept: it said "before 1 of its records").
func TestRowUnreadOnLaterPage(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	backend.SetListWait(b, 0)
	x.Extract(x.Mine, "A-1", 1000, 3, 9, lottest.MineSite, 1)
	ext := x.Extract(x.Mine, "B-1", 1000, 3, 9, lottest.MineSite, 1)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	x.Dispatch(x.Mine, "B-1", ext, x.Exp, 1000, 2)
	r, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	row, resp := lotRow(t, b, &apipb.ListLotsRequest{PageSize: 1, PageToken: r.GetNextPageToken()}, "B-1")
	sum, _, _ := backend.Summary(b, "B-1")
	t.Logf("page 2: unread %d; B-1 %v %v, unread_records %d; replayed %d; follower summary %v", resp.GetUnreadRecords(), row.GetVerdict(), row.GetRules(), row.GetUnreadRecords(), b.Replayed(), sum.Verdict)
	if row.GetUnreadRecords() != 0 {
		t.Errorf("B-1's row says its verdict is from before %d of its records, but the follower had read them when the row was read (verdict %v)", row.GetUnreadRecords(), row.GetVerdict())
	}
}

// TestRowStateAheadCounted: each row's lot state is read after the
// follower's position: a record appended meanwhile that shows in the
// row's state is counted in the row and the listing (a second review's
// proof of concept: with nothing unread when the listing began, neither
// said so).
func TestRowStateAheadCounted(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	backend.SetListWait(b, 0)
	for i := range 600 {
		x.Extract(x.Mine, fmt.Sprintf("F-%04d", i), 1000, 3, 9, lottest.MineSite, 1)
	}
	const lot = "ZZ-RACE"
	link := x.Extract(x.Mine, lot, 1000, 3, 9, lottest.MineSite, 1)
	holder := x.Mine
	hits, tries := 0, 0
	day := 2.0
	next := x.Exp
	for tries < 40 {
		if err := backend.ReplayAll(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		before := x.S.Log().Size()
		done := make(chan string)
		h, n, l, dday := holder, next, link, day
		go func() { done <- x.Dispatch(h, lot, l, n, 1000, dday) }()
		row, resp := lotRow(t, b, &apipb.ListLotsRequest{PageSize: backend.MaxLotPage}, lot)
		d := <-done
		tries++
		if row != nil && resp.GetUnreadRecords() == 0 && row.GetUnreadRecords() == 0 && row.GetLot().GetInTransitTo() != "" {
			hits++
			t.Logf("try %d: log %d->%d, replayed %d: page unread 0, row unread 0, row state in transit to %s (the unread dispatch)", tries, before, x.S.Log().Size(), b.Replayed(), row.GetLot().GetInTransitTo())
		}
		// receive, to go on
		if err := backend.ReplayAll(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		link = x.Receive(n, lot, d, 1000, day+0.5)
		holder, next = n, holder
		day++
	}
	if hits > 0 {
		t.Errorf("%d of %d listings showed a row whose state reflects an unread record, with page and row unread 0", hits, tries)
	}
	t.Logf("%d listings, each racing a dispatch of the lot", tries)
}

// TestFollowingAfterClose: Following (each /metrics scrape) after the log
// is closed neither panics nor reads: age 0.
func TestFollowingAfterClose(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	if b.FollowerRunning() {
		t.Error("a paused follower reads as running")
	}
	x.Extract(x.Mine, "C-1", 1000, 3, 9, lottest.MineSite, 1)
	n, age, aside := b.Following()
	t.Logf("open: unread %d age %v aside %v", n, age, aside)
	x.S.Close()
	n, age, aside = b.Following()
	t.Logf("store closed: unread %d age %v aside %v", n, age, aside)
	if age != 0 {
		t.Errorf("age %v after close", age)
	}
}
