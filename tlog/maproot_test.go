package tlog

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMapRootBuilder: the root computed from a map's entries, in any
// order, is the root of the map that holds them, for maps of 0 to
// thousands of entries; and differs once one entry is left out or
// changed.
func TestMapRootBuilder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for _, n := range []int{0, 1, 2, 3, 17, 1000, 5000} {
		var entries []MapEntry
		for i := range n {
			entries = append(entries, MapEntry{Key: fmt.Appendf(nil, "key-%d-%d", n, i), Value: fmt.Appendf(nil, "value %d", rng.Uint64())})
		}
		want := Map{}.SetAll(entries).Root()
		var b MapRootBuilder
		for _, i := range rng.Perm(n) {
			b.Add(entries[i].Key, entries[i].Value)
		}
		if got := b.Root(); got != want || b.Len() != n {
			t.Fatalf("%d entries: root %x (of %d), want %x", n, got, b.Len(), want)
		}
		if n == 0 {
			continue
		}
		var short, changed MapRootBuilder
		for i, e := range entries {
			if i != n/2 {
				short.Add(e.Key, e.Value)
				changed.Add(e.Key, e.Value)
			} else {
				changed.Add(e.Key, append(e.Value, '!'))
			}
		}
		if short.Root() == want || changed.Root() == want {
			t.Fatalf("%d entries: one left out or changed gives the same root", n)
		}
	}
}
