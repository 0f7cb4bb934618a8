package backend

import (
	"context"
	"sync"

	"github.com/antimony-ledger/provenance/ledger"
)

// memoProofs bounds a proofCache: about 20 hashes each.
const memoProofs = 50000

// A proofCache keeps the inclusion proofs the backend fetched for
// bundles, by index and tree size: lots' bundles overlap (each carries its
// country's extractions in the capacity window), and a proof for a given
// tree size never changes. It is emptied when it reaches its bound. A nil
// *proofCache remembers nothing. Safe for concurrent use.
type proofCache struct {
	mu     sync.Mutex
	proofs map[[2]uint64][][32]byte
}

func newProofCache() *proofCache { return &proofCache{proofs: map[[2]uint64][][32]byte{}} }

// inclusionProof returns the log's inclusion proof of entry idx in the
// tree of size size, or recalls it.
func (m *proofCache) inclusionProof(ctx context.Context, log *ledger.Log, idx, size uint64) ([][32]byte, error) {
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
