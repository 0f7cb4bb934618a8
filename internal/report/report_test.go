package report_test

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/internal/report"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
	"github.com/antimony-ledger/provenance/verifier"
)

func TestExplainEveryRule(t *testing.T) {
	known := map[string]bool{}
	for _, r := range verifier.Rules() {
		known[r.ID] = true
		if e := report.Explain(r.ID); len(e) < 40 {
			t.Errorf("Explain(%s) = %q: every rule needs a plain-words explanation", r.ID, e)
		}
	}
	if e := report.Explain("NO_SUCH_RULE"); e != "" {
		t.Errorf("Explain of an unknown rule = %q, want empty", e)
	}
	for _, term := range report.Glossary() {
		if term.Name == "" || term.Definition == "" || term.Short == "" || len(term.Short) >= len(term.Definition) {
			t.Errorf("glossary term %+v is empty", term)
		}
	}
}

// render verifies lot's bundle as a buyer would and renders it.
func render(t *testing.T, x *lottest.H, lot string, b *pb.Bundle) (string, *pb.VerificationReport) {
	t.Helper()
	rep := verifier.VerifyLot(lot, b, x.Trust(), verifier.DefaultConfig())
	var out bytes.Buffer
	in := report.Input{Lot: lot, Bundle: b, Report: rep, Generated: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), Source: "verified in a test against the chain's pinned keys"}
	if err := report.HTML(&out, in); err != nil {
		t.Fatal(err)
	}
	return out.String(), rep
}

// text returns the document with its HTML entities decoded, to look for
// the words a reader sees.
func text(doc string) string { return html.UnescapeString(doc) }

// selfContained fails if the document could make a request: no script, no
// external reference of any kind.
func selfContained(t *testing.T, doc string) {
	t.Helper()
	if !strings.HasPrefix(doc, "<!doctype html>") {
		t.Errorf("document does not start with <!doctype html>: %.40q", doc)
	}
	if !strings.Contains(doc, `Content-Security-Policy" content="default-src 'none'`) {
		t.Error("no Content-Security-Policy forbidding requests")
	}
	for _, bad := range []string{"<script", "<img", "<link", "<iframe", "@import", "src="} {
		if strings.Contains(strings.ToLower(doc), bad) {
			t.Errorf("document holds %q", bad)
		}
	}
	// The only URL is the SVG namespace, which is a name, not a request.
	for _, u := range regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^"' )<]*`).FindAllString(doc, -1) {
		if u != "http://www.w3.org/2000/svg" {
			t.Errorf("document references %q", u)
		}
	}
}

func TestCleanLot(t *testing.T) {
	x := lottest.New(t)
	c := x.CleanChain()
	doc, rep := render(t, x, "T1", x.Bundle("T1"))
	if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("clean chain: %v\n%s", rep.GetVerdict(), rep.GetText())
	}
	selfContained(t, doc)
	txt := text(doc)
	for _, want := range []string{
		`data-verdict="VERIFIED"`,
		"No rule raised a flag.",
		fmt.Sprintf("%d records", rep.GetTreeSize()),
		fmt.Sprintf("%.1f %%", rep.GetUntracedShare()*100),
		"Held by US Buyer (buyer-us).",
		// contained Sb, from the report: 990 kg Sb2O3 at 83 %.
		fmt.Sprintf("%.1f kg", rep.GetContainedSbKg()),
		"Quetta Antimony Mine (mine-qa)",
		// The glossary defines the report's words.
		"<dt>contained Sb</dt>", "<dt>untraced share</dt>", "<dt>tree size</dt>",
		// The graph: both lots and the smelting between them.
		`class="graph"`, `<g class="node target">`, `<g class="node step">`, ">smelt</text>", ">L1</text>", ">T1</text>",
		// The map: the border, its corridor, the crossings.
		`class="map"`, `class="durand"`, `class="corridor"`, ">Torkham</text>", ">Chaman</text>", `class="route"`,
		// Houston is the buyer's receipt, off the regional map.
		"Outside the map:", "Houston",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Every custody record of the lot's history is in the timeline, by
	// its log index.
	for _, id := range []string{c.Ext, c.D1, c.R1, c.D2, c.R2, c.Smelt, c.D3, c.R3} {
		short := id[:10]
		if !strings.Contains(txt, short) {
			t.Errorf("timeline lacks record %s", id)
		}
	}
	if n := strings.Count(doc, `<tr id="sbr-rec-`); n != 8 {
		t.Errorf("timeline has %d records, want 8", n)
	}
	// Record contained Sb: the extraction's 10,000 kg at 3 % and 9 %.
	if !strings.Contains(txt, "<td class=\"num\">873.0</td>") {
		t.Error("timeline lacks the extraction's 873.0 kg contained Sb")
	}
}

