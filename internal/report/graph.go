package report

import (
	"fmt"
	"strings"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// The custody graph: lots and the transformations (splits, merges,
// smelting...) between them, laid out in layers from left to right by the
// longest path from an extraction, so every edge points right.

// A gnode is a box of the graph in SVG user units.
type gnode struct {
	X, Y, W, H   float64
	Lines        []gline
	Class        string // lot, target, other (a lot made alongside), step
	Tip          string
	layer, order int
}

// A gline is a line of text in a box, at Y (its baseline, in SVG user
// units).
type gline struct {
	Text string
	Y    float64
	Bold bool
}

// A gedge is an arrow between two boxes: a cubic path.
type gedge struct {
	D     string
	Label string
	LX    float64
	LY    float64
}

type graphView struct {
	W, H  float64
	Nodes []*gnode
	Edges []gedge
}

const (
	lotW, lotH   = 190.0, 58.0
	stepW, stepH = 120.0, 40.0
	colGap       = 72.0
	rowGap       = 20.0
	graphPad     = 10.0

	// Runes per line of a box: the bold 12-unit heading and the 10-unit
	// lines, with room to spare for wide letters. A longer id or list of
	// holders wraps onto more lines and the box grows: nothing is cut.
	lotBoldRunes, lotRunes   = 20, 28
	stepBoldRunes, stepRunes = 14, 16
	boldLineH, lineH         = 15.0, 13.0
	boxPadTop, boxPadBottom  = 16.0, 8.0
)

type lotSummary struct {
	holders []string
	product pb.Product
	mass    float64
	massWas string // the mass as first signed, when a correction changed it
	used    bool   // consumed by a transformation
}

func buildGraph(target string, set map[string]bool, recs []*rec) graphView {
	lots := map[string]*lotSummary{}
	var lotOrder []string
	lot := func(id string) *lotSummary {
		if s := lots[id]; s != nil {
			return s
		}
		s := &lotSummary{}
		lots[id] = s
		lotOrder = append(lotOrder, id)
		return s
	}
	addHolder := func(s *lotSummary, p string) {
		if len(s.holders) == 0 || s.holders[len(s.holders)-1] != p {
			s.holders = append(s.holders, p)
		}
	}
	type step struct {
		r       *rec
		ins     []string
		inKg    []float64
		outs    []string
		outKg   []float64
		product []pb.Product
	}
	var steps []*step
	// A corrected record (r.orig) weighs the corrected mass; the box
	// names the mass first signed too.
	was := func(r *rec) string {
		if r.orig != nil && massOf(r.orig) != massOf(r.st) {
			return kg(massOf(r.orig))
		}
		return ""
	}
	for _, r := range recs {
		st := r.st
		switch {
		case st.GetExtraction() != nil:
			x := st.GetExtraction()
			s := lot(x.GetLotId())
			addHolder(s, st.GetPartyId())
			s.product, s.mass, s.massWas = x.GetProduct(), x.GetMassKg(), was(r)
		case st.GetDispatch() != nil:
			s := lot(st.GetDispatch().GetLotId())
			s.mass, s.massWas = st.GetDispatch().GetMassKg(), was(r)
		case st.GetReceipt() != nil:
			s := lot(st.GetReceipt().GetLotId())
			addHolder(s, st.GetPartyId())
			s.mass, s.massWas = st.GetReceipt().GetMassKg(), was(r)
		case st.GetTransformation() != nil:
			t := st.GetTransformation()
			sp := &step{r: r}
			for _, in := range t.GetInputs() {
				lot(in.GetLotId()).used = true
				sp.ins = append(sp.ins, in.GetLotId())
				sp.inKg = append(sp.inKg, in.GetMassKg())
			}
			for _, o := range t.GetOutputs() {
				s := lot(o.GetLotId())
				addHolder(s, st.GetPartyId())
				s.product, s.mass, s.massWas = o.GetProduct(), o.GetMassKg(), ""
				sp.outs = append(sp.outs, o.GetLotId())
				sp.outKg = append(sp.outKg, o.GetMassKg())
			}
			steps = append(steps, sp)
		}
	}
	if len(lots) == 0 {
		return graphView{}
	}

	// Layers by longest path: a lot made by a step sits right of it, a
	// step right of all its inputs. Records come in log order, and a
	// transformation can only consume lots that exist before it, so one
	// pass in that order settles every layer.
	layer := map[string]int{}
	stepLayer := make([]int, len(steps))
	for i, sp := range steps {
		l := 0
		for _, in := range sp.ins {
			l = max(l, layer[in]+1)
		}
		stepLayer[i] = l
		for _, o := range sp.outs {
			layer[o] = max(layer[o], l+1)
		}
	}

	g := graphView{}
	nodes := map[string]*gnode{}
	var perLayer [][]*gnode
	place := func(n *gnode, l int) {
		for len(perLayer) <= l {
			perLayer = append(perLayer, nil)
		}
		n.layer, n.order = l, len(perLayer[l])
		perLayer[l] = append(perLayer[l], n)
		g.Nodes = append(g.Nodes, n)
	}
	for _, id := range lotOrder {
		s := lots[id]
		class := "lot"
		switch {
		case id == target:
			class = "target"
		case !set[id]:
			class = "other"
		}
		line2 := fmt.Sprintf("%s, %s kg", productName(s.product), kg(s.mass))
		if s.massWas != "" {
			line2 += fmt.Sprintf(" (corrected from %s)", s.massWas)
		}
		if s.used {
			line2 += ", used up"
		}
		n := &gnode{W: lotW, Class: class,
			Tip: id + ": held by " + strings.Join(s.holders, " → ")}
		n.setLines(lotH, wrap(id, lotBoldRunes), append(wrap(line2, lotRunes), wrap(strings.Join(s.holders, " → "), lotRunes)...))
		nodes["lot:"+id] = n
		place(n, 2*layer[id])
	}
	for i, sp := range steps {
		st := sp.r.st
		n := &gnode{W: stepW, Class: "step",
			Tip: fmt.Sprintf("%s by %s, log index %d", kindName(st.GetTransformation().GetKind()), st.GetPartyId(), sp.r.index)}
		n.setLines(stepH, wrap(kindName(st.GetTransformation().GetKind()), stepBoldRunes), wrap(st.GetPartyId(), stepRunes))
		nodes[fmt.Sprintf("step:%d", i)] = n
		place(n, 2*stepLayer[i]+1)
	}

	// Columns: a lot column is lotW wide, a step column stepW; empty
	// columns (a lot layer with no step after it) take no room.
	x := graphPad
	height := 0.0
	for _, col := range perLayer {
		if len(col) == 0 {
			continue
		}
		w, y := 0.0, graphPad
		for _, n := range col {
			w = max(w, n.W)
		}
		for _, n := range col {
			n.X, n.Y = x+(w-n.W)/2, y
			y += n.H + rowGap
		}
		height = max(height, y)
		x += w + colGap
	}
	// Centre each column vertically on the tallest.
	for _, col := range perLayer {
		if len(col) == 0 {
			continue
		}
		last := col[len(col)-1]
		off := (height - (last.Y + last.H + rowGap)) / 2
		for _, n := range col {
			n.Y += off
		}
	}
	g.W, g.H = x-colGap+graphPad, height-rowGap+graphPad

	edge := func(a, b *gnode, label string) {
		x1, y1 := a.X+a.W, a.Y+a.H/2
		x2, y2 := b.X-4, b.Y+b.H/2
		mx := (x1 + x2) / 2
		g.Edges = append(g.Edges, gedge{
			D:     fmt.Sprintf("M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f", x1, y1, mx, y1, mx, y2, x2, y2),
			Label: label, LX: mx, LY: (y1+y2)/2 - 5,
		})
	}
	for i, sp := range steps {
		n := nodes[fmt.Sprintf("step:%d", i)]
		for j, in := range sp.ins {
			edge(nodes["lot:"+in], n, kg(sp.inKg[j])+" kg")
		}
		for j, o := range sp.outs {
			edge(n, nodes["lot:"+o], kg(sp.outKg[j])+" kg")
		}
	}
	return g
}

// trunc shortens s to n runes with an ellipsis; the page's text says the
// whole in a tooltip and in the timeline.
func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// setLines lays out a box's text, the bold lines first, as offsets from its
// top (the layout moves the box, not its text: the template adds Y), and
// makes the box tall enough for them, and at least minH.
func (n *gnode) setLines(minH float64, bold, rest []string) {
	y := boxPadTop
	for i, l := range bold {
		if i > 0 {
			y += boldLineH
		}
		n.Lines = append(n.Lines, gline{Text: l, Y: y, Bold: true})
	}
	for _, l := range rest {
		y += lineH
		n.Lines = append(n.Lines, gline{Text: l, Y: y})
	}
	n.H = max(minH, y+boxPadBottom)
}

// wrap breaks s into lines of at most n runes, after a space, hyphen,
// underscore, dot, slash or colon where it can and mid-word where it must:
// every rune of s is kept, so a long lot or party id is shown whole.
func wrap(s string, n int) []string {
	var lines []string
	r := []rune(s)
	for len(r) > n {
		cut := n
		for i := n; i > n/2; i-- {
			if strings.ContainsRune(" -_./:", r[i-1]) {
				cut = i
				break
			}
		}
		lines = append(lines, strings.TrimRight(string(r[:cut]), " "))
		r = r[cut:]
		for len(r) > 0 && r[0] == ' ' {
			r = r[1:]
		}
	}
	if len(r) > 0 || len(lines) == 0 {
		lines = append(lines, string(r))
	}
	return lines
}
