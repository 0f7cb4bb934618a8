package backend

import (
	"runtime/metrics"
	"testing"
	"time"
)

// TestContentionThresholds feeds the reading synthetic scheduler
// histograms, a quarter second apart: it turns busy at 10 % of waits of a
// millisecond or more over the last two seconds, stays busy down to 6 %,
// turns idle under it, never counts a quiet process as busy, and starts
// over after a long gap.
func TestContentionThresholds(t *testing.T) {
	var short, long uint64 // cumulative counts: waits under 1 ms, of 1 ms or more
	h := func() *metrics.Float64Histogram {
		return &metrics.Float64Histogram{Counts: []uint64{short, long}, Buckets: []float64{0, 1e-3, 1}}
	}
	c := &contention{read: h}
	now := time.Unix(0, 0)
	// quarter adds one quarter second with n events, share of them long.
	quarter := func(n uint64, share float64) bool {
		l := uint64(float64(n) * share)
		short, long = short+n-l, long+l
		now = now.Add(contentionWindow)
		return c.Busy(now)
	}
	quarter(0, 0) // the first reading only starts
	for i := range contentionWindows {
		if quarter(500, 0.05) {
			t.Fatalf("quarter %d at 5 %%: busy", i)
		}
	}
	// A lone quarter at 40 % among 5 % ones: 9.4 % over the eight.
	if quarter(500, 0.40) {
		t.Fatal("a lone busy quarter among quiet ones turned the reading busy")
	}
	busyAt := -1
	for i := range contentionWindows {
		if quarter(500, 0.12) {
			busyAt = i
			break
		}
	}
	if busyAt < 0 {
		t.Fatal("two seconds at 12 % never read busy")
	}
	// 8 % is between the thresholds: busy stays busy.
	for i := range 2 * contentionWindows {
		if !quarter(500, 0.08) {
			t.Fatalf("quarter %d at 8 %% after busy: idle; want busy until under 6 %%", i)
		}
	}
	idle := false
	for range contentionWindows {
		if idle = !quarter(500, 0.02); idle {
			break
		}
	}
	if !idle {
		t.Fatal("two seconds at 2 % never read idle again")
	}
	// 8 % from idle stays idle.
	for i := range 2 * contentionWindows {
		if quarter(500, 0.08) {
			t.Fatalf("quarter %d at 8 %% after idle: busy; want idle until 10 %%", i)
		}
	}
	// A quiet process: few events, all long (once the quarters before
	// have passed out of the two seconds).
	for range contentionWindows {
		quarter(contentionEvents/contentionWindows/2, 1)
	}
	for i := range 2 * contentionWindows {
		if quarter(contentionEvents/contentionWindows/2, 1) {
			t.Fatalf("quarter %d with %d events, all long: busy", i, contentionEvents/contentionWindows/2)
		}
	}
	// Busy, then no reading for ten seconds: the old quarters do not count.
	for range 2 * contentionWindows {
		quarter(500, 0.5)
	}
	if !c.Busy(now) {
		t.Fatal("at 50 %: not busy")
	}
	now = now.Add(10 * time.Second)
	if quarter(500, 0.0) {
		t.Fatal("the first reading after a ten-second gap, at 0 %, weighed the quarters before the gap")
	}
}
