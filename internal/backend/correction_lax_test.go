package backend_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// A correction past a split that raises flags (the receipt's seals
// corrected to broken, its mass to a 10x gain, co-signed): the follower
// does not replay it, and a full verification of the signer's lots adds
// the flags it raises, so neither lot is listed VERIFIED where a full
// verification says FLAGGED (a cold review found both listed VERIFIED).
func TestCorrectionNotFollowedNeverLaxer(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	r1 := receivedAndSplit(t, x, b, 2995)
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, SealsIntact: proto.Bool(false), MassKg: lottest.Kg(30000)}, 5, x.Mine)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	for _, lot := range []string{"L1", "L1a"} {
		rep, sum, _ := verdicts(t, b, lot)
		t.Logf("lot %s: follower %v %v, verifier %v", lot, sum.Verdict, sum.Keys, rep.GetVerdict())
		if rep.GetVerdict() == pb.Verdict_VERDICT_FLAGGED && sum.Verdict == pb.Verdict_VERDICT_VERIFIED {
			t.Errorf("lot %s: the follower lists VERIFIED, a full verification FLAGGED (lax side)\n%s", lot, rep.GetText())
		}
	}
}

// No transformation: a first, innocuous correction (the receipt's place)
// sits in the lot's history; a second, of the earlier dispatch, raises a
// TRANSIT_GAIN. The follower does not replay a stretch holding a
// correction; the full verification adds the flag (a cold review found
// the lot listed VERIFIED).
func TestSecondCorrectionNeverLaxer(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.MineSite, 1)
	d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 3000, 2)
	r1 := x.Receive(x.Exp, "L1", d1, 2995, 3)
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, Location: lottest.Karachi}, 3.5, x.Mine)
	agrees(t, b, "L1")
	x.Correct(x.Mine, &pb.Correction{LotId: "L1", Corrects: d1, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(300)}, 4, x.Exp)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	rep, sum, _ := verdicts(t, b, "L1")
	t.Logf("follower %v %v, verifier %v", sum.Verdict, sum.Keys, rep.GetVerdict())
	if rep.GetVerdict() == pb.Verdict_VERDICT_FLAGGED && sum.Verdict == pb.Verdict_VERDICT_VERIFIED {
		t.Errorf("the follower lists VERIFIED, a full verification FLAGGED (lax side)\n%s", rep.GetText())
	}
}
