package backend_test

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// borderFlagged reports whether b lists lot with the border-corridor flag,
// and how many records the listing says it has not read.
func borderFlagged(t *testing.T, b *backend.Backend, lot string) (bool, uint64) {
	t.Helper()
	r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: verifier.RuleBorderCorridor, PageSize: backend.MaxFlagPage})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.GetFlags() {
		if f.GetLotId() == lot {
			return true, r.GetUnreadRecords()
		}
	}
	return false, r.GetUnreadRecords()
}

// waitFollowed waits up to 10 s for b's follower to read the whole log.
func waitFollowed(t *testing.T, b *backend.Backend) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, _, _ := b.Following(); n == 0 {
			return
		}
		if time.Now().After(deadline) {
			n, _, aside := b.Following()
			t.Fatalf("the follower has not read %d records after 10 s (stepping aside: %v)", n, aside)
		}
	}
}

// openAside opens a backend on x's store whose follower reads the
// processors as busy while busy says so (false at first), with the given
// max lag and listing wait; it is closed at the test's end.
func openAside(t *testing.T, x *lottest.H, maxLag, listWait time.Duration) (*backend.Backend, *atomic.Bool) {
	t.Helper()
	busy := new(atomic.Bool)
	b, err := backend.OpenBusy(x.S, x.Trust(), verifier.DefaultConfig(), backend.Options{Dir: t.TempDir(), MaxLag: maxLag},
		func(time.Time) bool { return busy.Load() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	backend.SetListWait(b, listWait)
	return b, busy
}

// openPaced opens a backend on x's store with the given max lag whose
// follower reads the processors as busy while busy says so, weighs its
// progress every window and replays one record a step; it is closed at
// the test's end.
func openPaced(t *testing.T, x *lottest.H, maxLag time.Duration, busy func() bool, window time.Duration) *backend.Backend {
	t.Helper()
	b, err := backend.OpenPaced(x.S, x.Trust(), verifier.DefaultConfig(), backend.Options{Dir: t.TempDir(), MaxLag: maxLag},
		func(time.Time) bool { return busy() }, window, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestFollowerStepsAside: while the processors are busy, the follower
// leaves new records unread, and a listing says so at once instead of
// waiting for it; when they are not, it reads them and their flags are
// listed.
func TestFollowerStepsAside(t *testing.T) {
	x := lottest.New(t)
	b, busy := openAside(t, x, time.Hour, 5*time.Second)
	waitFollowed(t, b) // the registrations, made before it opened
	busy.Store(true)

	x.Extract(x.Mine, "ASIDE-1", 1000, 3, 9, lottest.NearBorder, 1)
	start := time.Now()
	listed, unread := borderFlagged(t, b, "ASIDE-1")
	if waited := time.Since(start); listed || unread == 0 || waited > 2*time.Second {
		t.Fatalf("listing while the follower steps aside: flag listed %v, unread %d, after %v; want no flag, the record counted unread, an answer well before the 5 s listing wait", listed, unread, waited)
	}
	time.Sleep(300 * time.Millisecond)
	if n, age, aside := b.Following(); n == 0 || !aside || age != 0 {
		t.Fatalf("after 300 ms busy: %d unread for %v, stepping aside %v; want the extraction unread (for 0 s: the test chain's clock has not moved), stepping aside", n, age, aside)
	}
	busy.Store(false)
	waitFollowed(t, b)
	if listed, _ := borderFlagged(t, b, "ASIDE-1"); !listed {
		t.Fatal("the follower read the extraction but its border-corridor flag is not listed")
	}
	if _, _, aside := b.Following(); aside {
		t.Fatal("still stepping aside with the processors idle and the log read")
	}
}

// TestFollowerMaxLag: with the processors busy all the time, the follower
// still reads a record once the log took it MaxLag ago, by the log's
// clock, not before.
func TestFollowerMaxLag(t *testing.T) {
	x := lottest.New(t)
	const maxLag = time.Hour
	b, busy := openAside(t, x, maxLag, 0)
	waitFollowed(t, b) // the registrations
	busy.Store(true)

	x.Extract(x.Mine, "LAG-1", 1000, 3, 9, lottest.NearBorder, 1)
	time.Sleep(300 * time.Millisecond)
	if listed, unread := borderFlagged(t, b, "LAG-1"); listed || unread == 0 {
		t.Fatalf("busy, the record just taken: flag listed %v, %d unread; want it unread", listed, unread)
	}
	x.C.Clock.Advance(x.C.Clock.Now().Add(maxLag - time.Minute))
	time.Sleep(300 * time.Millisecond)
	if listed, _ := borderFlagged(t, b, "LAG-1"); listed {
		t.Fatalf("flag listed when the record was a minute short of the %v the follower may step aside for", maxLag)
	}
	if n, age, _ := b.Following(); n == 0 || age != maxLag-time.Minute {
		t.Fatalf("Following: %d unread, the oldest for %v; want the extraction, for %v", n, age, maxLag-time.Minute)
	}
	x.C.Clock.Advance(x.C.Clock.Now().Add(2 * time.Minute))
	waitFollowed(t, b)
	if listed, _ := borderFlagged(t, b, "LAG-1"); !listed {
		t.Fatal("the follower read the record past the max lag but its flag is not listed")
	}
}

// TestFollowerClockSteppedBack: a record the log dated after its clock
// now reads (the clock stepped back) is read at once, busy or not: its
// age, negative, would otherwise keep it unread for the max lag plus the
// step, which no listing could bound.
func TestFollowerClockSteppedBack(t *testing.T) {
	x := lottest.New(t)
	b, busy := openAside(t, x, time.Hour, 0)
	waitFollowed(t, b)
	busy.Store(true)
	x.Extract(x.Mine, "BACK-1", 1000, 3, 9, lottest.NearBorder, 1)
	time.Sleep(300 * time.Millisecond)
	if listed, unread := borderFlagged(t, b, "BACK-1"); listed || unread == 0 {
		t.Fatalf("busy, the record just taken: flag listed %v, %d unread; want it unread", listed, unread)
	}
	x.C.Clock.StepBack(10 * time.Minute)
	waitFollowed(t, b)
	if listed, _ := borderFlagged(t, b, "BACK-1"); !listed {
		t.Fatal("the follower read the record dated after the log's clock but its flag is not listed")
	}
	if n, age, _ := b.Following(); n != 0 || age != 0 {
		t.Fatalf("Following: %d unread for %v; want none", n, age)
	}
	if !b.FollowerRunning() {
		t.Fatal("the follower reads as not running")
	}
	b.Close()
	if b.FollowerRunning() {
		t.Fatal("the follower reads as running after Close")
	}
}

// TestListingWithFollowerOff: with the follower off (--no-flag-follower),
// a listing answers at once, counting what it has not read, rather than
// waiting out the listing wait for a follower that will not come (a
// newcomer's trial found every listing took 2 s).
func TestListingWithFollowerOff(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	backend.SetListWait(b, 5*time.Second)
	x.Extract(x.Mine, "OFF-1", 1000, 3, 9, lottest.NearBorder, 1)
	for _, list := range []func() uint64{
		func() uint64 {
			r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if !r.GetFollowerOff() {
				t.Error("ListFlags does not say the follower is off")
			}
			return r.GetUnreadRecords()
		},
		func() uint64 {
			r, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if !r.GetFollowerOff() {
				t.Error("ListLots does not say the follower is off")
			}
			return r.GetUnreadRecords()
		},
	} {
		start := time.Now()
		unread := list()
		if waited := time.Since(start); unread == 0 || waited > 2*time.Second {
			t.Fatalf("listing with the follower off: %d unread, after %v; want the records counted, an answer well before the 5 s listing wait", unread, waited)
		}
	}
}

// TestSchedulerBusy: the reading the follower steps aside on, on the
// real scheduler: goroutines that queue for the processors read as
// busy; once they stop, a quiet process does not.
func TestSchedulerBusy(t *testing.T) {
	busy := backend.Busy()
	busy(time.Now()) // the first reading starts the first window
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for start := time.Now(); time.Since(start) < 100*time.Microsecond; {
				}
				runtime.Gosched()
			}
		})
	}
	saw := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !saw; time.Sleep(50 * time.Millisecond) {
		saw = busy(time.Now())
	}
	close(stop)
	wg.Wait()
	if !saw {
		t.Fatal("goroutines queueing for the processors for 5 s never read as busy")
	}
	quiet := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !quiet; time.Sleep(50 * time.Millisecond) {
		quiet = !busy(time.Now())
	}
	if !quiet {
		t.Fatal("a quiet process still reads as busy 5 s after its goroutines stopped")
	}
}

