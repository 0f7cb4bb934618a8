package backend_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestRequeueDuringVerification (from a second cold review): a second
// revocation of the same party, replayed while the party's lots from the
// first are being verified in full, is not dropped when that
// verification ends.
func TestRequeueDuringVerification(t *testing.T) {
	for _, interleave := range []bool{false, true} {
		t.Run(map[bool]string{false: "sequential", true: "interleaved"}[interleave], func(t *testing.T) {
			x := lottest.New(t)
			k2 := ed25519.NewKeyFromSeed(make([]byte, 32))
			rot := x.C.RegistrarSign(&pb.Statement{EventTime: x.Day(0.5), Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
				PartyId: x.Mine.ID, NewKey: &pb.PartyKey{PublicKey: k2.Public().(ed25519.PublicKey), NotBefore: x.Day(0)},
			}}})
			record.Cosign(rot, x.Mine.Key)
			x.Submit(rot)
			alt := &ct.Party{ID: x.Mine.ID, Key: k2, Reg: x.Mine.Reg}
			ext := x.Extract(x.Mine, "L1", 10000, 3, 9, lottest.MineSite, 1)
			d := x.Dispatch(alt, "L1", ext, x.Exp, 10000, 2)
			x.Receive(x.Exp, "L1", d, 10000, 3)
			// rev1: K1, dated back before the extraction.
			x.Submit(x.C.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
				PartyId: x.Mine.ID, KeyId: x.Mine.KeyID(), RevokedAt: x.Day(0.8), Reason: "stolen"}}}))
			rev2 := func() {
				x.Submit(x.C.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
					PartyId: x.Mine.ID, KeyId: alt.KeyID(), RevokedAt: x.Day(0.9), Reason: "stolen too"}}}))
			}
			b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if _, err := backend.Step(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			if !interleave {
				rev2()
				if err := backend.ReplayAll(t.Context(), b); err != nil {
					t.Fatal(err)
				}
				compareAll(t, x, b)
				return
			}
			backend.LockFollower(b)
			done := make(chan error)
			go func() { done <- backend.VerifyQueued(t.Context(), b) }()
			time.Sleep(500 * time.Millisecond) // it verifies L1 and waits for the lock to add its flags
			rev2()
			if _, err := backend.StepLocked(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			backend.UnlockFollower(b)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if n := backend.QueueKeys(b); n != 1 {
				t.Errorf("after the first verification: %d parties queued, want the one queued again", n)
			}
			if err := backend.ReplayAll(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			compareAll(t, x, b)
		})
	}
}