// flaggedLot makes a lot declared as mine-qa's ore that gains weight in
// transit, is routed through the Chaman crossing and whose assay shows
// the Afghan Kharnak pattern (Hg and As high together).
func flaggedLot(t testing.TB, x *lottest.H) (ext, disp, rcpt, assay string) {
	ext = x.Extract(x.Mine, "F1", 10000, 3, 9, lottest.MineSite, 1)
	disp = x.Dispatch(x.Mine, "F1", ext, x.Exp, 10000, 2, func(d *pb.Dispatch) {
		d.BorderCrossing = "Chaman"
		d.Route = []*pb.Waypoint{
			{Location: lottest.MineSite, Time: x.Day(2)},
			{Location: lottest.ChamanGate, Time: x.Day(2.2)},
			{Location: lottest.Karachi, Time: x.Day(3.5)},
		}
	})
	rcpt = x.Receive(x.Exp, "F1", disp, 12500, 4)
	x.NameLabs(x.Exp, "F1", rcpt, 4.5, x.Lab)
	assay = x.Assay(x.Lab, "F1", rcpt, map[string]float64{"Sb": 9, "As": 2.5, "Hg": 0.5}, 5)
	return
}

func TestFlaggedLot(t *testing.T) {
	x := lottest.New(t)
	_, disp, rcpt, assay := flaggedLot(t, x)
	doc, rep := render(t, x, "F1", x.Bundle("F1"))
	lottest.WantFlag(t, rep, verifier.RuleTransitGain, rcpt)
	lottest.WantFlag(t, rep, verifier.RuleAssayMismatch, assay)
	lottest.WantFlag(t, rep, verifier.RuleBorderCorridor, disp)
	selfContained(t, doc)
	txt := text(doc)
	if !strings.Contains(txt, `data-verdict="FLAGGED"`) {
		t.Error("report does not say FLAGGED")
	}
	for _, f := range rep.GetFlags() {
		for _, want := range []string{f.GetRule(), report.Explain(f.GetRule()), f.GetMessage()} {
			if !strings.Contains(txt, want) {
				t.Errorf("report lacks %q of flag %s", want, f.GetRule())
			}
		}
		// Each piece of evidence links to its row of the timeline.
		for _, ev := range f.GetEvidence() {
			if !strings.Contains(txt, ev) {
				t.Errorf("flag %s: evidence %s not shown", f.GetRule(), ev)
			}
		}
	}
	if got := strings.Count(doc, `class="flag `); got != len(rep.GetFlags()) {
		t.Errorf("%d flags shown, report has %d", got, len(rep.GetFlags()))
	}
	for _, want := range []string{
		fmt.Sprintf("%.1f %%", rep.GetUntracedShare()*100),
		// The attribution and the assay are reconciled in words.
		"Origin attribution and assay disagree",
		"follows the signed custody records",
		"Afghan Kharnak (Ghor) deposit",
		fmt.Sprintf("(Quetta Antimony Mine (mine-qa): %.1f %%)", rep.GetOrigins()[0].GetShare()*100),
		// The crossing the dispatch names is drawn filled.
		`<g class="crossing hit"><title>border crossing Chaman</title>`,
		`class="flagged"`,
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if rep.GetUntracedShare() <= 0 {
		t.Errorf("untraced share %v: the transit gain should leave some untraced", rep.GetUntracedShare())
	}
}

// TestNoAssayNoteWithoutAssayFlag: the reconciliation is said only when
// an assay flag disagrees with the attribution.
func TestNoAssayNoteWithoutAssayFlag(t *testing.T) {
	x := lottest.New(t)
	x.CleanChain()
	doc, _ := render(t, x, "T1", x.Bundle("T1"))
	if strings.Contains(doc, "assay disagree") {
		t.Error("clean lot's report reconciles an assay flag it does not have")
	}
}

func TestEscaping(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	x := lottest.New(t, func(x *lottest.H) { x.Exp.Reg.Name = evil })
	ext := x.Extract(x.Mine, "E1", 1000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "E1", ext, x.Exp, 1000, 2, func(d *pb.Dispatch) {
		d.Transport = `"><svg onload=alert(2)>`
		d.Route = []*pb.Waypoint{{Location: &pb.Location{Lat: 29, Lon: 67, Name: `</text><script>alert(3)</script>`}, Time: x.Day(2.5)}}
	})
	x.Receive(x.Exp, "E1", d, 1000, 3)
	doc, rep := render(t, x, "E1", x.Bundle("E1"))
	if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
		t.Fatalf("verdict INVALID: %v", rep.GetErrors())
	}
	for _, bad := range []string{"<script", "<svg onload", "</text><script"} {
		if strings.Contains(doc, bad) {
			t.Errorf("report holds %q unescaped", bad)
		}
	}
	if !strings.Contains(doc, "&lt;script&gt;alert(1)&lt;/script&gt; (exp-kar)") {
		t.Error("the party's name is not shown escaped")
	}
	var frag bytes.Buffer
	if err := report.Fragment(&frag, report.Input{Lot: "E1", Bundle: x.Bundle("E1"), Report: rep}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(frag.String(), "<script") {
		t.Error("fragment holds <script unescaped")
	}
}

func TestInvalid(t *testing.T) {
	x := lottest.New(t)
	x.CleanChain()
	b := proto.Clone(x.Bundle("T1")).(*pb.Bundle)
	// One altered byte in a record: a signature fails.
	for _, r := range b.GetRecords() {
		if len(r.GetData()) > 100 {
			r.Data[len(r.Data)-40] ^= 1
			break
		}
	}
	doc, rep := render(t, x, "T1", b)
	if rep.GetVerdict() != pb.Verdict_VERDICT_INVALID {
		t.Fatalf("tampered bundle: %v", rep.GetVerdict())
	}
	txt := text(doc)
	for _, want := range []string{`data-verdict="INVALID"`, "Nothing in this report is to be trusted", "(unverified claims)", record.Printable(rep.GetErrors()[0])} {
		if !strings.Contains(txt, want) {
			t.Errorf("invalid lot's report lacks %q", want)
		}
	}
	for _, bad := range []string{"Origins and untraced share", "Untraced share</dt>", "No rule raised a flag."} {
		if strings.Contains(txt, bad) {
			t.Errorf("invalid lot's report shows %q as if it were known", bad)
		}
	}
}

func TestFragment(t *testing.T) {
	x := lottest.New(t)
	x.CleanChain()
	b := x.Bundle("T1")
	rep := verifier.VerifyLot("T1", b, x.Trust(), verifier.DefaultConfig())
	var frag, doc bytes.Buffer
	in := report.Input{Lot: "T1", Bundle: b, Report: rep, Generated: time.Now()}
	if err := report.Fragment(&frag, in); err != nil {
		t.Fatal(err)
	}
	if err := report.HTML(&doc, in); err != nil {
		t.Fatal(err)
	}
	f := frag.String()
	for _, bad := range []string{"<!doctype", "<html", "<head>", "<body", "<meta"} {
		if strings.Contains(strings.ToLower(f), bad) {
			t.Errorf("fragment holds %q", bad)
		}
	}
	// The same content as the document.
	article := func(s string) string {
		i, j := strings.Index(s, "<article"), strings.Index(s, "</article>")
		if i < 0 || j < i {
			t.Fatalf("no article in %.80q", s)
		}
		return s[i:j]
	}
	if article(f) != article(doc.String()) {
		t.Error("fragment's content differs from the document's")
	}
	// What a page's Content-Security-Policy must allow: one style element
	// whose text is StyleSheet (allowed by its hash), and nothing else
	// inline: no script, no handler, no style attribute.
	styles := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(f, -1)
	if len(styles) != 1 || styles[0][1] != report.StyleSheet() {
		t.Errorf("fragment has %d style elements; want one whose text is StyleSheet()", len(styles))
	}
	if !strings.Contains(f, "<svg") {
		t.Error("fragment draws no SVG (the test wants the graph and map in it)")
	}
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`(?i)<script`), regexp.MustCompile(`(?i)\sstyle\s*=`), regexp.MustCompile(`(?i)\son[a-z]+\s*=`)} {
		if m := bad.FindString(f); m != "" {
			t.Errorf("fragment holds %q", m)
		}
	}
	if err := report.HTML(&doc, report.Input{Lot: "T1"}); err == nil {
		t.Error("HTML without a report: no error")
	}
}

