package tlog

// The map as it was before its nodes moved into arenas (map.go): nodes
// of the Go heap, linked by pointers. Kept as the model the arena map is
// checked against (TestMapMatchesModel).

import (
	"bytes"
	"crypto/sha256"
	"slices"
)

type refMap struct {
	root *refNode
	size int
}

type refNode struct {
	hash        [32]byte
	left, right *refNode // for an interior node; nil is empty
	leaf        *refLeafData
}

// refLeafData is what a leaf holds besides its hash; interior nodes, most
// of the tree, go without it.
type refLeafData struct {
	key   [32]byte // SHA-256 of the key
	value []byte
}

func refLeaf(kh [32]byte, value []byte) *refNode {
	n := &refNode{leaf: &refLeafData{key: kh, value: value}}
	n.hash = mapLeafHash(kh, sha256.Sum256(value))
	return n
}

func refInterior(l, r *refNode) *refNode {
	return &refNode{left: l, right: r, hash: mapInteriorHash(refHashOf(l), refHashOf(r))}
}

func refHashOf(n *refNode) [32]byte {
	if n == nil {
		return [32]byte{}
	}
	return n.hash
}

func (m refMap) Root() [32]byte { return refHashOf(m.root) }

func (m refMap) Len() int { return m.size }

func (m refMap) Get(key []byte) ([]byte, bool) {
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

func (m refMap) Set(key, value []byte) refMap {
	kh := sha256.Sum256(key)
	root, added := refSet(m.root, 0, kh, value)
	if added {
		m.size++
	}
	m.root = root
	return m
}

func refSet(n *refNode, d int, kh [32]byte, value []byte) (*refNode, bool) {
	switch {
	case n == nil:
		return refLeaf(kh, value), true
	case n.leaf != nil && n.leaf.key == kh:
		return refLeaf(kh, value), false
	case n.leaf != nil:
		return refSplit(n, refLeaf(kh, value), d), true
	}
	if bit(kh, d) == 0 {
		l, added := refSet(n.left, d+1, kh, value)
		return refInterior(l, n.right), added
	}
	r, added := refSet(n.right, d+1, kh, value)
	return refInterior(n.left, r), added
}

// SetAll returns the map with every entry set, a later entry of the same
// key winning: the same map as Set called for each in turn, but each node
// on the changed paths is built and hashed once. The map keeps the values:
// the caller must not modify them.
func (m refMap) SetAll(entries []MapEntry) refMap {
	if len(entries) == 0 {
		return m
	}
	items := make([]refItem, 0, len(entries))
	for _, e := range entries {
		items = append(items, refItem{sha256.Sum256(e.Key), e.Value})
	}
	// Sorted by key hash (the trie's order), the last of equal keys kept.
	slices.SortStableFunc(items, func(a, b refItem) int { return bytes.Compare(a.kh[:], b.kh[:]) })
	out := items[:0]
	for i, it := range items {
		if i+1 < len(items) && items[i+1].kh == it.kh {
			continue
		}
		out = append(out, it)
	}
	root, added := refSetAll(m.root, 0, out)
	m.root, m.size = root, m.size+added
	return m
}

type refItem struct {
	kh    [32]byte
	value []byte
}

// setAll sets items (sorted by key hash, distinct, all under n's prefix of
// d bits) in the subtree n at depth d, and says how many keys it added.
func refSetAll(n *refNode, d int, items []refItem) (*refNode, int) {
	switch {
	case len(items) == 0:
		return n, 0
	case n == nil:
		return refBuildMap(d, items), len(items)
	case n.leaf != nil:
		i, found := slices.BinarySearchFunc(items, n.leaf.key, func(it refItem, k [32]byte) int { return bytes.Compare(it.kh[:], k[:]) })
		if found {
			return refBuildMap(d, items), len(items) - 1
		}
		all := slices.Insert(slices.Clone(items), i, refItem{n.leaf.key, n.leaf.value})
		return refBuildMap(d, all), len(items)
	}
	cut := refSplitAt(items, d)
	l, a := refSetAll(n.left, d+1, items[:cut])
	r, b := refSetAll(n.right, d+1, items[cut:])
	return refInterior(l, r), a + b
}

// refBuildMap builds the subtree at depth d holding exactly items (sorted by
// key hash, distinct).
func refBuildMap(d int, items []refItem) *refNode {
	switch len(items) {
	case 0:
		return nil
	case 1:
		return refLeaf(items[0].kh, items[0].value)
	}
	cut := refSplitAt(items, d)
	return refInterior(refBuildMap(d+1, items[:cut]), refBuildMap(d+1, items[cut:]))
}

// splitAt returns the first of items whose key hash has bit d set.
func refSplitAt(items []refItem, d int) int {
	i, _ := slices.BinarySearchFunc(items, 1, func(it refItem, b int) int { return bit(it.kh, d) - b })
	return i
}

// split returns the subtree at depth d holding leaves a and b.
func refSplit(a, b *refNode, d int) *refNode {
	ba, bb := bit(a.leaf.key, d), bit(b.leaf.key, d)
	switch {
	case ba == bb && ba == 0:
		return refInterior(refSplit(a, b, d+1), nil)
	case ba == bb:
		return refInterior(nil, refSplit(a, b, d+1))
	case ba == 0:
		return refInterior(a, b)
	}
	return refInterior(b, a)
}

// Prove returns the proof of key's value, or of its absence.
func (m refMap) Prove(key []byte) MapProof {
	kh := sha256.Sum256(key)
	var p MapProof
	n := m.root
	for d := 0; n != nil && n.leaf == nil; d++ {
		if bit(kh, d) == 0 {
			p.Siblings = append(p.Siblings, refHashOf(n.right))
			n = n.left
		} else {
			p.Siblings = append(p.Siblings, refHashOf(n.left))
			n = n.right
		}
	}
	if n != nil && n.leaf.key != kh {
		k, v := n.leaf.key, sha256.Sum256(n.leaf.value)
		p.OtherKey, p.OtherValue = &k, &v
	}
	return p
}
