package backend_test

import (
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestWithdrawnLotYearAfterLotMovesOn: the lot-year ORIGIN_VOLUME a
// correction withdraws is weighed when the correction is logged and kept,
// marked corrected, after the lot moves on, in the full verification and
// the follower's listing alike.
func TestWithdrawnLotYearAfterLotMovesOn(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "L1", 800_000, 3, 9, lottest.MineSite, 1)
	agrees(t, b, "L1")
	x.Correct(x.Mine, &pb.Correction{LotId: "L1", Corrects: ext, MassKg: lottest.Kg(30_000)}, 1.5)
	agrees(t, b, "L1")
	d := x.Dispatch(x.Mine, "L1", ext, x.Exp, 30_000, 2)
	agrees(t, b, "L1")
	x.Receive(x.Exp, "L1", d, 29_990, 3)
	rep := agrees(t, b, "L1")
	// The withdrawn lot-year flag of the extraction as signed stays in
	// the report, marked corrected.
	var kept bool
	for _, f := range lottest.Flagged(rep, verifier.RuleOriginVolume) {
		kept = kept || (strings.Contains(f.GetMessage(), "more than a year of its capacity") && len(f.GetCorrectedBy()) == 1)
	}
	if !kept {
		t.Errorf("the full verification no longer lists the withdrawn lot-year ORIGIN_VOLUME once the lot moved on")
	}
}

// TestReceiptCorrectionLotYear: a downward correction of a receipt, after
// the extraction, withdraws the lot-year ORIGIN_VOLUME on the extraction's
// index: the full verification and the follower both list it marked
// corrected, not counted in the verdict.
func TestReceiptCorrectionLotYear(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "L1", 800_000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "L1", ext, x.Exp, 800_000, 2)
	r := x.Receive(x.Exp, "L1", d, 800_000, 3)
	agrees(t, b, "L1")
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(30_000)}, 3.5, x.Mine)
	rep := agrees(t, b, "L1")
	kept := false
	for _, f := range lottest.Flagged(rep, verifier.RuleOriginVolume) {
		if strings.Contains(f.GetMessage(), "more than a year of its capacity") && strings.Contains(f.GetMessage(), "69840") {
			if len(f.GetCorrectedBy()) == 0 {
				t.Errorf("the lot-year flag the receipt correction withdrew is listed uncorrected, counting in the verdict: %s", f.GetMessage())
			}
			kept = true
		}
	}
	if !kept {
		t.Errorf("the lot-year flag the receipt correction withdrew is not listed, marked corrected")
	}
}
