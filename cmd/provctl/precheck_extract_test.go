package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestWarnBeforeExtract: an extraction starts a lot, with no bundle to
// check it against; provctl checks it against the mine's registration
// and the log's running tallies of the mine and the country. One that
// passes the mine's yearly capacity, alone or with the mine's earlier
// extractions, or the country's recorded output with other mines' (as
// far as the mine's own latest extraction counts them), or whose grade no
// ore has, is refused without --yes and not written; the others go
// through, a grade outside the mine's range with its warning.
func TestWarnBeforeExtract(t *testing.T) {
	c := newCLI(t)
	for _, id := range []string{"mine-1", "mine-2"} {
		c.ok("keygen", c.path(id+".key"))
	}
	// 100 t of ore a year at 7-12 % Sb; Pakistan's recorded output is
	// 20 t Sb a year (+5 %).
	c.ok("register", "--party-id", "mine-1", "--name", "Test Mine", "--role", "MINE", "--pub", c.path("mine-1.key.pub"),
		"--lat", "30.0", "--lon", "67.2", "--site", "Test pit", "--capacity-kg", "100000", "--grade-min", "7", "--grade-max", "12",
		"--valid-from", "2026-01-01T00:00:00Z")
	c.ok("register", "--party-id", "mine-2", "--name", "Other Mine", "--role", "MINE", "--pub", c.path("mine-2.key.pub"),
		"--lat", "30.1", "--lon", "67.0", "--site", "Other pit", "--capacity-kg", "200000", "--grade-min", "7", "--grade-max", "12",
		"--valid-from", "2026-01-01T00:00:00Z")
	extract := func(mine, lot, kg, grade string) []string {
		return []string{"extract", "--key", c.path(mine + ".key"), "--party", mine, "--lot", lot, "--mass-kg", kg, "--moisture", "3", "--grade", grade, "--time", at(1, 0)}
	}
	refused := func(what string, args []string, want ...string) {
		t.Helper()
		size := c.treeSize()
		code, out, errs := c.runAs("", false, args...)
		if code != exitFailed || !strings.Contains(errs, "CRITICAL") || !strings.Contains(errs, "not submitted: stdin is not a terminal") {
			t.Fatalf("%s: exit %d\nstdout %s\nstderr %s", what, code, out, errs)
		}
		for _, w := range want {
			if !strings.Contains(errs, w) {
				t.Fatalf("%s: no %q in\n%s", what, w, errs)
			}
		}
		if got := c.treeSize(); got != size {
			t.Fatalf("%s: the log grew from %d to %d entries", what, size, got)
		}
	}
	written := func(what string, args []string) string {
		t.Helper()
		code, out, errs := c.runAs("", false, args...)
		if code != exitOK || strings.Contains(errs, "CRITICAL") || !strings.Contains(out, "recorded at index") {
			t.Fatalf("%s: exit %d\n%s%s", what, code, out, errs)
		}
		return errs
	}

	// Mine 2 extracts first: 100 t, 8.7 t of Sb.
	written("mine 2's first extraction", extract("mine-2", "N0", "100000", "9"))
	// Mine 1's first extraction, no tally of its own yet: 120 t is more
	// than its 100 t a year by itself.
	refused("120 t from a 100 t/yr mine", extract("mine-1", "X0", "120000", "9"), "MINE_OVER_CAPACITY on lot X0", "extracted 120000 kg ore")
	written("an ordinary extraction", extract("mine-1", "L1", "3000", "9"))
	// 90 % for 9: more Sb than stibnite holds.
	refused("a grade no ore has", extract("mine-1", "G1", "3000", "90"), "MASS_SURPLUS on lot G1", "above the stoichiometric maximum")
	// Outside the mine's range, possible for ore: a warning, shown.
	if errs := written("a grade outside the mine's range", extract("mine-1", "G2", "3000", "19")); !strings.Contains(errs, "note: this record would raise WARNING ASSAY_MISMATCH on lot G2") {
		t.Fatalf("no note of the grade outside the mine's range:\n%s", errs)
	}
	written("90 t more: 96 t this year", extract("mine-1", "L2", "90000", "9"))
	// 20 t is nothing by itself; with the 96 t before it, 116 t.
	over := extract("mine-1", "L3", "20000", "9")
	refused("20 t more from the mine: 116 t", over, "MINE_OVER_CAPACITY on lot L3", "extracted 116000 kg ore", "4 extractions")
	code, out, _ := c.runAs("", false, append(over, "--json")...)
	var r struct {
		Submitted bool
		Reason    string
		NewFlags  []struct{ Rule, Severity, LotID string }
		Errors    []string
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitFailed || r.Submitted || len(r.NewFlags) != 1 ||
		r.NewFlags[0].Rule != "MINE_OVER_CAPACITY" || r.NewFlags[0].LotID != "L3" || r.Errors == nil {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, out)
	}

	// Mine 2 again: its 1 t leaf counts the country's 17.5 t so far, and
	// 50 t more (4.4 t of Sb), within its capacity, passes the country's
	// 21 t.
	// The log's last leaf, which every bundle holds, is a registration:
	// mine 2 sees the country's total up to mine 1's latest extraction
	// only, and the check says what it cannot see.
	c.ok("keygen", c.path("buyer.key"))
	c.ok("register", "--party-id", "buyer-1", "--name", "A Buyer", "--role", "BUYER", "--pub", c.path("buyer.key.pub"), "--valid-from", "2026-01-01T00:00:00Z")
	if errs := written("1 t more from mine 2", extract("mine-2", "N1", "1000", "9")); !strings.Contains(errs, "the national output check (ORIGIN_VOLUME, PK) may miss other mines' extractions: the country's running total is counted up to log index") {
		t.Fatalf("no note that the national check may miss other mines' extractions:\n%s", errs)
	}
	national := extract("mine-2", "N2", "50000", "9")
	refused("the country's output passed", national, "ORIGIN_VOLUME on lot N2", "by all its mines")
	// Confirmed on a terminal, it is written, and flagged as foretold.
	// Mine 2's own extraction is the log's latest: nothing unseen, no note.
	if code, out, errs := c.runAs("y\n", true, national...); code != exitOK || !strings.Contains(errs, "Submit anyway? [y/N]") || !strings.Contains(out, "recorded at index") || strings.Contains(errs, "cannot see") {
		t.Fatalf("confirmed: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := c.run("verify", "N2"); code != exitFlagged || !strings.Contains(out, "ORIGIN_VOLUME") {
		t.Fatalf("verify N2: exit %d\n%s", code, out)
	}
	if out := c.ok("verify", "L2"); !strings.HasPrefix(out, "VERIFIED") {
		t.Fatalf("verify L2:\n%s", out)
	}
}
