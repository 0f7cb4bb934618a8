package main

import (
	"strings"
	"testing"
)

// rolledBack returns a CLI on a server whose log is a rolled-back copy of
// one that verify has seen (the same log key, a shorter log), with
// PROVCTL_STATE holding what verify remembered of the longer one.
func rolledBack(t *testing.T) *cli {
	c := newCLI(t)
	c.setup()
	c.ok("extract", "--key", c.path("mine.key"), "--party", "mine-1", "--lot", "L2", "--mass-kg", "100", "--grade", "9", "--time", at(3, 0))
	c.ok("verify", "L1")
	state := c.path("state")
	c2 := newCLI(t)
	c2.setup()
	t.Setenv("PROVCTL_STATE", state)
	return c2
}

// provctl report compares the bundle's checkpoint with what verify saw
// (the store kept by origin and log key): a rolled-back log that verify
// refuses gets no VERIFIED report either (a cold review found report
// reading the old store, kept by origin only).
func TestReportRollback(t *testing.T) {
	c2 := rolledBack(t)
	code, _, errs := c2.run("verify", "L1")
	if code != exitInvalid || !strings.Contains(errs, "rolled back") {
		t.Fatalf("verify against the rolled-back log: exit %d %s", code, errs)
	}
	t.Chdir(c2.dir)
	code, out, errs := c2.run("report", "L1", "--out", c2.path("r.html"))
	if code != exitInvalid {
		t.Fatalf("report against the same rolled-back log: exit %d (want %d, as verify)\nstdout %s\nstderr %s", code, exitInvalid, out, errs)
	}
}
