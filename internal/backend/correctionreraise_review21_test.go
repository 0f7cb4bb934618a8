package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
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
