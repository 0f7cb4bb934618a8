package backend_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestNotFollowedCorrectionLaterRecordsFlag_review19: README
// "Corrections" said a flag the values as first signed would raise on a
// record logged after the correction "is in neither the listing nor a
// full verification". For a correction the follower does not follow
// (here: a second correction of the lot in the stretch it would replay),
// the follower judges the later record against the state as first signed
// and lists that flag, uncorrected: the listing is stricter than a full
// verification, as README says of corrections the follower does not
// follow (the sentence is now scoped to those it follows). A dispatch of
// 1,000 kg of a 10,000 kg lot; the mine corrects its extraction's site
// (C1), then the dispatch to 10,000 kg (C2, co-signed); the receipt of
// 10,000 kg comes after. A full verification: VERIFIED, no TRANSIT_GAIN.
// The listing: a TRANSIT_GAIN on the receipt, stricter, never laxer.
func TestNotFollowedCorrectionLaterRecordsFlag_review19(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 1000, 2)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, Location: lottest.MineSite}, 2.2)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(10000)}, 2.5, x.Exp)
	x.Receive(x.Exp, "X", d, 10000, 3) // logged after both corrections
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if err := backend.VerifyQueued(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	rep := x.Verify("X")
	if n := len(lottest.Flagged(rep, verifier.RuleTransitGain)); n != 0 || rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("a full verification: %d TRANSIT_GAIN, %v; the case is not the one described\n%s", n, rep.GetVerdict(), rep.GetText())
	}
	r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{LotId: "X", Rule: verifier.RuleTransitGain})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetFlags()) != 1 {
		t.Errorf("the listing has %v; want the TRANSIT_GAIN of the values as first signed, the listing stricter than a full verification for a correction it does not follow", r.GetFlags())
	}
}
