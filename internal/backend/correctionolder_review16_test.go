package backend_test

import (
	"crypto/ed25519"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestFlagAheadOfACorrectionWithdrawn_review16 (older than these
// commits; the cause of TestCorrectionWithdrawsItsOwnFlag_review16):
// Replay.correct takes every flag of the corrected record's node that the
// record, replayed anew, does not raise for one the values as first
// signed raised, and marks it withdrawn. A flag a full verification beside
// the follower added to that node from registry records the follower has
// not replayed yet is not one: here KEY_MISUSE on the extraction, the
// mine's first key revoked (logged after the correction, which the mine
// signed with its second key) as of a time before the extraction. The
// follower replays the extraction anew with its registry of then, which
// lacks the revocation, and marks the flag withdrawn by the correction;
// the revocation, replayed, queues the mine, whose full verification adds
// the flag again (putFlag, uncorrected) but never clears cf/: X is listed
// VERIFIED for good where a full verification says FLAGGED.
func TestFlagAheadOfACorrectionWithdrawn_review16(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	k2 := ed25519.NewKeyFromSeed(make([]byte, 32))
	rot := x.C.RegistrarSign(&pb.Statement{EventTime: x.Day(0.5), Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
		PartyId: x.Mine.ID, NewKey: &pb.PartyKey{PublicKey: k2.Public().(ed25519.PublicKey), NotBefore: x.Day(0)},
	}}})
	x.Submit(record.Cosign(rot, x.Mine.Key)) // queues the mine
	alt := &ct.Party{ID: x.Mine.ID, Key: k2, Reg: x.Mine.Reg}
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	reached := x.S.Log().Size()
	x.Correct(alt, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 2)
	revokeMineAsOf(x, 0.8) // the first key: after the rotation it consented to, before the extraction
	if err := backend.ReplayN(t.Context(), b, reached); err != nil {
		t.Fatal(err)
	}
	if err := backend.VerifyQueued(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	rep := agrees(t, b, "X")
	if len(lottest.Flagged(rep, verifier.RuleKeyMisuse)) == 0 {
		t.Fatalf("a full verification of X does not report the extraction's KEY_MISUSE:\n%s", rep.GetText())
	}
}
