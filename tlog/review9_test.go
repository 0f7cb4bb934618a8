package tlog

// Review (branch review9) of the arena map: tests that show bugs, and a
// stress test of concurrent writers, readers and compactions.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
)

// TestReview9EmptyValueAfterLargeFirstValue: an arena whose first value is
// above byteChunk/4 (a chunk of its own) has byteCur 0 and byteFree 0, so
// a value of size 0 that follows takes neither branch of putValue that
// allocates a shared chunk: it is "placed" at offset byteChunk of the big
// value's own chunk, which is shorter, and Set panics (slice bounds out of
// range).
func TestReview9EmptyValueAfterLargeFirstValue(t *testing.T) {
	big := bytes.Repeat([]byte{7}, byteChunk/4+1)
	var m Map
	var ref refMap
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Set of an empty value after a first value of %d bytes panics: %v", len(big), r)
			}
		}()
		m, ref = m.Set([]byte("k1"), big), ref.Set([]byte("k1"), bytes.Clone(big))
		m, ref = m.Set([]byte("k0"), []byte{}), ref.Set([]byte("k0"), []byte{})
	}()
	sameMap(t, "after the empty value", m, ref, 2)
}

// TestReview9CompactionCrashesOnEmptyValue: the same bug reached by a
// compaction, in its background goroutine, where nothing can recover it:
// a map whose values were set in a safe order (the empty one first) is
// copied into a new arena in trie order, SHA-256("k1") < SHA-256("k0"), so
// the copy puts the big value first and then the empty one. Were it to
// come back, the test binary dies here. (In-process: tlog's tests may not
// use os, internal/archtest.)
func TestReview9CompactionCrashesOnEmptyValue(t *testing.T) {
	lowCompaction(t, 4, true)
	big := bytes.Repeat([]byte{7}, byteChunk/4+1)
	m := Map{}.Set([]byte("k0"), []byte{}) // the arena's first value: a shared chunk
	m = m.Set([]byte("k1"), big)           // its own chunk; arena over compactMin: copy begins
	arenas := map[*mapArena]bool{m.a: true}
	for i := range 10 {
		m = m.Set([]byte("k0"), []byte{})
		m = m.Set(fmt.Appendf(nil, "x%d", i), []byte("v"))
		arenas[m.a] = true
	}
	if v, ok := m.Get([]byte("k1")); !ok || !bytes.Equal(v, big) {
		t.Fatal("k1 lost")
	}
	if v, ok := m.Get([]byte("k0")); !ok || len(v) != 0 {
		t.Fatalf("k0 = %q, %v", v, ok)
	}
	if len(arenas) < 2 {
		t.Fatal("no compaction: the test does not reach the copy")
	}
}

// TestReview9NodeIndexWraps: the guard against more than 2^32 nodes in
// newNode (len(t) >= 1<<(32-chunkBits)) can never fire: a uint32 index
// shifted by chunkBits is always below 1<<(32-chunkBits). The index wraps
// to 0 instead, the empty tree's index, and the next nodes overwrite node
// 0 and then the oldest nodes of the arena, which versions still reach.
// (The table is faked with 2^20 entries that share one chunk.)
func TestReview9NodeIndexWraps(t *testing.T) {
	a := newMapArena()
	c := new([chunkLen]mapNode)
	tab := make([]*[chunkLen]mapNode, 1<<(32-chunkBits))
	for i := range tab {
		tab[i] = c
	}
	a.nodes.Store(&tab)
	a.nn = 1<<32 - 1
	if i := a.newNode(); i != 1<<32-1 {
		t.Fatalf("newNode = %d", i)
	}
	var got uint32
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		got = a.newNode()
		return false
	}()
	if !panicked {
		t.Fatalf("past 2^32-1 nodes newNode returns index %d (nil) instead of panicking", got)
	}
}

// TestReview9GetCapacity: appending to a value Get returns does not write
// into the arena (its capacity is its length), for values side by side
// in a shared chunk, at a chunk's end, of size 0, and of a chunk of their
// own.
func TestReview9GetCapacity(t *testing.T) {
	var m Map
	var ref refMap
	sizes := []int{0, 1, byteChunk / 4, byteChunk / 4, byteChunk / 4, byteChunk/4 - 1, 0, 1, byteChunk/4 + 1, byteChunk, 0, 3}
	for i, n := range sizes {
		k := fmt.Appendf(nil, "k%d", i)
		v := bytes.Repeat([]byte{byte(i + 1)}, n)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Set(k%d, %d bytes): %v", i, n, r)
				}
			}()
			m = m.Set(k, v)
		}()
		ref = ref.Set(k, bytes.Clone(v))
	}
	for i := range sizes {
		v, _ := m.Get(fmt.Appendf(nil, "k%d", i))
		_ = append(v, 0xee, 0xee, 0xee)
	}
	sameMap(t, "after appends to Get's values", m, ref, len(sizes))
}

