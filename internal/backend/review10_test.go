package backend_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
)

// TestReview10PacerLogClockSteppedBack (review10, a failing proof): the
// pacer weighs the follower's progress by how much younger the oldest
// unread record became, that age being read off the log's clock, while
// the window is by the machine's (monotonic) clock. A step back of the
// log's clock inside a window therefore reads as progress: here the
// follower reads, busy and past the max lag, a backlog whose records all
// carry one log time (written in one burst), so it gains nothing on the
// bound whatever its speed; the log's clock steps back 10 s (still past
// the bound), and the pacer takes the 10 s for a catch-up of 1.5 times
// its window or more and starts pausing after each batch, halving the
// speed of a follower that is not catching up at all (for one window:
// the next one weighs its true progress). The records' own times never
// go back (the log holds its time), so weighing the window by them and
// the machine's clock would not be fooled.
func TestReview10PacerLogClockSteppedBack(t *testing.T) {
	x := lottest.New(t)
	busy := new(atomic.Bool)
	b := openPaced(t, x, time.Minute, busy.Load, 20*time.Millisecond)
	waitFollowed(t, b) // the registrations
	busy.Store(true)
	const n = 300
	for i := range n { // one log time: the chain's clock does not move
		x.Extract(x.Mine, fmt.Sprintf("BURST-%d", i), 1000, 3, 9, lottest.NearBorder, 1)
	}
	x.C.Clock.Advance(x.C.Clock.Now().Add(3 * time.Minute)) // the whole burst past the max lag
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		unread, _, _ := b.Following()
		if unread <= n-20 {
			if unread < 100 {
				t.Skipf("the follower read too fast to step the clock mid-backlog (%d unread)", unread)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follower did not start on the backlog past the max lag: %d unread", unread)
		}
	}
	if p := backend.Paced(b); p != 0 {
		t.Fatalf("the follower paused %d times before the clock stepped: it gains nothing on a backlog of one log time", p)
	}
	x.C.Clock.StepBack(10 * time.Second) // the oldest unread record 2m50s old: still past the bound
	waitFollowed(t, b)
	if p := backend.Paced(b); p != 0 {
		t.Errorf("the follower paused %d times after the log's clock stepped back 10 s, gaining nothing on the bound: the pacer read the step as catching up", p)
	}
}
