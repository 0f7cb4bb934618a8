package verifier

import (
	"fmt"
	"maps"
	"math"
	"strings"
	"time"

	"github.com/antimony-ledger/provenance/internal/refdata"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/registry"
)

// Mass flow: records are replayed in log order, and every custody record
// yields the state of the lots it touches (holder, masses, contained Sb
// and its composition by origin mine), keyed by the record and the lot, so
// a record continues exactly the state its link names. The checks of the
// flow itself live here: ORPHAN_INPUT, MASS_SURPLUS, TRANSIT_GAIN,
// UNCONFIRMED_CUSTODY, DOUBLE_SPEND and the TIMELINE of links.

// untraced is the composition key of Sb not attributed to a mine.
const untraced = ""

// epsKg is the mass below which a lot counts as used up, as in custody.
const epsKg = 1e-6

// A skey names the state of one lot as left by one record.
type skey struct{ rec, lot string }

// A lotState is one lot as a record left it. States are never modified
// once stored: every record makes new ones.
type lotState struct {
	lot     string
	holder  string
	wet     float64 // kg
	moist   float64 // percent of wet mass
	sb      float64 // contained Sb, kg
	comp    map[string]float64
	product pb.Product
	transit *entry // the dispatch awaiting its receipt
	loc     *pb.Location
	// gained is the part of comp[untraced] that weighings and splits or
	// merges added without an origin: small gains, each inside its own
	// tolerance, add up here (see rescale).
	gained float64
	// lost is the traced Sb, by origin, that weighings took off: a later
	// gain restores it first, so that weighing noise nets out.
	lost map[string]float64
}

func (s *lotState) dry() float64 { return s.wet * (1 - s.moist/100) }

// grade is the Sb grade of the dry material, as a fraction.
func (s *lotState) grade() float64 {
	if d := s.dry(); d > 0 {
		return s.sb / d
	}
	return 0
}

func (s *lotState) clone() *lotState {
	c := *s
	c.comp = maps.Clone(s.comp)
	c.lost = maps.Clone(s.lost)
	return &c
}

// scale multiplies the contained Sb, its composition, what it gained and
// what it lost by f: the share of a lot that stays when part is consumed.
func (s *lotState) scale(f float64) {
	s.sb *= f
	s.gained *= f
	for k := range s.comp {
		s.comp[k] *= f
	}
	for k := range s.lost {
		s.lost[k] *= f
	}
}

// rescale sets the lot's dry mass to newDry, at the lot's grade. A loss
// takes each origin's share down in proportion and remembers what it took;
// a gain first gives back what earlier losses took (weighing noise nets
// out), and the rest is Sb of no known origin: no mine is ever credited
// with more Sb than its extractions put in. It returns the untraced Sb the
// gain added.
func (s *lotState) rescale(newDry float64) (gained float64) {
	old := s.dry()
	if old <= 0 || newDry == old {
		return 0
	}
	if newDry < old {
		f := newDry / old
		for k, v := range s.comp {
			if k != untraced {
				if s.lost == nil {
					s.lost = map[string]float64{}
				}
				s.lost[k] += v * (1 - f)
			}
			s.comp[k] = v * f
		}
		s.sb *= f
		s.gained *= f
		return 0
	}
	add := (newDry - old) * s.grade()
	s.sb += add
	var lost float64
	for _, v := range s.lost {
		lost += v
	}
	if back := math.Min(add, lost); back > 0 {
		for k, v := range s.lost {
			s.comp[k] += v * back / lost
			s.lost[k] = v * (1 - back/lost)
		}
		add -= back
	}
	s.comp[untraced] += add
	s.gained += add
	return add
}

// flow is the replay state.
type flow struct {
	states  map[skey]*lotState
	conts   map[skey][]*entry
	created map[string]*entry // lot id -> first record creating it
	// custody is each lot's custody as the log stood at the record being
	// replayed, as the store judges an assay: who held the lot last (its
	// creation or latest receipt) and the labs it named since.
	custody map[string]*custodyTerm
	// usedUp are the inputs a transformation weighed and used up: no
	// rest of them goes on from it.
	usedUp map[skey]bool
}

// A custodyTerm is one party's custody of a lot, from the record that
// gave it custody.
type custodyTerm struct {
	holder string
	labs   []string // named by the holder's latest lab nomination
}

