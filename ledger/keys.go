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
//	s/<key>                 -> Apply state
var (
	prefixEntry = []byte("e/")
	prefixHash  = []byte("h/")
	prefixNode  = []byte("n/")
	prefixState = []byte("s/")
	keyTree     = []byte("m/tree")
	keyCkpt     = []byte("m/checkpoint")
)

const (
	entryFormat = 1 // first byte of an entry value
	treeFormat  = 1 // first byte of the tree state value
)

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

// encodeEntry returns the stored form of an entry: a format byte, the append
// time in Unix nanoseconds (8 bytes big-endian) and the data.
func encodeEntry(data []byte, t time.Time) []byte {
	v := make([]byte, 0, 9+len(data))
	v = append(v, entryFormat)
	v = binary.BigEndian.AppendUint64(v, uint64(t.UnixNano()))
	return append(v, data...)
}

// decodeEntry decodes a stored entry; data aliases v.
func decodeEntry(v []byte) (data []byte, t time.Time, err error) {
	if len(v) < 9 || v[0] != entryFormat {
		return nil, time.Time{}, errors.New("malformed stored entry")
	}
	return v[9:], time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9]))), nil
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
