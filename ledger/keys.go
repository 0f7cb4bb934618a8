package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/antimony-ledger/provenance/tlog"
)

// Badger key layout. Every key starts with a one-letter space and a slash so
// that the spaces cannot collide:
//
//	e/<index BE8>           -> entry value (see encodeEntry)
//	h/<record id 32>        -> index BE8
//	n/<level 1><index BE8>  -> node hash 32, for every complete subtree
//	m/tree                  -> tree state (see encodeTree)
//	m/checkpoint            -> latest signed checkpoint note
//	m/format                -> the store's format version, decimal
//	s/<key>                 -> Apply state; keys under indexPrefix hold
//	                           the verifiable map's values
var (
	prefixEntry = []byte("e/")
	prefixHash  = []byte("h/")
	prefixNode  = []byte("n/")
	prefixState = []byte("s/")
	keyTree     = []byte("m/tree")
	keyCkpt     = []byte("m/checkpoint")
	keyFormat   = []byte("m/format")
)

const (
	entryFormat = 2 // first byte of an entry value
	treeFormat  = 1 // first byte of the tree state value
	// StoreFormat is the version of the store's layout: 2 since each leaf
	// commits its integration time and the verifiable map (tlog.Leaf).
	// Open refuses a store of another version.
	StoreFormat = 2
)

// indexPrefix starts the state keys of the verifiable map's values
// (StateTx.SetIndex): 0xff, which no other state key starts with.
const indexPrefix = "\xffx/"

func entryKey(index uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixEntry...), index)
}

func hashKey(id tlog.RecordID) []byte {
	return append(append(make([]byte, 0, len(prefixHash)+32), prefixHash...), id[:]...)
}

func nodeKey(id compact.NodeID) []byte {
	k := append(make([]byte, 0, len(prefixNode)+9), prefixNode...)
	k = append(k, byte(id.Level))
	return binary.BigEndian.AppendUint64(k, id.Index)
}

func stateKey(key []byte) []byte {
	return append(append(make([]byte, 0, len(prefixState)+len(key)), prefixState...), key...)
}

// encodeEntry returns the stored form of an entry: a format byte, the
// append time in Unix nanoseconds (8 bytes big-endian), the length of the
// leaf's extra data (uvarint) and that data, a flag byte (1 if a map root
// follows), the map root if flagged, and the entry's data.
func encodeEntry(e Entry) []byte {
	v := make([]byte, 0, 1+8+binary.MaxVarintLen64+len(e.Extra)+33+len(e.Data))
	v = append(v, entryFormat)
	v = binary.BigEndian.AppendUint64(v, uint64(e.Time.UnixNano()))
	v = binary.AppendUvarint(v, uint64(len(e.Extra)))
	v = append(v, e.Extra...)
	if e.MapRoot == nil {
		v = append(v, 0)
	} else {
		v = append(v, 1)
		v = append(v, e.MapRoot[:]...)
	}
	return append(v, e.Data...)
}

// decodeEntry decodes a stored entry; its slices alias v.
func decodeEntry(index uint64, v []byte) (Entry, error) {
	bad := errors.New("malformed stored entry")
	if len(v) < 1+8+1+1 || v[0] != entryFormat {
		return Entry{}, bad
	}
	e := Entry{Index: index, Time: time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9]))).UTC()}
	n, k := binary.Uvarint(v[9:])
	if k <= 0 || n > uint64(len(v)-9-k) {
		return Entry{}, bad
	}
	rest := v[9+k:]
	if n > 0 {
		e.Extra = rest[:n]
	}
	rest = rest[n:]
	switch {
	case len(rest) >= 1 && rest[0] == 0:
		rest = rest[1:]
	case len(rest) >= 33 && rest[0] == 1:
		root := [32]byte(rest[1:33])
		e.MapRoot = &root
		rest = rest[33:]
	default:
		return Entry{}, bad
	}
	e.Data = rest
	e.ID = tlog.RecordIDOf(e.Data)
	return e, nil
}

// encodeTree returns the stored tree state: a format byte, the size (8 bytes
// big-endian) and the hashes of the compact range [0, size).
func encodeTree(size uint64, hashes [][]byte) []byte {
	v := make([]byte, 0, 9+32*len(hashes))
	v = append(v, treeFormat)
	v = binary.BigEndian.AppendUint64(v, size)
	for _, h := range hashes {
		v = append(v, h...)
	}
	return v
}

func decodeTree(v []byte) (size uint64, hashes [][]byte, err error) {
	if len(v) < 9 || v[0] != treeFormat || (len(v)-9)%32 != 0 {
		return 0, nil, errors.New("malformed stored tree state")
	}
	size = binary.BigEndian.Uint64(v[1:9])
	for rest := v[9:]; len(rest) > 0; rest = rest[32:] {
		hashes = append(hashes, append([]byte(nil), rest[:32]...))
	}
	if want := compact.RangeSize(0, size); want != len(hashes) {
		return 0, nil, fmt.Errorf("stored tree state has %d hashes for size %d, want %d", len(hashes), size, want)
	}
	return size, hashes, nil
}
