package backend_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// workload appends n random custody operations to x's log: extractions
// (some far from the mine, near or across the border, off-grade, or past
// the mine's capacity), dispatches and receipts (some heavier than what
// was sent, some with broken seals or through a crossing), splits,
// merges and smelts (some yielding more than they can), lab nominations
// and assays (some of the Afghan pattern), each by a party that may or
// may not be allowed to. The store refuses what it refuses; the rest is
// the log.
func workload(t testing.TB, x *lottest.H, seed uint64, n int) {
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
	sites := []*pb.Location{lottest.MineSite, lottest.MineSite, lottest.MineSite, lottest.NearBorder, lottest.AfghanSite, lottest.ChamanGate, lottest.Karachi}
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
	next := 0
	for range n {
		switch op := rng.IntN(10); {
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
			}
		case op < 7: // receipt
			id, l := pick(func(l *lot) bool { return l.pending != "" })
			if l == nil {
				continue
			}
			kg := l.kg * gain()
			r := &pb.Receipt{LotId: id, DispatchLink: l.pending, MassKg: kg, SealsIntact: rng.IntN(6) != 0, Location: l.to.Reg.Site}
			if link, ok := submit(l.to, &pb.Statement{Body: &pb.Statement_Receipt{Receipt: r}}); ok {
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
			submit(l.holder, lottest.NameLabs(id, l.link, nil, x.Lab))
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

// TestReplayMatchesVerifier: for random logs, every lot's flags as the
// follower keeps them, one record at a time, are exactly the flags a full
// verification of the lot's bundle reports, and so is its verdict.
func TestReplayMatchesVerifier(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			x := lottest.New(t)
			workload(t, x, seed, 400)
			b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := backend.ReplayAll(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			rules := map[string]int{}
			lots := 0
			for st, err := range x.S.Lots(t.Context(), "") {
				if err != nil {
					t.Fatal(err)
				}
				lot := st.GetLotId()
				lots++
				rep, err := b.VerifyLot(t.Context(), lot)
				if err != nil {
					t.Fatal(err)
				}
				if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
					t.Fatalf("lot %s: INVALID: %v", lot, rep.GetErrors())
				}
				var want []string
				for _, f := range rep.GetFlags() {
					want = append(want, verifier.ReplayFlagKey(f))
					rules[f.GetRule()]++
				}
				sum, ok, err := backend.Summary(b, lot)
				if err != nil || !ok {
					t.Fatalf("lot %s: no summary (%v)", lot, err)
				}
				got := slices.Clone(sum.Keys)
				slices.Sort(got)
				slices.Sort(want)
				want = slices.Compact(want)
				if !slices.Equal(got, want) {
					t.Errorf("lot %s: the follower has flags\n  %v\nthe verifier\n  %v", lot, got, want)
				}
				if sum.Verdict != rep.GetVerdict() {
					t.Errorf("lot %s: verdict %v, the verifier's %v", lot, sum.Verdict, rep.GetVerdict())
				}
			}
			t.Logf("%d records, %d lots, flags by rule %v", x.S.Log().Size(), lots, rules)
			if len(rules) < 5 {
				t.Errorf("the workload raised only %d rules: %v", len(rules), rules)
			}
		})
	}
}

// TestReplayResumes: a follower stopped halfway resumes from its stored
// position, reading none of the records it had replayed, and ends with
// the flags of a follower that replayed the log in one go; a state that
// does not match the log (of a longer log, as after a restore from a
// backup) is dropped and rebuilt.
func TestReplayResumes(t *testing.T) {
	x := lottest.New(t)
	workload(t, x, 7, 300)
	dir := t.TempDir()
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.ReplayN(t.Context(), b, x.S.Log().Size()/2); err != nil {
		t.Fatal(err)
	}
	half := b.Replayed()
	b.Close()
	workload(t, x, 8, 100)

	b, err = backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Replayed(); got != half {
		t.Fatalf("reopened at %d, stopped at %d", got, half)
	}
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	fresh, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := backend.ReplayAll(t.Context(), fresh); err != nil {
		t.Fatal(err)
	}
	n := 0
	for st, err := range x.S.Lots(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		got, _, err1 := backend.Summary(b, st.GetLotId())
		want, _, err2 := backend.Summary(fresh, st.GetLotId())
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		slices.Sort(got.Keys)
		slices.Sort(want.Keys)
		if !slices.Equal(got.Keys, want.Keys) || got.Verdict != want.Verdict {
			t.Errorf("lot %s: resumed %v %v, in one go %v %v", st.GetLotId(), got.Verdict, got.Keys, want.Verdict, want.Keys)
		}
		n++
	}
	b.Close()

	// The state of a longer log than the one it is opened against.
	y := lottest.New(t)
	workload(t, y, 7, 50)
	b, err = backend.NewPaused(y.S, y.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Replayed(); got != 0 {
		t.Fatalf("state of a longer log kept: at %d", got)
	}
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if b.Replayed() != y.S.Log().Size() {
		t.Fatalf("rebuilt to %d of %d", b.Replayed(), y.S.Log().Size())
	}
	t.Logf("%d lots compared", n)
}

// logRecords returns x's log as the follower replays it.
func logRecords(t *testing.T, x *lottest.H) []verifier.ReplayRecord {
	t.Helper()
	var recs []verifier.ReplayRecord
	for e, err := range x.S.Log().Range(t.Context(), 0, x.S.Log().Size()) {
		if err != nil {
			t.Fatal(err)
		}
		env, st, err := custody.DecodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, verifier.ReplayRecord{Index: e.Index, ID: e.ID, Env: env, St: st, LogTime: e.Time, Extra: e.Extra})
	}
	return recs
}
