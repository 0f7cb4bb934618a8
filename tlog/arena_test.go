package tlog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"
)

// lowCompaction makes arenas compact after n entries, for the test, and
// writers wait for each compaction if wait is set.
func lowCompaction(t *testing.T, n int, wait bool) {
	old, oldWait := compactMin, compactWait
	compactMin, compactWait = n, wait
	t.Cleanup(func() { compactMin, compactWait = old, oldWait })
}

// TestMapMatchesModel: the arena map equals the pointer map it replaced
// (refmap_test.go), version for version: roots, lengths, values and
// proofs, of every version kept, through updates and overwrites that
// compact the arena many times, updates of older versions (whose nodes a
// compaction did not copy), and values of every size (one past a chunk
// of its own among them).
func TestMapMatchesModel(t *testing.T) {
	lowCompaction(t, 64, true)
	rng := rand.New(rand.NewPCG(3, 4))
	var m Map
	var ref refMap
	type version struct {
		m   Map
		ref refMap
	}
	var kept []version
	arenas := map[*mapArena]bool{}
	value := func() []byte {
		switch rng.IntN(50) {
		case 0:
			return bytes.Repeat([]byte{byte(rng.IntN(256))}, byteChunk/4+1+rng.IntN(10))
		case 1:
			return []byte{}
		}
		return fmt.Appendf(nil, "v%d-%s", rng.Int(), bytes.Repeat([]byte("x"), rng.IntN(80)))
	}
	key := func() []byte { return fmt.Appendf(nil, "k%d", rng.IntN(700)) }
	for round := range 400 {
		if len(kept) > 0 && rng.IntN(20) == 0 {
			v := kept[rng.IntN(len(kept))] // go on from an older version
			m, ref = v.m, v.ref
		}
		if rng.IntN(3) == 0 {
			k, v := key(), value()
			m, ref = m.Set(k, v), ref.Set(k, bytes.Clone(v))
		} else {
			var batch, refBatch []MapEntry
			for range rng.IntN(40) {
				k, v := key(), value()
				batch = append(batch, MapEntry{k, v})
				refBatch = append(refBatch, MapEntry{k, bytes.Clone(v)})
			}
			m, ref = m.SetAll(batch), ref.SetAll(refBatch)
			for i := range batch { // the map keeps copies: the caller's may change
				clear(batch[i].Value)
			}
		}
		if m.a != nil {
			arenas[m.a] = true
		}
		if rng.IntN(10) == 0 {
			kept = append(kept, version{m, ref})
		}
		if round%50 == 49 {
			for i, v := range append(kept, version{m, ref}) {
				sameMap(t, fmt.Sprintf("round %d, version %d", round, i), v.m, v.ref, 720)
			}
		}
	}
	if len(arenas) < 5 {
		t.Fatalf("the arena was compacted %d times: the test does not reach compaction", len(arenas)-1)
	}
}

// sameMap checks that m and ref hold the same keys k0..k(n-1), values and
// proofs.
func sameMap(t *testing.T, what string, m Map, ref refMap, n int) {
	t.Helper()
	if m.Root() != ref.Root() || m.Len() != ref.Len() {
		t.Fatalf("%s: root %x len %d, the model's %x len %d", what, m.Root(), m.Len(), ref.Root(), ref.Len())
	}
	for i := range n {
		k := fmt.Appendf(nil, "k%d", i)
		got, ok := m.Get(k)
		want, wok := ref.Get(k)
		if ok != wok || !bytes.Equal(got, want) {
			t.Fatalf("%s: Get(%s) = %.20q %v, the model's %.20q %v", what, k, got, ok, want, wok)
		}
		if p, q := m.Prove(k), ref.Prove(k); !reflect.DeepEqual(p, q) {
			t.Fatalf("%s: the proof of %s differs from the model's", what, k)
		}
	}
}

