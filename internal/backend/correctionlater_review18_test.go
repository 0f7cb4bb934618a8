package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestCorrectionWithdrawsALaterRecordsFlag_review18 is review 17's
// TestCorrectionWithdrawsALaterRecordsFlag_review17, which 197a191
// deleted without a fix (its comment on correct calls the difference
// acceptable because the verdicts agree; agrees, the invariant the
// follower's tests hold it to, compares the flag keys too). Unchanged but
// for its name; it still fails.
// TestCorrectionWithdrawsALaterRecordsFlag_review17: Replay.correct
// (0227905) withdraws a flag only if its index is >= the corrected
// record's and < the correction's: the records the log took after the
// correction were replayed on the corrected values alone. A full
// verification runs the whole bundle twice, as first signed and as
// corrected (analyse), and withdrawn (correction.go) marks corrected
// every flag of the first run the second lacks whose index is at or after
// the corrected record's, with no bound at the correction: so a flag the
// values as first signed would have raised on a record logged after the
// correction is listed, withdrawn, in the full verification, and is
// nowhere in the follower's state. Here a dispatch of 1,000 kg of a
// 10,000 kg lot is corrected (co-signed) to 10,000 kg while in transit,
// and then received as 10,000 kg: the receipt, judged against the
// dispatch as first signed, is a TRANSIT_GAIN, which the full
// verification lists corrected by the correction; the follower never
// had it. (The verdicts agree; the flag keys do not, and a listing of the
// lot's flags misses one the report shows.)
func TestCorrectionWithdrawsALaterRecordsFlag_review18(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 1000, 2)
	corr := x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(10000)}, 2.5, x.Exp)
	r := x.Receive(x.Exp, "X", d, 10000, 3) // logged after the correction
	rep := agrees(t, b, "X")
	for _, f := range lottest.Flagged(rep, verifier.RuleTransitGain) {
		if f.GetIndex() > 0 && len(f.GetCorrectedBy()) > 0 {
			t.Logf("full verification: %s on index %d (receipt %s), corrected by %v (correction %s)", f.GetRule(), f.GetIndex(), r, f.GetCorrectedBy(), corr)
		}
	}
}
