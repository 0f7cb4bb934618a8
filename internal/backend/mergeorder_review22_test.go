package backend_test

import (
	"fmt"
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// TestMergeInputsEitherOrder (review 22): the differential test's
// workload always lists first the merge input it takes part of (lottest
// workload: ins[0] is partly used, ins[1] wholly). Listed second, the
// verifier's merge stops at the other input, absent from the bundle of a
// lot made from the rest, and flags an ORPHAN_INPUT the follower does not
// list (verifier TestPartialSecondInputNoOrphan): the listing is "laxer"
// than the verification, which is wrong there.
func TestMergeInputsEitherOrder(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			x := lottest.New(t)
			b := paused(t, x)
			lottest.WorkloadCorrectingEach(t, x, seed, 300, nil, true)
			if bad := neverLaxer(t, x, b, "at the end"); bad > 0 {
				t.Errorf("%d disagreements", bad)
			}
		})
	}
}

// TestPartialSecondInputListed (review 22): the case of
// TestMergeInputsEitherOrder by hand, without corrections: the mine
// merges all of B and 600 kg of A (listed second), then splits A's rest
// to S. Follower and verifier must agree; the verifier lists a CRITICAL
// ORPHAN_INPUT on A and S, the follower none.
func TestPartialSecondInputListed(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ea := x.Extract(x.Mine, "A", 1000, 0, 9, lottest.MineSite, 1)
	eb := x.Extract(x.Mine, "B", 500, 0, 9, lottest.MineSite, 1)
	m := x.Transform(x.Mine, pb.TransformationKind_TRANSFORMATION_KIND_MERGE,
		[]*pb.TransformationInput{{LotId: "B", Link: eb, MassKg: 500}, {LotId: "A", Link: ea, MassKg: 600}},
		[]*pb.TransformationOutput{{LotId: "M", MassKg: 1100, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 2)
	x.Transform(x.Mine, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		[]*pb.TransformationInput{{LotId: "A", Link: m, MassKg: 400}},
		[]*pb.TransformationOutput{{LotId: "S", MassKg: 400, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 3)
	for _, lot := range []string{"A", "S", "M"} {
		agrees(t, b, lot)
	}
}
