package verifier_test

import (
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
	"google.golang.org/protobuf/proto"
)

func BenchmarkVerifyLot1000(b *testing.B) {
	x, bundle := lottest.Lot1000(b)
	trust, cfg := x.Trust(), verifier.DefaultConfig()
	if rep := verifier.Verify(bundle, trust, cfg); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		b.Fatalf("verdict %v\n%s", rep.GetVerdict(), rep.GetText())
	}
	n := len(bundle.GetRecords())
	start := time.Now()
	for b.Loop() {
		verifier.Verify(bundle, trust, cfg)
	}
	el := time.Since(start)
	js, err := verifier.MarshalBundle(bundle)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(proto.Size(bundle))/float64(n), "proto-bytes/record")
	b.ReportMetric(float64(len(js))/float64(n), "json-bytes/record")
	b.ReportMetric(float64(n), "records/op")
	b.ReportMetric(float64(n*b.N)/el.Seconds(), "records/s")
}
