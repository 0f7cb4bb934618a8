package verifier_test

import (
	"testing"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// rawMerges is a raw log (no store rules) where the mine merges lots,
// and its helpers.
type rawMerges struct {
	x   *lottest.H
	raw *lottest.RawLog
}

func newRawMerges(t *testing.T) *rawMerges {
	x := lottest.New(t)
	raw := lottest.NewRawLog(t, x.C)
	for _, p := range []*ct.Party{x.Mine, x.Exp} {
		raw.Add(x.C.Register(p))
	}
	return &rawMerges{x, raw}
}

func (r *rawMerges) sign(day float64, st *pb.Statement) string {
	st.EventTime = r.x.Day(day)
	return r.raw.Add(r.x.C.Sign(r.x.Mine, st))
}

func (r *rawMerges) extract(lot string, kg float64) string {
	return r.sign(1, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{LotId: lot, MassKg: kg, SbGradePct: 9, Site: lottest.MineSite, Product: pb.Product_PRODUCT_ORE}}})
}

func (r *rawMerges) merge(day float64, ins []*pb.TransformationInput, out string, kg float64) string {
	return r.sign(day, &pb.Statement{Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
		Kind: pb.TransformationKind_TRANSFORMATION_KIND_MERGE, Inputs: ins, Site: lottest.MineSite,
		Outputs: []*pb.TransformationOutput{{LotId: out, MassKg: kg, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}}}})
}

// TestDroppedSiblingInputsHideDoubleSpend (review 22, the adversary of
// 1ed3edb's lotAt): lot A, 1,000 kg, is merged 600 kg with lot B (listed
// first), then its 400 kg rest is merged with lot C (listed first),
// claiming 900 kg of A: a DOUBLE_SPEND of A that the whole bundle shows.
// B's and C's records are not A's ancestry (A is an input of both merges,
// not an output), so completeness does not ask for them; the seller leaves
// out their extractions. Both merges then stop at their first input
// (transform returns at a link not in the bundle), A has no state at its
// head, and since 1ed3edb lotAt reads that as "used up from nothing":
// VERIFIED, no flag. Before 1ed3edb it was INVALID ("incomplete bundle").
// A bundle that leaves records out must not read better than the whole.
func TestDroppedSiblingInputsHideDoubleSpend(t *testing.T) {
	r := newRawMerges(t)
	ea, eb, ec := r.extract("A", 1000), r.extract("B", 500), r.extract("C", 500)
	t1 := r.merge(2, []*pb.TransformationInput{{LotId: "B", Link: eb, MassKg: 500}, {LotId: "A", Link: ea, MassKg: 600}}, "M1", 1100)
	t2 := r.merge(3, []*pb.TransformationInput{{LotId: "C", Link: ec, MassKg: 500}, {LotId: "A", Link: t1, MassKg: 900}}, "M2", 1400)
	r.extract("Z", 10) // the checkpoint's last leaf, kept whole by RawLog.Bundle

	whole := verifier.Verify(r.raw.Bundle("A"), r.x.Trust(), verifier.DefaultConfig())
	lottest.WantFlag(t, whole, verifier.RuleDoubleSpend, t2)

	cut := verifier.Verify(r.raw.Bundle("A", eb, ec), r.x.Trust(), verifier.DefaultConfig())
	switch cut.GetVerdict() {
	case pb.Verdict_VERDICT_INVALID:
	case pb.Verdict_VERDICT_FLAGGED:
		lottest.WantFlag(t, cut, verifier.RuleDoubleSpend, t2)
	default:
		t.Fatalf("B's and C's extractions left out: %v (the whole bundle: FLAGGED, DOUBLE_SPEND at index of %s)\n%s", cut.GetVerdict(), t2, cut.GetText())
	}
}

// TestDroppedSiblingInputHidesDoubleSpendOneMerge (review 22; before
// 1ed3edb too): one merge of B (listed first) and 900 kg of lot A, which
// holds 400 kg. Leaving out B's extraction, which A's ancestry does not
// need, stops the merge at its first input: A's DOUBLE_SPEND is gone and A
// reads VERIFIED. (The server's own bundle of A leaves B's records out
// too: BuildBundle follows a transformation's inputs only from its
// outputs.)
func TestDroppedSiblingInputHidesDoubleSpendOneMerge(t *testing.T) {
	r := newRawMerges(t)
	ea, eb := r.extract("A", 400), r.extract("B", 500)
	t1 := r.merge(2, []*pb.TransformationInput{{LotId: "B", Link: eb, MassKg: 500}, {LotId: "A", Link: ea, MassKg: 900}}, "M1", 1400)
	r.extract("Z", 10)

	whole := verifier.Verify(r.raw.Bundle("A"), r.x.Trust(), verifier.DefaultConfig())
	lottest.WantFlag(t, whole, verifier.RuleDoubleSpend, t1)

	cut := verifier.Verify(r.raw.Bundle("A", eb), r.x.Trust(), verifier.DefaultConfig())
	switch cut.GetVerdict() {
	case pb.Verdict_VERDICT_INVALID:
	case pb.Verdict_VERDICT_FLAGGED:
		lottest.WantFlag(t, cut, verifier.RuleDoubleSpend, t1)
	default:
		t.Fatalf("B's extraction left out: %v (the whole bundle: FLAGGED, DOUBLE_SPEND)\n%s", cut.GetVerdict(), cut.GetText())
	}
}

// TestDroppedInputHidesDoubleCreation (review 22; before 1ed3edb too):
// lot X is made twice, from P and then from Q. X's head is the second
// merge, whose ancestry is Q's; completeness asks for X's records (both
// merges) but not P's. Leaving out P's extraction stops the first merge
// at its input before it creates X, so the second one's DOUBLE_SPEND
// ("lot id already created") is gone: VERIFIED.
func TestDroppedInputHidesDoubleCreation(t *testing.T) {
	r := newRawMerges(t)
	r.extract("W", 10) // the mine's tally starts here, not at P
	ep, eq := r.extract("P", 100), r.extract("Q", 100)
	r.merge(2, []*pb.TransformationInput{{LotId: "P", Link: ep, MassKg: 100}}, "X", 100)
	second := r.merge(3, []*pb.TransformationInput{{LotId: "Q", Link: eq, MassKg: 100}}, "X", 100)
	r.extract("Z", 10)

	whole := verifier.Verify(r.raw.Bundle("X"), r.x.Trust(), verifier.DefaultConfig())
	lottest.WantFlag(t, whole, verifier.RuleDoubleSpend, second)

	cut := verifier.Verify(r.raw.Bundle("X", ep), r.x.Trust(), verifier.DefaultConfig())
	switch cut.GetVerdict() {
	case pb.Verdict_VERDICT_INVALID:
	case pb.Verdict_VERDICT_FLAGGED:
		lottest.WantFlag(t, cut, verifier.RuleDoubleSpend, second)
	default:
		t.Fatalf("P's extraction left out: %v (the whole bundle: FLAGGED, DOUBLE_SPEND)\n%s", cut.GetVerdict(), cut.GetText())
	}
}
