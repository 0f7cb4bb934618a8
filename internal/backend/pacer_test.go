package backend

import (
	"testing"
	"time"
)

// TestPacer: at full speed, the follower starts pausing after a window in
// which the oldest unread record's time in the log moved on by the window
// and 1.5 times more; pausing, it goes on while it moves on by the window
// and a quarter more. A pause lasts as long as the batch before it took.
func TestPacer(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	const took = 30 * time.Millisecond
	rec0 := t0.Add(-90 * time.Second) // the oldest unread record's time in the log
	for _, c := range []struct {
		what            string
		gain1, gain2    time.Duration // how far the follower caught up in the first window, the second
		paused, paused2 bool          // pausing after the first window, the second
	}{
		{"full speed, caught up by 1.5 s in a second", 1500 * time.Millisecond, 250 * time.Millisecond, true, true},
		{"full speed, by 1.4 s", 1400 * time.Millisecond, 2 * time.Second, false, true},
		{"full speed, fell behind", -time.Second, 0, false, false},
		{"pausing, then a quarter second short", 2 * time.Second, 240 * time.Millisecond, true, false},
		{"pausing, then fell behind", 2 * time.Second, -time.Second, true, false},
	} {
		var p pacer
		// Each window is a second: the oldest unread record's time moves
		// on by the second and what the follower gained.
		if got := p.next(at(0), took, rec0); got != 0 {
			t.Fatalf("%s: the first batch paused %v; want full speed until a window is weighed", c.what, got)
		}
		if got := p.next(at(500), took, rec0); got != 0 {
			t.Fatalf("%s: paused %v within the first window", c.what, got)
		}
		rec := rec0.Add(time.Second + c.gain1)
		want := time.Duration(0)
		if c.paused {
			want = took
		}
		if got := p.next(at(1000), took, rec); got != want {
			t.Fatalf("%s: paused %v after the first window; want %v", c.what, got, want)
		}
		if got := p.next(at(1500), 2*took, rec); got != 2*want {
			t.Fatalf("%s: paused %v within the second window after a batch of %v; want %v", c.what, got, 2*took, 2*want)
		}
		want = 0
		if c.paused2 {
			want = took
		}
		if got := p.next(at(2000), took, rec.Add(time.Second+c.gain2)); got != want {
			t.Fatalf("%s: paused %v after the second window; want %v", c.what, got, want)
		}
	}
}
