package verifier_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// TestPartialSecondInputNoOrphan (review 22; before 1ed3edb too): an
// honest log, through the store. The mine merges all of B and 600 kg of
// its 1,000 kg lot A, A listed second, and splits A's 400 kg rest off to
// S. The server's bundle of S holds A's records but not B's (A is only an
// input of the merge), so the verifier's merge stops at B, leaves no rest
// of A, and the split's link "does not hold lot A": a CRITICAL
// ORPHAN_INPUT, S 100 % untraced, for a clean lot. (With A listed first,
// as lottest's workload always lists the input it takes part of, it is
// VERIFIED.)
func TestPartialSecondInputNoOrphan(t *testing.T) {
	x := lottest.New(t)
	ea := x.Extract(x.Mine, "A", 1000, 0, 9, lottest.MineSite, 1)
	eb := x.Extract(x.Mine, "B", 500, 0, 9, lottest.MineSite, 1)
	m := x.Transform(x.Mine, pb.TransformationKind_TRANSFORMATION_KIND_MERGE,
		[]*pb.TransformationInput{{LotId: "B", Link: eb, MassKg: 500}, {LotId: "A", Link: ea, MassKg: 600}},
		[]*pb.TransformationOutput{{LotId: "M", MassKg: 1100, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 2)
	x.Transform(x.Mine, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		[]*pb.TransformationInput{{LotId: "A", Link: m, MassKg: 400}},
		[]*pb.TransformationOutput{{LotId: "S", MassKg: 400, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 3)
	for _, lot := range []string{"S", "A"} {
		if rep := x.Verify(lot); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
			t.Errorf("lot %s: %v, want VERIFIED\n%s", lot, rep.GetVerdict(), rep.GetText())
		}
	}
}