// simulate replays every custody record in log order.
func (r *run) simulate() *flow {
	f := &flow{states: map[skey]*lotState{}, conts: map[skey][]*entry{}, created: map[string]*entry{}, custody: map[string]*custodyTerm{}, usedUp: map[skey]bool{}}
	for _, rec := range r.recs {
		r.step(f, rec)
	}
	return f
}

// step replays one record: the flow's states, and the checks of the flow.
func (r *run) step(f *flow, rec *entry) {
	st := rec.st
	if x := r.fixes[rec.id]; x != nil && (r.fixedBefore == 0 || x.rec.idx < r.fixedBefore) {
		st = x.corrected
	}
	switch b := st.GetBody().(type) {
	case *pb.Statement_Extraction:
		r.extract(f, rec, b.Extraction)
	case *pb.Statement_Dispatch:
		r.dispatch(f, rec, b.Dispatch)
	case *pb.Statement_Receipt:
		r.receipt(f, rec, b.Receipt)
	case *pb.Statement_Transformation:
		r.transform(f, rec, b.Transformation)
	case *pb.Statement_Assay:
		r.assay(f, rec, b.Assay)
	case *pb.Statement_LabNomination:
		r.nominate(f, rec, b.LabNomination)
	}
}

// maxGradePct is the highest Sb grade a product can have: stibnite for ore
// and concentrate (71.7 %), Sb2O3 for trioxide (83.53 %), both
// stoichiometric (usantimony.com terminology, via refdata).
func maxGradePct(p pb.Product) float64 {
	switch p {
	case pb.Product_PRODUCT_ORE, pb.Product_PRODUCT_CONCENTRATE:
		return refdata.StibniteSbPct
	case pb.Product_PRODUCT_TRIOXIDE:
		return refdata.Sb2O3SbPctTheoretical
	}
	return 100
}

func (r *run) gradeCheck(f *flow, rec *entry, lot string, lots []string, p pb.Product, grade float64) {
	if max := maxGradePct(p); grade > max+1e-9 {
		r.flag(rec, RuleMassSurplus, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
			"lot %q declares %.2f %% Sb, above the stoichiometric maximum %.2f %% for %s: its contained Sb is overstated",
			lot, grade, max, p)
	}
}

func (r *run) create(f *flow, rec *entry, lot string, lots []string) {
	if prev := f.created[lot]; prev != nil {
		r.flag(rec, RuleDoubleSpend, pb.Severity_SEVERITY_CRITICAL, lot, lots, []string{prev.id},
			"lot id %q was already created at index %d", lot, prev.idx)
		return
	}
	f.created[lot] = rec
}

func (r *run) extract(f *flow, rec *entry, x *pb.Extraction) {
	lot, signer := x.GetLotId(), rec.st.GetPartyId()
	p := r.party(signer)
	s := &lotState{lot: lot, holder: signer, wet: x.GetMassKg(), moist: x.GetMoisturePct(), product: x.GetProduct(), loc: x.GetSite()}
	s.sb = s.dry() * x.GetSbGradePct() / 100
	lots := []string{lot}
	r.create(f, rec, lot, lots)
	r.gradeCheck(f, rec, lot, lots, x.GetProduct(), x.GetSbGradePct())
	if registry.HasRole(p, pb.Role_ROLE_MINE) {
		s.comp = map[string]float64{signer: s.sb}
		if site := p.GetRegistration().GetSite(); site != nil && r.cfg.MaxSiteDistanceKm > 0 {
			if km := refdata.DistanceKm(pt(site), pt(x.GetSite())); km > r.cfg.MaxSiteDistanceKm {
				r.flag(rec, RuleSiteMismatch, pb.Severity_SEVERITY_WARNING, lot, lots, []string{p.GetRegistrationRecord()},
					"extraction of lot %q at %.4f, %.4f is %.0f km from mine %q's registered site (%.4f, %.4f), more than %.0f km",
					lot, x.GetSite().GetLat(), x.GetSite().GetLon(), km, signer, site.GetLat(), site.GetLon(), r.cfg.MaxSiteDistanceKm)
			}
		}
		if m := p.GetRegistration().GetMine(); m != nil && x.GetProduct() == pb.Product_PRODUCT_ORE {
			lo, hi := m.GetGradeMinPct()*(1-r.cfg.GradeTolerance), m.GetGradeMaxPct()*(1+r.cfg.GradeTolerance)
			if g := x.GetSbGradePct(); g < lo || g > hi {
				r.flag(rec, RuleAssayMismatch, pb.Severity_SEVERITY_WARNING, lot, lots, []string{p.GetRegistrationRecord()},
					"extraction of lot %q declares %.2f %% Sb, outside mine %q's ore grade range %.2f-%.2f %% (with %.0f %% slack: %.2f-%.2f %%)",
					lot, g, signer, m.GetGradeMinPct(), m.GetGradeMaxPct(), r.cfg.GradeTolerance*100, lo, hi)
			}
		}
	} else {
		s.comp = map[string]float64{untraced: s.sb}
		r.flag(rec, RuleOrphanInput, pb.Severity_SEVERITY_CRITICAL, lot, lots, []string{p.GetRegistrationRecord()},
			"extraction of lot %q is signed by %q, which is not a registered MINE party: its %.1f kg Sb is untraced", lot, signer, s.sb)
	}
	r.borderPoint(rec, lot, lots, x.GetSite(), "extraction site", nil, true)
	f.states[skey{rec.id, lot}] = s
	f.custody[lot] = &custodyTerm{holder: signer}
}