// TestSplitGraph: a lot split off another shows in the graph with the
// split, its parent and its sibling (made alongside, drawn apart).
func TestSplitGraph(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "P1", 10000, 3, 9, lottest.MineSite, 1)
	split := x.Transform(x.Mine, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		[]*pb.TransformationInput{{LotId: "P1", Link: ext, MassKg: 10000}},
		[]*pb.TransformationOutput{
			{LotId: "P1-A", MassKg: 6000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9},
			{LotId: "P1-B", MassKg: 4000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9},
		}, 2)
	d := x.Dispatch(x.Mine, "P1-A", split, x.Exp, 6000, 3)
	x.Receive(x.Exp, "P1-A", d, 6000, 4)
	doc, rep := render(t, x, "P1-A", x.Bundle("P1-A"))
	if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
		t.Fatalf("verdict INVALID: %v", rep.GetErrors())
	}
	txt := text(doc)
	for _, want := range []string{
		">split</text>", ">P1</text>", ">P1-A</text>", ">P1-B</text>",
		`<g class="node target"><title>P1-A: held by mine-qa → exp-kar</title>`,
		`<g class="node other"><title>P1-B: held by mine-qa</title>`,
		`<g class="node lot"><title>P1: held by mine-qa</title>`,
		">6,000.0 kg</text>", ">4,000.0 kg</text>", ">10,000.0 kg</text>",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("graph lacks %q", want)
		}
	}
	// Three lots and one split; an arrow for each input and output.
	if n := strings.Count(doc, `<g class="node `); n != 4 {
		t.Errorf("%d graph nodes, want 4", n)
	}
	if n := strings.Count(doc, `<path class="edge"`); n != 3 {
		t.Errorf("%d graph edges, want 3", n)
	}
	// P1's later records are not P1-A's history, but the split is.
	if n := strings.Count(doc, `<tr id="sbr-rec-`); n != 4 {
		t.Errorf("timeline has %d records, want 4 (extraction, split, dispatch, receipt)", n)
	}
}

