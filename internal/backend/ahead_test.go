package backend_test

import (
	"slices"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestFlagsAheadOfTheFollower: a full verification beside the follower
// may judge a lot the follower has not reached (INVALID, say). Its flags
// are kept for the lot, which is not listed until the follower reaches
// it (a review: it was listed with no verdict), and then counts them.
func TestFlagsAheadOfTheFollower(t *testing.T) {
	x := lottest.New(t)
	b := paused(t, x)
	reached := x.S.Log().Size()
	x.Extract(x.Mine, "Z", 10000, 3, 9, lottest.MineSite, 1)
	if err := backend.ReplayN(t.Context(), b, reached); err != nil {
		t.Fatal(err)
	}
	invalid := &pb.Flag{Rule: backend.RuleInvalid, Severity: pb.Severity_SEVERITY_CRITICAL, LotId: "Z", Message: "lot Z does not verify: a test"}
	if err := backend.AddAllFlags(b, "Z", []verifier.FlagAt{{Flag: invalid}}); err != nil {
		t.Fatal(err)
	}
	listed := func() *apipb.LotSummary {
		t.Helper()
		r, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(r.GetLots(), func(l *apipb.LotSummary) bool { return l.GetLot().GetLotId() == "Z" })
		if i < 0 {
			return nil
		}
		return r.GetLots()[i]
	}
	backend.SetListWait(b, 0)
	if z := listed(); z != nil {
		t.Errorf("lot Z, not reached by the follower, is listed: %v", z)
	}
	// Its flag is listed with it already, as in the whole listing.
	r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{LotId: "Z"})
	if err != nil || !slices.ContainsFunc(r.GetFlags(), func(f *pb.Flag) bool { return f.GetRule() == backend.RuleInvalid }) {
		t.Errorf("lot Z's flags: %v, %v; want its INVALID", r.GetFlags(), err)
	}
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if z := listed(); z.GetVerdict() != pb.Verdict_VERDICT_INVALID {
		t.Errorf("lot Z, reached, is listed as %v, want INVALID: the flag found ahead of the follower was lost", z)
	}
}