// TestMapReadersWhileWriting: readers of older versions, and of versions
// in an arena since compacted, read without a lock while a writer adds to
// the same arena (run with -race).
func TestMapReadersWhileWriting(t *testing.T) {
	lowCompaction(t, 256, false)
	var m Map
	for i := range 300 {
		m = m.Set(fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i))
	}
	versions := make(chan Map, 64)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			failed := false
			for v := range versions { // to the end, so that the writer never blocks
				for i := range 300 {
					if failed {
						break
					}
					k := fmt.Appendf(nil, "k%d", i)
					val, ok := v.Get(k)
					if !ok || !bytes.HasPrefix(val, []byte("v")) {
						t.Errorf("Get(%s) = %q, %v", k, val, ok)
						failed = true
					} else if err := VerifyMapProof(v.Root(), k, val, v.Prove(k)); err != nil {
						t.Errorf("proof of %s: %v", k, err)
						failed = true
					}
				}
			}
		})
	}
	compactions := 0
	for round := range 201 {
		var batch []MapEntry
		for j := range 20 {
			batch = append(batch, MapEntry{fmt.Appendf(nil, "k%d", (round*7+j*13)%300), fmt.Appendf(nil, "v%d.%d", round, j)})
		}
		next := m.SetAll(batch)
		if next.a != m.a {
			compactions++
		}
		m = next
		versions <- m
		if round == 199 && compactions == 0 {
			time.Sleep(time.Millisecond) // a copy still under way: one more round adopts it
		}
	}
	close(versions)
	wg.Wait()
	if compactions == 0 {
		t.Fatal("no compaction while readers read")
	}
}

// TestMapCompactionBoundsArena: however many times the same keys are
// set, the arena holds at most about twice what the latest version
// reaches.
func TestMapCompactionBoundsArena(t *testing.T) {
	lowCompaction(t, 1024, true)
	var m Map
	for round := range 300 {
		var batch []MapEntry
		for j := range 50 {
			batch = append(batch, MapEntry{fmt.Appendf(nil, "k%d", j*7+round%7), fmt.Appendf(nil, "v%d", round)})
		}
		m = m.SetAll(batch)
	}
	used, _ := m.a.used()
	reach := 2*m.Len() - 1 + m.Len() // interior nodes (a compact trie of n leaves has at most n-1 branching ones, and chains), leaf nodes and leaves
	if used > 4*max(reach, compactMin) {
		t.Fatalf("the arena holds %d entries for a map of %d keys", used, m.Len())
	}
}

// BenchmarkMapCompact: copying a map of 1M keys into a new arena, what a
// writer pays once the arena is full of older versions' nodes.
func BenchmarkMapCompact(b *testing.B) {
	var entries []MapEntry
	for i := range 1 << 20 {
		entries = append(entries, MapEntry{fmt.Appendf(nil, "s/lot-%d", i), fmt.Appendf(nil, "state of lot %d, about fifty bytes of it.....", i)})
	}
	m := Map{}.SetAll(entries)
	b.ResetTimer()
	for b.Loop() {
		m.a.mu.Lock()
		c := m.a.compact(m.root)
		m.a.mu.Unlock()
		<-c.done
	}
}

// BenchmarkMapSetAll: what the log's committer pays per commit group, a
// batch of 64 keys set in a map of 1M keys, in the arena map and in the
// pointer map it replaced (the model).
func BenchmarkMapSetAll(b *testing.B) {
	var entries []MapEntry
	for i := range 1 << 20 {
		entries = append(entries, MapEntry{fmt.Appendf(nil, "s/lot-%d", i), fmt.Appendf(nil, "state of lot %d, about fifty bytes of it.....", i)})
	}
	batch := func(i int) []MapEntry {
		out := make([]MapEntry, 64)
		for j := range out {
			out[j] = MapEntry{fmt.Appendf(nil, "s/lot-%d", (i*64+j)*7919%(1<<21)), fmt.Appendf(nil, "new state %d", i)}
		}
		return out
	}
	b.Run("arena", func(b *testing.B) {
		m := Map{}.SetAll(entries)
		i := 0
		for b.Loop() {
			m = m.SetAll(batch(i))
			i++
		}
	})
	b.Run("model", func(b *testing.B) {
		m := refMap{}.SetAll(entries)
		i := 0
		for b.Loop() {
			m = m.SetAll(batch(i))
			i++
		}
	})
}
