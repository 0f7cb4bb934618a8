package lottest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// Workload appends n random custody operations to x's log: extractions
// (some far from the mine, near or across the border, off-grade, or past
// the mine's capacity), dispatches and receipts (some heavier than what
// was sent, some with broken seals or through a crossing), splits,
// merges and smelts (some yielding more than they can), lab nominations
// and assays (some of the Afghan pattern), each by a party that may or
// may not be allowed to. The store refuses what it refuses; the rest is
// the log.
func Workload(t testing.TB, x *H, seed uint64, n int) {
	t.Helper()
	workload(t, x, seed, n, false, nil, false)
}

// WorkloadCorrecting is Workload with corrections among the operations:
// of a random extraction (its mass, only downwards, or its site),
// dispatch (its mass) or receipt (its mass, location or seal state),
// by its signer and co-signed by the other side of the handoff, some of
// them typing slips of their own; a record corrected twice is refused by
// the store, as is anything else it refuses.
func WorkloadCorrecting(t testing.TB, x *H, seed uint64, n int) {
	t.Helper()
	workload(t, x, seed, n, true, nil, false)
}

// WorkloadCorrectingEach is WorkloadCorrecting calling each after each of
// its n operations (for a follower that reads the log as it grows), and,
// with swap, listing a merge's input it takes part of second.
func WorkloadCorrectingEach(t testing.TB, x *H, seed uint64, n int, each func(i int), swap bool) {
	t.Helper()
	workload(t, x, seed, n, true, each, swap)
}

