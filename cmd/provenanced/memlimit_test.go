package main

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
	"time"
)

// TestMemoryLimit: the soft limit is 640 MiB until the live heap comes
// within 320 MiB of it, then follows it with that room.
func TestMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, 640 << 20},
		{320 << 20, 640 << 20},
		{320<<20 + 1, 640<<20 + 1},
		{550e6, 550e6 + 320<<20},
		{4 << 30, 4<<30 + 320<<20},
		{math.MaxUint64, 1<<50 + 320<<20},
	} {
		if got := memoryLimit(c.live); got != c.want {
			t.Errorf("memoryLimit(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

// TestFollowMemoryLimit: the server's follower of the live heap sets the
// process's limit (to 640 MiB for a test's small heap).
func TestFollowMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		followMemoryLimit(ctx, time.Millisecond)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) != 640<<20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if got := debug.SetMemoryLimit(-1); got != 640<<20 {
		t.Fatalf("the limit is %d, want 640 MiB", got)
	}
}
