package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestCorrectionFollowedOverOneNotFollowed_review21: three corrections.
// Ca corrects the dispatch D2 (followed); Cb corrects the receipt R before
// it, with Ca (of D2, in Cb's stretch) between: not followed, the lot's
// states keep R's location as first signed (A). Cc corrects the receipt
// R2 after D2: its stretch [R2, Ca, Cb] holds corrections of records
// before it only, so since 4dcbf61 the follower follows it, replaying R2
// from D2's state, which still has R at A, not at B as Cb says. A full
// verification weighs the leg to R2 from B: too fast (IMPLAUSIBLE_TRANSIT,
// live); the follower from A: slow, no flag, and it withdraws the flag
// the full verification after Cb had added (B to R2 as first signed).
// The listing says VERIFIED, a full verification FLAGGED.
func TestCorrectionFollowedOverOneNotFollowed_review21(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	at := func(lon float64) *pb.Location { return &pb.Location{Lat: 25, Lon: lon, Name: "yard"} }
	atR := func(lon float64) func(*pb.Receipt) { return func(r *pb.Receipt) { r.Location = at(lon) } }
	ext := x.Extract(x.Mine, "X", 1000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 1000, 2)
	r := x.Receive(x.Exp, "X", d, 1000, 3, atR(64)) // A
	d2 := x.Dispatch(x.Exp, "X", r, x.Smelter, 1000, 4)
	r2 := x.Receive(x.Smelter, "X", d2, 1000, 4.1, atR(64.5)) // A -> 50 km in 2.4 h
	agrees(t, b, "X")
	x.Correct(x.Exp, &pb.Correction{LotId: "X", Corrects: d2, CounterpartyId: x.Smelter.ID, MassKg: lottest.Kg(999)}, 4.5, x.Smelter) // Ca
	agrees(t, b, "X")
	x.Correct(x.Exp, &pb.Correction{LotId: "X", Corrects: r, CounterpartyId: x.Mine.ID, Location: at(67)}, 4.6, x.Mine) // Cb: B
	agrees(t, b, "X")
	x.Correct(x.Smelter, &pb.Correction{LotId: "X", Corrects: r2, CounterpartyId: x.Exp.ID, Location: at(64.2)}, 4.7, x.Exp) // Cc: B -> 282 km
	rep := agrees(t, b, "X")
	if rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED || len(lottest.Flagged(rep, verifier.RuleImplausibleTransit)) == 0 {
		t.Fatalf("a full verification: %v, want FLAGGED (IMPLAUSIBLE_TRANSIT from B)\n%s", rep.GetVerdict(), rep.GetText())
	}
}
