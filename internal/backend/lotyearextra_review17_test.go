package backend_test

import (
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestLotYearExtraOutlivesItsState_review17: since 0227905 a lot-year
// ORIGIN_VOLUME that a full verification beside the follower finds (all:
// a correction of the lot not followed) and the lot's summary does not
// derive as the follower stands (addFlagsTouched: headDerived, not in
// cur.Derived) goes into the verified lot's summary Extra. Extra is kept
// for good: summarize unions it into Keys whatever the head derives, and
// drops an old Derived key only if it is not in Extra. But the flag is of
// the lot's state at the store's end when it was verified (its Sb in the
// message), which the next records change: here the follower, behind,
// has L1 at the exporter (69,840 kg Sb); the verification reads it at the
// smelter (68,967 kg Sb: N2) and puts N2 into Extra; the lot then moves
// on with a loss to 61,110 kg Sb, below a year of the mine (63,000 kg
// with the tolerance). A full verification reports no lot-year flag (no
// correction withdrew one: both are of places); the follower keeps N2 in
// Keys and lists L1 FLAGGED (ORIGIN_VOLUME) for good.
func TestLotYearExtraOutlivesItsState_review17(t *testing.T) {
	cfg := verifier.DefaultConfig()
	cfg.CapacityWindow = 2 * 365 * 24 * time.Hour
	cfg.NationalOutputKgSbPerYear = 0
	x := lottest.New(t)
	b := pausedCfg(t, x, cfg)
	ext := x.Extract(x.Mine, "L1", 800_000, 3, 9, lottest.MineSite, 1)
	d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 800_000, 2)
	r1 := x.Receive(x.Exp, "L1", d1, 800_000, 3)
	x.Correct(x.Mine, &pb.Correction{LotId: "L1", Corrects: ext, Location: lottest.MineSite}, 3.2)
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, Location: lottest.Karachi}, 3.5, x.Mine)
	reached := x.S.Log().Size() // the second correction, not followed, queued the exporter
	d2 := x.Dispatch(x.Exp, "L1", r1, x.Smelter, 800_000, 5)
	r2 := x.Receive(x.Smelter, "L1", d2, 790_000, 6) // 68,967 kg Sb
	if err := backend.ReplayN(t.Context(), b, reached); err != nil {
		t.Fatal(err)
	}
	if err := backend.VerifyQueued(t.Context(), b); err != nil { // L1 as received by the smelter
		t.Fatal(err)
	}
	if rep := agrees(t, b, "L1"); len(lottest.Flagged(rep, verifier.RuleOriginVolume)) == 0 {
		t.Fatalf("L1 at 68,967 kg Sb raises no lot-year flag:\n%s", rep.GetText())
	}
	// L1 moves on: a loss (no rule), 61,110 kg Sb, under a year of the mine.
	d3 := x.Dispatch(x.Smelter, "L1", r2, x.Exp, 790_000, 7)
	x.Receive(x.Exp, "L1", d3, 700_000, 8)
	rep := agrees(t, b, "L1")
	if len(lottest.Flagged(rep, verifier.RuleOriginVolume)) != 0 {
		t.Fatalf("L1 at 61,110 kg Sb: a full verification still raises the lot-year flag:\n%s", rep.GetText())
	}
}
