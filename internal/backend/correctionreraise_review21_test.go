package backend_test

import (
	"slices"
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestCorrectionRaisesWithdrawnFlagAgain_review21: C1 corrects R1's
// location, withdrawing R2's IMPLAUSIBLE_TRANSIT (the leg R1 -> R2 was
// too fast as first signed); C2, logged after C1, corrects R2's
// location so that the leg is as fast again, over the same distance in
// the same time: the same flag (same index, rule, lot and message) is
// raised again. A full verification counts it (it is among the flags
// the lot raises now): FLAGGED. The follower, which since 4dcbf61
// follows C2 (C1 is in its stretch, of a record before it), raises the
// flag again on R2's state but leaves its cf/ mark from C1, so its
// summary takes it as withdrawn: VERIFIED, laxer than a full
// verification.
func TestCorrectionRaisesWithdrawnFlagAgain_review21(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	at := func(lon float64) func(*pb.Receipt) {
		return func(r *pb.Receipt) { r.Location = &pb.Location{Lat: 25, Lon: lon, Name: "yard"} }
	}
	ext := x.Extract(x.Mine, "X", 1000, 3, 9, lottest.MineSite, 1)
	d1 := x.Dispatch(x.Mine, "X", ext, x.Exp, 1000, 2)
	r1 := x.Receive(x.Exp, "X", d1, 1000, 3, at(64)) // A
	d2 := x.Dispatch(x.Exp, "X", r1, x.Smelter, 1000, 4)
	r2 := x.Receive(x.Smelter, "X", d2, 1000, 4.1, at(67)) // Z: A->Z ~300 km in 2.4 h
	if rep := agrees(t, b, "X"); len(lottest.Flagged(rep, verifier.RuleImplausibleTransit)) != 1 {
		t.Fatalf("as first signed: want R2's IMPLAUSIBLE_TRANSIT\n%s", rep.GetText())
	}
	// C1: R1 was at B, 50 km from Z: the leg is slow, the flag withdrawn.
	x.Correct(x.Exp, &pb.Correction{LotId: "X", Corrects: r1, CounterpartyId: x.Mine.ID, Location: &pb.Location{Lat: 25, Lon: 66.5, Name: "yard"}}, 4.5, x.Mine)
	if rep := agrees(t, b, "X"); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("after C1: %v, want VERIFIED\n%s", rep.GetVerdict(), rep.GetText())
	}
	// C2: R2 was at Z', as far from B as Z from A: the same flag again.
	x.Correct(x.Smelter, &pb.Correction{LotId: "X", Corrects: r2, CounterpartyId: x.Exp.ID, Location: &pb.Location{Lat: 25, Lon: 69.5, Name: "yard"}}, 5, x.Exp)
	rep := agrees(t, b, "X")
	if rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
		t.Fatalf("after C2, a full verification: %v, want FLAGGED\n%s", rep.GetVerdict(), rep.GetText())
	}
}

// TestLaterCorrectionClaimsAnEarlierWithdrawal_review21: the receipt of
// 2,000 kg for a dispatch of 1,000 kg raises a TRANSIT_GAIN; C1 corrects
// the dispatch to 2,000 kg (logged after the receipt), withdrawing it;
// C2 corrects the receipt to 1,990 kg. A full verification lists the gain
// withdrawn by C1 alone: with C1 applied, the log no longer held it when
// it took C2. The follower, which follows C2 since 4dcbf61 (C1 in its
// stretch), finds the gain in the receipt's state as it stood (kept,
// withdrawn by C1) and not after replaying it, and marks it withdrawn by
// C2 too: the listing blames C2 for a withdrawal it did not make.
func TestLaterCorrectionClaimsAnEarlierWithdrawal_review21(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 4000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 1000, 2)
	r := x.Receive(x.Exp, "X", d, 2000, 3)
	c1 := x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(2000)}, 3.5, x.Exp)
	x.Correct(x.Exp, &pb.Correction{LotId: "X", Corrects: r, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(1990)}, 4, x.Mine)
	rep := agrees(t, b, "X")
	want := map[string][]string{}
	for _, f := range rep.GetFlags() {
		want[verifier.ReplayFlagKey(f)] = f.GetCorrectedBy()
	}
	l, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{LotId: "X", PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range l.GetFlags() {
		k := verifier.ReplayFlagKey(f)
		if w, ok := want[k]; ok && !slices.Equal(f.GetCorrectedBy(), w) {
			t.Errorf("flag %s %q: listed corrected by %v, a full verification says %v (C1 is %s)", f.GetRule(), f.GetMessage(), f.GetCorrectedBy(), w, c1)
		}
	}
}
