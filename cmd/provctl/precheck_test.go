package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/testserver"
	"github.com/antimony-ledger/provenance/tlog"
)

// runAs runs provctl with stdin holding input, as on a terminal when
// interactive.
func (c *cli) runAs(input string, interactive bool, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = runIO(c.t.Context(), args, strings.NewReader(input), interactive, &out, &errb)
	return code, out.String(), errb.String()
}

// treeSize returns the size of the log's latest checkpoint.
func (c *cli) treeSize() int {
	c.t.Helper()
	m := regexp.MustCompile(`(\d+) entries`).FindStringSubmatch(c.ok("checkpoint"))
	if m == nil {
		c.t.Fatal("provctl checkpoint prints no size")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// slipSetup registers a mine and an exporter and dispatches 3,000 kg of
// lot L1 to the exporter, who has signed nothing yet.
func (c *cli) slipSetup() (exp []string) {
	c.ok("keygen", c.path("mine.key"))
	c.ok("keygen", c.path("exp.key"))
	c.ok("register", "--party-id", "mine-1", "--name", "Test Mine", "--role", "MINE", "--pub", c.path("mine.key.pub"),
		"--lat", "30.0", "--lon", "67.2", "--site", "Test pit", "--capacity-kg", "500000", "--grade-min", "7", "--grade-max", "12",
		"--valid-from", "2026-01-01T00:00:00Z")
	c.ok("register", "--party-id", "exp-1", "--name", "Test Exporter", "--role", "EXPORTER", "--pub", c.path("exp.key.pub"),
		"--valid-from", "2026-01-01T00:00:00Z")
	mine := []string{"--key", c.path("mine.key"), "--party", "mine-1"}
	c.ok(append([]string{"extract", "--lot", "L1", "--mass-kg", "3000", "--moisture", "3", "--grade", "9", "--time", at(0, 8)}, mine...)...)
	c.ok(append([]string{"dispatch", "--lot", "L1", "--to", "exp-1", "--mass-kg", "3000", "--moisture", "3", "--time", at(1, 6)}, mine...)...)
	return []string{"--key", c.path("exp.key"), "--party", "exp-1"}
}

// TestWarnBeforeWrite: the typing slip of issue 17, a receipt of 30,000
// kg against a 3,000 kg dispatch, is shown with its CRITICAL flag and not
// written unless confirmed; an honest receipt goes through unasked.
func TestWarnBeforeWrite(t *testing.T) {
	c := newCLI(t)
	exp := c.slipSetup()
	slip := append([]string{"receive", "--lot", "L1", "--mass-kg", "30000", "--seals-intact", "--lat", "24.86", "--lon", "67.01", "--time", at(2, 7)}, exp...)
	size := c.treeSize()

	// Not on a terminal, without --yes: refused, nothing written.
	code, out, errs := c.runAs("y\n", false, slip...)
	if code != exitFailed || !strings.Contains(errs, "CRITICAL") || !strings.Contains(errs, "TRANSIT_GAIN on lot L1") ||
		!strings.Contains(errs, "30000.0 kg") || !strings.Contains(errs, "not submitted: stdin is not a terminal") || !strings.Contains(errs, "--yes") {
		t.Fatalf("the slip, not interactive: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if got := c.treeSize(); got != size {
		t.Fatalf("the log grew from %d to %d entries: the slip was written", size, got)
	}
	// On a terminal, answered no (or nothing): refused.
	for _, answer := range []string{"n\n", "\n", ""} {
		code, _, errs = c.runAs(answer, true, slip...)
		if code != exitFailed || !strings.Contains(errs, "Submit anyway? [y/N]") || !strings.Contains(errs, "not submitted") {
			t.Fatalf("the slip, answered %q: exit %d\n%s", answer, code, errs)
		}
	}
	// For a script, the refusal is a JSON document on stdout.
	code, out, _ = c.runAs("", false, append(slip, "--json")...)
	var r struct {
		Submitted bool
		Reason    string
		NewFlags  []struct{ Rule, Severity, LotID string }
		Errors    []string
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitFailed || r.Submitted || len(r.NewFlags) != 1 || r.NewFlags[0].Rule != "TRANSIT_GAIN" || r.NewFlags[0].Severity != "SEVERITY_CRITICAL" || r.Errors == nil {
		t.Fatalf("the slip with --json: exit %d, %v\n%s", code, err, out)
	}
	if got := c.treeSize(); got != size {
		t.Fatalf("the log grew from %d to %d entries: the slip was written", size, got)
	}

	// The receipt as weighed: no question, no flag.
	code, out, errs = c.runAs("", false, append([]string{"receive", "--lot", "L1", "--mass-kg", "2995", "--seals-intact", "--lat", "24.86", "--lon", "67.01", "--time", at(2, 7)}, exp...)...)
	if code != exitOK || strings.Contains(errs, "CRITICAL") || !strings.Contains(out, "recorded at index") {
		t.Fatalf("an honest receipt: exit %d\n%s%s", code, out, errs)
	}
	if got := c.treeSize(); got != size+1 {
		t.Fatalf("the log has %d entries, want %d", got, size+1)
	}
	if out := c.ok("verify", "L1"); !strings.HasPrefix(out, "VERIFIED") {
		t.Fatalf("verify L1:\n%s", out)
	}

	// A dispatch of more than the exporter holds, confirmed on the
	// terminal: written, and flagged as the warning said.
	over := append([]string{"dispatch", "--lot", "L1", "--to", "mine-1", "--mass-kg", "9000", "--time", at(3, 7)}, exp...)
	code, out, errs = c.runAs("y\n", true, over...)
	if code != exitOK || !strings.Contains(errs, "TRANSIT_GAIN") || !strings.Contains(out, "recorded at index") {
		t.Fatalf("a flagged dispatch, confirmed: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := c.run("verify", "L1"); code != exitFlagged || !strings.Contains(out, "TRANSIT_GAIN") {
		t.Fatalf("verify L1 after the confirmed dispatch: exit %d\n%s", code, out)
	}
}

// TestNoCheck: --no-check writes without reading the lot, --yes after
// printing the flags.
func TestNoCheck(t *testing.T) {
	c := newCLI(t)
	exp := c.slipSetup()
	slip := append([]string{"receive", "--lot", "L1", "--mass-kg", "30000", "--seals-intact", "--lat", "24.86", "--lon", "67.01", "--time", at(2, 7)}, exp...)
	code, _, errs := c.runAs("", false, append(slip, "--no-check")...)
	if code != exitOK || strings.Contains(errs, "TRANSIT_GAIN") {
		t.Fatalf("--no-check: exit %d\n%s", code, errs)
	}
	// Without the pinned keys, the check cannot run, and says why.
	t.Setenv("PROVCTL_LOG_KEY", "")
	code, _, errs = c.runAs("", false, append([]string{"dispatch", "--lot", "L1", "--to", "mine-1", "--mass-kg", "100", "--time", at(3, 7)}, exp...)...)
	if code != exitUsage || !strings.Contains(errs, "--log-key is required") || !strings.Contains(errs, "--no-check skips the check") {
		t.Fatalf("no pinned log key: exit %d\n%s", code, errs)
	}
}

// TestSubmitFile: a request prepared with --sign-only is submitted with
// provctl submit, checked like any other.
func TestSubmitFile(t *testing.T) {
	c := newCLI(t)
	exp := c.slipSetup()
	prepared := func(kg string) string {
		out := c.ok(append([]string{"receive", "--sign-only", "--lot", "L1", "--mass-kg", kg, "--seals-intact", "--lat", "24.86", "--lon", "67.01", "--time", at(2, 7)}, exp...)...)
		f := c.path("receipt-" + kg + ".json")
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	size := c.treeSize()
	// The checked submission reads the lot as the exporter.
	t.Setenv("PROVCTL_KEY", c.path("exp.key"))
	t.Setenv("PROVCTL_PARTY", "exp-1")
	if code, _, errs := c.runAs("", false, "submit", prepared("30000")); code != exitFailed || !strings.Contains(errs, "TRANSIT_GAIN") || !strings.Contains(errs, "received 30000 kg") {
		t.Fatalf("submit of a slip: exit %d\n%s", code, errs)
	}
	if got := c.treeSize(); got != size {
		t.Fatalf("the log grew from %d to %d entries", size, got)
	}
	// --key and --party as the README and the error messages say, with
	// nothing in the environment (a new user found submit refused them).
	t.Setenv("PROVCTL_KEY", "")
	t.Setenv("PROVCTL_PARTY", "")
	if out := c.ok("submit", "--key", c.path("exp.key"), "--party", "exp-1", prepared("2995")); !strings.Contains(out, "recorded at index") {
		t.Fatalf("submit:\n%s", out)
	}
	if err := os.WriteFile(c.path("junk.json"), []byte(`{"hello": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := c.run("submit", c.path("junk.json")); code != exitUsage || !strings.Contains(errs, "neither a request printed by --sign-only") {
		t.Fatalf("submit junk: exit %d\n%s", code, errs)
	}
}

// TestSealsAsked: on a terminal, receive asks how the seals arrived, and
// signs the answer.
func TestSealsAsked(t *testing.T) {
	c := newCLI(t)
	exp := c.slipSetup()
	code, out, errs := c.runAs("maybe\nn\n", true, append([]string{"receive", "--lot", "L1", "--mass-kg", "2995", "--lat", "24.86", "--lon", "67.01", "--time", at(2, 7)}, exp...)...)
	if code != exitOK || strings.Count(errs, "Did the seals of lot L1 arrive intact? [y/n]") != 2 {
		t.Fatalf("receive on a terminal: exit %d\n%s%s", code, out, errs)
	}
	var lot struct {
		History []struct {
			Statement struct {
				Receipt *struct {
					SealsIntact bool `json:"sealsIntact"`
				} `json:"receipt"`
			} `json:"statement"`
		} `json:"history"`
	}
	raw := c.ok("lot", "L1", "--json")
	if err := json.Unmarshal([]byte(raw), &lot); err != nil {
		t.Fatal(err)
	}
	last := lot.History[len(lot.History)-1].Statement.Receipt
	if last == nil || last.SealsIntact || !regexp.MustCompile(`"sealsIntact":\s*false`).MatchString(raw) {
		t.Fatalf("the receipt's seal state is not 'broken' (and present):\n%s", raw)
	}
	if code, out, _ := c.run("verify", "L1"); code != exitFlagged || !strings.Contains(out, "seal") {
		t.Fatalf("verify L1 after broken seals: exit %d\n%s", code, out)
	}
}

// TestExporterConveniences: extract at the mine's registered site, --addr
// as a URL, the registrar key's variable in the help, untracedShare in
// JSON when 0.
func TestExporterConveniences(t *testing.T) {
	c := newCLI(t)
	c.slipSetup()
	_, _, errs := c.runAs("", false, "extract", "--key", c.path("mine.key"), "--party", "mine-1", "--lot", "L5", "--mass-kg", "100", "--grade", "9", "--time", at(1, 0))
	if !strings.Contains(errs, "at mine-1's registered site, 30, 67.2 (Test pit)") {
		t.Errorf("extract without --lat/--lon: %s", errs)
	}
	if out := c.ok("lot", "L5", "--json"); !regexp.MustCompile(`"lat":\s*30,\s*"lon":\s*67.2`).MatchString(out) {
		t.Errorf("the extraction's site is not the mine's:\n%s", out)
	}
	if out := c.ok("lot", "L5", "--addr", "http://"+os.Getenv("PROVCTL_ADDR")); !strings.Contains(out, "lot L5") {
		t.Errorf("--addr http://...:\n%s", out)
	}
	if code, _, errs := c.run("lot", "L5", "--addr", "https://"+os.Getenv("PROVCTL_ADDR"), "--timeout", "10s"); code != exitFailed || !strings.Contains(errs, "TLS") {
		t.Errorf("--addr https:// to a plaintext server: exit %d, %s (want a TLS failure: https asks for TLS)", code, errs)
	}
	for _, cmd := range []string{"revoke-key", "rotate-key", "register"} {
		if _, _, errs := c.run(cmd, "-h"); !strings.Contains(errs, "env PROVCTL_REGISTRAR_KEY") {
			t.Errorf("provctl %s -h does not name PROVCTL_REGISTRAR_KEY:\n%s", cmd, errs)
		}
	}
	if out := c.ok("help"); !strings.Contains(out, "revoke a party key (signed with the registrar key from --registrar-key or PROVCTL_REGISTRAR_KEY)") {
		t.Errorf("provctl help:\n%s", out)
	}
	if _, out, _ := c.run("verify", "L5", "--json"); !regexp.MustCompile(`"untracedShare":\s*0\b`).MatchString(out) {
		t.Errorf("verify --json has no untracedShare of 0:\n%s", out)
	}
	// Commands that printed only text print JSON with --json too.
	var rules struct {
		Rules []struct{ ID, Severity, Description string }
	}
	if err := json.Unmarshal([]byte(c.ok("rules", "--json")), &rules); err != nil || len(rules.Rules) == 0 || rules.Rules[0].ID == "" {
		t.Errorf("rules --json: %v %+v", err, rules)
	}
	var export struct {
		File, LotID string
		Records     int
	}
	if err := json.Unmarshal([]byte(c.ok("bundle", "export", "L5", "--json", "-o", c.path("L5.json"))), &export); err != nil || export.File != c.path("L5.json") || export.LotID != "L5" || export.Records == 0 {
		t.Errorf("bundle export --json: %v %+v", err, export)
	}
}

// TestCheckpointsPerLog: a second server started with the default origin
// has another log key; provctl remembers each log's checkpoint apart, so
// verifying against one does not fail for the other (issue 17).
func TestCheckpointsPerLog(t *testing.T) {
	c := newCLI(t)
	c.setup()
	state := c.path("state")
	c.ok("verify", "L1")
	first := map[string]string{"PROVCTL_ADDR": os.Getenv("PROVCTL_ADDR"), "PROVCTL_LOG_KEY": os.Getenv("PROVCTL_LOG_KEY"), "PROVCTL_KEY": os.Getenv("PROVCTL_KEY")}

	chain := ct.New()
	skey, vkey, err := note.GenerateKey(rand.Reader, ct.Origin)
	if err != nil {
		t.Fatal(err)
	}
	chain.LogSignerKey, chain.LogVerifierKey = skey, vkey
	if chain.LogSigner, err = tlog.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	if chain.LogVerifier, err = tlog.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	c2 := newCLIWith(t, chain, testserver.Options{})
	t.Setenv("PROVCTL_STATE", state) // one client, two servers
	c2.setup()
	if out := c2.ok("verify", "L1"); !strings.HasPrefix(out, "VERIFIED") {
		t.Fatalf("verify against the second server:\n%s", out)
	}
	for k, v := range first {
		t.Setenv(k, v)
	}
	if out := c.ok("verify", "L1"); !strings.HasPrefix(out, "VERIFIED") {
		t.Fatalf("verify against the first server again:\n%s", out)
	}
}

// TestVerifyJSONRollback: verify --json prints a report on stdout when
// the log was rolled back, with the error in it.
func TestVerifyJSONRollback(t *testing.T) {
	c2 := rolledBack(t)
	code, out, _ := c2.run("verify", "L1", "--json")
	var rep struct {
		LotID   string   `json:"lotId"`
		Verdict string   `json:"verdict"`
		Errors  []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitInvalid || rep.Verdict != "VERDICT_INVALID" || rep.LotID != "L1" ||
		len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "rolled back") {
		t.Fatalf("verify --json against a rolled-back log: exit %d, %v\n%s", code, err, out)
	}
}

// TestWarnBeforeTransform: a merge that puts out more than went in is
// shown with its CRITICAL MASS_SURPLUS on the new lot before it is
// written; a split as weighed goes through.
func TestWarnBeforeTransform(t *testing.T) {
	c := newCLI(t)
	exp := c.slipSetup()
	c.ok(append([]string{"receive", "--lot", "L1", "--mass-kg", "2995", "--seals-intact", "--lat", "24.86", "--lon", "67.01", "--time", at(2, 7)}, exp...)...)
	size := c.treeSize()
	code, _, errs := c.runAs("", false, append([]string{"transform", "--kind", "MERGE", "--in", "L1:2995", "--out", "BLEND:6000:ORE:9", "--time", at(3, 0)}, exp...)...)
	if code != exitFailed || !strings.Contains(errs, "MASS_SURPLUS on lot BLEND") || !strings.Contains(errs, "not submitted") {
		t.Fatalf("a merge with a surplus: exit %d\n%s", code, errs)
	}
	if got := c.treeSize(); got != size {
		t.Fatalf("the log grew from %d to %d entries", size, got)
	}
	code, out, errs := c.runAs("", false, append([]string{"transform", "--kind", "SPLIT", "--in", "L1:2995", "--out", "L1A:1500:ORE:9", "--out", "L1B:1495:ORE:9", "--time", at(3, 0)}, exp...)...)
	if code != exitOK || strings.Contains(errs, "CRITICAL") {
		t.Fatalf("a split as weighed: exit %d\n%s%s", code, out, errs)
	}
	if out := c.ok("verify", "L1A"); !strings.HasPrefix(out, "VERIFIED") {
		t.Fatalf("verify L1A:\n%s", out)
	}
	// A merge of two lots: both bundles are read, and the new lot checked.
	merge := func(kg string) []string {
		return append([]string{"transform", "--kind", "MERGE", "--in", "L1A:1500", "--in", "L1B:1495", "--out", "M1:" + kg + ":ORE:9", "--time", at(4, 0)}, exp...)
	}
	if code, _, errs := c.runAs("", false, merge("5000")...); code != exitFailed || !strings.Contains(errs, "MASS_SURPLUS on lot M1") {
		t.Fatalf("a merge of two lots with a surplus: exit %d\n%s", code, errs)
	}
	if code, out, errs := c.runAs("", false, merge("2995")...); code != exitOK || strings.Contains(errs, "CRITICAL") {
		t.Fatalf("a merge of two lots as weighed: exit %d\n%s%s", code, out, errs)
	}
}

// TestUncheckableRecord: a receipt signed with a key a rotation added,
// by a party that has signed nothing in the lot's history, cannot be
// checked (the lot's bundle does not hold the rotation): provctl says so
// and wants --yes, rather than skipping the signature.
func TestUncheckableRecord(t *testing.T) {
	c := newCLI(t)
	c.slipSetup()
	c.ok("keygen", c.path("exp2.key"))
	c.ok("rotate-key", "--party-id", "exp-1", "--pub", c.path("exp2.key.pub"), "--key", c.path("exp.key"))
	receipt := []string{"receive", "--lot", "L1", "--mass-kg", "2995", "--seals-intact", "--lat", "24.86", "--lon", "67.01", "--time", at(2, 7), "--key", c.path("exp2.key"), "--party", "exp-1"}
	size := c.treeSize()
	code, _, errs := c.runAs("", false, receipt...)
	if code != exitFailed || !strings.Contains(errs, "could not be checked") || !strings.Contains(errs, "is not registered to party") || !strings.Contains(errs, "--yes to submit it unchecked") {
		t.Fatalf("an uncheckable receipt: exit %d\n%s", code, errs)
	}
	if got := c.treeSize(); got != size {
		t.Fatalf("the log grew from %d to %d entries", size, got)
	}
	if code, out, errs := c.runAs("", false, append(receipt, "--yes")...); code != exitOK || !strings.Contains(out, "recorded at index") {
		t.Fatalf("with --yes: exit %d\n%s%s", code, out, errs)
	}
}

// TestDispatchNotWarnedInTransit: a dispatch leaves its lot in transit
// until the addressee signs the receipt, which the lot's verification
// shows as UNCONFIRMED_CUSTODY; the check does not present that as a
// flag the dispatch raises (a new user read it as a problem).
func TestDispatchNotWarnedInTransit(t *testing.T) {
	c := newCLI(t)
	c.slipSetup()
	mine := []string{"--key", c.path("mine.key"), "--party", "mine-1"}
	c.ok(append([]string{"extract", "--lot", "L2", "--mass-kg", "1000", "--moisture", "3", "--grade", "9", "--time", at(1, 0)}, mine...)...)
	code, out, errs := c.runAs("", false, append([]string{"dispatch", "--lot", "L2", "--to", "exp-1", "--mass-kg", "1000", "--moisture", "3", "--time", at(1, 6)}, mine...)...)
	if code != exitOK || strings.Contains(errs, "UNCONFIRMED_CUSTODY") || strings.Contains(errs, "note:") || !strings.Contains(out, "recorded at index") {
		t.Fatalf("a dispatch: exit %d\n%s%s", code, out, errs)
	}
	// The lot is in transit, as its verification says.
	if code, out, _ := c.run("verify", "L2"); code != exitFlagged || !strings.Contains(out, "UNCONFIRMED_CUSTODY") {
		t.Fatalf("verify L2 in transit: exit %d\n%s", code, out)
	}
}

// TestWalkThroughMessages: messages a walk through the README found
// unclear: an empty flag listing says so rather than printing a bare
// header; a used-up lot is "last held by" its holder; cosign names the
// key a rotation adds and says that --key adds its signature.
func TestWalkThroughMessages(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("flags"); strings.TrimSpace(out) != "no flags (among the lots you may read)" {
		t.Errorf("flags with none:\n%s", out)
	}
	exp := c.slipSetup()
	c.ok(append([]string{"receive", "--lot", "L1", "--mass-kg", "2995", "--seals-intact", "--lat", "24.86", "--lon", "67.01", "--time", at(2, 7)}, exp...)...)
	c.ok(append([]string{"transform", "--kind", "SPLIT", "--in", "L1:2995", "--out", "L1A:1500:ORE:9", "--out", "L1B:1495:ORE:9", "--time", at(3, 0)}, exp...)...)
	if out := c.ok("lot", "L1"); !strings.Contains(out, "last held by exp-1") || !strings.Contains(out, "used up by a transformation: its outputs") {
		t.Errorf("a used-up lot:\n%s", out)
	}
	c.ok("keygen", c.path("exp2.key"))
	req := c.ok("rotate-key", "--party-id", "exp-1", "--pub", c.path("exp2.key.pub"), "--key", c.path("exp.key"), "--registrar-key", "", "--sign-only")
	if err := os.WriteFile(c.path("rot.json"), []byte(req), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := c.run("cosign", "--key", c.path("registrar.key"), c.path("rot.json"))
	if code != exitOK || !regexp.MustCompile(`rotated a key of exp-1 \(new key Qm\w+\).*; adding the signature of Qm\w+ \(--key\)`).MatchString(errs) {
		t.Errorf("cosign:\n%s", errs)
	}
}

// TestListingsSayWhereTheyStop: flags cut at --limit says how to go on,
// as list-lots does (a new user's trial: 10,000 of 56,781 flags, exit 0,
// nothing said); an empty lot listing says so rather than print a bare
// header, as flags does.
func TestListingsSayWhereTheyStop(t *testing.T) {
	c := newCLI(t)
	c.slipSetup() // L1 in transit
	mine := []string{"--key", c.path("mine.key"), "--party", "mine-1"}
	c.ok(append([]string{"extract", "--lot", "L2", "--mass-kg", "1000", "--moisture", "3", "--grade", "9", "--time", at(0, 9)}, mine...)...)
	c.ok(append([]string{"dispatch", "--lot", "L2", "--to", "exp-1", "--mass-kg", "1000", "--moisture", "3", "--time", at(1, 7)}, mine...)...)
	all := c.ok("flags")
	if n := strings.Count(all, "UNCONFIRMED_CUSTODY"); n < 2 {
		t.Fatalf("want two lots in transit flagged:\n%s", all)
	}
	code, out, errs := c.run("flags", "--limit", "1")
	if code != exitOK || strings.Count(out, "UNCONFIRMED_CUSTODY") != 1 || !regexp.MustCompile(`provctl flags: stopped at --limit 1; go on with --page-token \S+`).MatchString(errs) {
		t.Fatalf("flags --limit 1: exit %d\n%s%s", code, out, errs)
	}
	tok := regexp.MustCompile(`--page-token (\S+)`).FindStringSubmatch(errs)[1]
	code, out, errs = c.run("flags", "--page-token", tok)
	if code != exitOK || strings.Count(out, "UNCONFIRMED_CUSTODY") != 1 || strings.Contains(errs, "stopped at") {
		t.Fatalf("flags --page-token: exit %d\n%s%s", code, out, errs)
	}
	if out := c.ok("list-lots", "--holder", "nobody"); strings.TrimSpace(out) != "no lots (among the lots you may read)" {
		t.Errorf("list-lots with none:\n%s", out)
	}
}

// TestCorrectionCheckedBeforeWritten: a correction is checked before it
// is written, as other custody records are (a new user's trial corrected
// an extraction by mistake, raising a CRITICAL flag, and a correction is
// not corrected in turn): one that would raise a CRITICAL flag is not
// submitted unless confirmed.
func TestCorrectionCheckedBeforeWritten(t *testing.T) {
	c := newCLI(t)
	c.slipSetup()
	mine := []string{"--key", c.path("mine.key"), "--party", "mine-1"}
	out := c.ok(append([]string{"extract", "--lot", "L3", "--mass-kg", "3000", "--moisture", "3", "--grade", "9", "--time", at(0, 10)}, mine...)...)
	ext := regexp.MustCompile(`record (\S+)`).FindStringSubmatch(out)
	if ext == nil {
		t.Fatalf("extract printed no record id:\n%s", out)
	}
	c.ok(append([]string{"dispatch", "--lot", "L3", "--to", "exp-1", "--mass-kg", "3000", "--moisture", "3", "--time", at(1, 8)}, mine...)...)
	// The extraction corrected down, under what was then dispatched.
	fix := append([]string{"correct", "--record", ext[1], "--lot", "L3", "--mass-kg", "2500", "--reason", "meant the dispatch", "--time", at(1, 9)}, mine...)
	size := c.treeSize()
	code, out, errs := c.runAs("", false, fix...)
	if code != exitFailed || !strings.Contains(errs, "CRITICAL") || !strings.Contains(errs, "not submitted") {
		t.Fatalf("a correction that raises a CRITICAL flag, not confirmed: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if got := c.treeSize(); got != size {
		t.Fatalf("the log grew from %d to %d entries: the correction was written", size, got)
	}
	if code, out, errs := c.runAs("", false, append(fix, "--yes")...); code != exitOK {
		t.Fatalf("the same with --yes: exit %d\n%s%s", code, out, errs)
	}
}
