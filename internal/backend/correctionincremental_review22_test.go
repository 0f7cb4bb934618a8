package backend_test

import (
	"fmt"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// neverLaxer checks, for every lot of x's log, that the follower's
// listing is not laxer than a full verification: each flag that counts in
// the verification counts in the listing (record, rule, lot); a FLAGGED
// verification is listed FLAGGED, by the summary and by ListLots under
// the verdict and under each of its rules; no verification is INVALID.
func neverLaxer(t *testing.T, x *lottest.H, b *backend.Backend, when string) (bad int) {
	t.Helper()
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	withdrawn := withdrawnBy(t, b)
	listed := func(req *apipb.ListLotsRequest) map[string]bool {
		out := map[string]bool{}
		req.PageSize = 1000
		for {
			r, err := b.ListLots(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range r.GetLots() {
				out[l.GetLot().GetLotId()] = true
			}
			if r.GetNextPageToken() == "" {
				return out
			}
			req.PageToken = r.GetNextPageToken()
		}
	}
	flagged := listed(&apipb.ListLotsRequest{Verdict: pb.Verdict_VERDICT_FLAGGED})
	byRule := map[string]map[string]bool{}
	for st, err := range x.S.Lots(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		lot := st.GetLotId()
		rep, err := b.VerifyLot(t.Context(), lot)
		if err != nil {
			t.Fatal(err)
		}
		fail := func(format string, args ...any) {
			bad++
			if bad <= 5 {
				t.Errorf("%s: lot %s: %s\n%s", when, lot, fmt.Sprintf(format, args...), rep.GetText())
			}
		}
		if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
			fail("INVALID: %v", rep.GetErrors())
			continue
		}
		sum, ok, err := backend.Summary(b, lot)
		if err != nil || !ok {
			t.Fatalf("%s: lot %s: no summary (%v)", when, lot, err)
		}
		counted := map[string]bool{}
		for _, k := range sum.Keys {
			if _, out := withdrawn[k]; !out {
				counted[flagAt(k)] = true
			}
		}
		for _, f := range rep.GetFlags() {
			if k := verifier.ReplayFlagKey(f); len(f.GetCorrectedBy()) == 0 && !counted[flagAt(k)] {
				fail("a full verification counts %s; the listing does not (%v)", k, sum.Keys)
			}
		}
		if rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
			continue
		}
		if sum.Verdict != pb.Verdict_VERDICT_FLAGGED {
			fail("listed %v, verified FLAGGED", sum.Verdict)
		}
		if !flagged[lot] {
			fail("not in ListLots(verdict FLAGGED); its summary says %v", sum.Verdict)
		}
		for _, f := range rep.GetFlags() {
			if len(f.GetCorrectedBy()) > 0 {
				continue
			}
			if byRule[f.GetRule()] == nil {
				byRule[f.GetRule()] = listed(&apipb.ListLotsRequest{Rule: f.GetRule()})
			}
			if !byRule[f.GetRule()][lot] {
				fail("not in ListLots(rule %s), which its verification counts (summary rules %v)", f.GetRule(), sum.Rules)
			}
		}
	}
	return bad
}

// TestCorrectionsFollowedAsTheLogGrows (review 22): the differential test
// of 1ed3edb (TestReplayMatchesVerifierWithCorrections) lets the
// follower read each random log only once it is whole, and compares the
// summaries alone. Here the follower reads the log every 25 operations,
// as a server does while records arrive, full verifications queued along
// the way run when they do, and after each read every lot is compared:
// its counted flags, its FLAGGED verdict, and ListLots by verdict and by
// rule.
func TestCorrectionsFollowedAsTheLogGrows(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			x := lottest.New(t)
			b := paused(t, x)
			bad := 0
			lottest.WorkloadCorrectingEach(t, x, seed, 300, func(i int) {
				if i%25 == 0 {
					bad += neverLaxer(t, x, b, fmt.Sprintf("after %d operations", i))
				}
			}, false)
			bad += neverLaxer(t, x, b, "at the end")
			if bad > 0 {
				t.Errorf("%d disagreements", bad)
			}
		})
	}
}
