package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestCorrect: a receipt of 50,000 kg for 5,000 sent (a typing slip) is
// corrected by the receiver, co-signed by the sender through cosign; the
// lot verifies, and the report keeps the withdrawn flag, marked.
func TestCorrect(t *testing.T) {
	c := newCLI(t)
	c.setup()
	mine := []string{"--key", c.path("mine.key"), "--party", "mine-1"}
	exp := []string{"--key", c.path("exp.key"), "--party", "exp-1"}
	c.ok(append([]string{"extract", "--lot", "L2", "--mass-kg", "5000", "--grade", "9", "--lat", "30.0", "--lon", "67.2", "--time", at(4, 8)}, mine...)...)
	c.ok(append([]string{"dispatch", "--lot", "L2", "--to", "exp-1", "--mass-kg", "5000", "--time", at(5, 8)}, mine...)...)
	out := c.ok(append([]string{"receive", "--yes", "--seals-intact", "--lot", "L2", "--mass-kg", "50000", "--lat", "24.86", "--lon", "67.01", "--time", at(7, 8)}, exp...)...)
	m := regexp.MustCompile(`record (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("receive printed no record id:\n%s", out)
	}
	receipt := m[1]
	if code, out, _ := c.run("verify", "L2"); code != exitFlagged || !strings.Contains(out, "TRANSIT_GAIN") {
		t.Fatalf("verify L2 before the correction: exit %d\n%s", code, out)
	}

	fix := append([]string{"correct", "--record", receipt, "--lot", "L2", "--mass-kg", "4995", "--reason", "typed a zero too many", "--time", at(7, 9)}, exp...)
	// The sender must co-sign: without its key or --sign-only, nothing is signed.
	if code, _, errs := c.run(fix...); code != exitUsage || !strings.Contains(errs, `co-signed by "mine-1"`) {
		t.Fatalf("correct without the counterparty: exit %d: %s", code, errs)
	}
	if code, _, errs := c.run("correct", "--record", receipt, "--lot", "L2", "--reason", "x", exp[0], exp[1], exp[2], exp[3]); code != exitUsage || !strings.Contains(errs, "nothing to correct") {
		t.Fatalf("correct with nothing to correct: exit %d: %s", code, errs)
	}
	req := c.ok(append(fix, "--sign-only")...)
	if err := os.WriteFile(c.path("fix.json"), []byte(req), 0o600); err != nil {
		t.Fatal(err)
	}
	// cosign checks the lot with the correction before it submits: no
	// CRITICAL flag left, so it goes through unasked.
	if code, _, errs := c.run("cosign", "--key", c.path("mine.key"), c.path("fix.json")); code != exitOK || !strings.Contains(errs, "which must be a key of the counterparty, mine-1") {
		t.Fatalf("cosign of the correction: exit %d: %s", code, errs)
	}
	if out := c.ok("lot", "L2"); !strings.Contains(out, "corrected record "+receipt+": mass 4995 kg (typed a zero too many), co-signed by mine-1") {
		t.Fatalf("provctl lot L2 does not show the correction:\n%s", out)
	}
	code, out, errs := c.run("verify", "L2")
	if code != exitOK || !strings.Contains(out, "VERIFIED") || !strings.Contains(out, "CORRECTED by") || !strings.Contains(out, "50000.0 kg -> 4995.0 kg") {
		t.Fatalf("verify L2 after the correction: exit %d\n%s\n%s", code, out, errs)
	}
	// The listings: the withdrawn flag marked, the lot VERIFIED with no
	// rule, and not among the lots of TRANSIT_GAIN.
	if out := c.ok("flags", "--lot", "L2"); !regexp.MustCompile(`CRITICAL +TRANSIT_GAIN \(corrected by \S+: not counted\) +L2 `).MatchString(out) {
		t.Errorf("provctl flags --lot L2 after the correction does not mark the flag corrected:\n%s", out)
	}
	if out := c.ok("list-lots"); !regexp.MustCompile(`(?m)^L2 .* VERIFIED +-$`).MatchString(out) {
		t.Errorf("provctl list-lots after the correction: want L2 VERIFIED with no rule:\n%s", out)
	}
	if out := c.ok("list-lots", "--rule", "TRANSIT_GAIN"); strings.Contains(out, "L2") {
		t.Errorf("provctl list-lots --rule TRANSIT_GAIN after the correction lists L2:\n%s", out)
	}
	// The same correction again is the same record; another is refused: once per record.
	if out := c.ok(append(fix, "--counterparty-key", c.path("mine.key"))...); !strings.Contains(out, "already recorded") {
		t.Fatalf("the same correction again: %s", out)
	}
	fix[6] = "4990"
	// (provctl's check before writing finds it, as the server would.)
	if code, _, errs := c.run(append(fix, "--counterparty-key", c.path("mine.key"))...); code != exitFailed || !strings.Contains(errs, "the log corrects a record once") {
		t.Fatalf("a second correction: exit %d: %s", code, errs)
	}
}
