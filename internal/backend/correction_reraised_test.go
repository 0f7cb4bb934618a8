package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/verifier"

	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// TestReRaisedLotYearCounts: a receipt correction withdraws the lot-year
// ORIGIN_VOLUME; the lot's next receipt, within the handoff tolerance,
// gives back the Sb the correction moved to "lost", and the lot raises the
// very same flag (same index, lot and message: the same key) again. The
// full verification counts it (FLAGGED), and so does the follower, whose
// listing is never laxer.
func TestReRaisedLotYearCounts(t *testing.T) {
	x, b, r := overAYear(t)
	rep := agrees(t, b, "L1")
	t.Logf("before the correction: %v\n%s", rep.GetVerdict(), rep.GetText())
	// The receipt corrected 1 % down: 62,469 kg Sb, under the limit.
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(499_752)}, 3.5, x.Mine)
	rep = agrees(t, b, "L1")
	t.Logf("after the correction: %v\n%s", rep.GetVerdict(), rep.GetText())
	// The next hop weighs 1 % more (within the 2 % handoff tolerance):
	// the Sb the correction lost comes back to the mine's share.
	d2 := x.Dispatch(x.Exp, "L1", r, x.Smelter, 499_752, 4)
	x.Receive(x.Smelter, "L1", d2, 504_800, 5)
	rep = agrees(t, b, "L1")
	t.Logf("after the next hop: %v\n%s", rep.GetVerdict(), rep.GetText())
	if rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
		t.Errorf("full verification: %v, want FLAGGED (the lot again holds more than a year of the mine's capacity)\n%s", rep.GetVerdict(), rep.GetText())
	}
}

// noNational is the default configuration without the national output
// check, which would flag every lot of the harness's size.
func noNational() verifier.Config {
	cfg := verifier.DefaultConfig()
	cfg.NationalOutputKgSbPerYear = 0
	return cfg
}

// TestWithdrawnLotYearListedAgain: a withdrawn lot-year flag that the lot
// raises again and then no longer raises is listed by the follower, marked
// corrected, as the full verification lists it (not deleted with the lot's
// derived flags).
func TestWithdrawnLotYearListedAgain(t *testing.T) {
	x, b, r := overAYear(t)
	// The follower replays each step as the log takes it (its batches
	// would otherwise summarize the lot once, at the end).
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(499_752)}, 3.5, x.Mine)
	agrees(t, b, "L1")
	d2 := x.Dispatch(x.Exp, "L1", r, x.Smelter, 499_752, 4)
	r2 := x.Receive(x.Smelter, "L1", d2, 504_800, 5)
	agrees(t, b, "L1") // raised again
	// A hop that loses 1 %: the lot no longer raises the flag.
	d3 := x.Dispatch(x.Smelter, "L1", r2, x.Exp, 504_800, 6)
	x.Receive(x.Exp, "L1", d3, 499_752, 7)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	rep, err := b.VerifyLot(t.Context(), "L1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, f := range rep.GetFlags() {
		want[verifier.ReplayFlagKey(f)] = true
	}
	resp, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: verifier.RuleOriginVolume})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range resp.GetFlags() {
		if f.GetLotId() == "L1" {
			got[verifier.ReplayFlagKey(f)] = true
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("the full verification lists %s; the follower's ListFlags does not\n%s", k, rep.GetText())
		}
	}
}

// overAYear logs lot L1 of 504,800 kg ore at 12.5 %, dry: 63,100 kg Sb,
// just above a year of the mine's capacity (500,000 kg x 12 % = 60,000,
// +5 % = 63,000), dispatched to the exporter and received whole, with a
// paused follower (no national check); it returns the receipt.
func overAYear(t *testing.T) (*lottest.H, *backend.Backend, string) {
	t.Helper()
	x := lottest.New(t)
	b := pausedCfg(t, x, noNational())
	ext := x.Extract(x.Mine, "L1", 504_800, 0, 12.5, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "L1", ext, x.Exp, 504_800, 2)
	return x, b, x.Receive(x.Exp, "L1", d, 504_800, 3)
}