// TestReview9Stress: several writers, each going on from versions others
// made (so several writers add to one arena, and write to arenas that a
// compaction has left), readers of every version, compactions that run
// while all of it goes on. Every version must keep the root, length,
// values and proofs of the model's, from when it was made to the end.
func TestReview9Stress(t *testing.T) {
	lowCompaction(t, 200, false)
	type version struct {
		m    Map
		ref  refMap
		root [32]byte
	}
	const keys = 300
	var (
		mu   sync.Mutex
		pool = []version{{}}
		all  []version
	)
	pick := func(rng *rand.Rand) version {
		mu.Lock()
		defer mu.Unlock()
		return pool[rng.IntN(len(pool))]
	}
	add := func(rng *rand.Rand, v version) {
		mu.Lock()
		defer mu.Unlock()
		if len(pool) < 16 {
			pool = append(pool, v)
		} else {
			pool[rng.IntN(len(pool))] = v
		}
		if rng.IntN(8) == 0 {
			all = append(all, v)
		}
	}
	check := func(v version, n int) error {
		if v.m.Root() != v.root || v.m.Root() != v.ref.Root() || v.m.Len() != v.ref.Len() {
			return fmt.Errorf("root %x len %d, made %x, model %x len %d", v.m.Root(), v.m.Len(), v.root, v.ref.Root(), v.ref.Len())
		}
		for i := range n {
			k := fmt.Appendf(nil, "k%d", i)
			got, ok := v.m.Get(k)
			want, wok := v.ref.Get(k)
			if ok != wok || !bytes.Equal(got, want) {
				return fmt.Errorf("Get(%s) = %.20q %v, model %.20q %v", k, got, ok, want, wok)
			}
			if p, q := v.m.Prove(k), v.ref.Prove(k); !reflect.DeepEqual(p, q) {
				return fmt.Errorf("proof of %s differs", k)
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 16)
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 700 {
				v := pick(rng)
				var batch, refBatch []MapEntry
				for range 1 + rng.IntN(30) {
					k := fmt.Appendf(nil, "k%d", rng.IntN(keys))
					var val []byte
					switch rng.IntN(40) {
					case 0:
						val = []byte{}
					case 1:
						val = bytes.Repeat([]byte{byte(rng.IntN(256))}, byteChunk/4-rng.IntN(3))
					default:
						val = fmt.Appendf(nil, "v%d-%s", rng.Int(), bytes.Repeat([]byte("y"), rng.IntN(60)))
					}
					batch = append(batch, MapEntry{k, val})
					refBatch = append(refBatch, MapEntry{k, bytes.Clone(val)})
				}
				m := v.m.SetAll(batch)
				ref := v.ref.SetAll(refBatch)
				for i := range batch {
					clear(batch[i].Value)
				}
				nv := version{m, ref, m.Root()}
				if nv.root != ref.Root() {
					errs <- fmt.Errorf("writer %d: new version's root differs from the model's", w)
					return
				}
				add(rng, nv)
			}
		})
	}
	var rwg sync.WaitGroup
	for r := range 2 {
		rwg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 77))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := check(pick(rng), keys); err != nil {
					errs <- fmt.Errorf("reader %d: %v", r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	arenas := map[*mapArena]bool{}
	for i, v := range all {
		if v.m.a != nil {
			arenas[v.m.a] = true
		}
		if err := check(v, keys); err != nil {
			t.Fatalf("kept version %d: %v", i, err)
		}
	}
	t.Logf("%d versions kept, in %d arenas", len(all), len(arenas))
}

// TestReview9UsedOverflows: used adds the node and leaf counts as uint32,
// so past 2^32 entries in all (some 1.4 billion keys' worth, with
// garbage) it wraps to a small or negative count and the arena is never
// compacted again.
func TestReview9UsedOverflows(t *testing.T) {
	a := newMapArena()
	a.nn, a.nl = 1<<31+1, 1<<31+1
	if got, _ := a.used(); got != 1<<32 {
		t.Fatalf("used = %d entries for %d nodes and %d leaves", got, a.nn-1, a.nl-1)
	}
}
