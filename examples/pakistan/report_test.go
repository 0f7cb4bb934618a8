package main

import (
	"bytes"
	"fmt"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/report"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
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