// TestUsedUpLot: a lot smelted into another is reported with the smelting
// that used it up, and the product it went into.
func TestUsedUpLot(t *testing.T) {
	x := lottest.New(t)
	c := x.CleanChain()
	doc, rep := render(t, x, "L1", x.Bundle("L1"))
	if rep.GetConsumedBy() != c.Smelt {
		t.Fatalf("L1 consumed by %q, want the smelt %s", rep.GetConsumedBy(), c.Smelt)
	}
	txt := text(doc)
	for _, want := range []string{`data-verdict="INVALID"`, "This lot was used up by transformation", "Nothing in this report is to be trusted", ">smelt</text>", `<g class="node target"><title>L1:`, `<g class="node other"><title>T1:`} {
		if !strings.Contains(txt, want) {
			t.Errorf("L1's report lacks %q", want)
		}
	}
	if !strings.Contains(doc, fmt.Sprintf(`<tr id="sbr-rec-%d"`, indexOf(t, x.Bundle("L1"), c.Smelt))) {
		t.Error("L1's timeline lacks the smelting that used it up")
	}
}

// indexOf returns the log index of record id in b.
func indexOf(t *testing.T, b *pb.Bundle, id string) uint64 {
	t.Helper()
	for _, r := range b.GetRecords() {
		if len(r.GetData()) > 0 && tlog.RecordIDOf(r.GetData()).String() == id {
			return r.GetIndex()
		}
	}
	t.Fatalf("record %s not in the bundle", id)
	return 0
}
