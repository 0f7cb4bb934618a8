package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestAddAllFlagsPinsDerivedFlag_review15: AddAllFlags (a lot with a
// correction the follower did not replay: here a second correction)
// takes every flag of a full verification, UNCONFIRMED_CUSTODY too,
// which is not a flag of a record but of the lot's head (the summary
// derives it, ReplayLot.Derived, and drops it when the head moves on).
// addFlags propagates it into the dispatch's node like a record's flag,
// so the receipt's node inherits it for good: once the smelter has
// received L1, the summary derives it no more and deletes the flag (F/),
// but the key stays in Keys and Rules, and L1 is listed FLAGGED
// (UNCONFIRMED_CUSTODY) where a full verification says VERIFIED, with a
// key under which no flag is listed. (Older than these commits: 465c701.)
func TestAddAllFlagsPinsDerivedFlag_review15(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.MineSite, 1)
	d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 3000, 2)
	r1 := x.Receive(x.Exp, "L1", d1, 2995, 3)
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, Location: lottest.Karachi}, 3.5, x.Mine)
	x.Correct(x.Mine, &pb.Correction{LotId: "L1", Corrects: d1, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(2990)}, 4, x.Exp)
	d2 := x.Dispatch(x.Exp, "L1", r1, x.Smelter, 2995, 5)
	agrees(t, b, "L1") // in transit: UNCONFIRMED_CUSTODY on both sides
	x.Receive(x.Smelter, "L1", d2, 2995, 6)
	agrees(t, b, "L1")
	sum, _, err := backend.Summary(b, "L1")
	if err != nil {
		t.Fatal(err)
	}
	state, err := backend.Dump(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range sum.Keys {
		if _, ok := state[verifier.ReplayFlagPrefix+k]; !ok {
			t.Errorf("L1's summary holds key %s, under which no flag is listed", k)
		}
	}
}
