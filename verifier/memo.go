package verifier

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"

	"github.com/antimony-ledger/provenance/tlog"
)

// A memo lets the verifications of many lots of one log share the work
// whose outcome depends only on its exact inputs: decoding a record (by
// its leaf hash, the hash of its bytes), checking a signature (by the
// record's leaf hash, the key and the signature), checking an inclusion
// proof (by the leaf hash, its index, the tree's size and root, and the
// proof's hashes) and, for bundles built from a store, fetching one (by
// index and tree size). The backend
// keeps one: lots' bundles overlap, since each carries its country's
// extractions in the capacity window, and without it every record of
// that window is decoded, proved and its signature checked again for
// every lot. Verify, as buyers run it, uses none. Each verification still
// checks its checkpoint's signature and every record's leaf hash.
//
// Decoded statements are shared between verifications, which only read
// them. Each map is emptied when it reaches its bound. A nil *memo
// remembers nothing. Safe for concurrent use.
type memo struct {
	mu       sync.Mutex
	decoded  map[tlog.RecordID]decodedRecord
	dataSize int // bytes of the records in decoded
	sigs     map[[32]byte]struct{}
	included map[[32]byte]struct{}
	proofs   map[[2]uint64][][32]byte
}

type decodedRecord struct {
	env *pb.Envelope
	st  *pb.Statement
	id  string
}

// Bounds on the memo's maps: about 100 MB at most in all, more than the
// records a lot's bundle and its country's window hold. A decoded record
// takes about three times its stored bytes.
const (
	memoDecoded = 20000    // records
	memoData    = 32 << 20 // stored bytes of the decoded records
	memoSigs    = 200000   // 32 bytes each
	memoIncl    = 200000   // 32 bytes each
	memoProofs  = 50000    // about 20 hashes each
)

func newMemo() *memo {
	return &memo{decoded: map[tlog.RecordID]decodedRecord{}, sigs: map[[32]byte]struct{}{}, included: map[[32]byte]struct{}{}, proofs: map[[2]uint64][][32]byte{}}
}

func (m *memo) record(leaf tlog.RecordID) (decodedRecord, bool) {
	if m == nil {
		return decodedRecord{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.decoded[leaf]
	return d, ok
}

// putRecord remembers d, decoded from size stored bytes with leaf hash
// leaf.
func (m *memo) putRecord(leaf tlog.RecordID, size int, d decodedRecord) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.decoded) >= memoDecoded || m.dataSize+size > memoData {
		clear(m.decoded)
		m.dataSize = 0
	}
	if _, ok := m.decoded[leaf]; !ok {
		m.dataSize += size
	}
	m.decoded[leaf] = d
}

// statement decodes a store entry's statement, or recalls it from a
// verification (only verification's own decoding fills the memo).
func (m *memo) statement(e ledger.Entry) (*pb.Statement, error) {
	if d, ok := m.record(e.ID); ok {
		return d.st, nil
	}
	_, st, err := custody.DecodeEntry(e)
	return st, err
}

// sigKey names a signature check: the record (its leaf hash covers the
// payload, its type and the signatures), the key and the signature.
func sigKey(leaf tlog.RecordID, key, sig []byte) [32]byte {
	h := sha256.New()
	h.Write(leaf[:])
	h.Write(key)
	h.Write(sig)
	return [32]byte(h.Sum(nil))
}

func (m *memo) verified(k [32]byte) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.sigs[k]
	return ok
}

func (m *memo) putVerified(ks [][32]byte) {
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

// inclusionProof returns the store's inclusion proof of entry idx in the
// tree of size size, or recalls it.
func (m *memo) inclusionProof(ctx context.Context, log *ledger.Log, idx, size uint64) ([][32]byte, error) {
	if m == nil {
		return log.InclusionProof(ctx, idx, size)
	}
	k := [2]uint64{idx, size}
	m.mu.Lock()
	p, ok := m.proofs[k]
	m.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := log.InclusionProof(ctx, idx, size)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if len(m.proofs) >= memoProofs {
		clear(m.proofs)
	}
	m.proofs[k] = p
	m.mu.Unlock()
	return p, nil
}

// verifyInclusion checks that leaf is entry idx of the tree of the given
// size and root by proof, or recalls that it did.
func (m *memo) verifyInclusion(leaf tlog.RecordID, idx, size uint64, proof [][32]byte, root [32]byte) error {
	if m == nil {
		return tlog.VerifyInclusion(leaf, idx, size, proof, root)
	}
	h := sha256.New()
	h.Write(leaf[:])
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
	if err := tlog.VerifyInclusion(leaf, idx, size, proof, root); err != nil {
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
