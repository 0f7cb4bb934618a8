package tlog

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
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
	root *mapNode
	size int
}

type mapNode struct {
	hash        [32]byte
	left, right *mapNode // for an interior node; nil is empty
	leaf        *mapLeafData
}

// mapLeafData is what a leaf holds besides its hash; interior nodes, most
// of the tree, go without it.
type mapLeafData struct {
	key   [32]byte // SHA-256 of the key
	value []byte
}

const (
	mapLeafPrefix     = 0x10
	mapInteriorPrefix = 0x11
)

func mapLeaf(kh [32]byte, value []byte) *mapNode {
	n := &mapNode{leaf: &mapLeafData{key: kh, value: value}}
	n.hash = mapLeafHash(kh, sha256.Sum256(value))
	return n
}

func mapLeafHash(kh, vh [32]byte) [32]byte {
	var b [1 + 64]byte
	b[0] = mapLeafPrefix
	copy(b[1:], kh[:])
	copy(b[33:], vh[:])
	return sha256.Sum256(b[:])
}

func mapInterior(l, r *mapNode) *mapNode {
	return &mapNode{left: l, right: r, hash: mapInteriorHash(hashOf(l), hashOf(r))}
}

func mapInteriorHash(l, r [32]byte) [32]byte {
	var b [1 + 64]byte
	b[0] = mapInteriorPrefix
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

func hashOf(n *mapNode) [32]byte {
	if n == nil {
		return [32]byte{}
	}
	return n.hash
}

// bit returns bit d of h, most significant first.
func bit(h [32]byte, d int) int { return int(h[d/8]>>(7-d%8)) & 1 }

// Root returns the map's root hash.
func (m Map) Root() [32]byte { return hashOf(m.root) }

// Len returns the number of keys in the map.
func (m Map) Len() int { return m.size }

// Get returns key's value, and whether the map holds key.
func (m Map) Get(key []byte) ([]byte, bool) {
	kh := sha256.Sum256(key)
	n := m.root
	for d := 0; n != nil; d++ {
		if n.leaf != nil {
			if n.leaf.key == kh {
				return n.leaf.value, true
			}
			return nil, false
		}
		if bit(kh, d) == 0 {
			n = n.left
		} else {
			n = n.right
		}
	}
	return nil, false
}

// Set returns the map with key set to value. The map keeps value: the
// caller must not modify it.
func (m Map) Set(key, value []byte) Map {
	kh := sha256.Sum256(key)
	root, added := set(m.root, 0, kh, value)
	if added {
		m.size++
	}
	m.root = root
	return m
}

func set(n *mapNode, d int, kh [32]byte, value []byte) (*mapNode, bool) {
	switch {
	case n == nil:
		return mapLeaf(kh, value), true
	case n.leaf != nil && n.leaf.key == kh:
		return mapLeaf(kh, value), false
	case n.leaf != nil:
		return split(n, mapLeaf(kh, value), d), true
	}
	if bit(kh, d) == 0 {
		l, added := set(n.left, d+1, kh, value)
		return mapInterior(l, n.right), added
	}
	r, added := set(n.right, d+1, kh, value)
	return mapInterior(n.left, r), added
}

// A MapEntry is one key and value for [Map.SetAll].
type MapEntry struct{ Key, Value []byte }

// SetAll returns the map with every entry set, a later entry of the same
// key winning: the same map as Set called for each in turn, but each node
// on the changed paths is built and hashed once. The map keeps the values:
// the caller must not modify them.
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
	root, added := setAll(m.root, 0, out)
	m.root, m.size = root, m.size+added
	return m
}

type mapItem struct {
	kh    [32]byte
	value []byte
}

// setAll sets items (sorted by key hash, distinct, all under n's prefix of
// d bits) in the subtree n at depth d, and says how many keys it added.
func setAll(n *mapNode, d int, items []mapItem) (*mapNode, int) {
	switch {
	case len(items) == 0:
		return n, 0
	case n == nil:
		return buildMap(d, items), len(items)
	case n.leaf != nil:
		i, found := slices.BinarySearchFunc(items, n.leaf.key, func(it mapItem, k [32]byte) int { return bytes.Compare(it.kh[:], k[:]) })
		if found {
			return buildMap(d, items), len(items) - 1
		}
		all := slices.Insert(slices.Clone(items), i, mapItem{n.leaf.key, n.leaf.value})
		return buildMap(d, all), len(items)
	}
	cut := splitAt(items, d)
	l, a := setAll(n.left, d+1, items[:cut])
	r, b := setAll(n.right, d+1, items[cut:])
	return mapInterior(l, r), a + b
}

// buildMap builds the subtree at depth d holding exactly items (sorted by
// key hash, distinct).
func buildMap(d int, items []mapItem) *mapNode {
	switch len(items) {
	case 0:
		return nil
	case 1:
		return mapLeaf(items[0].kh, items[0].value)
	}
	cut := splitAt(items, d)
	return mapInterior(buildMap(d+1, items[:cut]), buildMap(d+1, items[cut:]))
}

// splitAt returns the first of items whose key hash has bit d set.
func splitAt(items []mapItem, d int) int {
	i, _ := slices.BinarySearchFunc(items, 1, func(it mapItem, b int) int { return bit(it.kh, d) - b })
	return i
}

// split returns the subtree at depth d holding leaves a and b.
func split(a, b *mapNode, d int) *mapNode {
	ba, bb := bit(a.leaf.key, d), bit(b.leaf.key, d)
	switch {
	case ba == bb && ba == 0:
		return mapInterior(split(a, b, d+1), nil)
	case ba == bb:
		return mapInterior(nil, split(a, b, d+1))
	case ba == 0:
		return mapInterior(a, b)
	}
	return mapInterior(b, a)
}

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
	for d := 0; n != nil && n.leaf == nil; d++ {
		if bit(kh, d) == 0 {
			p.Siblings = append(p.Siblings, hashOf(n.right))
			n = n.left
		} else {
			p.Siblings = append(p.Siblings, hashOf(n.left))
			n = n.right
		}
	}
	if n != nil && n.leaf.key != kh {
		k, v := n.leaf.key, sha256.Sum256(n.leaf.value)
		p.OtherKey, p.OtherValue = &k, &v
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
