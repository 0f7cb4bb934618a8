package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestCorrectionWithdrawsALaterRecordsFlag_review18 (reviews 17 and 18):
// a full verification used to list, withdrawn, a flag the values as
// first signed raise on a record the log took after the correction, which
// the follower (replaying such a record on the corrected values alone)
// did not have. A correction now withdraws only the flags on records
// logged before it, in both. Here a dispatch of 1,000 kg of a 10,000 kg
// lot is corrected, co-signed, to 10,000 kg while in transit, and then
// received as 10,000 kg (no TRANSIT_GAIN); and the other way round,
// received first (the TRANSIT_GAIN withdrawn): the follower's flags,
// withdrawn ones included, and verdict are a full verification's.
func TestCorrectionWithdrawsALaterRecordsFlag_review18(t *testing.T) {
	for _, receivedFirst := range []bool{false, true} {
		x := lottest.New(t)
		b := paused(t, x)
		ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
		d := x.Dispatch(x.Mine, "X", ext, x.Exp, 1000, 2)
		fix := &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(10000)}
		if receivedFirst {
			x.Receive(x.Exp, "X", d, 10000, 2.5)
			x.Correct(x.Mine, fix, 3, x.Exp)
		} else {
			x.Correct(x.Mine, fix, 2.5, x.Exp)
			x.Receive(x.Exp, "X", d, 10000, 3)
		}
		rep := agrees(t, b, "X")
		if gains := lottest.Flagged(rep, verifier.RuleTransitGain); len(gains) != map[bool]int{false: 0, true: 1}[receivedFirst] {
			t.Errorf("received first %t: TRANSIT_GAIN %v\n%s", receivedFirst, gains, rep.GetText())
		}
	}
}