func workload(t testing.TB, x *H, seed uint64, n int, corrections bool, each func(int), swap bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type lot struct {
		holder   *ct.Party
		link     string // its latest custody record
		pending  string // a dispatch awaiting receipt
		to       *ct.Party
		kg       float64
		product  pb.Product
		consumed bool
	}
	lots := map[string]*lot{}
	parties := []*ct.Party{x.Mine, x.Mn2, x.Exp, x.Smelter, x.Buyer}
	sites := []*pb.Location{MineSite, MineSite, MineSite, NearBorder, AfghanSite, ChamanGate, Karachi}
	day := 1.0
	submit := func(p *ct.Party, st *pb.Statement) (string, bool) {
		day += rng.Float64() * 0.3
		st.EventTime = x.Day(day)
		env := x.C.Sign(p, st)
		r, err := x.S.Submit(t.Context(), env)
		if err != nil {
			return "", false
		}
		return r.ID, true
	}
	pick := func(f func(*lot) bool) (string, *lot) {
		var ids []string
		for id, l := range lots {
			if !l.consumed && f(l) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return "", nil
		}
		slices.Sort(ids)
		id := ids[rng.IntN(len(ids))]
		return id, lots[id]
	}
	gain := func() float64 {
		if rng.IntN(8) == 0 {
			return 1 + 0.05 + rng.Float64()*0.5 // beyond tolerance
		}
		return 1 - rng.Float64()*0.01 + 0.004
	}
	// The records a correction may correct, with their signer and the
	// other side of the handoff.
	type made struct {
		id, lot, kind string
		by, cp        *ct.Party
		kg            float64
	}
	var records []made
	ops := 10
	if corrections {
		ops = 12
	}
	next := 0
	for i := range n {
		if each != nil && i > 0 {
			each(i)
		}
		switch op := rng.IntN(ops); {
		case op >= 10: // a correction
			if len(records) == 0 {
				continue
			}
			m := records[rng.IntN(len(records))]
			c := &pb.Correction{LotId: m.lot, Corrects: m.id, Reason: "misread"}
			switch m.kind {
			case "extraction":
				if rng.IntN(3) == 0 {
					c.Location = sites[rng.IntN(len(sites))]
				} else {
					c.MassKg = Kg(m.kg * (0.5 + rng.Float64()*0.5))
				}
			case "dispatch":
				c.CounterpartyId = m.cp.ID
				c.MassKg = Kg(m.kg * []float64{0.1, 0.5 + rng.Float64(), 10}[rng.IntN(3)])
			case "receipt":
				c.CounterpartyId = m.cp.ID
				switch rng.IntN(3) {
				case 0:
					c.MassKg = Kg(m.kg * []float64{0.1, 0.5 + rng.Float64(), 10}[rng.IntN(3)])
				case 1:
					c.Location = sites[rng.IntN(len(sites))]
				default:
					intact := rng.IntN(2) == 0
					c.SealsIntact = &intact
				}
			}
			day += rng.Float64() * 0.3
			var cos []*ct.Party
			if m.cp != nil {
				cos = append(cos, m.cp)
			}
			x.S.Submit(t.Context(), x.Correction(m.by, c, day, cos...))
		case op < 3: // extraction
			m := []*ct.Party{x.Mine, x.Mn2}[rng.IntN(2)]
			id := fmt.Sprintf("W%d-%d", seed, next)
			next++
			kg := 5000 + rng.Float64()*60000
			grade := 7 + rng.Float64()*5
			if rng.IntN(6) == 0 {
				grade = 20 + rng.Float64()*60 // off-grade, or past stibnite
			}
			if link, ok := submit(m, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
				LotId: id, MassKg: kg, MoisturePct: rng.Float64() * 5, SbGradePct: grade, Site: sites[rng.IntN(len(sites))], Product: pb.Product_PRODUCT_ORE}}}); ok {
				lots[id] = &lot{holder: m, link: link, kg: kg, product: pb.Product_PRODUCT_ORE}
				records = append(records, made{id: link, lot: id, kind: "extraction", by: m, kg: kg})
			}
		case op < 5: // dispatch
			id, l := pick(func(l *lot) bool { return l.pending == "" })
			if l == nil {
				continue
			}
			to := parties[rng.IntN(len(parties))]
			kg := l.kg * gain()
			d := &pb.Dispatch{LotId: id, CustodyLink: l.link, ToPartyId: to.ID, MassKg: kg, Seals: []string{"S"}, Transport: "truck"}
			if rng.IntN(5) == 0 {
				d.Route = []*pb.Waypoint{{Location: sites[rng.IntN(len(sites))], Time: x.Day(day + 0.1)}}
			}
			if link, ok := submit(l.holder, &pb.Statement{Body: &pb.Statement_Dispatch{Dispatch: d}}); ok {
				l.pending, l.to, l.kg = link, to, kg
				records = append(records, made{id: link, lot: id, kind: "dispatch", by: l.holder, cp: to, kg: kg})
			}
		case op < 7: // receipt
			id, l := pick(func(l *lot) bool { return l.pending != "" })
			if l == nil {
				continue
			}
			kg := l.kg * gain()
			r := &pb.Receipt{LotId: id, DispatchLink: l.pending, MassKg: kg, SealsIntact: rng.IntN(6) != 0, Location: l.to.Reg.Site}
			if link, ok := submit(l.to, &pb.Statement{Body: &pb.Statement_Receipt{Receipt: r}}); ok {
				records = append(records, made{id: link, lot: id, kind: "receipt", by: l.to, cp: l.holder, kg: kg})
				l.holder, l.link, l.pending, l.kg = l.to, link, "", kg
			}
		case op < 8: // transformation: split, merge or smelt
			id, l := pick(func(l *lot) bool { return l.pending == "" })
			if l == nil {
				continue
			}
			ins := []*pb.TransformationInput{{LotId: id, Link: l.link, MassKg: l.kg * (0.5 + rng.Float64()*0.5)}}
			used := []*lot{l}
			if id2, l2 := pick(func(m *lot) bool { return m != l && m.pending == "" && m.holder == l.holder }); l2 != nil && rng.IntN(2) == 0 {
				ins = append(ins, &pb.TransformationInput{LotId: id2, Link: l2.link, MassKg: l2.kg})
				used = append(used, l2)
			}
			if swap && len(ins) == 2 {
				ins[0], ins[1] = ins[1], ins[0]
				used[0], used[1] = used[1], used[0]
			}
			var inKg float64
			for _, in := range ins {
				inKg += in.GetMassKg()
			}
			kind := []pb.TransformationKind{pb.TransformationKind_TRANSFORMATION_KIND_SPLIT, pb.TransformationKind_TRANSFORMATION_KIND_MERGE, pb.TransformationKind_TRANSFORMATION_KIND_SMELT}[rng.IntN(3)]
			out := fmt.Sprintf("W%d-%d", seed, next)
			next++
			o := &pb.TransformationOutput{LotId: out, MassKg: inKg * gain(), Product: l.product, SbGradePct: 7 + rng.Float64()*5}
			if kind == pb.TransformationKind_TRANSFORMATION_KIND_SMELT {
				o.Product, o.MassKg, o.SbGradePct = pb.Product_PRODUCT_TRIOXIDE, inKg*0.1*gain(), 83
			}
			if tid, ok := submit(l.holder, &pb.Statement{Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{Kind: kind, Inputs: ins, Outputs: []*pb.TransformationOutput{o}, Site: l.holder.Reg.Site}}}); ok {
				for i, u := range used {
					// What is left of an input continues from the
					// transformation.
					u.kg -= ins[i].GetMassKg()
					u.link, u.consumed = tid, u.kg <= 1e-6
				}
				lots[out] = &lot{holder: l.holder, link: tid, kg: o.GetMassKg(), product: o.GetProduct()}
			}
		case op < 9: // a lab nomination
			id, l := pick(func(l *lot) bool { return l.pending == "" })
			if l == nil {
				continue
			}
			submit(l.holder, NameLabs(id, l.link, nil, x.Lab))
		default: // an assay, by the lab or the holder
			id, l := pick(func(l *lot) bool { return true })
			if l == nil {
				continue
			}
			by := x.Lab
			if rng.IntN(2) == 0 {
				by = l.holder
			}
			el := map[string]float64{"As": rng.Float64() * 0.4, "Hg": rng.Float64() * 0.004, "Sb": 7 + rng.Float64()*5}
			if rng.IntN(4) == 0 {
				el["As"], el["Hg"] = 2+rng.Float64()*3, 0.05+rng.Float64()*0.2
			}
			a := &pb.Assay{LotId: id, SubjectLink: l.link, SampleId: "S-" + id}
			for _, k := range slices.Sorted(maps.Keys(el)) {
				a.Elements = append(a.Elements, &pb.ElementConcentration{Element: k, Pct: el[k]})
			}
			submit(by, &pb.Statement{Body: &pb.Statement_Assay{Assay: a}})
		}
	}
}

