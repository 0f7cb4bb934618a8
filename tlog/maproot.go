package tlog

import (
	"bytes"
	"crypto/sha256"
	"slices"
)

// A MapRootBuilder computes the root of a map from its entries, given in
// any order, without building the map: it keeps 64 bytes an entry (the
// key's hash and the leaf's), where a [Map] keeps its nodes, values and
// keys, several times that. A reader that only needs to know whether a
// set of entries gives a root (a backup's check of the values it holds)
// uses it. Each key must be given once.
type MapRootBuilder struct {
	leaves []mapRootLeaf
}

type mapRootLeaf struct{ kh, lh [32]byte }

// Add adds the entry of key and value.
func (b *MapRootBuilder) Add(key, value []byte) {
	kh := sha256.Sum256(key)
	b.leaves = append(b.leaves, mapRootLeaf{kh, mapLeafHash(kh, sha256.Sum256(value))})
}

// Len returns how many entries were added.
func (b *MapRootBuilder) Len() int { return len(b.leaves) }

// Root returns the root of the map of the entries added: the root a
// [Map] holding exactly them has.
func (b *MapRootBuilder) Root() [32]byte {
	slices.SortFunc(b.leaves, func(x, y mapRootLeaf) int { return bytes.Compare(x.kh[:], y.kh[:]) })
	return mapRootOf(b.leaves, 0)
}

// mapRootOf is the root of the subtree at depth d holding leaves, sorted
// by key hash, all sharing their first d bits.
func mapRootOf(leaves []mapRootLeaf, d int) [32]byte {
	switch len(leaves) {
	case 0:
		return [32]byte{}
	case 1:
		return leaves[0].lh
	}
	i, _ := slices.BinarySearchFunc(leaves, 1, func(l mapRootLeaf, b int) int { return bit(l.kh, d) - b })
	return mapInteriorHash(mapRootOf(leaves[:i], d+1), mapRootOf(leaves[i:], d+1))
}
