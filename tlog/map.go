package tlog

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// A Map is a verifiable map from byte-string keys to byte-string values: a
// sparse Merkle tree in its compact form. Its root commits every key and
// value; a [MapProof] shows a key's value, or that the key is absent,
// against the root. The log commits the root of its map in the last leaf
// of each commit group ([Leaf.MapRoot]), so that a checkpoint commits the
// map as of its tree size.
//
// The tree is a binary trie over SHA-256(key), most significant bit
// first, in which every subtree holding one entry is that entry's leaf and
// every subtree holding none is empty:
//
//	empty     = 32 zero bytes
//	leaf      = SHA-256(0x10 || SHA-256(key) || SHA-256(value))
//	interior  = SHA-256(0x11 || left || right)
//
// The empty map's root is 32 zero bytes. A Map is immutable: Set returns a
// new map that shares what did not change, so a reader may keep an old
// version while the log builds the next. The zero Map is empty.
type Map struct {
	a    *mapArena // nil for the empty map
	root uint32    // index of the root node in a; 0 is the empty tree
	size int
}

// The nodes of a map live in an arena of its own, in chunks of plain
// values linked by index, not pointer: Go's garbage collector has nothing
// to trace in them, where the log's map of a few million keys, as Go
// objects, was most of what each of its cycles had to scan (and, held
// near the server's soft memory limit, kept the collector running half
// the time; BENCHMARKS.md, "The verifiable map's arena"). Versions share
// an arena: a node, once written, never changes, so a reader of one
// version needs no lock while the writer adds the nodes of the next. What
// no newer version reaches stays until the arena is compacted: once it
// holds half as much again as was reachable after the last compaction
// (and at least compactMin entries), a copy of the latest version into a
// new arena begins (see compaction), and the old arena goes when no
// version in use is in it.
type mapArena struct {
	mu     sync.Mutex // held by a writer: one at a time adds to the arena
	nodes  atomic.Pointer[[]*[chunkLen]mapNode]
	leaves atomic.Pointer[[]*[chunkLen]mapLeaf]
	bytes  atomic.Pointer[[][]byte]
	// nn and nl are the next free indexes (index 0 is never used: it is
	// nil); byteCur is the chunk of bytes values are added to, byteFree
	// what is left in it.
	nn, nl   uint32
	byteCur  uint32
	byteFree int
	shared   bool // byteCur is a chunk values share (not one value's own)
	// byteAll is the size of all the chunks of bytes.
	byteAll int
	// live is what the last compaction (or the arena's first version)
	// reached: entries (nodes and leaves) and bytes of values.
	live, liveBytes int
	// comp is the compaction under way, if any.
	comp *compaction
}

type mapNode struct {
	hash        [32]byte
	left, right uint32 // for an interior node; 0 is empty
	leaf        uint32 // for a leaf: its key and value in the arena's leaves
}

type mapLeaf struct {
	key                [32]byte // SHA-256 of the key
	vchunk, voff, vlen uint32   // the value, in the arena's bytes
}

const (
	chunkBits = 12
	chunkLen  = 1 << chunkBits
	// byteChunk is the size of a chunk of values; a value above a quarter
	// of it gets a chunk of its own.
	byteChunk = 1 << 18
)

// compactMin is the fewest entries an arena holds before it is compacted:
// a small map is not worth copying. A variable for tests.
var compactMin = 1 << 16

func newMapArena() *mapArena {
	a := &mapArena{}
	a.nodes.Store(&[]*[chunkLen]mapNode{})
	a.leaves.Store(&[]*[chunkLen]mapLeaf{})
	a.bytes.Store(&[][]byte{})
	a.nn, a.nl = 1, 1
	return a
}

func (a *mapArena) node(i uint32) *mapNode {
	return &(*a.nodes.Load())[i>>chunkBits][i&(chunkLen-1)]
}

func (a *mapArena) leaf(i uint32) *mapLeaf {
	return &(*a.leaves.Load())[i>>chunkBits][i&(chunkLen-1)]
}

func (a *mapArena) value(l *mapLeaf) []byte {
	c := (*a.bytes.Load())[l.vchunk]
	return c[l.voff : l.voff+l.vlen : l.voff+l.vlen]
}

func (a *mapArena) hashOf(i uint32) [32]byte {
	if i == 0 {
		return [32]byte{}
	}
	return a.node(i).hash
}

// newNode returns a new node's index; a.mu is held.
func (a *mapArena) newNode() uint32 { return grow(&a.nn, &a.nodes) }

