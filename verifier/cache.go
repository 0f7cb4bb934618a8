package verifier

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// A Cache lets the verifications of many lots of one log share the work
// whose outcome depends only on its exact inputs: decoding a record (by
// its id, the hash of its bytes), checking a signature (by the record's
// id, the key and the signature) and checking an inclusion proof (by the
// record's id, its index, the tree's size and root, and the proof's
// hashes). The server's flag backend keeps one: lots' bundles overlap,
// since each carries its country's extractions in the capacity window, and
// without it every record of that window is decoded, proved and its
// signature checked again for every lot. [Verify], as buyers run it, uses
// none. Each verification still checks its checkpoint's signature and
// every record's id.
//
// Decoded statements are shared between verifications, which only read
// them. Each map is emptied when it reaches its bound. A nil *Cache
// remembers nothing. Safe for concurrent use.
type Cache struct {
	mu       sync.Mutex
	decoded  map[tlog.RecordID]decodedRecord
	dataSize int // bytes of the records in decoded
	sigs     map[[32]byte]struct{}
	included map[[32]byte]struct{}
}

type decodedRecord struct {
	env *pb.Envelope
	st  *pb.Statement
	id  string
}

// Bounds on the cache's maps: about 100 MB at most in all, more than the
// records a lot's bundle and its country's window hold. A decoded record
// takes about three times its stored bytes.
const (
	memoDecoded = 20000    // records
	memoData    = 32 << 20 // stored bytes of the decoded records
	memoSigs    = 200000   // 32 bytes each
	memoIncl    = 200000   // 32 bytes each
)

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{decoded: map[tlog.RecordID]decodedRecord{}, sigs: map[[32]byte]struct{}{}, included: map[[32]byte]struct{}{}}
}

func (m *Cache) record(rid tlog.RecordID) (decodedRecord, bool) {
	if m == nil {
		return decodedRecord{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.decoded[rid]
	return d, ok
}

// putRecord remembers d, decoded from size stored bytes with record id
// rid.
func (m *Cache) putRecord(rid tlog.RecordID, size int, d decodedRecord) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.decoded) >= memoDecoded || m.dataSize+size > memoData {
		clear(m.decoded)
		m.dataSize = 0
	}
	if _, ok := m.decoded[rid]; !ok {
		m.dataSize += size
	}
	m.decoded[rid] = d
}

// Statement returns the statement of the record with id and stored bytes
// data: recalled from a verification's decoding, or decoded (and not
// kept: only verification fills the cache). It fails if data is not the
// record id names.
func (m *Cache) Statement(id tlog.RecordID, data []byte) (*pb.Statement, error) {
	if tlog.RecordIDOf(data) != id {
		return nil, fmt.Errorf("verifier: data of %d bytes is not record %s", len(data), id)
	}
	if d, ok := m.record(id); ok {
		return d.st, nil
	}
	_, st, err := record.Decode(data)
	return st, err
}

// sigKey names a signature check: the record (its id covers the
// payload, its type and the signatures), the key and the signature.
func sigKey(rid tlog.RecordID, key, sig []byte) [32]byte {
	h := sha256.New()
	h.Write(rid[:])
	h.Write(key)
	h.Write(sig)
	return [32]byte(h.Sum(nil))
}

func (m *Cache) verified(k [32]byte) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.sigs[k]
	return ok
}

func (m *Cache) putVerified(ks [][32]byte) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sigs)+len(ks) > memoSigs {
		clear(m.sigs)
	}
	for _, k := range ks {
		m.sigs[k] = struct{}{}
	}
}

// verifyInclusion checks that the leaf with hash lh is entry idx of the
// tree of the given size and root by proof, or recalls that it did.
func (m *Cache) verifyInclusion(lh tlog.LeafHash, idx, size uint64, proof [][32]byte, root [32]byte) error {
	if m == nil {
		return tlog.VerifyInclusion(lh, idx, size, proof, root)
	}
	h := sha256.New()
	h.Write(lh[:])
	h.Write(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, idx), size))
	h.Write(root[:])
	for _, p := range proof {
		h.Write(p[:])
	}
	k := [32]byte(h.Sum(nil))
	m.mu.Lock()
	_, ok := m.included[k]
	m.mu.Unlock()
	if ok {
		return nil
	}
	if err := tlog.VerifyInclusion(lh, idx, size, proof, root); err != nil {
		return err
	}
	m.mu.Lock()
	if len(m.included) >= memoIncl {
		clear(m.included)
	}
	m.included[k] = struct{}{}
	m.mu.Unlock()
	return nil
}
