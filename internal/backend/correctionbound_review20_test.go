package backend_test

import (
	"slices"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// hopsWithNoOpCorrections logs lot X, 10,000 kg extracted, over n hops
// between the exporter and the smelter, each receipt corrected to its own
// mass (co-signed): n corrections the follower follows (one line of
// custody) that change nothing. It returns the lot's head, its holder and
// the next day.
func hopsWithNoOpCorrections(t *testing.T, x *lottest.H, b *backend.Backend, n int) (link string, holder *ct.Party, day float64) {
	t.Helper()
	return lotHopsWithNoOpCorrections(t, x, b, "X", 1, n)
}

// lotHopsWithNoOpCorrections is hopsWithNoOpCorrections for lot, from
// day on.
func lotHopsWithNoOpCorrections(t *testing.T, x *lottest.H, b *backend.Backend, lot string, day float64, n int) (link string, holder *ct.Party, next float64) {
	t.Helper()
	link = x.Extract(x.Mine, lot, 10000, 3, 9, lottest.MineSite, day)
	from, to := x.Mine, x.Exp
	for i := 0; i < n; i++ {
		day += 0.1
		d := x.Dispatch(from, lot, link, to, 10000, day)
		day += 3 // a plausible transit
		r := x.Receive(to, lot, d, 10000, day)
		day += 0.05
		x.Correct(to, &pb.Correction{LotId: lot, Corrects: r, CounterpartyId: from.ID, MassKg: lottest.Kg(10000)}, day, from)
		link = r
		if to == x.Exp {
			from, to = x.Exp, x.Smelter
		} else {
			from, to = x.Smelter, x.Exp
		}
	}
	agrees(t, b, lot)
	return link, from, day + 0.1
}

func other(x *lottest.H, p *ct.Party) *ct.Party {
	if p == x.Exp {
		return x.Smelter
	}
	return x.Exp
}

// TestSeventeenCorrectionsListAFlagTheLogNeverHeld_review20: 79e2ab2
// weighs a lot's corrections one by one only up to 16 a chain; past that
// it falls back to the values as first signed for all at once, the very
// computation review 19 showed lists a flag the log never held. The
// follower has no such bound: it follows every correction of a line of
// custody. Here 15 no-op receipt corrections, then review 19's case
// (a dispatch of 1,000 kg corrected to 10,000 kg in transit, the receipt
// of 10,000 kg logged after it, the receipt's seals then corrected): 17
// corrections, all followed. A full verification lists a +900 %
// TRANSIT_GAIN on the receipt "withdrawn" by the seal correction; the
// follower lists none (agrees fails). An auditor comparing a bundle's
// report with the server's listing sees two different histories of one
// lot.
func TestSeventeenCorrectionsListAFlagTheLogNeverHeld_review20(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	link, from, day := hopsWithNoOpCorrections(t, x, b, 15)
	to := other(x, from)
	d := x.Dispatch(from, "X", link, to, 1000, day)
	x.Correct(from, &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: to.ID, MassKg: lottest.Kg(10000)}, day+0.05, to)
	r := x.Receive(to, "X", d, 10000, day+3) // judged on the corrected dispatch
	intact := true
	x.Correct(to, &pb.Correction{LotId: "X", Corrects: r, CounterpartyId: from.ID, SealsIntact: &intact}, day+3.05, from)
	rep := agrees(t, b, "X")
	if n := len(rep.GetCorrections()); n != 17 {
		t.Fatalf("%d corrections in the report, want 17", n)
	}
	if gains := lottest.Flagged(rep, verifier.RuleTransitGain); len(gains) != 0 {
		t.Errorf("a full verification lists a TRANSIT_GAIN on a receipt the log judged against the corrected dispatch: %v", gains)
	}
}