// newLeaf returns a new leaf's index; a.mu is held.
func (a *mapArena) newLeaf() uint32 { return grow(&a.nl, &a.leaves) }

// grow returns the next index, *next, of the chunks in tab, adding a chunk
// if it needs one. A chunk table that grows is copied, so that a reader
// holding the old one still finds every entry it can reach.
func grow[T any](next *uint32, tab *atomic.Pointer[[]*[chunkLen]T]) uint32 {
	i := *next
	if i == 0 { // wrapped: index 0 is nil
		panic("tlog: a map arena of more than 2^32-1 nodes or leaves")
	}
	t := *tab.Load()
	if int(i>>chunkBits) >= len(t) {
		nt := append(t[:len(t):len(t)], new([chunkLen]T))
		tab.Store(&nt)
	}
	*next++
	return i
}

// putValue copies value into the arena's bytes; a.mu is held.
func (a *mapArena) putValue(l *mapLeaf, value []byte) {
	t := *a.bytes.Load()
	n := len(value)
	if n > math.MaxUint32 {
		panic("tlog: a map value of 4 GiB or more")
	}
	if n > byteChunk/4 {
		nt := append(t[:len(t):len(t)], bytes.Clone(value))
		a.bytes.Store(&nt)
		a.byteAll += n
		l.vchunk, l.voff, l.vlen = uint32(len(t)), 0, uint32(n)
		return
	}
	if !a.shared || n > a.byteFree {
		nt := append(t[:len(t):len(t)], make([]byte, byteChunk))
		a.bytes.Store(&nt)
		a.byteCur, a.byteFree, a.shared = uint32(len(t)), byteChunk, true
		a.byteAll += byteChunk
		t = nt
	}
	off := byteChunk - a.byteFree
	copy(t[a.byteCur][off:], value)
	a.byteFree -= n
	l.vchunk, l.voff, l.vlen = a.byteCur, uint32(off), uint32(n)
}

func (a *mapArena) mapLeaf(kh [32]byte, value []byte) uint32 {
	return a.leafNode(kh, value, mapLeafHash(kh, sha256.Sum256(value)))
}

// leafNode adds a leaf node of hash h, its key's hash kh and value; a.mu
// is held, or the arena is a compaction's own.
func (a *mapArena) leafNode(kh [32]byte, value []byte, h [32]byte) uint32 {
	li := a.newLeaf()
	l := a.leaf(li)
	l.key = kh
	a.putValue(l, value)
	n := a.newNode()
	nd := a.node(n)
	nd.leaf, nd.hash = li, h
	return n
}

func (a *mapArena) mapInterior(l, r uint32) uint32 {
	return a.interiorNode(l, r, mapInteriorHash(a.hashOf(l), a.hashOf(r)))
}

// interiorNode adds an interior node of hash h over l and r.
func (a *mapArena) interiorNode(l, r uint32, h [32]byte) uint32 {
	n := a.newNode()
	nd := a.node(n)
	nd.left, nd.right, nd.hash = l, r, h
	return n
}

func mapLeafHash(kh, vh [32]byte) [32]byte {
	var b [1 + 64]byte
	b[0] = mapLeafPrefix
	copy(b[1:], kh[:])
	copy(b[33:], vh[:])
	return sha256.Sum256(b[:])
}

