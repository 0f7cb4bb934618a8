package report_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// graphNode is one box of the custody graph as the page draws it.
var graphNode = regexp.MustCompile(`(?s)<g class="node [a-z]+"><title>([^<]*)</title>\s*<rect x="[0-9.]+" y="([0-9.]+)" width="([0-9.]+)" height="([0-9.]+)"[^>]*/>(.*?)</g>`)

// graphLine is one line of text in a box.
var graphLine = regexp.MustCompile(`<text x="[0-9.]+" y="([0-9.]+)" font-size="(1[02])"[^>]*>([^<]*)</text>`)

// TestGraphLongIDs: a new user found the custody graph's boxes cut long
// lot and party ids ("QA-2026-BALOCHIS…"). A box shows its lot id, its
// holders and a transformation's party whole, wrapped over lines that
// stay inside the box, which grows to hold them.
func TestGraphLongIDs(t *testing.T) {
	x := lottest.New(t)
	longSmelter := "smelter-of-the-northern-balochistan-antimony-cooperative-works"
	sm := x.C.AddParty(longSmelter, "Northern Balochistan Antimony Cooperative Works", "PK", pb.Role_ROLE_SMELTER)
	sm.Reg.Site = lottest.SmelterSite
	ct.Submit(t, x.S, x.C.Register(sm))

	ore := "QA-2026-BALOCHISTAN-QILA-ABDULLAH-NORTHERN-CONCESSION-ORE-0001"
	oxide := "SB2O3-2026.NORTHERN-COOPERATIVE:BATCH_000000000000000000000000000042"
	ext := x.Extract(x.Mine, ore, 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, ore, ext, sm, 10000, 2)
	rc := x.Receive(sm, ore, d, 10000, 3)
	x.Transform(sm, pb.TransformationKind_TRANSFORMATION_KIND_SMELT,
		[]*pb.TransformationInput{{LotId: ore, Link: rc, MassKg: 10000}},
		[]*pb.TransformationOutput{{LotId: oxide, MassKg: 900, Product: pb.Product_PRODUCT_TRIOXIDE, SbGradePct: 83}}, 4)
	doc, rep := render(t, x, oxide, x.Bundle(oxide))
	if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
		t.Fatalf("verdict INVALID: %v", rep.GetErrors())
	}
	txt := text(doc)
	start, end := strings.Index(txt, `<svg xmlns="http://www.w3.org/2000/svg" class="graph"`), strings.Index(txt, `class="map"`)
	if start < 0 || end < start {
		t.Fatal("no custody graph")
	}
	svg := txt[start:end]
	if strings.Contains(svg, "…") {
		t.Error("the graph still cuts a text short (…)")
	}

	boxes := graphNode.FindAllStringSubmatch(svg, -1)
	if len(boxes) != 3 {
		t.Fatalf("%d boxes, want 3 (the ore, the smelt, the oxide)", len(boxes))
	}
	shown := map[string]string{} // a box's title → its lines, joined
	for _, b := range boxes {
		top, _ := strconv.ParseFloat(b[2], 64)
		width, _ := strconv.ParseFloat(b[3], 64)
		height, _ := strconv.ParseFloat(b[4], 64)
		var joined strings.Builder
		for _, l := range graphLine.FindAllStringSubmatch(b[5], -1) {
			y, _ := strconv.ParseFloat(l[1], 64)
			size, _ := strconv.ParseFloat(l[2], 64)
			if y-size < top || y+4 > top+height {
				t.Errorf("%s: line %q at y %.1f is outside its box (y %.1f to %.1f)", b[1], l[3], y, top, top+height)
			}
			// At most 0.62 em a rune: the line fits the box's width
			// less its 8-unit margins.
			if w := float64(utf8.RuneCountInString(l[3])) * size * 0.62; w > width-16 {
				t.Errorf("%s: line %q is about %.0f units wide, its box %.0f", b[1], l[3], w, width)
			}
			joined.WriteString(l[3])
		}
		shown[b[1]] = strings.ReplaceAll(joined.String(), " ", "")
	}
	for title, want := range map[string][]string{
		ore + ": held by mine-qa → " + longSmelter: {ore, "mine-qa→" + longSmelter},
		oxide + ": held by " + longSmelter:         {oxide, longSmelter},
	} {
		got, ok := shown[title]
		if !ok {
			t.Errorf("no box titled %q", title)
			continue
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("box %q shows %q, not the whole %q", title, got, w)
			}
		}
	}
	stepShown := false
	for title, got := range shown {
		if strings.HasPrefix(title, "smelt by "+longSmelter) {
			stepShown = strings.Contains(got, "smelt"+longSmelter)
		}
	}
	if !stepShown {
		t.Errorf("the smelting's box does not show its party %q whole: %v", longSmelter, shown)
	}
}
