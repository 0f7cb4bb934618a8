package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestListingSkipsOrphanIndex: an index entry left without its flag (by a
// store of an older build, cut short mid-delete) does not break the
// listing by rule, which lists what the whole listing lists.
func TestListingSkipsOrphanIndex(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "A", 10000, 3, 9, lottest.MineSite, 1)
	x.Dispatch(x.Mine, "A", ext, x.Exp, 10000, 2)
	b := replayed(t, x)
	// The in-transit flag of an earlier dispatch whose F/ entry went in a
	// committed flush, while its R/ entry stayed (the crash test's leftover).
	key := "00000000000000000001|UNCONFIRMED_CUSTODY|A|0000000000000000"
	if err := backend.SetRaw(b, []byte(verifier.ReplayFlagIndex(verifier.RuleUnconfirmedCustody, "")+key), nil); err != nil {
		t.Fatal(err)
	}
	all, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: verifier.RuleUnconfirmedCustody})
	if err != nil || len(all.GetFlags()) != 1 {
		t.Errorf("listing by rule: %d flags, %v; want the one in-transit flag", len(all.GetFlags()), err)
	}
}
