package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestFollowedCorrectionAfterAncestorNotFollowed (review 22, of bbc0250's
// nf/ mark, which is read for the corrected lot only): the second mine
// extracts L (10,000 kg at 9 %), splits all of it to L2, dispatches L2 to
// the exporter, who receives 10,150 kg; the mine corrects L's extraction
// to 9,900 kg. Not followed (past the split): the mine's lots are verified
// in full and L2's receipt gets the cumulative TRANSIT_GAIN the corrected
// extraction gives (2.5 %: see TestCorrectionNotFollowedThenLaterRecords).
// Then the exporter corrects the receipt's place (a gate of its Karachi
// site), co-signed: no mass changes, the gain stays in a full
// verification, and nothing else is flagged. L2 itself has
// no correction not followed, so the follower follows this one, replays
// the receipt from L2's state as first signed (1.5 %), and withdraws the
// TRANSIT_GAIN by the place's correction: L2 is listed VERIFIED, a full
// verification says FLAGGED.
func TestFollowedCorrectionAfterAncestorNotFollowed(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mn2, "L", 10000, 0, 9, lottest.MineSite, 1)
	split := x.Transform(x.Mn2, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		[]*pb.TransformationInput{{LotId: "L", Link: ext, MassKg: 10000}},
		[]*pb.TransformationOutput{{LotId: "L2", MassKg: 10000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 2)
	d := x.Dispatch(x.Mn2, "L2", split, x.Exp, 10000, 3)
	r := x.Receive(x.Exp, "L2", d, 10150, 4)
	x.Correct(x.Mn2, &pb.Correction{LotId: "L", Corrects: ext, MassKg: lottest.Kg(9900)}, 5)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if nf, err := backend.NotFollowed(b, "L"); err != nil || !nf {
		t.Fatalf("L's correction followed (%v, %v): not the case meant", nf, err)
	}
	check := func(when string) {
		t.Helper()
		rep, sum, ok := verdicts(t, b, "L2")
		if !ok {
			t.Fatal("L2: no summary")
		}
		lottest.WantFlag(t, rep, verifier.RuleTransitGain, r) // the case meant
		withdrawn := withdrawnBy(t, b)
		counted := map[string]bool{}
		for _, k := range sum.Keys {
			if _, out := withdrawn[k]; !out {
				counted[flagAt(k)] = true
			}
		}
		for _, f := range rep.GetFlags() {
			if k := verifier.ReplayFlagKey(f); len(f.GetCorrectedBy()) == 0 && !counted[flagAt(k)] {
				t.Errorf("%s: L2: a full verification counts %s; the listing does not (keys %v, withdrawn %v)", when, k, sum.Keys, withdrawn)
			}
		}
		if rep.GetVerdict() == pb.Verdict_VERDICT_FLAGGED && sum.Verdict != pb.Verdict_VERDICT_FLAGGED {
			t.Errorf("%s: L2: listed %v, verified FLAGGED\n%s", when, sum.Verdict, rep.GetText())
		}
	}
	check("before the place's correction")
	x.Correct(x.Exp, &pb.Correction{LotId: "L2", Corrects: r, CounterpartyId: x.Mn2.ID, Location: &pb.Location{Lat: 24.86, Lon: 67.01, Name: "Karachi, east gate"}}, 6, x.Mn2)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	check("after it")
}