// continueFrom returns a copy of the state of lot left by the record link
// names, recording the continuation and checking time order. ok is false
// when the link is not in the bundle (the ancestry walk decides whether
// that makes the bundle incomplete).
func (r *run) continueFrom(f *flow, rec *entry, link, lot string, lots []string, field string, declaredWet, declaredMoist float64) (*lotState, bool) {
	tgt := r.byID[link]
	if tgt == nil {
		return nil, false
	}
	if rec.time.Before(tgt.time.Add(-r.cfg.ClockSkew)) {
		r.flag(rec, RuleTimeline, pb.Severity_SEVERITY_WARNING, lot, lots, []string{tgt.id},
			"event time %s is %s before the time %s of the record it continues (%s, index %d)",
			ts(rec.time), tgt.time.Sub(rec.time).Round(time.Second), ts(tgt.time), field, tgt.idx)
	}
	k := skey{link, lot}
	f.conts[k] = append(f.conts[k], rec)
	prev := f.states[k]
	if prev == nil {
		r.flag(rec, RuleOrphanInput, pb.Severity_SEVERITY_CRITICAL, lot, lots, []string{tgt.id},
			"%s names record %s (index %d), which does not hold lot %q: custody break, the material is untraced", field, link, tgt.idx, lot)
		s := &lotState{lot: lot, holder: rec.st.GetPartyId(), wet: declaredWet, moist: declaredMoist}
		s.sb = s.dry() * refdata.StibniteSbPct / 100 // an upper bound: nothing is known of it
		s.comp = map[string]float64{untraced: s.sb}
		return s, true
	}
	s := prev.clone()
	if n := len(f.conts[k]); n > 1 {
		// One flag per extra continuation, naming the first continuation
		// and this one: a hostile bundle with n continuations of one record
		// costs O(n) to report, not O(n^2).
		first := f.conts[k][0]
		r.flag(tgt, RuleDoubleSpend, pb.Severity_SEVERITY_CRITICAL, lot, []string{lot}, []string{first.id, rec.id},
			"custody record %s of lot %q is continued again by index %d (continuation %d; the first is index %d): the same material spent twice", link, lot, rec.idx, n, first.idx)
		// The second and later continuations carry material that was
		// already spent: none of it is traced.
		s.comp = map[string]float64{untraced: s.sb}
	}
	return s, true
}

// custodyCheck flags a record acting on a lot its signer does not hold or
// that is in transit.
func (r *run) custodyCheck(rec *entry, s *lotState, lots []string) {
	signer := rec.st.GetPartyId()
	if s.transit != nil {
		r.flag(rec, RuleUnconfirmedCustody, pb.Severity_SEVERITY_CRITICAL, s.lot, lots, []string{s.transit.id},
			"continues lot %q while dispatch %s (index %d) has no receipt: custody break", s.lot, s.transit.id, s.transit.idx)
	} else if s.holder != signer {
		r.flag(rec, RuleUnconfirmedCustody, pb.Severity_SEVERITY_CRITICAL, s.lot, lots, nil,
			"party %q acts on lot %q held by %q: custody break", signer, s.lot, s.holder)
	}
}

