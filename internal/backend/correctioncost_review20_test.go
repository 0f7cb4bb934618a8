package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// correctedHopsOverCapacity is correctedHops for a lot of 800,000 kg of
// ore, more than a year of its mine's capacity: a lot that can raise the
// lot-year ORIGIN_VOLUME.
func correctedHopsOverCapacity(t *testing.T, n int) *lottest.H {
	x := lottest.New(t)
	link := x.Extract(x.Mine, "L1", 800_000, 3, 9, lottest.MineSite, 1)
	from, to := x.Mine, x.Exp
	day := 1.0
	for i := 0; i < n; i++ {
		day += 0.1
		d := x.Dispatch(from, "L1", link, to, 800_000, day)
		day += 0.1
		r := x.Receive(to, "L1", d, 800_000, day)
		day += 0.05
		x.Correct(to, &pb.Correction{LotId: "L1", Corrects: r, CounterpartyId: from.ID, MassKg: lottest.Kg(799_999)}, day, from)
		link = r
		if to == x.Exp {
			from, to = x.Exp, x.Smelter
		} else {
			from, to = x.Smelter, x.Exp
		}
	}
	return x
}

// TestManyCorrectionsLinearOverCapacity_review20: 79e2ab2 bounds the
// corrections whose withdrawn flags withdrawn weighs one by one at 16
// (maxExactCorrections) so that a bundle of many corrections is not
// verified in time quadratic in them; withdrawnLotYear, beside it, still
// replays the bundle's prefix twice for every correction of the chain,
// without bound, whenever the lot's mines put more Sb into it than a
// year of their capacity (lotYearPossible): exactly the lots a buyer most
// needs verified, and a lot any mine can make so by logging one large
// extraction. Doubling the corrected hops about quadruples the work.
func TestManyCorrectionsLinearOverCapacity_review20(t *testing.T) {
	allocs := map[int]float64{}
	for _, n := range []int{150, 300} {
		x := correctedHopsOverCapacity(t, n)
		b, trust, cfg := x.Bundle("L1"), x.Trust(), verifier.DefaultConfig()
		allocs[n] = testing.AllocsPerRun(1, func() { verifier.Verify(b, trust, cfg) })
		t.Logf("%d corrected hops: %.0f allocations per verification", n, allocs[n])
	}
	if ratio := allocs[300] / allocs[150]; ratio > 2.6 {
		t.Errorf("twice the corrected hops cost %.1fx the allocations: verification is quadratic in the corrections", ratio)
	}
}
