package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestCorrectionNotFollowedThenLaterRecords (review 22; found by
// TestCorrectionsFollowedAsTheLogGrows, seed 1 after 200 operations): the
// second mine extracts L (10,000 kg at 9 %) and splits all of it to L2;
// then it corrects the extraction to 9,900 kg. Past the split, the
// follower does not follow it (nf/L); it queues the mine, whose lots (L,
// L2) a full verification gives every flag. Then the mine dispatches L2,
// 10,000 kg, to the exporter, who receives 10,150 kg (+1.5 %, within the
// hop's tolerance). By the corrected extraction, 9 kg of L2's 900 kg Sb
// had no origin after the split; with the receipt's 13.5 kg, 2.5 %: a
// full verification of L2 counts the receipt's cumulative TRANSIT_GAIN.
// The follower replays the receipt from L2's state as first signed (1.5 %,
// no flag) and nothing queues a full verification of L2 again: the
// listing, having read the whole log, is laxer than the verification. The
// same for L3, split off L2 by the exporter afterwards.
func TestCorrectionNotFollowedThenLaterRecords(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mn2, "L", 10000, 0, 9, lottest.MineSite, 1)
	split := x.Transform(x.Mn2, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		[]*pb.TransformationInput{{LotId: "L", Link: ext, MassKg: 10000}},
		[]*pb.TransformationOutput{{LotId: "L2", MassKg: 10000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 2)
	x.Correct(x.Mn2, &pb.Correction{LotId: "L", Corrects: ext, MassKg: lottest.Kg(9900)}, 3)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if nf, err := backend.NotFollowed(b, "L"); err != nil || !nf {
		t.Fatalf("the correction followed (%v, %v): the case is not the one meant", nf, err)
	}
	d := x.Dispatch(x.Mn2, "L2", split, x.Exp, 10000, 4)
	r := x.Receive(x.Exp, "L2", d, 10150, 5)
	x.Transform(x.Exp, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		[]*pb.TransformationInput{{LotId: "L2", Link: r, MassKg: 10150}},
		[]*pb.TransformationOutput{{LotId: "L3", MassKg: 10150, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 6)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	withdrawn := withdrawnBy(t, b)
	for _, lot := range []string{"L2", "L3"} {
		rep, sum, ok := verdicts(t, b, lot)
		if !ok {
			t.Fatalf("lot %s: no summary", lot)
		}
		lottest.WantFlag(t, rep, verifier.RuleTransitGain, r) // the case meant
		counted := map[string]bool{}
		for _, k := range sum.Keys {
			if _, out := withdrawn[k]; !out {
				counted[flagAt(k)] = true
			}
		}
		for _, f := range rep.GetFlags() {
			if k := verifier.ReplayFlagKey(f); len(f.GetCorrectedBy()) == 0 && !counted[flagAt(k)] {
				t.Errorf("lot %s: a full verification counts %s; the listing does not (%v)", lot, k, sum.Keys)
			}
		}
		if rep.GetVerdict() == pb.Verdict_VERDICT_FLAGGED && sum.Verdict != pb.Verdict_VERDICT_FLAGGED {
			t.Errorf("lot %s: listed %v, verified FLAGGED\n%s", lot, sum.Verdict, rep.GetText())
		}
	}
}
