package verifier

import (
	"testing"
	"time"
)

// TestMemoBounds: the memo's decoded records are bounded by their stored
// bytes as well as by their number.
func TestMemoBounds(t *testing.T) {
	m := newMemo()
	const size = 32 << 10 // an envelope near the size limit
	for i := range 3 * memoData / size {
		m.putRecord([32]byte{byte(i), byte(i >> 8)}, size, decodedRecord{id: "x"})
		if m.dataSize > memoData || len(m.decoded)*size != m.dataSize {
			t.Fatalf("after %d records: %d records of %d bytes held, %d bytes counted; bound %d bytes", i+1, len(m.decoded), size, m.dataSize, memoData)
		}
	}
	for i := range memoDecoded + 10 {
		m.putRecord([32]byte{byte(i), byte(i >> 8), 1}, 1, decodedRecord{id: "x"})
	}
	if len(m.decoded) > memoDecoded {
		t.Fatalf("%d records held, bound %d", len(m.decoded), memoDecoded)
	}
}

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
