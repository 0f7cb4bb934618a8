package backend_test

import (
	"slices"
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestSecondCorrectionListsAFlagTheLogNeverHeld_review19: 2468abb's
// withdrawn drops a flag of the values as first signed on a record logged
// after every correction that applies to it, but keeps one on a record
// logged after one correction and before another. Its "values as first
// signed" run reverts every correction at once, so it judges such a
// record against values the log had already corrected when it took it.
// Here a dispatch of 1,000 kg is corrected to 10,000 kg (C1) while in
// transit; the receipt of 10,000 kg is logged after C1 (no TRANSIT_GAIN:
// the log judged it on 10,000 kg); then the receiver corrects its own
// receipt's seal state (C2). A full verification lists a +900 %
// TRANSIT_GAIN on the receipt, withdrawn by the receiver's C2: a flag the
// log never held, blamed on a correction that did not withdraw it, and
// one the follower does not list (its withdrawn flags are those the log
// held: agrees fails).
func TestSecondCorrectionListsAFlagTheLogNeverHeld_review19(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 1000, 2)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(10000)}, 2.5, x.Exp)
	r := x.Receive(x.Exp, "X", d, 10000, 3) // judged on the corrected dispatch
	intact := true
	x.Correct(x.Exp, &pb.Correction{LotId: "X", Corrects: r, CounterpartyId: x.Mine.ID, SealsIntact: &intact}, 3.5, x.Mine)
	rep := agrees(t, b, "X")
	if gains := lottest.Flagged(rep, verifier.RuleTransitGain); len(gains) != 0 {
		t.Errorf("a full verification lists a TRANSIT_GAIN on a receipt the log judged against the corrected dispatch: %v", gains)
	}
}

// TestSecondCorrectionHidesAFlagTheLogHeld_review19: the other side of
// the same cause. A flag the log raised on a record judged on the values
// one correction left, and that a later correction withdrew, is in
// neither of the verifier's runs (all values as first signed; all
// corrected), so a full verification does not list it at all, though the
// log held it and counted it. Here a dispatch of 10,000 kg is corrected
// to 1,000 kg (C1) in transit; the receipt of 10,000 kg is logged after
// it: TRANSIT_GAIN +900 %, the lot FLAGGED; the receiver then corrects
// the receipt to 1,000 kg (C2). The follower lists the TRANSIT_GAIN
// withdrawn by C2; a full verification lists nothing: an auditor reading
// it cannot see that the lot was flagged and the flag corrected away
// (README: "a correction never removes a flag silently").
func TestSecondCorrectionHidesAFlagTheLogHeld_review19(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 10000, 2)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(1000)}, 2.5, x.Exp)
	r := x.Receive(x.Exp, "X", d, 10000, 3) // judged on the corrected dispatch: a gain
	if rep := agrees(t, b, "X"); len(lottest.Flagged(rep, verifier.RuleTransitGain)) != 1 || rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
		t.Fatalf("before C2: want one TRANSIT_GAIN, FLAGGED\n%s", rep.GetText())
	}
	c2 := x.Correct(x.Exp, &pb.Correction{LotId: "X", Corrects: r, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(1000)}, 3.5, x.Mine)
	rep := agrees(t, b, "X")
	gains := lottest.Flagged(rep, verifier.RuleTransitGain)
	if len(gains) != 1 || !slices.Equal(gains[0].GetCorrectedBy(), []string{c2}) {
		t.Errorf("after C2: a full verification lists TRANSIT_GAIN %v; want the one the log held, withdrawn by %s", gains, c2)
	}
}
