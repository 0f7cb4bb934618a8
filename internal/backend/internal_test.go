package backend

import (
	"testing"
	"time"
)

// TestPassBudget: the follower skips its pass while the log grows fast,
// takes a tenth of a core while it grows slowly, and half a core while
// nothing is appended.
func TestPassBudget(t *testing.T) {
	for _, tc := range []struct {
		grown uint64
		want  time.Duration
	}{{0, idleBudget}, {1, backgroundBudget}, {busyAppends, backgroundBudget}, {busyAppends + 1, 0}} {
		if got := passBudget(tc.grown); got != tc.want {
			t.Errorf("passBudget(%d) = %v, want %v", tc.grown, got, tc.want)
		}
	}
}
