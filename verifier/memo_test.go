package verifier_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestMemoMatchesVerify: verifying with the backend's memo, cold or warm,
// gives exactly the report Verify gives; and a warm memo still refuses a
// bundle whose inclusion proof or checkpoint was changed, because it only
// recalls checks of identical inputs.
func TestMemoMatchesVerify(t *testing.T) {
	x := newH(t)
	x.cleanChain()
	x.extract(x.mine, "L2", 1000, 3, 9, nearBorder, 1)
	x.extract(x.mn2, "L3", 1000, 3, 9, afghanSite, 1)
	ext := x.extract(x.mine, "L4", 1000, 3, 9, mineSite, 1)
	d := x.dispatch(x.mine, "L4", ext, x.exp, 1000, 2)
	x.receive(x.exp, "L4", d, 1100, 3) // TRANSIT_GAIN
	lots := []string{"L1", "T1", "L2", "L3", "L4"}
	trust, cfg := x.trust(), verifier.DefaultConfig()
	m := verifier.NewMemo()
	for round := range 2 {
		for _, lot := range lots {
			b := x.bundle(lot)
			want := verifier.Verify(b, trust, cfg)
			if got := verifier.VerifyWithMemo(b, trust, cfg, m); !proto.Equal(got, want) {
				t.Fatalf("round %d, lot %s: with the memo\n%s\nwithout\n%s", round, lot, got.GetText(), want.GetText())
			}
		}
	}
	if rep := verifier.Verify(x.bundle("L4"), trust, cfg); rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
		t.Fatalf("L4: %v, want FLAGGED: the fixture lost its flag", rep.GetVerdict())
	}

	b := x.bundle("T1")
	last := b.Records[len(b.Records)-1]
	last.InclusionProof[0][0] ^= 1
	wantInvalid(t, verifier.VerifyWithMemo(b, trust, cfg, m), "inclusion proof")

	b = x.bundle("T1")
	y := newH(t)
	y.extract(y.mine, "L1", 10000, 3, 9, mineSite, 1)
	b.Checkpoint = string(y.s.Log().Checkpoint()) // signed by the same log key, another tree
	wantInvalid(t, verifier.VerifyWithMemo(b, trust, cfg, m), "index")

	// A record in the log with a bad signature: its inclusion holds, and
	// the memo has verified other signatures by the same key.
	raw := newRawLog(t, x.c)
	raw.add(x.c.Register(x.mine))
	bad := x.c.Sign(x.mine, &pb.Statement{EventTime: x.day(1), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L9", MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Site: mineSite, Product: pb.Product_PRODUCT_ORE}}})
	bad.Signatures[0].Sig[0] ^= 1
	raw.add(bad)
	wantInvalid(t, verifier.VerifyWithMemo(raw.bundle("L9"), trust, cfg, m), "signature")
}
