package backend

import (
	"testing"
	"time"
)

// TestPacer: the follower pauses after a batch, for as long as the batch
// took, only in a window after one in which the oldest unread record grew
// younger by a quarter of the window or more.
func TestPacer(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	const took = 30 * time.Millisecond
	for _, c := range []struct {
		what      string
		age0, age time.Duration // the oldest unread record's age at the window's start, a second later
		want      time.Duration
	}{
		{"caught up by half a second in a second", 90 * time.Second, 89500 * time.Millisecond, took},
		{"by exactly a quarter", 90 * time.Second, 89750 * time.Millisecond, took},
		{"by less than a quarter", 90 * time.Second, 89800 * time.Millisecond, 0},
		{"fell behind", 90 * time.Second, 91 * time.Second, 0},
	} {
		var p pacer
		if got := p.next(at(0), took, c.age0); got != 0 {
			t.Fatalf("%s: the first batch paused %v; want full speed until a window is weighed", c.what, got)
		}
		if got := p.next(at(500), took, c.age0); got != 0 {
			t.Fatalf("%s: paused %v within the first window", c.what, got)
		}
		if got := p.next(at(1000), took, c.age); got != c.want {
			t.Fatalf("%s: paused %v after the window; want %v", c.what, got, c.want)
		}
		if got := p.next(at(1500), 2*took, c.age); c.want != 0 && got != 2*took {
			t.Fatalf("%s: paused %v within the next window after a batch of %v", c.what, got, 2*took)
		}
	}
}
