package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"strings"
	"testing"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/pdfprint"
	"github.com/antimony-ledger/provenance/internal/report"
	"github.com/antimony-ledger/provenance/internal/testserver"
	"github.com/antimony-ledger/provenance/internal/witnesstest"
	"github.com/antimony-ledger/provenance/tlog"
	"github.com/antimony-ledger/provenance/verifier"
)

// readReport returns a written report with its entities decoded.
func readReport(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("report not written: %v", err)
	}
	if !bytes.HasPrefix(b, []byte("<!doctype html>")) {
		t.Fatalf("%s is not an HTML document: %.60q", path, b)
	}
	return html.UnescapeString(string(b))
}

func TestReport(t *testing.T) {
	c := newCLI(t)
	c.setup()
	t.Chdir(c.dir)

	// The default file name, for a clean lot: exit 0.
	out := c.ok("report", "L1")
	if !strings.Contains(out, "wrote L1-report.html: lot L1 VERIFIED") {
		t.Errorf("provctl report L1: %s", out)
	}
	doc := readReport(t, c.path("L1-report.html"))
	for _, want := range []string{`data-verdict="VERIFIED"`, "Held by Test Exporter (exp-1).", `class="graph"`, `class="map"`, "receipt", "Verified by provctl from a bundle fetched from", "trusting only the pinned log key", "and the registrar key"} {
		if !strings.Contains(doc, want) {
			t.Errorf("L1's report lacks %q", want)
		}
	}
	// The report goes to a compliance file: it names no machine.
	if host, err := os.Hostname(); err == nil && len(host) > 3 && strings.Contains(doc, host) {
		t.Errorf("L1's report names this machine's host name %q", host)
	}

	// A flagged lot: the report is written, and the exit code says 3.
	mine := []string{"--key", c.path("mine.key"), "--party", "mine-1"}
	c.ok(append([]string{"extract", "--lot", "L2", "--mass-kg", "5000", "--grade", "9", "--lat", "30.0", "--lon", "67.2", "--time", at(4, 8)}, mine...)...)
	c.ok(append([]string{"dispatch", "--lot", "L2", "--to", "exp-1", "--mass-kg", "5000", "--time", at(5, 8)}, mine...)...)
	c.ok("receive", "--key", c.path("exp.key"), "--party", "exp-1", "--lot", "L2", "--mass-kg", "6500", "--lat", "24.86", "--lon", "67.01", "--time", at(7, 8), "--seals-intact", "--yes")
	code, _, errs := c.run("report", "L2", "--out", c.path("l2.html"))
	if code != exitFlagged {
		t.Fatalf("report L2: exit %d, want %d: %s", code, exitFlagged, errs)
	}
	doc = readReport(t, c.path("l2.html"))
	for _, want := range []string{`data-verdict="FLAGGED"`, "TRANSIT_GAIN", report.Explain("TRANSIT_GAIN"), "Untraced share"} {
		if !strings.Contains(doc, want) {
			t.Errorf("L2's report lacks %q", want)
		}
	}

	// --out - writes the HTML on stdout.
	code, stdout, _ := c.run("report", "L2", "--out", "-")
	if code != exitFlagged || !strings.HasPrefix(stdout, "<!doctype html>") || !strings.Contains(stdout, "TRANSIT_GAIN") {
		t.Errorf("report --out -: exit %d, stdout %.80q", code, stdout)
	}

	// --json prints the verification the report shows, for scripts.
	code, stdout, _ = c.run("report", "L2", "--json", "--out", c.path("l2-json.html"))
	var rep struct {
		Verdict string `json:"verdict"`
		Flags   []struct {
			Rule string `json:"rule"`
		} `json:"flags"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitFlagged || rep.Verdict != "VERDICT_FLAGGED" || len(rep.Flags) != 1 || rep.Flags[0].Rule != "TRANSIT_GAIN" {
		t.Errorf("report --json: exit %d, %v, stdout %s", code, err, stdout)
	}
	readReport(t, c.path("l2-json.html"))
	if code, _, _ := c.run("report", "L2", "--json", "--out", "-"); code != exitUsage {
		t.Errorf("report --json --out -: exit %d, want %d", code, exitUsage)
	}

	// Offline, from a bundle file, with no server to reach.
	bundle := c.path("L2.bundle.json")
	c.ok("bundle", "export", "L2", "-o", bundle)
	code, _, errs = c.run("report", "L2", "--bundle", bundle, "--addr", "127.0.0.1:1", "--out", c.path("l2-offline.html"))
	if code != exitFlagged {
		t.Fatalf("report --bundle: exit %d, want %d: %s", code, exitFlagged, errs)
	}
	if doc := readReport(t, c.path("l2-offline.html")); !strings.Contains(doc, "TRANSIT_GAIN") || !strings.Contains(doc, "the offline bundle L2.bundle.json") {
		t.Error("offline report lacks its flag or its source")
	}
	// Another lot's bundle is refused as verify refuses it.
	if code, _, _ := c.run("report", "L1", "--bundle", bundle, "--out", c.path("wrong.html")); code != exitInvalid {
		t.Errorf("report L1 from L2's bundle: exit %d, want %d", code, exitInvalid)
	}

	// A tampered bundle: INVALID, exit 4, and the report still written,
	// saying nothing in it can be trusted: one altered byte in a record,
	// and a file that is not a bundle at all.
	f, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	b, err := verifier.ReadBundle(f, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	b.Records[len(b.Records)-1].Data[20] ^= 0x01
	data, err := verifier.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	tampered := c.path("tampered.bundle.json")
	if err := os.WriteFile(tampered, data, 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := c.path("garbage.bundle.json")
	if err := os.WriteFile(garbage, []byte(`{"lotId": "L2", "records": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{tampered, garbage} {
		if code, _, errs := c.run("report", "L2", "--bundle", file, "--out", c.path("bad.html")); code != exitInvalid {
			t.Errorf("%s: exit %d, want %d: %s", file, code, exitInvalid, errs)
		}
		doc = readReport(t, c.path("bad.html"))
		if !strings.Contains(doc, `data-verdict="INVALID"`) || !strings.Contains(doc, "Nothing in this report is to be trusted") {
			t.Errorf("%s: invalid lot's report does not say it is not to be trusted", file)
		}
		os.Remove(c.path("bad.html"))
	}
}

func TestReportPDF(t *testing.T) {
	c := newCLI(t)
	c.setup()
	bundle := c.path("L1.bundle.json")
	c.ok("bundle", "export", "L1", "-o", bundle)

	t.Run("chromium", func(t *testing.T) {
		if pdfprint.Find() == "" {
			t.Skipf("no Chromium on PATH (looked for %s): the PDF path is not tested here; CI installs Chromium", strings.Join(pdfprint.Names, ", "))
		}
		pdf := c.path("L1.pdf")
		c.ok("report", "L1", "--bundle", bundle, "--out", pdf)
		b, err := os.ReadFile(pdf)
		if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) || len(b) < 2000 {
			t.Fatalf("L1.pdf: %v, %d bytes, starts %.8q", err, len(b), b)
		}
		// The report is one A4 page (examples/pakistan TestReportsOnePage
		// prints the example's lots).
		if n := pdfprint.Pages(b); n != 1 {
			t.Errorf("L1.pdf: %d pages, want 1", n)
		}
	})

	t.Run("none", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		pdf := c.path("none.pdf")
		code, _, errs := c.run("report", "L1", "--bundle", bundle, "--out", pdf)
		if code != exitFailed || !strings.Contains(errs, "install Chromium") || !strings.Contains(errs, ".html") {
			t.Errorf("PDF without Chromium: exit %d: %s", code, errs)
		}
		if _, err := os.Stat(pdf); err == nil {
			t.Error("a PDF was written without Chromium")
		}
	})
}

