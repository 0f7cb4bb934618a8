package backend_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// TestBackdatedCorrectionTimeline_review15: the follower never judges a
// correction record itself (ApplyDeferred hands a correction to
// Replay.correct before timeChecks and keyChecks run, and correct
// replays only the corrected record and those after it), and no full
// verification is queued for it, so 0e16088's path (addFlags) is never
// taken: a correction logged 56 days after the event time it claims is
// TIMELINE in a full verification of the lot, FLAGGED, and VERIFIED with
// no flag in the follower's listing. (Older than these commits, but the
// same gap 0e16088 meant to close: a flag a full verification finds on a
// correction record is not counted in the lot's summary.)
func TestBackdatedCorrectionTimeline_review15(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 10000, 2)
	x.Receive(x.Exp, "X", d, 10000, 3)
	x.Extract(x.Mn2, "Z", 100, 3, 9, lottest.MineSite, 60) // the log's clock moves on to day 60
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 4)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if rep := x.Verify("X"); len(lottest.Flagged(rep, "TIMELINE")) == 0 {
		t.Fatalf("a full verification of X does not report the backdated correction: %v", rep.GetFlags())
	}
	agrees(t, b, "X")
}

// TestRecoveredKeyCorrection_review15: the same for KEY_RECOVERY. The
// registrar adds a key to the mine alone (a recovery: the party is
// queued, its lots verified in full, once); afterwards the mine's lot X is
// corrected with that key. A full verification of X reports KEY_RECOVERY
// on the correction; the follower, which judges the keys of every custody
// record it replays but not of a correction, and queues nothing for it,
// lists X VERIFIED.
func TestRecoveredKeyCorrection_review15(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	forged := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	x.Submit(x.C.RegistrarSign(&pb.Statement{EventTime: x.Day(0.5), Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
		PartyId: x.Mine.ID, NewKey: &pb.PartyKey{PublicKey: forged.Public().(ed25519.PublicKey), NotBefore: x.Day(0)},
	}}}))
	if err := backend.ReplayAll(t.Context(), b); err != nil { // the recovery's full verification: no lots yet
		t.Fatal(err)
	}
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 10000, 2)
	x.Receive(x.Exp, "X", d, 10000, 3)
	imposter := &ct.Party{ID: x.Mine.ID, Key: forged, Reg: x.Mine.Reg}
	x.Correct(imposter, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 4)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if rep := x.Verify("X"); len(lottest.Flagged(rep, "KEY_RECOVERY")) == 0 {
		t.Fatalf("a full verification of X does not report the correction's KEY_RECOVERY: %v", rep.GetFlags())
	}
	agrees(t, b, "X")
}