func (r *run) dispatch(f *flow, rec *entry, d *pb.Dispatch) {
	lot := d.GetLotId()
	lots := []string{lot}
	s, ok := r.continueFrom(f, rec, d.GetCustodyLink(), lot, lots, "dispatch.custody_link", d.GetMassKg(), d.GetMoisturePct())
	if !ok {
		return
	}
	r.roleCheck(rec, registry.Dispatch, lots)
	r.custodyCheck(rec, s, lots)
	m := d.GetMoisturePct()
	if m == 0 { // proto3 cannot tell "0 %" from "not declared": keep the lot's
		m = s.moist
	}
	held := s.dry()
	dry := d.GetMassKg() * (1 - m/100)
	hop := held > 0 && dry > held*(1+r.cfg.HandoffTolerance)
	if hop {
		r.flag(rec, RuleTransitGain, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
			"dispatch of lot %q declares %.1f kg dry, the holder had %.1f kg dry: +%.1f %% (tolerance %.1f %%)",
			lot, dry, held, (dry/held-1)*100, r.cfg.HandoffTolerance*100)
	}
	r.gainCheck(rec, s, lots, RuleTransitGain, s.rescale(dry), hop)
	r.route(rec, lot, lots, d, s.loc)
	s.wet, s.moist, s.transit = d.GetMassKg(), m, rec
	f.states[skey{rec.id, lot}] = s
}

func (r *run) receipt(f *flow, rec *entry, x *pb.Receipt) {
	lot := x.GetLotId()
	lots := []string{lot}
	s, ok := r.continueFrom(f, rec, x.GetDispatchLink(), lot, lots, "receipt.dispatch_link", x.GetMassKg(), 0)
	if !ok {
		return
	}
	r.roleCheck(rec, registry.Receive, lots)
	signer := rec.st.GetPartyId()
	hop := false // a gain flagged on its own
	d := s.transit
	if d == nil || d.id != x.GetDispatchLink() {
		r.flag(rec, RuleUnconfirmedCustody, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
			"receipt of lot %q links to %s, which is not a pending dispatch of the lot: custody break", lot, x.GetDispatchLink())
	} else {
		disp := d.st.GetDispatch()
		if to := disp.GetToPartyId(); to != signer {
			r.flag(rec, RuleUnconfirmedCustody, pb.Severity_SEVERITY_CRITICAL, lot, lots, []string{d.id},
				"receipt of lot %q signed by %q, but the dispatch was addressed to %q", lot, signer, to)
		}
		if sent := s.wet; sent > 0 && x.GetMassKg() > sent*(1+r.cfg.HandoffTolerance) {
			hop = true
			r.flag(rec, RuleTransitGain, pb.Severity_SEVERITY_CRITICAL, lot, lots, []string{d.id},
				"receipt of lot %q weighs %.1f kg, the dispatch %.1f kg: +%.1f %% (tolerance %.1f %%)",
				lot, x.GetMassKg(), sent, (x.GetMassKg()/sent-1)*100, r.cfg.HandoffTolerance*100)
		}
		r.arrival(rec, lot, lots, d, s.loc, x)
	}
	if !x.GetSealsIntact() {
		r.flag(rec, RuleUnconfirmedCustody, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
			"receipt of lot %q records seals not intact", lot)
	}
	r.gainCheck(rec, s, lots, RuleTransitGain, s.rescale(x.GetMassKg()*(1-s.moist/100)), hop)
	s.wet, s.holder, s.transit = x.GetMassKg(), signer, nil
	f.custody[lot] = &custodyTerm{holder: signer}
	if l := x.GetLocation(); l != nil {
		s.loc = l
		r.borderPoint(rec, lot, lots, l, "receipt location", nil, false)
	} else if site := r.party(signer).GetRegistration().GetSite(); site != nil {
		s.loc = site
	}
	f.states[skey{rec.id, lot}] = s
}

