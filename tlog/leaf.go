package tlog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

// LeafVersion is the first byte of every leaf of this log's format.
const LeafVersion = 2

// MaxLeafExtra bounds a leaf's Extra.
const MaxLeafExtra = 64 << 10

// A Leaf is what the log's Merkle tree commits for one record: the time
// the log integrated it, its id (which commits its stored bytes), data the
// log's indexes attach to it, and, on the last leaf of each commit group,
// the root of the log's verifiable map as of that leaf. The record's
// bytes themselves are not part of the leaf: a leaf can be proved without
// revealing the record.
//
// Encoded ([Leaf.Marshal]):
//
//	u8      version (2)
//	u64 BE  integration time, Unix nanoseconds
//	[32]    record id
//	uvarint len(extra), extra
//	u8      flags: 1 if a map root follows, else 0
//	[32]    map root, if flagged
//
// Time must be a valid leaf time ([ValidLeafTime]): the encoding holds its
// Unix nanoseconds, which wrap outside 1970 to 2262, so that two times
// 2^64 ns apart would give one leaf.
type Leaf struct {
	Time    time.Time
	Record  RecordID
	Extra   []byte
	MapRoot *[32]byte
}

// ValidLeafTime reports whether t can be a leaf's time: at or after the
// Unix epoch, and exactly the time its Unix nanoseconds give back (so not
// after 2262). Only such times have one encoding; a reader of a leaf
// handed to it as fields (a bundle, a served entry) must refuse any other.
func ValidLeafTime(t time.Time) bool {
	n := t.UnixNano()
	return n >= 0 && time.Unix(0, n).Equal(t)
}

// NewLeaf builds a leaf from the fields a reader is handed (a bundle
// record, a served entry), refusing those no leaf can hold: a time that is
// not a valid leaf time, extra data over MaxLeafExtra, a map root that is
// neither absent nor 32 bytes.
func NewLeaf(t time.Time, record RecordID, extra, mapRoot []byte) (Leaf, error) {
	l := Leaf{Time: t, Record: record, Extra: extra}
	if !ValidLeafTime(t) {
		return Leaf{}, fmt.Errorf("%w: time %s is outside the times a leaf can hold (1970 to 2262)", ErrLeaf, t.Format(time.RFC3339Nano))
	}
	if len(extra) > MaxLeafExtra {
		return Leaf{}, fmt.Errorf("%w: extra is %d bytes, limit %d", ErrLeaf, len(extra), MaxLeafExtra)
	}
	switch len(mapRoot) {
	case 0:
	case 32:
		root := [32]byte(mapRoot)
		l.MapRoot = &root
	default:
		return Leaf{}, fmt.Errorf("%w: map root is %d bytes, want 32", ErrLeaf, len(mapRoot))
	}
	return l, nil
}

// Marshal returns the leaf's encoding: the bytes the tree hashes.
func (l Leaf) Marshal() []byte {
	b := make([]byte, 0, 1+8+32+binary.MaxVarintLen64+len(l.Extra)+1+32)
	b = append(b, LeafVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(l.Time.UnixNano()))
	b = append(b, l.Record[:]...)
	b = binary.AppendUvarint(b, uint64(len(l.Extra)))
	b = append(b, l.Extra...)
	if l.MapRoot == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	return append(b, l.MapRoot[:]...)
}

// A LeafHash is the RFC 6962 leaf hash of a [Leaf]: what the tree holds
// and inclusion proofs prove. It is a type of its own, so that a record id
// (the hash of the record's bytes, not of its leaf) is never passed for it.
type LeafHash [32]byte

// Hash returns the leaf's RFC 6962 leaf hash, SHA-256(0x00 || Marshal()).
func (l Leaf) Hash() LeafHash {
	h := sha256.New()
	h.Write([]byte{rfc6962.RFC6962LeafHashPrefix})
	h.Write(l.Marshal())
	var out LeafHash
	h.Sum(out[:0])
	return out
}

// ErrLeaf is wrapped by every error of [ParseLeaf].
var ErrLeaf = errors.New("malformed leaf")

// ParseLeaf decodes a leaf encoded by [Leaf.Marshal], refusing any other
// encoding of it.
func ParseLeaf(b []byte) (Leaf, error) {
	var l Leaf
	if len(b) < 1+8+32+1+1 || b[0] != LeafVersion {
		return Leaf{}, fmt.Errorf("%w: %d bytes, version %d", ErrLeaf, len(b), firstByte(b))
	}
	if ns := binary.BigEndian.Uint64(b[1:9]); ns > 1<<63-1 {
		return Leaf{}, fmt.Errorf("%w: time %d ns is out of range", ErrLeaf, ns)
	}
	l.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	l.Record = RecordID(b[9:41])
	n, k := binary.Uvarint(b[41:])
	if k <= 0 || n > MaxLeafExtra || uint64(len(b)-41-k) < n+1 {
		return Leaf{}, fmt.Errorf("%w: bad extra length", ErrLeaf)
	}
	rest := b[41+k:]
	if n > 0 {
		l.Extra = append([]byte(nil), rest[:n]...)
	}
	rest = rest[n:]
	switch {
	case rest[0] == 0 && len(rest) == 1:
	case rest[0] == 1 && len(rest) == 33:
		root := [32]byte(rest[1:])
		l.MapRoot = &root
	default:
		return Leaf{}, fmt.Errorf("%w: bad map root", ErrLeaf)
	}
	if string(l.Marshal()) != string(b) {
		return Leaf{}, fmt.Errorf("%w: not canonical", ErrLeaf)
	}
	return l, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}
