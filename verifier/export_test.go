package verifier

import (
	"time"

	"github.com/antimony-ledger/provenance/custody"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// NewListingBackend returns a backend that does not follow the log in the
// background, so that only its listings catch up, each within budget.
func NewListingBackend(store *custody.Store, trust Trust, cfg Config, budget time.Duration) *Backend {
	b, _ := newBackend(store, trust, cfg)
	close(b.done)
	b.listBudget = budget
	return b
}

// SetListBudget sets the time a listing of b may spend catching up.
func SetListBudget(b *Backend, budget time.Duration) { b.listBudget = budget }

// Memo is the backend's memo, for tests.
type Memo = memo

// NewMemo returns an empty memo.
func NewMemo() *Memo { return newMemo() }

// VerifyWithMemo is Verify sharing work through m, as the backend does.
func VerifyWithMemo(b *pb.Bundle, trust Trust, cfg Config, m *Memo) *pb.VerificationReport {
	return verify(b, trust, cfg, m)
}
