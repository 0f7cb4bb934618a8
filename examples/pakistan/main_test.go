package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// TestScenario plays the example against its own embedded server and
// checks that the clean lot verifies and each laundering pattern is caught
// by the rule meant for it, computed from the records.
func TestScenario(t *testing.T) {
	var out bytes.Buffer
	res, err := play(t.Context(), options{out: &out})
	if err != nil {
		t.Fatalf("play: %v\n%s", err, out.String())
	}
	if len(res.Stories) != 7 {
		t.Fatalf("%d stories, want 7", len(res.Stories))
	}
	for _, st := range res.Stories {
		rep := res.Reports[st.Lot]
		rules := map[string]bool{}
		for _, f := range rep.GetFlags() {
			rules[f.GetRule()] = true
		}
		if len(st.Expect) == 0 {
			if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED || rep.GetUntracedShare() != 0 {
				t.Errorf("%s (%s): verdict %v, untraced %.3f, flags %v; want VERIFIED and fully traced", st.Lot, st.Title, rep.GetVerdict(), rep.GetUntracedShare(), rules)
			}
			continue
		}
		if rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
			t.Errorf("%s (%s): verdict %v, want FLAGGED", st.Lot, st.Title, rep.GetVerdict())
		}
		for _, want := range st.Expect {
			if !rules[want] {
				t.Errorf("%s (%s): no %s flag; flags %v", st.Lot, st.Title, want, rules)
			}
		}
	}
	// The blend's surplus shows as untraced antimony.
	if u := res.Reports["QA-BLEND-1"].GetUntracedShare(); u < 0.4 || u > 0.5 {
		t.Errorf("QA-BLEND-1 untraced share %.3f, want about 0.45 (18 t out of 10 t in)", u)
	}
	// The merge's surplus is one flag, with the weight and the Sb it
	// gained, printed once (issue 17).
	blend := res.Reports["QA-BLEND-1"]
	if n := len(lottest.Flagged(blend, "MASS_SURPLUS")); n != 1 {
		t.Errorf("QA-BLEND-1 has %d MASS_SURPLUS flags, want 1", n)
	} else if m := lottest.Flagged(blend, "MASS_SURPLUS")[0].GetMessage(); !strings.Contains(m, "outputs weigh 18000.0 kg") || !strings.Contains(m, "kg Sb untraced") {
		t.Errorf("QA-BLEND-1's MASS_SURPLUS says %q, want the weight and the Sb", m)
	}
	if _, report, _ := strings.Cut(out.String(), "The full report for QA-BLEND-1"); strings.Count(report, "MASS_SURPLUS") != 1 {
		t.Errorf("the blend's report prints MASS_SURPLUS %d times, want once:\n%s", strings.Count(report, "MASS_SURPLUS"), report)
	}
	if !strings.Contains(out.String(), "STORY*") || !strings.Contains(out.String(), "STORY is the scenario's own description") {
		t.Errorf("the table does not mark STORY as the scenario's own description:\n%s", out.String())
	}
	for _, want := range []string{"VERIFIED", "MASS_SURPLUS", "--serve"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestDeletionMatrix: every lot of the example, flagged or not, with each
// record of its bundle removed in turn (and each leaf and map proof): the
// buyer's verifier never says VERIFIED, and says what is missing. So a
// seller cannot remove the record that flags a lot (the KR-002 assay, the
// QA-004 extraction's capacity tally, a signer's registration).
func TestDeletionMatrix(t *testing.T) {
	var out bytes.Buffer
	res, err := play(t.Context(), options{out: &out})
	if err != nil {
		t.Fatalf("play: %v\n%s", err, out.String())
	}
	for _, st := range res.Stories {
		t.Run(st.Lot, func(t *testing.T) {
			cuts := lottest.DeletionMatrix(t, res.Bundles[st.Lot], st.Lot, res.Trust)
			if len(cuts) < 3 {
				t.Errorf("%d cuts of %s's bundle", len(cuts), st.Lot)
			}
		})
	}
}