// TestReportWitnessed: the report names the witnesses that cosigned the
// checkpoint, and says whether their cosignatures were checked against
// the buyer's witness policy.
func TestReportWitnessed(t *testing.T) {
	w := witnesstest.Start(t, "w1.example")
	chain := ct.New()
	w.AddLog(ct.Origin, chain.LogVerifierKey)
	c := newCLIWith(t, chain, testserver.Options{Witnesses: []tlog.Witness{w.Witness}})
	c.setup()
	policy := c.path("w.policy")
	if err := os.WriteFile(policy, []byte(fmt.Sprintf("log %s\nwitness a %s %s\nquorum a\n", chain.LogVerifierKey, w.VKey, w.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("report", "L1", "--witness-policy", policy, "--out", c.path("checked.html"))
	doc := readReport(t, c.path("checked.html"))
	for _, want := range []string{"w1.example (cosignature checked against the witness policy)", "with the witness policy"} {
		if !strings.Contains(doc, want) {
			t.Errorf("report with a witness policy lacks %q", want)
		}
	}
	c.ok("report", "L1", "--out", c.path("unchecked.html"))
	doc = readReport(t, c.path("unchecked.html"))
	for _, want := range []string{"w1.example (cosignature present, not checked", "No cosignature was checked against a witness policy"} {
		if !strings.Contains(doc, want) {
			t.Errorf("report without a witness policy lacks %q", want)
		}
	}
}