func mapInteriorHash(l, r [32]byte) [32]byte {
	var b [1 + 64]byte
	b[0] = mapInteriorPrefix
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// bit returns bit d of h, most significant first.
func bit(h [32]byte, d int) int { return int(h[d/8]>>(7-d%8)) & 1 }

// Root returns the map's root hash.
func (m Map) Root() [32]byte {
	if m.root == 0 {
		return [32]byte{}
	}
	return m.a.node(m.root).hash
}

// Len returns the number of keys in the map.
func (m Map) Len() int { return m.size }

// Get returns key's value, and whether the map holds key. The value is
// the map's: the caller must not modify it.
func (m Map) Get(key []byte) ([]byte, bool) {
	kh := sha256.Sum256(key)
	for d, n := 0, m.root; n != 0; d++ {
		nd := m.a.node(n)
		if nd.leaf != 0 {
			if l := m.a.leaf(nd.leaf); l.key == kh {
				return m.a.value(l), true
			}
			return nil, false
		}
		if bit(kh, d) == 0 {
			n = nd.left
		} else {
			n = nd.right
		}
	}
	return nil, false
}

// Set returns the map with key set to value. The map keeps a copy of
// value.
func (m Map) Set(key, value []byte) Map {
	return m.SetAll([]MapEntry{{key, value}})
}

// A MapEntry is one key and value for [Map.SetAll].
type MapEntry struct{ Key, Value []byte }

// SetAll returns the map with every entry set, a later entry of the same
// key winning: the same map as Set called for each in turn, but each node
// on the changed paths is built and hashed once. The map keeps a copy of
// the values.
func (m Map) SetAll(entries []MapEntry) Map {
	if len(entries) == 0 {
		return m
	}
	items := make([]mapItem, 0, len(entries))
	for _, e := range entries {
		items = append(items, mapItem{sha256.Sum256(e.Key), e.Value})
	}
	// Sorted by key hash (the trie's order), the last of equal keys kept.
	slices.SortStableFunc(items, func(a, b mapItem) int { return bytes.Compare(a.kh[:], b.kh[:]) })
	out := items[:0]
	for i, it := range items {
		if i+1 < len(items) && items[i+1].kh == it.kh {
			continue
		}
		out = append(out, it)
	}
	a := m.a
	if a == nil {
		a = newMapArena()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	root, added := a.setAll(m.root, 0, out)
	m.a, m.root, m.size = a, root, m.size+added
	if a.live == 0 {
		a.live, a.liveBytes = a.used()
	}
	if c := a.comp; c != nil {
		if compactWait {
			<-c.done
		}
		select {
		case <-c.done:
			m.a, m.root = c.b, c.adopt(a, root)
			a.comp = nil
			c.b.live, c.b.liveBytes = c.b.used()
		default:
		}
	} else if used, usedBytes := a.used(); used >= max(a.live+a.live/2, compactMin) || usedBytes >= max(a.liveBytes+a.liveBytes/2, compactMin*64) {
		a.comp = a.compact(root)
	}
	return m
}

// used is what the arena holds: entries (nodes and leaves) and bytes of
// values; a.mu is held.
func (a *mapArena) used() (entries, bytes int) {
	return int(a.nn) + int(a.nl) - 2, a.byteAll - a.byteFree
}

// A compaction copies one version of a map into a new arena, in the
// background: on a log of a few million keys the copy takes a few hundred
// milliseconds, which the writer does not wait for. The first Set or
// SetAll after it is done adopts the version it made into the new arena
// (what is new since the copy began, and whatever else it reaches that
// the copy did not) and goes on there.
type compaction struct {
	mark uint32 // the arena's next node when the copy began
	b    *mapArena
	// xlat maps the index of each node the copy took to its index in b.
	xlat []uint32
	done chan struct{}
}

// compactWait makes a writer wait for a compaction under way (tests).
var compactWait = false

// compact starts copying the tree at root into a new arena; a.mu is held.
func (a *mapArena) compact(root uint32) *compaction {
	c := &compaction{mark: a.nn, b: newMapArena(), xlat: make([]uint32, a.nn), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.copy(a, root)
	}()
	return c
}

// copy copies the subtree n of a into c.b, hashes and all, and returns
// its index there. It reads only nodes no writer changes, and writes
// only c.b, which is the compaction's alone until done is closed.
func (c *compaction) copy(a *mapArena, n uint32) uint32 {
	if n == 0 {
		return 0
	}
	if n < c.mark && c.xlat[n] != 0 {
		return c.xlat[n]
	}
	src := a.node(n)
	var out uint32
	if src.leaf != 0 {
		sl := a.leaf(src.leaf)
		out = c.b.leafNode(sl.key, a.value(sl), src.hash)
	} else {
		hash, left, right := src.hash, src.left, src.right
		out = c.b.interiorNode(c.copy(a, left), c.copy(a, right), hash)
	}
	if n < c.mark {
		c.xlat[n] = out
	}
	return out
}

// adopt returns root, a tree of a, as a tree of the compaction's arena:
// the nodes the copy took are used as they are, the rest copied; a.mu is
// held, and the copy is done.
func (c *compaction) adopt(a *mapArena, root uint32) uint32 {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	return c.copy(a, root)
}

type mapItem struct {
	kh    [32]byte
	value []byte
}

// setAll sets items (sorted by key hash, distinct, all under n's prefix of
// d bits) in the subtree n at depth d, and says how many keys it added;
// a.mu is held.
func (a *mapArena) setAll(n uint32, d int, items []mapItem) (uint32, int) {
	switch {
	case len(items) == 0:
		return n, 0
	case n == 0:
		return a.buildMap(d, items), len(items)
	}
	nd := a.node(n)
	if nd.leaf != 0 {
		l := a.leaf(nd.leaf)
		i, found := slices.BinarySearchFunc(items, l.key, func(it mapItem, k [32]byte) int { return bytes.Compare(it.kh[:], k[:]) })
		if found {
			return a.buildMap(d, items), len(items) - 1
		}
		all := slices.Insert(slices.Clone(items), i, mapItem{l.key, a.value(l)})
		return a.buildMap(d, all), len(items)
	}
	left, right := nd.left, nd.right
	cut := splitAt(items, d)
	l, x := a.setAll(left, d+1, items[:cut])
	r, y := a.setAll(right, d+1, items[cut:])
	return a.mapInterior(l, r), x + y
}

// buildMap builds the subtree at depth d holding exactly items (sorted by
// key hash, distinct); a.mu is held.
func (a *mapArena) buildMap(d int, items []mapItem) uint32 {
	switch len(items) {
	case 0:
		return 0
	case 1:
		return a.mapLeaf(items[0].kh, items[0].value)
	}
	cut := splitAt(items, d)
	l := a.buildMap(d+1, items[:cut])
	r := a.buildMap(d+1, items[cut:])
	return a.mapInterior(l, r)
}

// splitAt returns the first of items whose key hash has bit d set.
func splitAt(items []mapItem, d int) int {
	i, _ := slices.BinarySearchFunc(items, 1, func(it mapItem, b int) int { return bit(it.kh, d) - b })
	return i
}

const (
	mapLeafPrefix     = 0x10
	mapInteriorPrefix = 0x11
)

// A MapProof shows a key's value in a map, or its absence, against the
// map's root. Siblings are the hashes beside the key's path, from the root
// down, to where the path ends: at the key's leaf, at an empty subtree, or
// at the leaf of another key (then OtherKey and OtherValue, the SHA-256 of
// that key and of its value, are set).
type MapProof struct {
	Siblings   [][32]byte
	OtherKey   *[32]byte
	OtherValue *[32]byte
}

// Prove returns the proof of key's value, or of its absence.
func (m Map) Prove(key []byte) MapProof {
	kh := sha256.Sum256(key)
	var p MapProof
	n := m.root
	for d := 0; n != 0 && m.a.node(n).leaf == 0; d++ {
		nd := m.a.node(n)
		if bit(kh, d) == 0 {
			p.Siblings = append(p.Siblings, m.a.hashOf(nd.right))
			n = nd.left
		} else {
			p.Siblings = append(p.Siblings, m.a.hashOf(nd.left))
			n = nd.right
		}
	}
	if n != 0 {
		if l := m.a.leaf(m.a.node(n).leaf); l.key != kh {
			k, v := l.key, sha256.Sum256(m.a.value(l))
			p.OtherKey, p.OtherValue = &k, &v
		}
	}
	return p
}

// ErrMapProof is wrapped by every error of [VerifyMapProof].
var ErrMapProof = errors.New("map proof does not verify")

// maxMapDepth bounds a proof: a path has at most one sibling per bit.
const maxMapDepth = 256

// VerifyMapProof checks that p shows, against root, that key has value,
// or, with value nil, that the map does not hold key.
func VerifyMapProof(root [32]byte, key, value []byte, p MapProof) error {
	if len(p.Siblings) > maxMapDepth {
		return fmt.Errorf("%w: %d siblings", ErrMapProof, len(p.Siblings))
	}
	kh := sha256.Sum256(key)
	var h [32]byte
	switch {
	case value != nil:
		if p.OtherKey != nil || p.OtherValue != nil {
			return fmt.Errorf("%w: a proof of a value names another key", ErrMapProof)
		}
		h = mapLeafHash(kh, sha256.Sum256(value))
	case p.OtherKey != nil:
		if p.OtherValue == nil || *p.OtherKey == kh {
			return fmt.Errorf("%w: malformed proof of absence", ErrMapProof)
		}
		for d := range p.Siblings {
			if bit(*p.OtherKey, d) != bit(kh, d) {
				return fmt.Errorf("%w: the other key is not on the key's path", ErrMapProof)
			}
		}
		h = mapLeafHash(*p.OtherKey, *p.OtherValue)
	case p.OtherValue != nil:
		return fmt.Errorf("%w: malformed proof of absence", ErrMapProof)
	}
	for d := len(p.Siblings) - 1; d >= 0; d-- {
		if bit(kh, d) == 0 {
			h = mapInteriorHash(h, p.Siblings[d])
		} else {
			h = mapInteriorHash(p.Siblings[d], h)
		}
	}
	if h != root {
		return ErrMapProof
	}
	return nil
}
