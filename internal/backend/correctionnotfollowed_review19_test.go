package backend_test

import (
	"slices"
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestNotFollowedCorrectionLaterRecordsFlag_review19: review 19 found a
// correction the follower did not follow (a second correction of the lot
// in the stretch it would replay: here C1 corrects the extraction's site,
// C2 the dispatch) leaving the listing with a flag of the values as first
// signed on a record logged after the correction, which a full
// verification does not have. The follower now follows a correction
// whose stretch holds an earlier correction of a record before it (C1's
// extraction comes before C2's dispatch): the listing is a full
// verification's, no TRANSIT_GAIN, VERIFIED.
func TestNotFollowedCorrectionLaterRecordsFlag_review19(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 1000, 2)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, Location: lottest.MineSite}, 2.2)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(10000)}, 2.5, x.Exp)
	x.Receive(x.Exp, "X", d, 10000, 3) // logged after both corrections
	rep := agrees(t, b, "X")
	if n := len(lottest.Flagged(rep, verifier.RuleTransitGain)); n != 0 || rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("a full verification: %d TRANSIT_GAIN, %v\n%s", n, rep.GetVerdict(), rep.GetText())
	}
}

// TestDispatchThenReceiptCorrected: a new user's trial corrected a
// dispatch typed as 40,000 kg to 4,000 (C1), which made the receipt of
// 40,000 kg a TRANSIT_GAIN, then the receipt to 3,990 kg (C2). The
// follower did not follow C2 (C1 in its stretch), and the listing said
// FLAGGED, with the receipt's TRANSIT_GAIN counted, for good, where a full
// verification says VERIFIED. It follows C2 now: the listing is a full
// verification's, the TRANSIT_GAIN withdrawn by C2.
func TestDispatchThenReceiptCorrected(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 4000, 4, 11, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 40000, 2)
	r := x.Receive(x.Exp, "X", d, 40000, 3)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(4000)}, 3.5, x.Exp)
	if rep := agrees(t, b, "X"); rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
		t.Fatalf("after C1: %v, want FLAGGED (the receipt's TRANSIT_GAIN)\n%s", rep.GetVerdict(), rep.GetText())
	}
	c2 := x.Correct(x.Exp, &pb.Correction{LotId: "X", Corrects: r, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(3990)}, 4, x.Mine)
	rep := agrees(t, b, "X")
	var gains []*pb.Flag // the receipt's
	for _, f := range lottest.Flagged(rep, verifier.RuleTransitGain) {
		if slices.Contains(f.GetEvidence(), r) {
			gains = append(gains, f)
		}
	}
	if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED || len(gains) != 1 || !slices.Equal(gains[0].GetCorrectedBy(), []string{c2}) {
		t.Fatalf("after C2: %v, TRANSIT_GAIN %v; want VERIFIED, the gain withdrawn by %s\n%s", rep.GetVerdict(), gains, c2, rep.GetText())
	}
	l, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range l.GetLots() {
		if s.GetLot().GetLotId() == "X" && s.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
			t.Fatalf("the lot listing says %v, a full verification VERIFIED", s.GetVerdict())
		}
	}
}