// AssayedSplit logs the mine's lot A (1,000 t), assays of it by the mine
// that each raise ASSAY_MISMATCH (the Afghan pattern), and then splits of
// lots lots off it, 256 to a record: every split lot's report holds A's
// flags, so the summaries hold about assays*lots flag keys.
func AssayedSplit(x *H, assays, lots int) {
	x.T.Helper()
	ext := x.Extract(x.Mine, "A", 1e6, 3, 9, MineSite, 1)
	for i := range assays {
		x.Assay(x.Mine, "A", ext, map[string]float64{"As": 3, "Hg": 0.1, "Sb": 9}, 1.1+float64(i)*0.001)
	}
	head, made := ext, 0
	for k := 0; made < lots; k++ {
		tf := &pb.Transformation{Kind: pb.TransformationKind_TRANSFORMATION_KIND_SPLIT, Site: MineSite}
		for j := 0; j < 256 && made < lots; j++ {
			tf.Outputs = append(tf.Outputs, &pb.TransformationOutput{LotId: fmt.Sprintf("A-%d-%03d", k, j), MassKg: 1, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9})
			made++
		}
		tf.Inputs = []*pb.TransformationInput{{LotId: "A", Link: head, MassKg: float64(len(tf.Outputs))}}
		head = x.Submit(x.C.Sign(x.Mine, &pb.Statement{EventTime: x.Day(2 + float64(k)*0.01), Body: &pb.Statement_Transformation{Transformation: tf}}))
	}
}