// TestMaxLagAcrossRestart: a record the log took longer ago than the max
// lag is read at once by a follower that opens on it, busy or not: the
// lag is the record's age by the log's clock, not the time since this
// process first saw it (a review's proof of concept).
func TestMaxLagAcrossRestart(t *testing.T) {
	x := lottest.New(t)
	const maxLag = time.Hour
	x.Extract(x.Mine, "OLD-1", 1000, 3, 9, lottest.NearBorder, 1) // appended before the follower opens
	x.C.Clock.Advance(x.C.Clock.Now().Add(2 * maxLag))
	b, err := backend.OpenBusy(x.S, x.Trust(), verifier.DefaultConfig(), backend.Options{Dir: t.TempDir(), MaxLag: maxLag},
		func(time.Time) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitFollowed(t, b)
	if listed, _ := borderFlagged(t, b, "OLD-1"); !listed {
		t.Fatal("the record two max lags old was read but its flag is not listed")
	}
}

// farLag is a max lag past the jumps of the test chain's clock, which
// moves with the records' event times (days apart).
const farLag = 365 * 24 * time.Hour

// TestListLotsUnreadRows: while the follower steps aside, a lot listed
// with its current state (a new holder, a gained mass) beside the verdict
// of its earlier records says how many of its records are unread; once
// read, it is listed flagged, with none unread (a review's proof of
// concept: the row said VERIFIED and nothing else).
func TestListLotsUnreadRows(t *testing.T) {
	x := lottest.New(t)
	b, busy := openAside(t, x, farLag, 5*time.Second)
	ext := x.Extract(x.Mine, "GAIN-1", 1000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "GAIN-1", ext, x.Exp, 1000, 2)
	r1 := x.Receive(x.Exp, "GAIN-1", d, 1000, 3)
	waitFollowed(t, b)
	busy.Store(true)
	d2 := x.Dispatch(x.Exp, "GAIN-1", r1, x.Buyer, 1000, 4)
	x.Receive(x.Buyer, "GAIN-1", d2, 1500, 5) // 500 kg gained in transit
	if len(lottest.Flagged(x.Verify("GAIN-1"), verifier.RuleTransitGain)) == 0 {
		t.Fatal("a full verification does not flag the gain in transit")
	}
	row := func() (*apipb.LotSummary, uint64) {
		t.Helper()
		r, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range r.GetLots() {
			if l.GetLot().GetLotId() == "GAIN-1" {
				return l, r.GetUnreadRecords()
			}
		}
		t.Fatalf("GAIN-1 not listed (%d rows)", len(r.GetLots()))
		return nil, 0
	}
	l, unread := row()
	if l.GetLot().GetHolderPartyId() != x.Buyer.ID || l.GetUnreadRecords() != 2 || unread < 2 {
		t.Fatalf("aside: GAIN-1 held by %s, %d of its records unread, %d in all; want the buyer's, 2 (dispatch, receipt), 2 or more",
			l.GetLot().GetHolderPartyId(), l.GetUnreadRecords(), unread)
	}
	busy.Store(false)
	waitFollowed(t, b)
	l, unread = row()
	if l.GetUnreadRecords() != 0 || unread != 0 || l.GetVerdict() != pb.Verdict_VERDICT_FLAGGED || !slices.Contains(l.GetRules(), verifier.RuleTransitGain) {
		t.Fatalf("read: GAIN-1 %v %v, %d of its records unread, %d in all; want FLAGGED %s, none unread",
			l.GetVerdict(), l.GetRules(), l.GetUnreadRecords(), unread, verifier.RuleTransitGain)
	}
}

// TestPagedListingCountsFromFirstPage: a listing read a page at a time,
// whose first page was served while the follower stepped aside and whose
// last after it caught up, still says on its last page that records were
// unread when part of it was read (a review's proof of concept: the last
// page said 0, and a lot the unread records flag read as VERIFIED).
func TestPagedListingCountsFromFirstPage(t *testing.T) {
	x := lottest.New(t)
	b, busy := openAside(t, x, farLag, 5*time.Second)
	for _, lot := range []string{"PAGE-1", "PAGE-2", "PAGE-3"} {
		x.Extract(x.Mine, lot, 1000, 3, 9, lottest.MineSite, 1)
	}
	waitFollowed(t, b)
	for i, list := range []struct {
		name string
		page func(token string) (next string, unread uint64)
	}{
		{"lots", func(token string) (string, uint64) {
			r, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{PageSize: 1, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			return r.GetNextPageToken(), r.GetUnreadRecords()
		}},
		{"flags", func(token string) (string, uint64) {
			r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{PageSize: 1, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			return r.GetNextPageToken(), r.GetUnreadRecords()
		}},
	} {
		busy.Store(true)
		x.Extract(x.Mine, fmt.Sprintf("PAGE-%d", 4+i), 1000, 3, 9, lottest.NearBorder, 1)
		token, unread := list.page("")
		if unread == 0 || token == "" {
			t.Fatalf("%s, first page while aside: %d unread, next page %q; want the extraction unread and more pages", list.name, unread, token)
		}
		busy.Store(false)
		waitFollowed(t, b)
		for token != "" {
			token, unread = list.page(token)
		}
		if unread == 0 {
			t.Errorf("%s: the last page, read after the follower caught up, says nothing was unread; the first page was read before it", list.name)
		}
		if _, fresh := list.page(""); fresh != 0 {
			t.Errorf("%s: a new listing with the follower caught up says %d unread", list.name, fresh)
		}
	}
}

// TestFollowerPacedPastMaxLag: a backlog past the max lag that the
// follower catches up on is read with pauses (its pacer on) while the
// processors are busy, without while they are not, and read to the end
// either way.
func TestFollowerPacedPastMaxLag(t *testing.T) {
	x := lottest.New(t)
	busy := new(atomic.Bool)
	b := openPaced(t, x, time.Minute, busy.Load, 5*time.Millisecond)
	waitFollowed(t, b) // the registrations
	const n = 60
	// backlog leaves n records unread, a second apart by the log's clock
	// (all younger than the max lag), then moves the clock past it.
	backlog := func(prefix string) {
		t.Helper()
		busy.Store(true)
		for i := range n {
			x.Extract(x.Mine, fmt.Sprintf("%s-%d", prefix, i), 1000, 3, 9, lottest.NearBorder, 1)
			x.C.Clock.Advance(x.C.Clock.Now().Add(time.Second))
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			unread, _, aside := b.Following()
			// One record may slip by: read in the step that began
			// before busy was set (a step reads one record here).
			if unread >= n-1 && aside {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("before the max lag: %d unread, stepping aside %v; want the %d extractions unread (one may slip by), the follower aside", unread, aside, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	past := func() { x.C.Clock.Advance(x.C.Clock.Now().Add(2 * time.Minute)) }

	backlog("IDLE")
	busy.Store(false) // the burst is over
	past()
	waitFollowed(t, b)
	if p := backend.Paced(b); p != 0 {
		t.Fatalf("the follower paused %d times reading a backlog with the processors idle", p)
	}

	backlog("PACE")
	past() // busy still
	waitFollowed(t, b)
	if p := backend.Paced(b); p == 0 {
		t.Fatal("the follower caught up on a backlog past the max lag, busy, without a pause")
	}
	for _, lot := range []string{"IDLE-0", "PACE-0", fmt.Sprintf("PACE-%d", n-1)} {
		if listed, _ := borderFlagged(t, b, lot); !listed {
			t.Fatalf("%s read but its flag is not listed", lot)
		}
	}
}

// TestFollowerNotPacedMaxLagOff: with --flag-max-lag off the follower
// keeps flags current at the appends' expense: busy or not, it reads a
// backlog without a pause.
func TestFollowerNotPacedMaxLagOff(t *testing.T) {
	x := lottest.New(t)
	for i := range 60 { // before the backend opens: a backlog, a second apart by the log's clock
		x.Extract(x.Mine, fmt.Sprintf("OFF-%d", i), 1000, 3, 9, lottest.NearBorder, 1)
		x.C.Clock.Advance(x.C.Clock.Now().Add(time.Second))
	}
	x.C.Clock.Advance(x.C.Clock.Now().Add(time.Hour))
	b := openPaced(t, x, 0, func() bool { return true }, 5*time.Millisecond)
	waitFollowed(t, b)
	if p := backend.Paced(b); p != 0 {
		t.Fatalf("with the max lag off the follower paused %d times", p)
	}
}

// TestCloseDuringPause: a pause of the pacer is as long as the batch
// before it took, which on a large log can be seconds; Close must not
// wait for it. A backlog of records an hour apart by the log's clock,
// past the max lag, read busy one record a step: the pacer turns on, and
// one step made to take 3 s is followed by a pause of 3 s, during which
// the backend is closed.
func TestCloseDuringPause(t *testing.T) {
	x := lottest.New(t)
	for i := range 20 {
		x.Extract(x.Mine, fmt.Sprintf("SLOW-%d", i), 1000, 3, 9, lottest.NearBorder, 1)
		x.C.Clock.Advance(x.C.Clock.Now().Add(time.Hour))
	}
	x.C.Clock.Advance(x.C.Clock.Now().Add(time.Hour))
	const slow = 3 * time.Second
	var steps atomic.Int32
	slowDone := make(chan struct{})
	b, err := backend.OpenSlowStep(x.S, x.Trust(), verifier.DefaultConfig(), backend.Options{Dir: t.TempDir(), MaxLag: time.Minute},
		func(time.Time) bool { return true }, 5*time.Millisecond, 1, func() {
			if steps.Add(1) == 10 {
				time.Sleep(slow)
				close(slowDone)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close() // a second Close, if the test fails before its own
	select {
	case <-slowDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the follower never took its tenth step")
	}
	time.Sleep(200 * time.Millisecond) // into the pause that follows
	paced := backend.Paced(b)
	start := time.Now()
	b.Close()
	if took := time.Since(start); paced == 0 || took > slow/2 {
		t.Fatalf("Close during the pause after a %v step took %v (pauses so far: %d); want it at once, the pause cut short", slow, took, paced)
	}
}
