package backend_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/ledger"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// paused returns a follower of x's log that replays only when told,
// closed with the test.
func paused(t *testing.T, x *lottest.H) *backend.Backend {
	t.Helper()
	return pausedCfg(t, x, verifier.DefaultConfig())
}

// pausedCfg is paused under cfg.
func pausedCfg(t *testing.T, x *lottest.H, cfg verifier.Config) *backend.Backend {
	t.Helper()
	b, err := backend.NewPaused(x.S, x.Trust(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	t.Cleanup(func() { lotFlagsMatch(t, b) }) // before Close
	return b
}

// lotFlagsMatch checks that, the log read to its end, each lot's flags,
// listed with a lot filter (read from the lot's summary), are those of
// the whole listing with the lot's id, the withdrawn ones included.
func lotFlagsMatch(t *testing.T, b *backend.Backend) {
	t.Helper()
	// Flags verified beside the follower, ahead of it, join their lots'
	// summaries when it gets there: compare once it has read the log.
	if err := backend.ReplayAll(context.Background(), b); errors.Is(err, ledger.ErrClosed) {
		return // a test that closed the store
	} else if err != nil {
		t.Fatal(err)
	}
	backend.SetListWait(b, 0)
	byLot := map[string][]string{}
	for _, k := range flagPages(t, context.Background(), b, 5000, func() {}) {
		lot := strings.Split(k, "|")[2]
		byLot[lot] = append(byLot[lot], k)
	}
	for lot, want := range byLot {
		r, err := b.ListFlags(context.Background(), &apipb.ListFlagsRequest{LotId: lot, PageSize: 5000})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range r.GetFlags() {
			got = append(got, verifier.ReplayFlagKey(f))
		}
		if !slices.Equal(got, want) {
			t.Errorf("lot %s's flags, from its summary: %q\nwant those listed with its id: %q", lot, got, want)
		}
	}
}

// receivedAndSplit logs lot L1: 3,000 kg extracted and dispatched to the
// exporter, received as kg, and split into L1a and L1b, whose flags the
// follower must have as a full verification does; it returns the receipt.
func receivedAndSplit(t *testing.T, x *lottest.H, b *backend.Backend, kg float64) string {
	t.Helper()
	ext := x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.MineSite, 1)
	d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 3000, 2)
	r1 := x.Receive(x.Exp, "L1", d1, kg, 3)
	x.Transform(x.Exp, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		[]*pb.TransformationInput{{LotId: "L1", Link: r1, MassKg: 2990}},
		[]*pb.TransformationOutput{{LotId: "L1a", MassKg: 1495, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}, {LotId: "L1b", MassKg: 1495, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 4)
	agrees(t, b, "L1a")
	return r1
}

// verdicts returns a full verification of lot and the follower's summary
// of it (ok: there is one), as they stand.
func verdicts(t *testing.T, b *backend.Backend, lot string) (*pb.VerificationReport, verifier.ReplayLot, bool) {
	t.Helper()
	rep, err := b.VerifyLot(t.Context(), lot)
	if err != nil {
		t.Fatal(err)
	}
	sum, ok, err := backend.Summary(b, lot)
	if err != nil {
		t.Fatal(err)
	}
	return rep, sum, ok
}

// agrees fails unless the follower's flags and verdict of lot are a full
// verification's, and returns the verification.
func agrees(t *testing.T, b *backend.Backend, lot string) *pb.VerificationReport {
	t.Helper()
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	rep, sum, ok := verdicts(t, b, lot)
	if !ok {
		t.Fatalf("lot %s: no summary", lot)
	}
	var want []string
	for _, f := range rep.GetFlags() {
		want = append(want, verifier.ReplayFlagKey(f))
	}
	got := slices.Clone(sum.Keys)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, slices.Compact(want)) {
		t.Errorf("lot %s: the follower has flags\n  %v\nthe verifier\n  %v\n%s", lot, got, want, rep.GetText())
	}
	if sum.Verdict != rep.GetVerdict() {
		t.Errorf("lot %s: the follower's verdict %v, the verifier's %v\n%s", lot, sum.Verdict, rep.GetVerdict(), rep.GetText())
	}
	return rep
}

// TestReplayFollowsCorrection: the follower, replaying a correction of a
// lot's head record, lists the flags and verdict a full verification
// finds: the withdrawn TRANSIT_GAIN listed with corrected_by, the verdict
// VERIFIED; and the flags a correction raises.
func TestReplayFollowsCorrection(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)

	// A receipt of 30,000 kg for 3,000 sent, corrected to 2,995.
	ext := x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.MineSite, 1)
	d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 3000, 2)
	r1 := x.Receive(x.Exp, "L1", d1, 30000, 3)
	if rep := agrees(t, b, "L1"); rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
		t.Fatalf("before the correction: %v", rep.GetVerdict())
	}
	corr := x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(2995)}, 3.5, x.Mine)
	if rep := agrees(t, b, "L1"); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("after the correction: %v\n%s", rep.GetVerdict(), rep.GetText())
	}
	r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{LotId: "L1", Rule: verifier.RuleTransitGain})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetFlags()) != 1 || !slices.Equal(r.GetFlags()[0].GetCorrectedBy(), []string{corr}) {
		t.Fatalf("listed TRANSIT_GAIN flags %v, want the receipt's, corrected by %s", r.GetFlags(), corr)
	}
	// The lot moves on from the corrected state: still in agreement.
	d2 := x.Dispatch(x.Exp, "L1", r1, x.Smelter, 2990, 4)
	x.Receive(x.Smelter, "L1", d2, 2985, 5)
	agrees(t, b, "L1")

	// A receipt corrected after the lot moved on (dispatched, received,
	// assayed): the follower replays the lot's records since, and agrees.
	ext3 := x.Extract(x.Mine, "L3", 3000, 3, 9, lottest.MineSite, 1)
	d3 := x.Dispatch(x.Mine, "L3", ext3, x.Exp, 3000, 2)
	r3 := x.Receive(x.Exp, "L3", d3, 30000, 3)
	x.Assay(x.Exp, "L3", r3, map[string]float64{"Sb": 9}, 3.2)
	d4 := x.Dispatch(x.Exp, "L3", r3, x.Smelter, 29990, 4)
	x.Receive(x.Smelter, "L3", d4, 29980, 5)
	if rep := agrees(t, b, "L3"); rep.GetUntracedShare() < 0.8 {
		t.Fatalf("L3 before the correction: untraced %v", rep.GetUntracedShare())
	}
	corr3 := x.Correct(x.Exp, &pb.Correction{LotId: "L3", Corrects: r3, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(2995)}, 6, x.Mine)
	rep3 := agrees(t, b, "L3")
	if len(rep3.GetCorrections()) != 1 || !rep3.GetCorrections()[0].GetAfterLotMovedOn() || len(lottest.Flagged(rep3, verifier.RuleTransitGain)) == 0 {
		t.Fatalf("L3 after the correction:\n%s", rep3.GetText())
	}
	// The receipt's gain is withdrawn; the later dispatch of 29,990 kg
	// from a lot that, corrected, held 2,995 kg now raises one: a
	// correction cannot make the lot's later records plausible.
	for _, f := range lottest.Flagged(rep3, verifier.RuleTransitGain) {
		switch {
		case slices.Contains(f.GetEvidence(), r3) && !slices.Equal(f.GetCorrectedBy(), []string{corr3}):
			t.Fatalf("the receipt's TRANSIT_GAIN is not corrected by %s: %v", corr3, f)
		case slices.Contains(f.GetEvidence(), d4) && len(f.GetCorrectedBy()) != 0:
			t.Fatalf("the dispatch's TRANSIT_GAIN, raised by the corrected values, is marked corrected: %v", f)
		}
	}
	lottest.WantFlag(t, rep3, verifier.RuleTransitGain, d4)

	// A dispatch of 30,000 kg of a 3,000 kg lot, corrected while in
	// transit; and a receipt corrected to broken seals, which raises a
	// flag of its own.
	ext2 := x.Extract(x.Mine, "L2", 3000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "L2", ext2, x.Exp, 30000, 2)
	agrees(t, b, "L2")
	x.Correct(x.Mine, &pb.Correction{LotId: "L2", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(3000)}, 2.5, x.Exp)
	agrees(t, b, "L2")
	r2 := x.Receive(x.Exp, "L2", d, 2995, 3)
	x.Correct(x.Exp, &pb.Correction{LotId: "L2", Corrects: r2, CounterpartyId: x.Mine.ID, SealsIntact: proto.Bool(false)}, 3.5, x.Mine)
	rep := agrees(t, b, "L2")
	lottest.WantFlag(t, rep, verifier.RuleUnconfirmedCustody, r2)
}

