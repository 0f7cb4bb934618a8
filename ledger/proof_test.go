package ledger

import (
	"testing"

	"github.com/antimony-ledger/provenance/tlog"
)

// TestInclusionRoot: the root an inclusion proof gives is the stored root
// of that tree size, and a changed leaf gives another.
func TestInclusionRoot(t *testing.T) {
	l := openTest(t, "", newTestKey(t), nil)
	for i := range 13 {
		if _, _, err := l.Append(t.Context(), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for size := uint64(1); size <= 13; size++ {
		want, err := l.RootAt(t.Context(), size)
		if err != nil {
			t.Fatal(err)
		}
		for idx := range size {
			p, err := l.InclusionProof(t.Context(), idx, size)
			if err != nil {
				t.Fatal(err)
			}
			e, err := l.Get(t.Context(), idx)
			if err != nil {
				t.Fatal(err)
			}
			leaf := e.Leaf().Hash()
			if got, err := tlog.InclusionRoot(leaf, idx, size, p); err != nil || got != want {
				t.Fatalf("tlog.InclusionRoot(%d, %d) = %x, %v; want %x", idx, size, got, err, want)
			}
			if got, _ := tlog.InclusionRoot(tlog.LeafHash(tlog.RecordIDOf([]byte("other"))), idx, size, p); got == want {
				t.Fatalf("tlog.InclusionRoot(%d, %d) of another leaf gives the same root", idx, size)
			}
		}
	}
}
