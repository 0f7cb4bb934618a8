package backend_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	"github.com/antimony-ledger/provenance/verifier"
)

func BenchmarkBuildBundle1000(b *testing.B) {
	x, bundle := lottest.Lot1000(b)
	n := len(bundle.GetRecords())
	start := time.Now()
	for b.Loop() {
		x.Bundle("T")
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkCatchUp measures a complete flag listing on a fresh backend
// after a bulk load: 600 lots, each extracted by the same mine, dispatched
// and received (1,800 records), so that every lot's bundle carries the
// country's 600 extractions in the capacity window, as after a provbench
// run.
func BenchmarkCatchUp(b *testing.B) {
	x := lottest.New(b)
	const lots = 600
	for i := range lots {
		lot := fmt.Sprintf("B%03d", i)
		ext := x.Extract(x.Mine, lot, 100, 3, 9, lottest.MineSite, 1)
		d := x.Dispatch(x.Mine, lot, ext, x.Exp, 100, 2)
		x.Receive(x.Exp, lot, d, 100, 3)
	}
	for b.Loop() {
		be := backend.NewListingBackend(x.S, x.Trust(), verifier.DefaultConfig(), 0)
		r, err := be.ListFlags(b.Context(), &apipb.ListFlagsRequest{})
		if err != nil || r.GetPendingLots() != 0 {
			b.Fatalf("listing: %v, %d lots pending", err, r.GetPendingLots())
		}
		be.Close()
	}
	b.ReportMetric(float64(lots*b.N)/b.Elapsed().Seconds(), "lots/s")
}
