package lottest

import (
	"fmt"
	"testing"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// Lot1000 builds a lot of about 1,000 records: 330 extractions, each
// dispatched to and received by the exporter, merged in groups of 33 and
// then into one lot, smelted and shipped to the buyer.
func Lot1000(b testing.TB) (*H, *pb.Bundle) {
	x := New(b)
	const lots, group = 330, 33
	var merged []*pb.TransformationInput
	var in []*pb.TransformationInput
	for i := range lots {
		lot := fmt.Sprintf("E%03d", i)
		ext := x.Extract(x.Mine, lot, 100, 3, 9, MineSite, 1)
		d := x.Dispatch(x.Mine, lot, ext, x.Exp, 100, 2)
		r := x.Receive(x.Exp, lot, d, 100, 3)
		in = append(in, &pb.TransformationInput{LotId: lot, Link: r, MassKg: 100})
		if len(in) == group {
			m := fmt.Sprintf("M%02d", len(merged))
			id := x.Transform(x.Exp, pb.TransformationKind_TRANSFORMATION_KIND_MERGE, in,
				[]*pb.TransformationOutput{{LotId: m, MassKg: 100 * group, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 4)
			merged = append(merged, &pb.TransformationInput{LotId: m, Link: id, MassKg: 100 * group})
			in = nil
		}
	}
	all := x.Transform(x.Exp, pb.TransformationKind_TRANSFORMATION_KIND_MERGE, merged,
		[]*pb.TransformationOutput{{LotId: "ALL", MassKg: 100 * lots, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 5)
	d := x.Dispatch(x.Exp, "ALL", all, x.Smelter, 100*lots, 6)
	r := x.Receive(x.Smelter, "ALL", d, 100*lots, 7)
	// 33,000 kg x 0.97 x 9 % = 2,880.9 kg Sb; 3,300 kg Sb2O3 at 83 % = 2,739 kg (95.1 %).
	sm := x.Transform(x.Smelter, pb.TransformationKind_TRANSFORMATION_KIND_SMELT,
		[]*pb.TransformationInput{{LotId: "ALL", Link: r, MassKg: 100 * lots}},
		[]*pb.TransformationOutput{{LotId: "T", MassKg: 3300, Product: pb.Product_PRODUCT_TRIOXIDE, SbGradePct: 83}}, 8)
	d = x.Dispatch(x.Smelter, "T", sm, x.Buyer, 3300, 10)
	x.Receive(x.Buyer, "T", d, 3300, 40)
	return x, x.Bundle("T")
}
