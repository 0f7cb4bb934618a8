package backend_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestReplayMatchesVerifierWithCorrections: for random logs with
// corrections among their records (lottest.WorkloadCorrecting: slips of
// mass, place and seals, of extractions, dispatches and receipts, some
// corrected while others of the lot were, some past splits, merges and
// smelts), no lot's listing is laxer than a full verification: every
// flag that counts in the verification counts in the listing (by record,
// rule and lot), and a FLAGGED lot is listed FLAGGED. A lot with no
// correction in its history, none of whose lots had a correction the
// follower did not follow, is listed exactly as verified (its flags and
// ancestors', each withdrawn or not alike, and its verdict). Where
// corrections are in a lot's history the listing may still be stricter
// (README "Corrections"); the test counts those lots. Before this test, a
// smelt's output of a lot whose extraction was corrected down after the
// smelt was listed without the smelt's DOUBLE_SPEND (laxer), and a lot
// used up by a transformation that a correction made over-consume was
// INVALID ("incomplete bundle").
func TestReplayMatchesVerifierWithCorrections(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6}
	if testing.Short() {
		seeds = seeds[:2]
	}
	// More, to search: PROVENANCE_CORRECTION_SEEDS=200.
	if n, err := strconv.Atoi(os.Getenv("PROVENANCE_CORRECTION_SEEDS")); err == nil {
		seeds = nil
		for i := range n {
			seeds = append(seeds, uint64(i+1))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			x := lottest.New(t)
			lottest.WorkloadCorrecting(t, x, seed, 300)
			b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := backend.ReplayAll(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			if err := backend.VerifyQueued(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			withdrawn := withdrawnBy(t, b)
			var lots, corrected, exact, stricter int
			for st, err := range x.S.Lots(t.Context(), "") {
				if err != nil {
					t.Fatal(err)
				}
				lot := st.GetLotId()
				lots++
				rep, err := b.VerifyLot(t.Context(), lot)
				if err != nil {
					t.Fatal(err)
				}
				if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
					t.Fatalf("lot %s: INVALID: %v", lot, rep.GetErrors())
				}
				if len(rep.GetCorrections()) > 0 {
					corrected++
				}
				want := map[string]bool{} // key: counts
				for _, f := range rep.GetFlags() {
					want[verifier.ReplayFlagKey(f)] = len(f.GetCorrectedBy()) == 0
				}
				sum, ok, err := backend.Summary(b, lot)
				if err != nil || !ok {
					t.Fatalf("lot %s: no summary (%v)", lot, err)
				}
				got := map[string]bool{} // the lot's flags, its ancestors' with them
				for _, k := range sum.Keys {
					_, out := withdrawn[k]
					got[k] = !out
				}
				// Stricter allowed where a correction in its history was
				// not followed: the lot, or a lot its bundle shows
				// (the lots it was made from).
				loose := false
				for _, l := range bundleLots(t, x, lot) {
					if nf, err := backend.NotFollowed(b, l); err != nil {
						t.Fatal(err)
					} else if nf {
						loose = true
					}
				}
				// Never laxer: each flag that counts in the verification
				// counts in the listing, by record, rule and lot (where a
				// correction was not followed, its message may give other
				// figures).
				gotAt := map[string]bool{}
				for k, counts := range got {
					if counts {
						gotAt[flagAt(k)] = true
					}
				}
				for k, counts := range want {
					if counts && !gotAt[flagAt(k)] {
						t.Errorf("lot %s: a full verification counts %s; the listing does not (%v)\n%s", lot, k, got, rep.GetText())
					}
				}
				if rep.GetVerdict() == pb.Verdict_VERDICT_FLAGGED && sum.Verdict != pb.Verdict_VERDICT_FLAGGED {
					t.Errorf("lot %s: the listing says %v, a full verification FLAGGED\n%s", lot, sum.Verdict, rep.GetText())
				}
				if loose || len(rep.GetCorrections()) > 0 {
					if !mapsEqual(got, want) {
						stricter++
					}
					continue
				}
				exact++
				if !mapsEqual(got, want) || sum.Verdict != rep.GetVerdict() {
					var only, missing []string
					for k, v := range got {
						if w, ok := want[k]; !ok || w != v {
							only = append(only, fmt.Sprintf("%s (counts %t)", k, v))
						}
					}
					for k, v := range want {
						if g, ok := got[k]; !ok || g != v {
							missing = append(missing, fmt.Sprintf("%s (counts %t)", k, v))
						}
					}
					t.Errorf("lot %s: the listing (verdict %v) has %v; the verification (verdict %v) has %v instead\n%s", lot, sum.Verdict, only, rep.GetVerdict(), missing, rep.GetText())
				}
			}
			t.Logf("%d records, %d lots, %d with corrections; %d compared exactly; of the others, %d listed stricter than verified", x.S.Log().Size(), lots, corrected, exact, stricter)
			if corrected == 0 {
				t.Errorf("the workload made no lot with a correction")
			}
		})
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// bundleLots returns the lots whose records lot's bundle holds.
func bundleLots(t *testing.T, x *lottest.H, lot string) []string {
	t.Helper()
	var out []string
	for _, r := range x.Bundle(lot).GetRecords() {
		if len(r.GetData()) == 0 {
			continue // a record of the registry's, given by its id alone
		}
		_, st, err := record.Decode(r.GetData())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range verifier.RecordLots(st) {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}

// flagAt is a flag key without its message's digest: record, rule, lot.
func flagAt(key string) string {
	i := strings.LastIndex(key, "|")
	if i < 0 {
		return key
	}
	return key[:i]
}
