package backend

import (
	"time"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/verifier"
)

// NewListingBackend returns a backend that does not follow the log in the
// background, so that only its listings catch up, each within budget.
func NewListingBackend(store *custody.Store, trust verifier.Trust, cfg verifier.Config, budget time.Duration) *Backend {
	b, _ := newBackend(store, trust, cfg)
	close(b.done)
	b.listBudget = budget
	return b
}

// SetListBudget sets the time a listing of b may spend catching up.
func SetListBudget(b *Backend, budget time.Duration) { b.listBudget = budget }