// TestListLotsAfterCorrection: a lot whose only flag a correction
// withdrew is listed VERIFIED with no rules, and not among the lots of
// the withdrawn flag's rule; its flag is still listed, corrected.
func TestListLotsAfterCorrection(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	lots := func(req *apipb.ListLotsRequest) map[string]*apipb.LotSummary {
		t.Helper()
		if err := backend.ReplayAll(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		r, err := b.ListLots(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*apipb.LotSummary{}
		for _, l := range r.GetLots() {
			out[l.GetLot().GetLotId()] = l
		}
		return out
	}
	ext := x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.MineSite, 1)
	d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 3000, 2)
	r1 := x.Receive(x.Exp, "L1", d1, 30000, 3)
	if l := lots(&apipb.ListLotsRequest{})["L1"]; l.GetVerdict() != pb.Verdict_VERDICT_FLAGGED || !slices.Equal(l.GetRules(), []string{verifier.RuleTransitGain}) {
		t.Fatalf("before the correction: L1 listed %v %v, want FLAGGED [%s]", l.GetVerdict(), l.GetRules(), verifier.RuleTransitGain)
	}
	if _, ok := lots(&apipb.ListLotsRequest{Rule: verifier.RuleTransitGain})["L1"]; !ok {
		t.Fatalf("before the correction: L1 not among the lots of %s", verifier.RuleTransitGain)
	}
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(2995)}, 3.5, x.Mine)
	agrees(t, b, "L1")
	l, ok := lots(&apipb.ListLotsRequest{})["L1"]
	if !ok || l.GetVerdict() != pb.Verdict_VERDICT_VERIFIED || len(l.GetRules()) != 0 {
		t.Fatalf("after the correction: L1 listed %v %v, want VERIFIED with no rules", l.GetVerdict(), l.GetRules())
	}
	if l.GetFlagCount() != 1 {
		t.Errorf("after the correction: L1 has %d flags listed, want the withdrawn one", l.GetFlagCount())
	}
	if _, ok := lots(&apipb.ListLotsRequest{Rule: verifier.RuleTransitGain})["L1"]; ok {
		t.Errorf("after the correction: L1 still among the lots of %s", verifier.RuleTransitGain)
	}
	if _, ok := lots(&apipb.ListLotsRequest{Verdict: pb.Verdict_VERDICT_VERIFIED})["L1"]; !ok {
		t.Errorf("after the correction: L1 not among the VERIFIED lots")
	}
}