// TestSeventeenCorrectionsHideAFlagTheLogHeld_review20: the other side.
// With 17 corrections of the chain, a TRANSIT_GAIN the log raised on a
// receipt judged against a dispatch corrected down (10,000 kg -> 1,000
// kg), and that the receiver's later correction withdrew, is in neither
// of the fallback's runs (all as first signed; all corrected): a full
// verification omits it, though the lot was FLAGGED for it and the
// follower lists it withdrawn. README: "a correction never removes a flag
// silently".
func TestSeventeenCorrectionsHideAFlagTheLogHeld_review20(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	link, from, day := hopsWithNoOpCorrections(t, x, b, 15)
	to := other(x, from)
	d := x.Dispatch(from, "X", link, to, 10000, day)
	x.Correct(from, &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: to.ID, MassKg: lottest.Kg(1000)}, day+0.05, to)
	r := x.Receive(to, "X", d, 10000, day+3) // a gain, on the corrected dispatch
	if rep := agrees(t, b, "X"); rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
		t.Fatalf("before the receipt's correction: %v, want FLAGGED\n%s", rep.GetVerdict(), rep.GetText())
	}
	c2 := x.Correct(to, &pb.Correction{LotId: "X", Corrects: r, CounterpartyId: from.ID, MassKg: lottest.Kg(1000)}, day+3.05, from)
	rep := agrees(t, b, "X")
	gains := lottest.Flagged(rep, verifier.RuleTransitGain)
	if len(gains) != 1 || !slices.Equal(gains[0].GetCorrectedBy(), []string{c2}) {
		t.Errorf("a full verification lists TRANSIT_GAIN %v; want the one the log held, withdrawn by %s", gains, c2)
	}
}

// TestMergedLotInheritsTheFallback_review20: the bound is on the
// corrections of a lot's whole ancestry, so a lot with no correction of
// its own falls back too when it is merged from lots that have 17 between
// them, each followed. Lot A: review 19's case (2 corrections): its own
// full verification lists no TRANSIT_GAIN. Lot B: 15 no-op corrections.
// M, their merge: its full verification lists the +900 % TRANSIT_GAIN on
// A's receipt (a flag the log never held), so one record's flags differ
// between A's report and M's, and M's listing (the follower's, which
// carries A's flags into M) differs from M's full verification.
func TestMergedLotInheritsTheFallback_review20(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	rb, holder, day := lotHopsWithNoOpCorrections(t, x, b, "B", 1, 15)
	if holder != x.Exp {
		t.Fatalf("B is held by %s, want the exporter", holder.ID)
	}
	ext := x.Extract(x.Mine, "A", 10000, 3, 9, lottest.MineSite, day)
	d := x.Dispatch(x.Mine, "A", ext, x.Exp, 1000, day+0.1)
	x.Correct(x.Mine, &pb.Correction{LotId: "A", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(10000)}, day+0.15, x.Exp)
	ra := x.Receive(x.Exp, "A", d, 10000, day+3)
	intact := true
	x.Correct(x.Exp, &pb.Correction{LotId: "A", Corrects: ra, CounterpartyId: x.Mine.ID, SealsIntact: &intact}, day+3.05, x.Mine)
	if gains := lottest.Flagged(agrees(t, b, "A"), verifier.RuleTransitGain); len(gains) != 0 {
		t.Fatalf("A's own verification lists %v", gains)
	}
	x.Transform(x.Exp, pb.TransformationKind_TRANSFORMATION_KIND_MERGE,
		[]*pb.TransformationInput{{LotId: "A", Link: ra, MassKg: 10000}, {LotId: "B", Link: rb, MassKg: 10000}},
		[]*pb.TransformationOutput{{LotId: "M", MassKg: 20000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, day+4)
	rep := agrees(t, b, "M")
	if gains := lottest.Flagged(rep, verifier.RuleTransitGain); len(gains) != 0 {
		t.Errorf("M's full verification lists a TRANSIT_GAIN on A's receipt that A's own does not: %v", gains)
	}
}
