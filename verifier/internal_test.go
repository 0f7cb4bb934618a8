package verifier

import (
	"testing"
)

// TestCacheBounds: the cache's decoded records are bounded by their stored
// bytes as well as by their number.
func TestCacheBounds(t *testing.T) {
	m := NewCache()
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