func (r *run) recovery(k pb.TransformationKind) (limit, base float64) {
	switch k {
	case pb.TransformationKind_TRANSFORMATION_KIND_SPLIT, pb.TransformationKind_TRANSFORMATION_KIND_MERGE:
		return r.cfg.SplitMergeRecovery * (1 + r.cfg.HandoffTolerance), r.cfg.SplitMergeRecovery
	case pb.TransformationKind_TRANSFORMATION_KIND_CONCENTRATE:
		return r.cfg.ConcentrateRecovery, r.cfg.ConcentrateRecovery
	case pb.TransformationKind_TRANSFORMATION_KIND_SMELT:
		return r.cfg.SmeltRecovery, r.cfg.SmeltRecovery
	}
	return r.cfg.RefineRecovery, r.cfg.RefineRecovery
}

func (r *run) transform(f *flow, rec *entry, t *pb.Transformation) {
	var outLots []string
	for _, o := range t.GetOutputs() {
		outLots = append(outLots, o.GetLotId())
	}
	r.roleCheck(rec, registry.Transform, outLots)
	tol := r.cfg.HandoffTolerance
	pool := map[string]float64{}
	var inSb, inWet, inDry, inGained float64
	// An input whose link the bundle does not hold (another input of a
	// transformation the bundle's lot was only an input of: the bundle
	// need not hold the others' records) is passed over; each input the
	// bundle holds is still weighed, and its rest kept (a cold review: a
	// stop at the first such input hid a later input's DOUBLE_SPEND, and
	// left no rest of it, a false ORPHAN_INPUT for a lot split from that
	// rest). The outputs are made of every input, so they are not made
	// then, but their ids are taken (a lot made twice stays flagged); a
	// bundle of an output holds all of them, or its completeness fails.
	incomplete := false
	for _, in := range t.GetInputs() {
		lots := append([]string{in.GetLotId()}, outLots...)
		s, ok := r.continueFrom(f, rec, in.GetLink(), in.GetLotId(), lots, "transformation input link", in.GetMassKg(), 0)
		if !ok {
			incomplete = true
			continue
		}
		r.custodyCheck(rec, s, lots)
		c, held := in.GetMassKg(), s.wet
		frac := 1.0
		if held > 0 {
			frac = math.Min(c/held, 1)
		}
		for k, v := range s.comp {
			pool[k] += v * frac
		}
		inSb += s.sb * frac
		inGained += s.gained * frac
		if c > held*(1+tol) {
			phantom := (c - held) * (1 - s.moist/100) * s.grade()
			pool[untraced] += phantom
			inSb += phantom
			r.flag(rec, RuleDoubleSpend, pb.Severity_SEVERITY_CRITICAL, in.GetLotId(), lots, nil,
				"transformation consumes %.1f kg of lot %q, which held %.1f kg (+%.1f %%, tolerance %.1f %%): %.1f kg Sb consumed beyond the lot is untraced",
				c, in.GetLotId(), held, (c/math.Max(held, epsKg)-1)*100, tol*100, phantom)
		}
		inWet += c
		inDry += c * (1 - s.moist/100)
		if rest := held - c; rest > epsKg {
			s.wet = rest
			s.scale(1 - frac)
			f.states[skey{rec.id, in.GetLotId()}] = s
		} else {
			f.usedUp[skey{rec.id, in.GetLotId()}] = true
		}
	}
	if incomplete {
		for _, o := range t.GetOutputs() {
			r.create(f, rec, o.GetLotId(), outLots)
		}
		return
	}
	kind := t.GetKind()
	splitMerge := kind == pb.TransformationKind_TRANSFORMATION_KIND_SPLIT || kind == pb.TransformationKind_TRANSFORMATION_KIND_MERGE
	outMoist := 0.0 // products of processing are taken as weighed dry
	if splitMerge && inWet > 0 {
		outMoist = (1 - inDry/inWet) * 100
	}
	outSb := make([]float64, len(t.GetOutputs()))
	var sumSb, outWet float64
	for i, o := range t.GetOutputs() {
		outSb[i] = o.GetMassKg() * (1 - outMoist/100) * o.GetSbGradePct() / 100
		sumSb += outSb[i]
		outWet += o.GetMassKg()
		r.gradeCheck(f, rec, o.GetLotId(), outLots, o.GetProduct(), o.GetSbGradePct())
	}
	// One surplus, one flag: a merge that gains weight gains Sb too, and
	// both facts go in one message rather than two flags of one rule on
	// one record.
	var surplusMsgs []string
	if splitMerge && outWet > inWet*(1+tol) {
		surplusMsgs = append(surplusMsgs, fmt.Sprintf("%s outputs weigh %.1f kg, its inputs %.1f kg: +%.1f %% (tolerance %.1f %%)",
			kindName(kind), outWet, inWet, (outWet/math.Max(inWet, epsKg)-1)*100, tol*100))
	}
	limit, base := r.recovery(kind)
	// Output Sb above the inputs' at the kind's base recovery has no
	// origin, flagged or not: within a split's or merge's tolerance it is
	// weighing noise, but it is never credited to a mine.
	unt := math.Min(sumSb, math.Max(0, sumSb-inSb*base))
	surplus := sumSb > inSb*limit*(1+1e-9)+1e-9
	if surplus {
		surplusMsgs = append(surplusMsgs, fmt.Sprintf("%s outputs contain %.1f kg Sb, its inputs %.1f kg Sb; at most %.1f kg at the maximum recovery %.3f: %.1f kg Sb untraced",
			kindName(kind), sumSb, inSb, inSb*limit, limit, unt))
	}
	if len(surplusMsgs) > 0 {
		r.flag(rec, RuleMassSurplus, pb.Severity_SEVERITY_CRITICAL, rec.lot(), outLots, nil, "%s", strings.Join(surplusMsgs, "; "))
	}
	traced := sumSb - unt
	mix := map[string]float64{}
	if inSb > 0 {
		for k, v := range pool {
			mix[k] = v * traced / inSb
		}
	}
	mix[untraced] += unt
	gained := unt
	if inSb > 0 {
		gained += inGained * traced / inSb
	} else {
		mix[untraced] += traced
	}
	var loc *pb.Location
	if loc = t.GetSite(); loc != nil {
		r.borderPoint(rec, rec.lot(), outLots, loc, "transformation site", nil, false)
	} else {
		loc = r.party(rec.st.GetPartyId()).GetRegistration().GetSite()
	}
	for i, o := range t.GetOutputs() {
		r.create(f, rec, o.GetLotId(), outLots)
		s := &lotState{lot: o.GetLotId(), holder: rec.st.GetPartyId(), wet: o.GetMassKg(), moist: outMoist, sb: outSb[i], product: o.GetProduct(), loc: loc, comp: map[string]float64{}}
		if sumSb > 0 {
			for k, v := range mix {
				s.comp[k] = v * outSb[i] / sumSb
			}
			s.gained = gained * outSb[i] / sumSb
		}
		r.gainCheck(rec, s, outLots, RuleMassSurplus, unt*outSb[i]/math.Max(sumSb, epsKg), surplus)
		f.states[skey{rec.id, o.GetLotId()}] = s
		f.custody[o.GetLotId()] = &custodyTerm{holder: rec.st.GetPartyId()}
	}
}

// gainCheck flags a record that added Sb of no origin (added kg) to a lot
// whose Sb gained that way, added up over its handoffs, splits and merges,
// is now above the handoff tolerance of what it contains: gains that each
// stay inside their own hop's tolerance, and dilute a lot layer by layer.
// A record whose own gain was already flagged (flagged) is not flagged
// again.
func (r *run) gainCheck(rec *entry, s *lotState, lots []string, rule string, added float64, flagged bool) {
	tol := r.cfg.HandoffTolerance
	if added <= 0 || flagged || s.sb <= 0 || s.gained <= s.sb*tol*(1+1e-9) {
		return
	}
	r.flag(rec, rule, pb.Severity_SEVERITY_CRITICAL, s.lot, lots, nil,
		"lot %q now holds %.1f kg Sb gained in weighings, splits and merges without an origin: %.1f %% of its %.1f kg Sb, above the %.1f %% tolerance (each gain may be within its own hop's tolerance; together they are untraced)",
		s.lot, s.gained, s.gained/s.sb*100, s.sb, tol*100)
}

func kindName(k pb.TransformationKind) string {
	return strings.TrimPrefix(k.String(), "TRANSFORMATION_KIND_")
}
