package backend

import (
	"runtime/metrics"
	"time"
)

// The follower steps aside while appends keep the processors busy: its
// work would come off theirs (on the 2-core machine of BENCHMARKS.md, a
// follower kept current took a third of the append rate at saturation).
// Whether they do is read off Go's scheduler: the share of the times a
// goroutine of this process became ready to run and waited a millisecond
// or more for a processor, over the last two seconds. Measured in quarter
// seconds under provbench (64 clients, a listing every 50 ms): at 2,000
// records/s, with the follower keeping up, 1-7 % with lone quarters up to
// 20 %; at saturation, with the follower aside, 6-29 %, 13 % on average.
const (
	// contentionWindow is the shortest time a reading covers; the last
	// contentionWindows readings are weighed together.
	contentionWindow  = 250 * time.Millisecond
	contentionWindows = 8
	// contentionWait is how long a wait for a processor counts as one.
	contentionWait = time.Millisecond
	// The processors turn busy when contentionBusy of the waits or more
	// were past contentionWait, and idle again under contentionIdle: a
	// burst that is over is over, a lone busy quarter is not a burst.
	contentionBusy = 0.10
	contentionIdle = 0.06
	// contentionEvents is the fewest scheduling events in the readings
	// weighed for them to count as busy: a process that does almost
	// nothing is not busy, whatever its few goroutines waited (another
	// process's load).
	contentionEvents = 1000
)

// contention reads the scheduler's latencies: Busy reports whether, over
// the last readings, goroutines queued for a processor. The zero value is
// ready; for one goroutine at a time.
type contention struct {
	// read, if set, replaces the runtime's histogram (tests).
	read   func() *metrics.Float64Histogram
	sample [1]metrics.Sample
	prev   []uint64
	at     time.Time
	// all and long are the scheduling events of the last readings, and
	// those that waited contentionWait or more, the newest at [n%len].
	all, long [contentionWindows]uint64
	n         int
	busy      bool
}

const schedLatencies = "/sched/latencies:seconds"

// Busy reports whether the processors were busy over the last readings,
// taking a new one when the last is contentionWindow old.
func (c *contention) Busy(now time.Time) bool {
	if !c.at.IsZero() && now.Sub(c.at) < contentionWindow {
		return c.busy
	}
	h := c.histogram()
	if h == nil {
		return false // a runtime without the metric: never step aside
	}
	if len(c.prev) == len(h.Counts) {
		var all, long uint64
		for i, n := range h.Counts {
			d := n - c.prev[i]
			all += d
			// Buckets[i] is the lower bound of Counts[i]'s values.
			if h.Buckets[i] >= contentionWait.Seconds() {
				long += d
			}
		}
		if now.Sub(c.at) > contentionWindows*contentionWindow {
			c.all, c.long = [contentionWindows]uint64{}, [contentionWindows]uint64{} // not read for a while: start over
		}
		c.n++
		c.all[c.n%contentionWindows], c.long[c.n%contentionWindows] = all, long
		var sa, sl uint64
		for i := range c.all {
			sa, sl = sa+c.all[i], sl+c.long[i]
		}
		share := float64(sl) / float64(max(sa, 1))
		switch {
		case sa < contentionEvents || share < contentionIdle:
			c.busy = false
		case share >= contentionBusy:
			c.busy = true
		}
	}
	c.prev = append(c.prev[:0], h.Counts...)
	c.at = now
	return c.busy
}

// histogram reads the scheduler's latencies, or nil if the runtime has no
// such metric.
func (c *contention) histogram() *metrics.Float64Histogram {
	if c.read != nil {
		return c.read()
	}
	c.sample[0].Name = schedLatencies
	metrics.Read(c.sample[:])
	if c.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return c.sample[0].Value.Float64Histogram()
}
