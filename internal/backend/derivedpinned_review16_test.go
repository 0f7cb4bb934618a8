package backend_test

import (
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestLotYearPinnedIntoTheExtraction_review16: 0edb476 keeps AddAllFlags
// from fixing a head-derived flag into a node only when the flag's key is
// in the verified lot's summary's Derived as the follower has it now
// (addFlagsTouched: slices.Contains(cur.Derived, k)). The lot-year
// ORIGIN_VOLUME ("lot L1 holds N kg Sb attributed to mine ...") is derived
// from the lot's head, its message carries the lot's Sb, and its record is
// the mine's latest extraction: a full verification whose N differs from
// the follower's derives a key not in Derived, which addFlagsTouched
// propagates from the extraction's node {ext, L1} (statementLots) to every
// state made from it. So L1a and L1b, split from L1 (whose own reports
// raise no lot-year flag, each holding half), inherit L1's lot-year flag:
// listed FLAGGED (ORIGIN_VOLUME) with a key of lot L1, where a full
// verification says VERIFIED; and a filtered ListFlags of L1a lists no
// flag to explain it.
//
// N differs (i) when the correction the follower does not follow (all:
// AddAllFlags) changed the lot's mass: the follower derives N from the
// values as first signed, the verification from the corrected ones; (ii)
// when the follower is behind the store the verification reads (always
// so beside a follower that lags; ReplayN models it): here two innocuous
// corrections (a site, a place, each to what it was) and a handoff loss
// the follower has not replayed yet.
//
// The capacity window is two years and the national output rule off, so
// that the only flag is the lot-year one (the window's MINE_OVER_CAPACITY
// does not fire at 800 t).
func TestLotYearPinnedIntoTheExtraction_review16(t *testing.T) {
	cfg := verifier.DefaultConfig()
	cfg.CapacityWindow = 2 * 365 * 24 * time.Hour
	cfg.NationalOutputKgSbPerYear = 0
	split := func(x *lottest.H, by *ct.Party, link string, kg float64, day float64) {
		x.Transform(by, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
			[]*pb.TransformationInput{{LotId: "L1", Link: link, MassKg: kg}},
			[]*pb.TransformationOutput{{LotId: "L1a", MassKg: kg / 2, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}, {LotId: "L1b", MassKg: kg / 2, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, day)
	}
	t.Run("corrected mass", func(t *testing.T) {
		x := lottest.New(t)
		b := pausedCfg(t, x, cfg)
		ext := x.Extract(x.Mine, "L1", 800_000, 3, 9, lottest.MineSite, 1) // 69,840 kg Sb: more than a year of the mine
		d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 800_000, 2)
		r1 := x.Receive(x.Exp, "L1", d1, 800_000, 3)
		x.Correct(x.Mine, &pb.Correction{LotId: "L1", Corrects: ext, Location: lottest.MineSite}, 3.2)
		agrees(t, b, "L1")
		// A second correction, in a stretch holding the first: not followed.
		x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(790_000)}, 3.5, x.Mine)
		agrees(t, b, "L1") // 68,967 kg Sb, as corrected: the verification's N
		split(x, x.Exp, r1, 790_000, 4)
		agrees(t, b, "L1a")
		agrees(t, b, "L1b")
	})
	// behind logs L1 to the smelter, with two corrections of places (the
	// second not followed), the follower stopped at the second, and the
	// verification the exporter's queuing asks for made of L1 as the
	// store holds it: 68,967 kg Sb, a loss within tolerance.
	behind := func(t *testing.T) (*lottest.H, *backend.Backend, string) {
		x := lottest.New(t)
		b := pausedCfg(t, x, cfg)
		ext := x.Extract(x.Mine, "L1", 800_000, 3, 9, lottest.MineSite, 1)
		d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 800_000, 2)
		r1 := x.Receive(x.Exp, "L1", d1, 800_000, 3)
		x.Correct(x.Mine, &pb.Correction{LotId: "L1", Corrects: ext, Location: lottest.MineSite}, 3.2)
		x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, Location: lottest.Karachi}, 3.5, x.Mine)
		reached := x.S.Log().Size() // the second correction, not followed, queued the exporter
		d2 := x.Dispatch(x.Exp, "L1", r1, x.Smelter, 800_000, 5)
		r2 := x.Receive(x.Smelter, "L1", d2, 790_000, 6)
		if err := backend.ReplayN(t.Context(), b, reached); err != nil {
			t.Fatal(err)
		}
		if err := backend.VerifyQueued(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		if rep := agrees(t, b, "L1"); len(lottest.Flagged(rep, verifier.RuleOriginVolume)) == 0 {
			t.Fatalf("L1 at 68,967 kg Sb raises no lot-year flag:\n%s", rep.GetText())
		}
		return x, b, r2
	}
	t.Run("follower behind", func(t *testing.T) {
		x, b, r2 := behind(t)
		split(x, x.Smelter, r2, 790_000, 7)
		agrees(t, b, "L1a")
		agrees(t, b, "L1b")
	})
	// Review 17 (TestLotYearExtraOutlivesItsState_review17): the flag the
	// verification found, kept with the lot, outlived the state it was of.
	// L1 moves on with a loss (no rule) to 61,110 kg Sb, under a year of
	// the mine: a full verification raises no lot-year flag.
	t.Run("moves on_review17", func(t *testing.T) {
		x, b, r2 := behind(t)
		d3 := x.Dispatch(x.Smelter, "L1", r2, x.Exp, 790_000, 7)
		x.Receive(x.Exp, "L1", d3, 700_000, 8)
		if rep := agrees(t, b, "L1"); len(lottest.Flagged(rep, verifier.RuleOriginVolume)) != 0 {
			t.Fatalf("L1 at 61,110 kg Sb: a full verification still raises the lot-year flag:\n%s", rep.GetText())
		}
	})
}
