package verifier_test

import (
	"fmt"
	"testing"
	"time"

	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// lot1000 builds a lot of about 1,000 records: 330 extractions, each
// dispatched to and received by the exporter, merged in groups of 33 and
// then into one lot, smelted and shipped to the buyer.
func lot1000(b *testing.B) (*h, *pb.Bundle) {
	x := newH(b)
	const lots, group = 330, 33
	var merged []*pb.TransformationInput
	var in []*pb.TransformationInput
	for i := range lots {
		lot := fmt.Sprintf("E%03d", i)
		ext := x.extract(x.mine, lot, 100, 3, 9, mineSite, 1)
		d := x.dispatch(x.mine, lot, ext, x.exp, 100, 2)
		r := x.receive(x.exp, lot, d, 100, 3)
		in = append(in, &pb.TransformationInput{LotId: lot, Link: r, MassKg: 100})
		if len(in) == group {
			m := fmt.Sprintf("M%02d", len(merged))
			id := x.transform(x.exp, pb.TransformationKind_TRANSFORMATION_KIND_MERGE, in,
				[]*pb.TransformationOutput{{LotId: m, MassKg: 100 * group, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 4)
			merged = append(merged, &pb.TransformationInput{LotId: m, Link: id, MassKg: 100 * group})
			in = nil
		}
	}
	all := x.transform(x.exp, pb.TransformationKind_TRANSFORMATION_KIND_MERGE, merged,
		[]*pb.TransformationOutput{{LotId: "ALL", MassKg: 100 * lots, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 5)
	d := x.dispatch(x.exp, "ALL", all, x.smelter, 100*lots, 6)
	r := x.receive(x.smelter, "ALL", d, 100*lots, 7)
	// 33,000 kg x 0.97 x 9 % = 2,880.9 kg Sb; 3,300 kg Sb2O3 at 83 % = 2,739 kg (95.1 %).
	sm := x.transform(x.smelter, pb.TransformationKind_TRANSFORMATION_KIND_SMELT,
		[]*pb.TransformationInput{{LotId: "ALL", Link: r, MassKg: 100 * lots}},
		[]*pb.TransformationOutput{{LotId: "T", MassKg: 3300, Product: pb.Product_PRODUCT_TRIOXIDE, SbGradePct: 83}}, 8)
	d = x.dispatch(x.smelter, "T", sm, x.buyer, 3300, 10)
	x.receive(x.buyer, "T", d, 3300, 40)
	return x, x.bundle("T")
}

func BenchmarkVerifyLot1000(b *testing.B) {
	x, bundle := lot1000(b)
	trust, cfg := x.trust(), verifier.DefaultConfig()
	if rep := verifier.Verify(bundle, trust, cfg); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		b.Fatalf("verdict %v\n%s", rep.GetVerdict(), rep.GetText())
	}
	n := len(bundle.GetRecords())
	start := time.Now()
	for b.Loop() {
		verifier.Verify(bundle, trust, cfg)
	}
	el := time.Since(start)
	b.ReportMetric(float64(n), "records/op")
	b.ReportMetric(float64(n*b.N)/el.Seconds(), "records/s")
}

func BenchmarkBuildBundle1000(b *testing.B) {
	x, bundle := lot1000(b)
	n := len(bundle.GetRecords())
	start := time.Now()
	for b.Loop() {
		x.bundle("T")
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkCatchUp measures a complete flag listing on a fresh backend
// after a bulk load: 600 lots, each extracted by the same mine, dispatched
// and received (1,800 records), so that every lot's bundle carries the
// country's 600 extractions in the capacity window, as after a provbench
// run.
func BenchmarkCatchUp(b *testing.B) {
	x := newH(b)
	const lots = 600
	for i := range lots {
		lot := fmt.Sprintf("B%03d", i)
		ext := x.extract(x.mine, lot, 100, 3, 9, mineSite, 1)
		d := x.dispatch(x.mine, lot, ext, x.exp, 100, 2)
		x.receive(x.exp, lot, d, 100, 3)
	}
	for b.Loop() {
		be := verifier.NewListingBackend(x.s, x.trust(), verifier.DefaultConfig(), 0)
		r, err := be.ListFlags(b.Context(), &apipb.ListFlagsRequest{})
		if err != nil || r.GetPendingLots() != 0 {
			b.Fatalf("listing: %v, %d lots pending", err, r.GetPendingLots())
		}
		be.Close()
	}
	b.ReportMetric(float64(lots*b.N)/b.Elapsed().Seconds(), "lots/s")
}
