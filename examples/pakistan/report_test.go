package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/pdfprint"
	"github.com/antimony-ledger/provenance/internal/report"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/proto"
)

// TestReports renders the report of every lot of the example, from the
// bundle and the buyer's verification of it, and checks the page says what
// the verification found: the verdict, each flag with its rule, the rule's
// explanation and its finding, the untraced share, the custody graph and
// the route map; and that the Kharnak-type assay and the 100 % attribution
// to the declared mine are reconciled in words.
func TestReports(t *testing.T) {
	var out bytes.Buffer
	res, err := play(t.Context(), options{out: &out})
	if err != nil {
		t.Fatalf("play: %v\n%s", err, out.String())
	}
	docs := map[string]string{}
	for _, st := range res.Stories {
		rep, b := res.Reports[st.Lot], res.Bundles[st.Lot]
		var w bytes.Buffer
		if err := report.HTML(&w, report.Input{Lot: st.Lot, Bundle: b, Report: rep, Generated: time.Now(), Source: "the example's buyer"}); err != nil {
			t.Fatalf("%s: %v", st.Lot, err)
		}
		doc := html.UnescapeString(w.String())
		docs[st.Lot] = doc
		verdict := strings.TrimPrefix(rep.GetVerdict().String(), "VERDICT_")
		wants := []string{
			fmt.Sprintf(`data-verdict="%s"`, verdict),
			fmt.Sprintf("%.1f %%", rep.GetUntracedShare()*100),
			fmt.Sprintf("%.1f kg", rep.GetContainedSbKg()),
			`class="graph"`, `<g class="node target">`,
			`class="map"`, `class="durand"`, `class="corridor"`,
		}
		for _, f := range rep.GetFlags() {
			wants = append(wants, f.GetRule(), report.Explain(f.GetRule()), f.GetMessage())
		}
		for _, want := range wants {
			if !strings.Contains(doc, groupedKg(want)) {
				t.Errorf("%s (%s): report lacks %q", st.Lot, st.Title, want)
			}
		}
		if got := strings.Count(doc, `<div class="flag `); got != len(rep.GetFlags()) {
			t.Errorf("%s: %d flags shown, the report has %d", st.Lot, got, len(rep.GetFlags()))
		}
	}

	kr := res.Stories[2].Lot // the Kharnak-type assay
	rep := res.Reports[kr]
	if len(rep.GetOrigins()) != 1 || rep.GetOrigins()[0].GetShare() != 1 {
		t.Fatalf("%s: origins %v, want 100 %% one mine", kr, rep.GetOrigins())
	}
	for _, want := range []string{"Origin attribution and assay disagree", "follows the signed custody records", "mine-krinj", ": 100.0 %", "Afghan Kharnak (Ghor) deposit"} {
		if !strings.Contains(docs[kr], want) {
			t.Errorf("%s: report lacks %q", kr, want)
		}
	}
	for lot, want := range map[string][]string{
		res.Stories[0].Lot: {">smelt</text>", "Outside the map:"},                             // the clean lot, smelted, shipped to the US
		res.Stories[1].Lot: {">merge</text>"},                                                 // the blend
		res.Stories[5].Lot: {`<g class="crossing hit"><title>border crossing Chaman</title>`}, // via Chaman
		// The capacity flags' evidence includes other lots' extractions,
		// which the bundle proves by their log entries only.
		res.Stories[6].Lot: {"a record the bundle proves by its log entry only"},
	} {
		for _, w := range want {
			if !strings.Contains(docs[lot], w) {
				t.Errorf("%s: report lacks %q", lot, w)
			}
		}
	}
	if v := res.Reports[res.Stories[0].Lot].GetVerdict(); v != pb.Verdict_VERDICT_VERIFIED {
		t.Errorf("clean lot %v", v)
	}
}

