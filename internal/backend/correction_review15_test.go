package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// revokeMineAsOf logs the registrar's revocation of the mine's key,
// dating its compromise back to day (within the revocation reach).
func revokeMineAsOf(x *lottest.H, day float64) {
	x.Submit(x.C.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: x.Mine.ID, KeyId: x.Mine.KeyID(), RevokedAt: x.Day(day), Reason: "stolen"}}}))
}

// TestCorrectionFlagOfADescendant_review15: a full verification of a lot
// reports the flags of the corrections of every record in its ancestry
// (verifier's ancestry adds a correction when anc[{corrects, lot}]), so
// KEY_MISUSE on the mine's correction of lot X's extraction, signed by a
// key later revoked as of a time before it, is a flag of T, the trioxide
// smelted from X, too. Replay.addFlags (0e16088) puts that flag into the
// Extra of X alone (the lot the flag names), and propagates it to no
// node, so T's summary, which a flag on any custody record of X reaches
// through the nodes continuing it, misses it: T is listed VERIFIED where
// a full verification says FLAGGED. (T is the smelter's, not in the
// queued mine's lots, so nothing ever verifies it in full either.)
func TestCorrectionFlagOfADescendant_review15(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 10000, 2)
	r := x.Receive(x.Exp, "X", d, 10000, 3)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 4)
	d2 := x.Dispatch(x.Exp, "X", r, x.Smelter, 9900, 5)
	r2 := x.Receive(x.Smelter, "X", d2, 9900, 6)
	x.Transform(x.Smelter, pb.TransformationKind_TRANSFORMATION_KIND_SMELT,
		[]*pb.TransformationInput{{LotId: "X", Link: r2, MassKg: 9900}},
		[]*pb.TransformationOutput{{LotId: "T", MassKg: 990, Product: pb.Product_PRODUCT_TRIOXIDE, SbGradePct: 83}}, 7)
	revokeMineAsOf(x, 3.5)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if rep := x.Verify("T"); len(lottest.Flagged(rep, "KEY_MISUSE")) == 0 {
		t.Fatalf("a full verification of T does not report the correction's KEY_MISUSE: %v", rep.GetFlags())
	}
	agrees(t, b, "X") // what 0e16088 fixed
	agrees(t, b, "T")
}

// TestCorrectionFlagOfTheSignersOwnDescendant_review15: the same with
// the descendant among the queued party's own lots, so that the backend
// does verify it in full and hands its flags to AddFlags(Y1, ...): the
// KEY_MISUSE of the correction names X, and addFlags files it under
// stay["X"], not with Y1, the lot verified, whose report has it. The mine
// splits X into Y1 and Y2, then corrects X's extraction; its key is
// revoked as of a time between the two.
func TestCorrectionFlagOfTheSignersOwnDescendant_review15(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 3000, 3, 9, lottest.MineSite, 1)
	x.Transform(x.Mine, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		[]*pb.TransformationInput{{LotId: "X", Link: ext, MassKg: 3000}},
		[]*pb.TransformationOutput{{LotId: "Y1", MassKg: 1500, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}, {LotId: "Y2", MassKg: 1500, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 2)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(2990)}, 3)
	revokeMineAsOf(x, 2.5)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if rep := x.Verify("Y1"); len(lottest.Flagged(rep, "KEY_MISUSE")) == 0 {
		t.Fatalf("a full verification of Y1 does not report the correction's KEY_MISUSE: %v", rep.GetFlags())
	}
	agrees(t, b, "X")
	agrees(t, b, "Y1")
	agrees(t, b, "Y2")
}
