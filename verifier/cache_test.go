package verifier_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestMemoMatchesVerify: verifying with the backend's memo, cold or warm,
// gives exactly the report Verify gives; and a warm memo still refuses a
// bundle whose inclusion proof or checkpoint was changed, because it only
// recalls checks of identical inputs.
func TestMemoMatchesVerify(t *testing.T) {
	x := lottest.New(t)
	x.CleanChain()
	x.Extract(x.Mine, "L2", 1000, 3, 9, lottest.NearBorder, 1)
	x.Extract(x.Mn2, "L3", 1000, 3, 9, lottest.AfghanSite, 1)
	ext := x.Extract(x.Mine, "L4", 1000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "L4", ext, x.Exp, 1000, 2)
	x.Receive(x.Exp, "L4", d, 1100, 3) // TRANSIT_GAIN
	lots := []string{"L1", "T1", "L2", "L3", "L4"}
	trust, cfg := x.Trust(), verifier.DefaultConfig()
	m := verifier.NewCache()
	for round := range 2 {
		for _, lot := range lots {
			b := x.Bundle(lot)
			want := verifier.Verify(b, trust, cfg)
			if got := verifier.VerifyCached(b, trust, cfg, m); !proto.Equal(got, want) {
				t.Fatalf("round %d, lot %s: with the memo\n%s\nwithout\n%s", round, lot, got.GetText(), want.GetText())
			}
		}
	}
	if rep := verifier.Verify(x.Bundle("L4"), trust, cfg); rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
		t.Fatalf("L4: %v, want FLAGGED: the fixture lost its flag", rep.GetVerdict())
	}

	b := x.Bundle("T1")
	last := b.Records[len(b.Records)-1]
	last.InclusionProof[0][0] ^= 1
	lottest.WantInvalid(t, verifier.VerifyCached(b, trust, cfg, m), "inclusion proof")

	b = x.Bundle("T1")
	y := lottest.New(t)
	y.Extract(y.Mine, "L1", 10000, 3, 9, lottest.MineSite, 1)
	b.Checkpoint = string(y.S.Log().Checkpoint()) // signed by the same log key, another tree
	lottest.WantInvalid(t, verifier.VerifyCached(b, trust, cfg, m), "index")

	// A record in the log with a bad signature: its inclusion holds, and
	// the memo has verified other signatures by the same key.
	raw := lottest.NewRawLog(t, x.C)
	raw.Add(x.C.Register(x.Mine))
	bad := x.C.Sign(x.Mine, &pb.Statement{EventTime: x.Day(1), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L9", MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Site: lottest.MineSite, Product: pb.Product_PRODUCT_ORE}}})
	bad.Signatures[0].Sig[0] ^= 1
	raw.Add(bad)
	lottest.WantInvalid(t, verifier.VerifyCached(raw.Bundle("L9"), trust, cfg, m), "signature")
}
