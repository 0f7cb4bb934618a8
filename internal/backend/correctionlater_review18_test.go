package backend_test

import (
	"slices"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestCorrectionWithdrawsALaterRecordsFlag_review18 (reviews 17 and 18):
// a full verification runs the bundle as first signed and as corrected,
// and lists, withdrawn by the correction, a flag the values as first
// signed raise on a record the log took after the correction; the
// follower replays such a record on the corrected values alone, so it
// does not have that flag (the difference Replay.correct's comment and
// README's "Corrections" state; the reviews asked for a fix, not made).
// Here a dispatch of 1,000 kg of a 10,000 kg lot is corrected, co-signed,
// to 10,000 kg while in transit, and then received as 10,000 kg: the
// full verification lists the receipt's TRANSIT_GAIN against the
// dispatch as first signed, withdrawn. What the follower does hold to:
// the same verdict, the same rules counted, and every flag that counts.
func TestCorrectionWithdrawsALaterRecordsFlag_review18(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 1000, 2)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(10000)}, 2.5, x.Exp)
	x.Receive(x.Exp, "X", d, 10000, 3) // logged after the correction
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	rep, sum, ok := verdicts(t, b, "X")
	if !ok {
		t.Fatal("lot X: no summary")
	}
	withdrawn := false
	var counted, rules []string
	for _, f := range rep.GetFlags() {
		if len(f.GetCorrectedBy()) > 0 {
			withdrawn = withdrawn || f.GetRule() == verifier.RuleTransitGain
			continue
		}
		counted = append(counted, verifier.ReplayFlagKey(f))
		if !slices.Contains(rules, f.GetRule()) {
			rules = append(rules, f.GetRule())
		}
	}
	if !withdrawn {
		t.Fatalf("the full verification lists no withdrawn TRANSIT_GAIN: the case is not the one described\n%s", rep.GetText())
	}
	slices.Sort(rules)
	if sum.Verdict != rep.GetVerdict() || !slices.Equal(sum.Rules, rules) {
		t.Errorf("lot X: the follower's verdict %v, rules %v; the verifier's %v, %v", sum.Verdict, sum.Rules, rep.GetVerdict(), rules)
	}
	for _, k := range counted {
		if !slices.Contains(sum.Keys, k) {
			t.Errorf("lot X: the follower lacks the flag %s that counts in the verifier's verdict", k)
		}
	}
}
