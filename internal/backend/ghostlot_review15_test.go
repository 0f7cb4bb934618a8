package backend_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// TestFlagOfALotNotReplayedYet_review15: a queued party's lots are
// verified beside the follower (verifyParties), from the store as it is
// now, which may hold lots the follower has not reached. A flag on a
// correction of such a lot Z (KEY_RECOVERY: the key the registrar added
// alone) goes, since 0e16088, to stay["Z"], and addFlags writes L/Z
// with that Extra and nothing else: Verdict UNSPECIFIED, no holder, no
// head (summarize returns early for a lot without h/). ListLots, which
// "does not list a lot the follower has not reached", lists Z, with
// VERDICT_UNSPECIFIED, until the follower gets there.
func TestFlagOfALotNotReplayedYet_review15(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	forged := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	x.Submit(x.C.RegistrarSign(&pb.Statement{EventTime: x.Day(0.5), Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
		PartyId: x.Mine.ID, NewKey: &pb.PartyKey{PublicKey: forged.Public().(ed25519.PublicKey), NotBefore: x.Day(0)},
	}}}))
	reached := x.S.Log().Size() // the follower stops here: the recovery queued the mine
	imposter := &ct.Party{ID: x.Mine.ID, Key: forged, Reg: x.Mine.Reg}
	ext := x.Extract(imposter, "Z", 10000, 3, 9, lottest.MineSite, 1)
	x.Correct(imposter, &pb.Correction{LotId: "Z", Corrects: ext, MassKg: lottest.Kg(9900)}, 2)
	if err := backend.ReplayN(t.Context(), b, reached); err != nil {
		t.Fatal(err)
	}
	if err := backend.VerifyQueued(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if sum, ok, err := backend.Summary(b, "Z"); err != nil {
		t.Fatal(err)
	} else if ok {
		t.Errorf("the follower, at index %d, has a summary of lot Z, which it has not reached: %+v", b.Replayed(), sum)
	}
	resp, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range resp.GetLots() {
		if l.GetLot().GetLotId() == "Z" {
			t.Errorf("ListLots lists lot Z, which the follower has not reached, as %v", l.GetVerdict())
		}
	}
}