// groupedKg writes a plain "1234.5 kg" figure as the report does, with
// thousands separators; other strings are returned as they are.
func groupedKg(s string) string {
	num, ok := strings.CutSuffix(s, " kg")
	if !ok || strings.ContainsAny(num, " ,") {
		return s
	}
	i := strings.IndexByte(num, '.')
	if i < 0 {
		i = len(num)
	}
	var b strings.Builder
	for j, c := range num[:i] {
		if j > 0 && (i-j)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String() + num[i:] + " kg"
}

// requireBrowserEnv, set (as .ci/run sets it), makes the printed-report
// test fail rather than skip when no browser is found, as the console's
// browser tests do.
const requireBrowserEnv = "CONSOLE_E2E_REQUIRE_BROWSER"

// needChromium returns the browser provctl report prints PDF with, and
// otherwise skips the test, or fails it where requireBrowserEnv is set.
func needChromium(t *testing.T) string {
	t.Helper()
	browser := pdfprint.Find()
	if browser == "" {
		if os.Getenv(requireBrowserEnv) != "" {
			t.Fatalf("no Chromium on PATH (looked for %s) and %s is set", strings.Join(pdfprint.Names, ", "), requireBrowserEnv)
		}
		t.Skipf("no Chromium on PATH (looked for %s): the printed report is not tested here; on Debian: apt-get install chromium (.ci/run installs it)", strings.Join(pdfprint.Names, ", "))
	}
	return browser
}

// TestReportsOnePage prints the report of every lot of the example to PDF
// as provctl report --out LOT.pdf does, and checks each fits one A4 page
// and that the printed page shows, in the print stylesheet, each flag's
// rule and finding and the untraced share in words. REPORT_PDF_DIR, if
// set, keeps the HTML and PDF there for a look.
func TestReportsOnePage(t *testing.T) {
	browser := needChromium(t)
	var out bytes.Buffer
	res, err := play(t.Context(), options{out: &out})
	if err != nil {
		t.Fatalf("play: %v\n%s", err, out.String())
	}
	dir := os.Getenv("REPORT_PDF_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	pr := newPrinted(t, browser)
	for _, st := range res.Stories {
		rep := res.Reports[st.Lot]
		n, text := pr.print(dir, st.Lot, res.Bundles[st.Lot], rep)
		t.Logf("%s (%s): %d flag(s), %d page(s)", st.Lot, st.Title, len(rep.GetFlags()), n)
		if n != 1 {
			t.Errorf("%s (%s, %d flags): printed on %d pages, want 1", st.Lot, st.Title, len(rep.GetFlags()), n)
		}
		if broken := pr.brokenWords(); len(broken) > 0 {
			t.Errorf("%s: words of the printed timeline break across lines inside: %q", st.Lot, broken)
		}
		wants := []string{
			fmt.Sprintf("The untraced share is %.1f %%", rep.GetUntracedShare()*100),
		}
		for _, f := range rep.GetFlags() {
			wants = append(wants, f.GetRule(), f.GetMessage())
		}
		for _, w := range wants {
			if !strings.Contains(text, groupedKg(w)) {
				t.Errorf("%s: the printed page does not show %q", st.Lot, w)
			}
		}
	}

	// Past the bound (README, "the report is one A4 page": about three
	// flags with their evidence and a short timeline, or a clean lot of
	// about ten records), the report goes on over further pages and drops
	// nothing.
	lot := res.Stories[6].Lot // three flags
	rep := proto.Clone(res.Reports[lot]).(*pb.VerificationReport)
	for len(rep.Flags) < 24 {
		rep.Flags = append(rep.Flags, proto.Clone(rep.Flags[len(rep.Flags)%3]).(*pb.Flag))
	}
	n, text := pr.print(dir, lot+"-24-flags", res.Bundles[lot], rep)
	t.Logf("%s with 24 flags: %d pages", lot, n)
	if n < 2 || n > 5 {
		t.Errorf("%s with 24 flags: printed on %d pages, want 2 to 5", lot, n)
	}
	if got, want := strings.Count(text, "Finding:"), len(rep.Flags); got != want {
		t.Errorf("%s with 24 flags: %d findings printed, want %d", lot, got, want)
	}
}

// brokenWords returns the words of the printed timeline, in its header
// and its cells, of at most 24 characters (an ordinary word, a party or a
// short lot id) that the page laid out over more than one line other than
// after a hyphen: a column squeezed narrower than its words ("In/de/x",
// "extr/acti/on", "QA-BLE/ND-1"). Of the page last printed, at the width
// of the A4 page's printable area.
func (p *printed) brokenWords() []string {
	t := p.t
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	// A4 less the @page margins (9 mm each side): 192 mm = 726 CSS px.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(726, 900)); err != nil {
		t.Fatal(err)
	}
	defer chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900))
	broken, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		for (const cell of document.querySelectorAll("table.timeline th, table.timeline td")) {
			const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
			for (let n; (n = walk.nextNode());) {
				if (n.parentElement.getClientRects().length == 0) continue; // not printed
				// A line may break after a hyphen ("KR-" "001"),
				// not inside the parts between.
				for (const m of n.data.matchAll(/[^\s-]+/g)) {
					if ([...m[0]].length > 24) continue;
					const r = document.createRange();
					r.setStart(n, m.index);
					r.setEnd(n, m.index + m[0].length);
					const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
					if (tops.size > 1) out.push(m[0]);
				}
			}
		}
		return out;
	})()`))
	if err != nil {
		t.Fatalf("measuring the timeline's words: %v", err)
	}
	return broken
}

// printed prints reports with provctl's PDF path, and reads what their
// print stylesheet shows in a browser of its own.
type printed struct {
	t       *testing.T
	browser string
	ctx     context.Context
}

func newPrinted(t *testing.T, browser string) *printed {
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox)...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("starting %s: %v", browser, err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatalf("emulating print: %v", err)
	}
	return &printed{t: t, browser: browser, ctx: ctx}
}

// print writes name.html and name.pdf into dir, and returns the PDF's page
// count and the text the page shows in print.
func (p *printed) print(dir, name string, b *pb.Bundle, rep *pb.VerificationReport) (int, string) {
	t := p.t
	t.Helper()
	// The header as provctl writes it, at its longest.
	source := "Verified by provctl from a bundle fetched from ledger.example.com:8443, trusting only the pinned log key provenance.example/antimony-log+1a2b3c4d and the registrar key QmXvHHzTiqqKVqDtd2r156ZaTRgNnaWUpkiXHb4vkQdWEz, with no witness policy."
	var w bytes.Buffer
	if err := report.HTML(&w, report.Input{Lot: rep.GetLotId(), Bundle: b, Report: rep, Generated: time.Now(), Source: source}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	page, pdf := filepath.Join(dir, name+".html"), filepath.Join(dir, name+".pdf")
	if err := os.WriteFile(page, w.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pdfprint.Print(t.Context(), p.browser, w.Bytes(), pdf); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	data, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(page)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+abs)); err != nil {
		t.Fatalf("%s: opening %s: %v", name, abs, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("article.sbr").innerText`))
	if err != nil {
		t.Fatalf("%s: reading the printed text: %v", name, err)
	}
	// The print stylesheet shows the glossary's short words, not the
	// screen's long ones: the text read is the printed page's.
	if g := report.Glossary()[0]; strings.Contains(text, g.Definition) || !strings.Contains(text, g.Short) {
		t.Fatalf("%s: the text read is not the printed page's", name)
	}
	return pdfprint.Pages(data), text
}
