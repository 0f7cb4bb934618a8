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

// BenchmarkReplay measures the follower replaying a bulk load: 600 lots,
// each extracted by the same mine, dispatched and received (1,800
// records), as after a provbench run.
func BenchmarkReplay(b *testing.B) {
	x := lottest.New(b)
	const lots = 600
	for i := range lots {
		lot := fmt.Sprintf("B%03d", i)
		ext := x.Extract(x.Mine, lot, 100, 3, 9, lottest.MineSite, 1)
		d := x.Dispatch(x.Mine, lot, ext, x.Exp, 100, 2)
		x.Receive(x.Exp, lot, d, 100, 3)
	}
	var replayed time.Duration
	for b.Loop() {
		be, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := backend.ReplayAll(b.Context(), be); err != nil {
			b.Fatal(err)
		}
		replayed += time.Since(start)
		r, err := be.ListFlags(b.Context(), &apipb.ListFlagsRequest{})
		if err != nil || r.GetUnreadRecords() != 0 {
			b.Fatalf("listing: %v, %d records unread", err, r.GetUnreadRecords())
		}
		be.Close()
	}
	// The replay alone, not opening and closing its store.
	b.ReportMetric(float64(x.S.Log().Size())*float64(b.N)/replayed.Seconds(), "records/s")
}
