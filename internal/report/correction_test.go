package report_test

import (
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// A corrected typing slip: the report shows the correction with both
// masses and the reason, keeps the original TRANSIT_GAIN marked corrected,
// and does not count it.
func TestCorrectedLot(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.MineSite, 1)
	d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 3000, 2)
	r1 := x.Receive(x.Exp, "L1", d1, 30000, 3)
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(2995), Reason: "typed 30000 for 2995"}, 3.5, x.Mine)
	doc, rep := render(t, x, "L1", x.Bundle("L1"))
	selfContained(t, doc)
	if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED || len(rep.GetCorrections()) != 1 {
		t.Fatalf("verdict %v, corrections %v", rep.GetVerdict(), rep.GetCorrections())
	}
	words := text(doc)
	for _, want := range []string{
		"<h2>Corrections</h2>",
		"receipt mass 30000.0 kg -> 2995.0 kg",
		"typed 30000 for 2995",
		"TRANSIT_GAIN</strong> <strong class=\"corrected\">CORRECTED by",
		"1 corrected (shown, not counted)",
	} {
		if !strings.Contains(words, want) {
			t.Errorf("the report of a corrected lot lacks %q", want)
		}
	}
	if strings.Contains(words, "1 critical") {
		t.Errorf("the corrected flag is counted as critical")
	}
	// The verdict's words say the flag shown does not count, rather
	// than that no rule raised one.
	if !strings.Contains(words, "none of the 16 rules raised a flag on the lot as corrected. 1 flag of the values as first signed is shown below, marked corrected") {
		t.Errorf("the verdict's words do not say a corrected flag is shown:\n%s", verdictOf(words))
	}

	// The custody graph's box of L1 weighs the corrected receipt and
	// names the mass first signed.
	svg, _, _ := strings.Cut(words[strings.Index(words, `class="graph"`):], "</svg>")
	var lines []string
	for _, part := range strings.Split(svg, "<text")[1:] {
		_, part, _ = strings.Cut(part, ">")
		part, _, _ = strings.Cut(part, "<")
		lines = append(lines, part)
	}
	graph := strings.Join(lines, " ")
	if !strings.Contains(graph, "ore, 2,995.0 kg (corrected from 30,000.0)") || strings.Contains(graph, "ore, 30,000.0 kg") {
		t.Errorf("the custody graph does not show the corrected mass, marked: %q", graph)
	}

	// The timeline: the receipt's row shows the corrected mass and
	// contained Sb (3 % moisture, 9 % Sb), each marked with the value
	// first signed, and the correction is a row of its own.
	var receipt, correction string
	for _, tr := range strings.Split(words, `<tr id="sbr-rec-`)[1:] {
		tr, _, _ = strings.Cut(tr, "</tr>")
		switch {
		case strings.Contains(tr, "<td>receipt</td>"):
			receipt = tr
		case strings.Contains(tr, "<td>correction</td>"):
			correction = tr
		}
	}
	for _, want := range []string{
		`<td class="num">2,995.0<br><span class="was">corrected from 30,000.0</span></td>`,
		`<td class="num">261.5<br><span class="was">corrected from 2,619.0</span></td>`,
		`<strong class="corrected">Corrected</strong> by record #`,
		"receipt mass 30000.0 kg -> 2995.0 kg",
	} {
		if !strings.Contains(receipt, want) {
			t.Errorf("the timeline's receipt row lacks %q:\n%s", want, receipt)
		}
	}
	for _, want := range []string{
		`<td><span class="nowrap">L1</span></td>`,
		"corrects record #",
		"(receipt of L1 by ",
		"receipt mass 30000.0 kg -> 2995.0 kg",
		"reason: typed 30000 for 2995",
	} {
		if !strings.Contains(correction, want) {
			t.Errorf("the timeline's correction row lacks %q:\n%s", want, correction)
		}
	}
}

// verdictOf returns the verdict box of a document, for a failure message.
func verdictOf(doc string) string {
	_, v, _ := strings.Cut(doc, `<div class="verdict`)
	v, _, _ = strings.Cut(v, "</div>")
	return v
}
