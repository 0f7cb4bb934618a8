package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// correctedHops logs lot L1 of kg over n hops, each receipt corrected
// (1 kg down, co-signed), and returns the harness.
func correctedHops(t testing.TB, n int, kg float64) *lottest.H {
	x := lottest.New(t)
	link := x.Extract(x.Mine, "L1", kg, 3, 9, lottest.MineSite, 1)
	from, to := x.Mine, x.Exp
	day := 1.0
	for i := 0; i < n; i++ {
		day += 0.1
		d := x.Dispatch(from, "L1", link, to, kg, day)
		day += 0.1
		r := x.Receive(to, "L1", d, kg, day)
		day += 0.05
		x.Correct(to, &pb.Correction{LotId: "L1", Corrects: r, CounterpartyId: from.ID, MassKg: lottest.Kg(kg - 1)}, day, from)
		link = r
		if to == x.Exp {
			from, to = x.Exp, x.Smelter
		} else {
			from, to = x.Smelter, x.Exp
		}
	}
	return x
}

// linearInCorrections fails unless a full verification of a lot of kg
// over 300 corrected hops costs about twice the allocations (a
// deterministic measure) of one over 150, not four times.
func linearInCorrections(t *testing.T, kg float64) {
	allocs := map[int]float64{}
	for _, n := range []int{150, 300} {
		x := correctedHops(t, n, kg)
		b, trust, cfg := x.Bundle("L1"), x.Trust(), verifier.DefaultConfig()
		allocs[n] = testing.AllocsPerRun(1, func() { verifier.Verify(b, trust, cfg) })
		t.Logf("%d corrected hops: %.0f allocations per verification", n, allocs[n])
	}
	if ratio := allocs[300] / allocs[150]; ratio > 2.6 {
		t.Errorf("twice the corrected hops cost %.1fx the allocations: verification is quadratic in the corrections", ratio)
	}
}

// TestManyCorrectionsLinear: a lot whose mines are nowhere near a year of
// their capacity costs no replay of the bundle's prefixes for its
// corrections: doubling its corrected hops about doubles the work
// (allocations, a deterministic measure) rather than quadrupling it.
func TestManyCorrectionsLinear(t *testing.T) { linearInCorrections(t, 3000) }

// BenchmarkVerifyCorrectedHops: a full verification of a lot over 64
// hops, each receipt corrected, the most the verifier weighs one by one
// (two runs of the flow over the records before each correction).
func BenchmarkVerifyCorrectedHops(b *testing.B) {
	x := correctedHops(b, 64, 3000)
	bundle, trust, cfg := x.Bundle("L1"), x.Trust(), verifier.DefaultConfig()
	for b.Loop() {
		verifier.Verify(bundle, trust, cfg)
	}
}
