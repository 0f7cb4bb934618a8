package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestFlagsLimitHintWithFilters_review20: 402d54b has provctl flags, cut
// at --limit, say "go on with --page-token TOKEN"; 091ccb1 binds a token
// to the filters of the listing that gave it. Followed as written, the
// hint drops the filters and is refused: a filtered listing (here
// --rule UNCONFIRMED_CUSTODY --limit 1) cannot be continued by doing what
// provctl says. The hint should carry the filters (or say they are
// needed).
func TestFlagsLimitHintWithFilters_review20(t *testing.T) {
	c := newCLI(t)
	c.slipSetup() // L1 in transit
	mine := []string{"--key", c.path("mine.key"), "--party", "mine-1"}
	c.ok(append([]string{"extract", "--lot", "L2", "--mass-kg", "1000", "--moisture", "3", "--grade", "9", "--time", at(0, 9)}, mine...)...)
	c.ok(append([]string{"dispatch", "--lot", "L2", "--to", "exp-1", "--mass-kg", "1000", "--moisture", "3", "--time", at(1, 7)}, mine...)...)
	code, out, errs := c.run("flags", "--rule", "UNCONFIRMED_CUSTODY", "--limit", "1")
	m := regexp.MustCompile(`go on with (.*--page-token \S+)`).FindStringSubmatch(errs)
	if code != exitOK || strings.Count(out, "UNCONFIRMED_CUSTODY") != 1 || m == nil {
		t.Fatalf("flags --rule UNCONFIRMED_CUSTODY --limit 1: exit %d\n%s%s", code, out, errs)
	}
	next := append([]string{"flags"}, strings.Fields(m[1])...)
	code, out, errs = c.run(next...)
	if code != exitOK || strings.Count(out, "UNCONFIRMED_CUSTODY") != 1 {
		t.Errorf("going on as told (provctl %s): exit %d\n%s%s", strings.Join(next, " "), code, out, errs)
	}
}
