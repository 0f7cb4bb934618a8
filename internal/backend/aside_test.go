package backend_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
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
		if n, _ := b.Following(); n == 0 {
			return
		}
		if time.Now().After(deadline) {
			n, aside := b.Following()
			t.Fatalf("the follower has not read %d records after 10 s (stepping aside: %v)", n, aside)
		}
	}
}

// TestFollowerStepsAside: while the processors are busy, the follower
// leaves new records unread, and a listing says so at once instead of
// waiting for it; when they are not, it reads them and their flags are
// listed.
func TestFollowerStepsAside(t *testing.T) {
	x := lottest.New(t)
	var busy atomic.Bool
	b, err := backend.OpenBusy(x.S, x.Trust(), verifier.DefaultConfig(), backend.Options{Dir: t.TempDir(), MaxLag: time.Hour},
		func(time.Time) bool { return busy.Load() })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitFollowed(t, b) // the registrations, made before it opened
	backend.SetListWait(b, 5*time.Second)
	busy.Store(true)

	x.Extract(x.Mine, "ASIDE-1", 1000, 3, 9, lottest.NearBorder, 1)
	start := time.Now()
	listed, unread := borderFlagged(t, b, "ASIDE-1")
	if waited := time.Since(start); listed || unread == 0 || waited > 2*time.Second {
		t.Fatalf("listing while the follower steps aside: flag listed %v, unread %d, after %v; want no flag, the record counted unread, an answer well before the 5 s listing wait", listed, unread, waited)
	}
	time.Sleep(300 * time.Millisecond)
	if n, aside := b.Following(); n == 0 || !aside {
		t.Fatalf("after 300 ms busy: %d unread, stepping aside %v; want the extraction unread, stepping aside", n, aside)
	}
	busy.Store(false)
	waitFollowed(t, b)
	if listed, _ := borderFlagged(t, b, "ASIDE-1"); !listed {
		t.Fatal("the follower read the extraction but its border-corridor flag is not listed")
	}
	if _, aside := b.Following(); aside {
		t.Fatal("still stepping aside with the processors idle and the log read")
	}
}

// TestFollowerMaxLag: with the processors busy all the time, the follower
// still reads a record once the log took it MaxLag ago, by the log's
// clock, not before.
func TestFollowerMaxLag(t *testing.T) {
	x := lottest.New(t)
	const maxLag = time.Hour
	var busy atomic.Bool
	b, err := backend.OpenBusy(x.S, x.Trust(), verifier.DefaultConfig(), backend.Options{Dir: t.TempDir(), MaxLag: maxLag},
		func(time.Time) bool { return busy.Load() })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitFollowed(t, b) // the registrations
	backend.SetListWait(b, 0)
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
	x.C.Clock.Advance(x.C.Clock.Now().Add(2 * time.Minute))
	waitFollowed(t, b)
	if listed, _ := borderFlagged(t, b, "LAG-1"); !listed {
		t.Fatal("the follower read the record past the max lag but its flag is not listed")
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