// TestReplayCorrectionPastTransformation: a correction of a record that a
// split has since consumed part of is not followed by the follower (it
// would have to replay the split's outputs' lots too): its listing keeps
// the flag as first raised, here stricter than a full verification (the
// flags a correction raises are added by a full verification:
// correction_lax_test.go). This is the documented limit
// (ReplayResult.Corrected).
func TestReplayCorrectionPastTransformation(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	r1 := receivedAndSplit(t, x, b, 30000)
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(2995)}, 5, x.Mine)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	for _, lot := range []string{"L1", "L1a"} {
		rep, sum, _ := verdicts(t, b, lot)
		if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED || sum.Verdict != pb.Verdict_VERDICT_FLAGGED {
			t.Errorf("lot %s: the follower's verdict %v, the verifier's %v: want FLAGGED (not followed) and VERIFIED\n%s", lot, sum.Verdict, rep.GetVerdict(), rep.GetText())
		}
	}
}

// TestReplayKeepsWithdrawnLotYear: an extraction corrected down below a
// year of its mine's capacity withdraws the lot-year ORIGIN_VOLUME, which
// the follower keeps listed, marked corrected, as a full verification
// does, instead of deleting it.
func TestReplayKeepsWithdrawnLotYear(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "L1", 800_000, 3, 9, lottest.MineSite, 1)
	agrees(t, b, "L1")
	corr := x.Correct(x.Mine, &pb.Correction{LotId: "L1", Corrects: ext, MassKg: lottest.Kg(30_000)}, 1.5)
	agrees(t, b, "L1")
	r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{LotId: "L1", Rule: verifier.RuleOriginVolume})
	if err != nil {
		t.Fatal(err)
	}
	var lotYear []*pb.Flag
	for _, f := range r.GetFlags() {
		if strings.Contains(f.GetMessage(), "more than a year of its capacity") {
			lotYear = append(lotYear, f)
		}
	}
	if len(lotYear) != 1 || !slices.Equal(lotYear[0].GetCorrectedBy(), []string{corr}) {
		t.Fatalf("listed lot-year ORIGIN_VOLUME flags %v, want the extraction's as signed, corrected by %s", lotYear, corr)
	}
}
