package verifier

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/antimony-ledger/provenance/internal/refdata"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"

	"github.com/antimony-ledger/provenance/registry"
)

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
	return &c
}

// scale multiplies the contained Sb and its composition by f.
func (s *lotState) scale(f float64) {
	s.sb *= f
	for k := range s.comp {
		s.comp[k] *= f
	}
}

// rescale sets the lot's dry mass to newDry: within the handoff tolerance
// (or for a loss) contained Sb follows in proportion; a gain beyond the
// tolerance is material of unknown origin at the lot's grade.
func (s *lotState) rescale(newDry, tol float64) {
	old := s.dry()
	switch {
	case old <= 0:
		return
	case newDry <= old*(1+tol):
		s.scale(newDry / old)
	default:
		extra := (newDry - old) * s.grade()
		s.sb += extra
		s.comp[untraced] += extra
	}
}

// flow is the replay state.
type flow struct {
	states  map[skey]*lotState
	conts   map[skey][]*entry
	created map[string]*entry // lot id -> first record creating it
}

func pt(l *pb.Location) refdata.Point { return refdata.Point{Lat: l.GetLat(), Lon: l.GetLon()} }

// roleCheck flags a record whose party's roles do not allow what it does
// (registry.Allows).
func (r *run) roleCheck(rec *entry, a registry.Action, lots []string) {
	p := r.party(rec.st.GetPartyId())
	if registry.Allows(p, a) {
		return
	}
	r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), lots, []string{p.GetRegistrationRecord()},
		"party %q signed %s, which its roles %v do not allow", rec.st.GetPartyId(), a, p.GetRegistration().GetRoles())
}

// lot returns the lot a record is about (the first output of a
// transformation).
func (rec *entry) lot() string {
	switch b := rec.st.GetBody().(type) {
	case *pb.Statement_Extraction:
		return b.Extraction.GetLotId()
	case *pb.Statement_Dispatch:
		return b.Dispatch.GetLotId()
	case *pb.Statement_Receipt:
		return b.Receipt.GetLotId()
	case *pb.Statement_Assay:
		return b.Assay.GetLotId()
	case *pb.Statement_Transformation:
		if outs := b.Transformation.GetOutputs(); len(outs) > 0 {
			return outs[0].GetLotId()
		}
	}
	return ""
}

// keyChecks raises KEY_MISUSE for signatures by keys that the registry,
// as the whole bundle records it, says were not valid at the event time
// (registry.KeyProblems): revoked before the record, revoked as of a time
// at or before its event time, or outside their window.
func (r *run) keyChecks() {
	for _, rec := range r.recs {
		owner := rec.st.GetPartyId()
		for _, kid := range rec.keys {
			k := registry.FindKey(r.party(owner), kid)
			for _, p := range registry.KeyProblems(k, registry.Position{Index: rec.idx, EventTime: rec.time}) {
				switch p.Problem {
				case registry.RevokedBefore:
					r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), nil, []string{r.idAt(k.GetRevokedIndex())},
						"signed by key %s of %q after its revocation was logged at index %d", kid, owner, k.GetRevokedIndex())
				case registry.RevokedAsOf:
					r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), nil, []string{r.idAt(k.GetRevokedIndex())},
						"event time %s is at or after the revocation time %s of key %s of %q (revocation at index %d)",
						ts(rec.time), ts(k.GetRevokedAt().AsTime()), kid, owner, k.GetRevokedIndex())
				case registry.OutsideWindow:
					r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), nil, []string{r.retiredBy[kid]},
						"event time %s is outside the validity window of key %s of %q (%s)", ts(rec.time), kid, owner, registry.Window(k))
				}
			}
		}
	}
}

// idAt returns the id of the bundle's record at index idx, or "".
func (r *run) idAt(idx uint64) string {
	i, ok := slices.BinarySearchFunc(r.recs, idx, func(e *entry, idx uint64) int { return cmp.Compare(e.idx, idx) })
	if !ok {
		return ""
	}
	return r.recs[i].id
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// simulate replays every custody record in log order.
func (r *run) simulate() *flow {
	f := &flow{states: map[skey]*lotState{}, conts: map[skey][]*entry{}, created: map[string]*entry{}}
	for _, rec := range r.recs {
		switch b := rec.st.GetBody().(type) {
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
		}
	}
	return f
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
	if held > 0 && dry > held*(1+r.cfg.HandoffTolerance) {
		r.flag(rec, RuleTransitGain, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
			"dispatch of lot %q declares %.1f kg dry, the holder had %.1f kg dry: +%.1f %% (tolerance %.1f %%)",
			lot, dry, held, (dry/held-1)*100, r.cfg.HandoffTolerance*100)
	}
	s.rescale(dry, r.cfg.HandoffTolerance)
	s.wet, s.moist, s.transit = d.GetMassKg(), m, rec
	// Route: time order, speed between timed points, border.
	start, startT := s.loc, rec.time
	prevLoc, prevT := start, startT
	for i, w := range d.GetRoute() {
		wt := w.GetTime().AsTime()
		what := fmt.Sprintf("route waypoint %d", i)
		if wt.Before(prevT.Add(-r.cfg.ClockSkew)) {
			r.flag(rec, RuleTimeline, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
				"%s time %s is before the previous point's time %s", what, ts(wt), ts(prevT))
		}
		if prevLoc != nil {
			r.speedCheck(rec, lot, lots, prevLoc, prevT, w.GetLocation(), wt, what)
		}
		r.borderPoint(rec, lot, lots, w.GetLocation(), what, start, false)
		prevLoc, prevT = w.GetLocation(), wt
	}
	if name := strings.TrimSpace(d.GetBorderCrossing()); name != "" {
		if c, ok := r.crossingNamed(name); ok {
			r.flag(rec, RuleBorderCorridor, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
				"dispatch of lot %q names the Afghanistan-Pakistan border crossing %s (%s district)", lot, c.Name, c.District)
		} else {
			r.flag(rec, RuleBorderCorridor, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
				"dispatch of lot %q names border crossing %q, not a known Afghanistan-Pakistan crossing: check the transit country", lot, name)
		}
	}
	f.states[skey{rec.id, lot}] = s
}

func (r *run) crossingNamed(name string) (refdata.Crossing, bool) {
	if r.cfg.Ref == nil {
		return refdata.Crossing{}, false
	}
	if c, ok := r.cfg.Ref.CrossingByName(name); ok {
		return c, true
	}
	low := strings.ToLower(name)
	for _, c := range r.cfg.Ref.Crossings {
		if strings.Contains(low, strings.ToLower(c.Name)) {
			return c, true
		}
	}
	return refdata.Crossing{}, false
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
			r.flag(rec, RuleTransitGain, pb.Severity_SEVERITY_CRITICAL, lot, lots, []string{d.id},
				"receipt of lot %q weighs %.1f kg, the dispatch %.1f kg: +%.1f %% (tolerance %.1f %%)",
				lot, x.GetMassKg(), sent, (x.GetMassKg()/sent-1)*100, r.cfg.HandoffTolerance*100)
		}
		// Transit: from the last timed point to the receipt, and dwell.
		prevLoc, prevT := s.loc, d.time
		if route := disp.GetRoute(); len(route) > 0 {
			last := route[len(route)-1]
			prevLoc, prevT = last.GetLocation(), last.GetTime().AsTime()
		}
		if rec.time.Before(prevT.Add(-r.cfg.ClockSkew)) && len(disp.GetRoute()) > 0 {
			r.flag(rec, RuleTimeline, pb.Severity_SEVERITY_WARNING, lot, lots, []string{d.id},
				"receipt time %s is before the dispatch's last waypoint time %s", ts(rec.time), ts(prevT))
		}
		end := x.GetLocation()
		if end == nil {
			end = r.party(signer).GetRegistration().GetSite()
		}
		if prevLoc != nil && end != nil {
			r.speedCheck(rec, lot, lots, prevLoc, prevT, end, rec.time, "receipt location")
		}
		if dwell := rec.time.Sub(d.time); r.cfg.MaxTransitDwell > 0 && dwell > r.cfg.MaxTransitDwell {
			r.flag(rec, RuleImplausibleTransit, pb.Severity_SEVERITY_WARNING, lot, lots, []string{d.id},
				"lot %q took %.0f days from dispatch to receipt, above the %.0f-day maximum", lot, dwell.Hours()/24, r.cfg.MaxTransitDwell.Hours()/24)
		}
	}
	if !x.GetSealsIntact() {
		r.flag(rec, RuleUnconfirmedCustody, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
			"receipt of lot %q records seals not intact", lot)
	}
	s.rescale(x.GetMassKg()*(1-s.moist/100), r.cfg.HandoffTolerance)
	s.wet, s.holder, s.transit = x.GetMassKg(), signer, nil
	if l := x.GetLocation(); l != nil {
		s.loc = l
		r.borderPoint(rec, lot, lots, l, "receipt location", nil, false)
	} else if site := r.party(signer).GetRegistration().GetSite(); site != nil {
		s.loc = site
	}
	f.states[skey{rec.id, lot}] = s
}

// speedCheck flags an implied average speed above the maximum between two
// timed points.
func (r *run) speedCheck(rec *entry, lot string, lots []string, a *pb.Location, at time.Time, b *pb.Location, bt time.Time, what string) {
	km := refdata.DistanceKm(pt(a), pt(b))
	if km < 1 || r.cfg.MaxTransitSpeedKmh <= 0 {
		return
	}
	h := bt.Sub(at).Hours()
	if h <= 0 || km/h > r.cfg.MaxTransitSpeedKmh {
		speed := "an instant"
		if h > 0 {
			speed = fmt.Sprintf("%.0f km/h", km/h)
		}
		r.flag(rec, RuleImplausibleTransit, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
			"lot %q covered %.0f km to the %s in %.1f h: %s, above the %.0f km/h maximum (great-circle, a lower bound)",
			lot, km, what, math.Max(h, 0), speed, r.cfg.MaxTransitSpeedKmh)
	}
}

// borderPoint applies the corridor model to one location: the Afghan side
// or a crossing is critical; the corridor is a warning, except for route
// points within SiteMatchKm of the route's start (a mine in the corridor
// is flagged once, at its extraction).
func (r *run) borderPoint(rec *entry, lot string, lots []string, l *pb.Location, what string, start *pb.Location, mineSite bool) {
	ref := r.cfg.Ref
	if l == nil || ref == nil {
		return
	}
	p := pt(l)
	g := r.border(p)
	if g.afghan {
		r.flag(rec, RuleBorderCorridor, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
			"%s (%.4f, %.4f) of lot %q is on the Afghan side of the border line", what, p.Lat, p.Lon, lot)
		return
	}
	if c, km := g.crossing, g.crossingKm; km <= r.cfg.CrossingRadiusKm {
		r.flag(rec, RuleBorderCorridor, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
			"%s (%.4f, %.4f) of lot %q is %.1f km from the %s border crossing (radius %.0f km)", what, p.Lat, p.Lon, lot, km, c.Name, r.cfg.CrossingRadiusKm)
		return
	}
	km := g.borderKm
	if km > r.cfg.CorridorKm {
		return
	}
	if start != nil && refdata.DistanceKm(p, pt(start)) <= r.cfg.SiteMatchKm {
		return
	}
	kind := "is"
	if mineSite {
		kind = "is a mine site"
	}
	r.flag(rec, RuleBorderCorridor, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
		"%s (%.4f, %.4f) of lot %q %s %.1f km from the Afghanistan-Pakistan border, inside the %.0f km corridor", what, p.Lat, p.Lon, lot, kind, km, r.cfg.CorridorKm)
}

// borderFacts is what the corridor model says of one point.
type borderFacts struct {
	afghan     bool
	crossing   refdata.Crossing // the nearest, unless afghan
	crossingKm float64
	borderKm   float64 // unless afghan
}

// border returns the corridor model's facts for p (r.cfg.Ref is set),
// worked out once per point in a verification: a bundle holds many records
// at the same few sites, and the border line has hundreds of segments.
func (r *run) border(p refdata.Point) borderFacts {
	if g, ok := r.geo[p]; ok {
		return g
	}
	ref := r.cfg.Ref
	var g borderFacts
	if g.afghan = inAfghanBox(p) && ref.InAfghanistan(p); !g.afghan {
		g.crossing, g.crossingKm = ref.NearestCrossing(p)
		g.borderKm = ref.DistanceToBorderKm(p)
	}
	if r.geo == nil {
		r.geo = map[refdata.Point]borderFacts{}
	}
	r.geo[p] = g
	return g
}

// inAfghanBox reports whether p lies in Afghanistan's bounding box
// (29.3-38.5 N, 60.5-75 E). refdata's side-of-line test is meaningful only
// near the border; far away (the Americas, Europe) it may say "Afghan".
func inAfghanBox(p refdata.Point) bool {
	return p.Lat >= 29.3 && p.Lat <= 38.5 && p.Lon >= 60.5 && p.Lon <= 75
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
	var inSb, inWet, inDry float64
	for _, in := range t.GetInputs() {
		lots := append([]string{in.GetLotId()}, outLots...)
		s, ok := r.continueFrom(f, rec, in.GetLink(), in.GetLotId(), lots, "transformation input link", in.GetMassKg(), 0)
		if !ok {
			return // incomplete: decided by the ancestry walk
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
		}
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
	if splitMerge && outWet > inWet*(1+tol) {
		r.flag(rec, RuleMassSurplus, pb.Severity_SEVERITY_CRITICAL, rec.lot(), outLots, nil,
			"%s outputs weigh %.1f kg, its inputs %.1f kg: +%.1f %% (tolerance %.1f %%)",
			kindName(kind), outWet, inWet, (outWet/math.Max(inWet, epsKg)-1)*100, tol*100)
	}
	limit, base := r.recovery(kind)
	unt := 0.0
	if sumSb > inSb*limit*(1+1e-9)+1e-9 {
		unt = math.Min(sumSb, sumSb-inSb*base)
		r.flag(rec, RuleMassSurplus, pb.Severity_SEVERITY_CRITICAL, rec.lot(), outLots, nil,
			"%s outputs contain %.1f kg Sb, its inputs %.1f kg Sb; at most %.1f kg at the maximum recovery %.3f: %.1f kg Sb untraced",
			kindName(kind), sumSb, inSb, inSb*limit, limit, unt)
	}
	traced := sumSb - unt
	mix := map[string]float64{}
	if inSb > 0 {
		for k, v := range pool {
			mix[k] = v * traced / inSb
		}
	}
	mix[untraced] += unt
	if inSb <= 0 {
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
		}
		f.states[skey{rec.id, o.GetLotId()}] = s
	}
}

func kindName(k pb.TransformationKind) string {
	return strings.TrimPrefix(k.String(), "TRANSFORMATION_KIND_")
}

func (r *run) assay(f *flow, rec *entry, a *pb.Assay) {
	lot := a.GetLotId()
	s := f.states[skey{a.GetSubjectLink(), lot}]
	if s == nil {
		return // the subject is not a record of this lot in the bundle
	}
	lots := []string{lot}
	signer := rec.st.GetPartyId()
	if s.holder != signer && !registry.Allows(r.party(signer), registry.AssayUnheld) {
		r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
			"assay of lot %q held by %q is signed by %q, which is neither the holder nor a LAB", lot, s.holder, signer)
	}
	if s.product != pb.Product_PRODUCT_ORE && s.product != pb.Product_PRODUCT_CONCENTRATE {
		return
	}
	type mineRef struct {
		id string
		m  *pb.MineProfile
	}
	var mines []mineRef
	for _, id := range slices.Sorted(maps.Keys(s.comp)) {
		if id == untraced || s.comp[id] <= 0 {
			continue
		}
		if p := r.party(id); p != nil && p.GetRegistration().GetMine() != nil {
			mines = append(mines, mineRef{id, p.GetRegistration().GetMine()})
		}
	}
	if len(mines) == 0 {
		return
	}
	lotGrade := s.grade() * 100
	factor := math.Max(r.cfg.AssayFactor, 1)
	var out []string
	high := map[string]bool{}
	ev := []string{}
	for _, e := range a.GetElements() {
		el, pct := e.GetElement(), e.GetPct()
		if strings.EqualFold(el, "Sb") {
			if s.product != pb.Product_PRODUCT_ORE {
				continue
			}
			bad, ranges := true, []string{}
			for _, m := range mines {
				lo, hi := m.m.GetGradeMinPct()*(1-r.cfg.GradeTolerance), m.m.GetGradeMaxPct()*(1+r.cfg.GradeTolerance)
				ranges = append(ranges, fmt.Sprintf("%s %.2f-%.2f %%", m.id, m.m.GetGradeMinPct(), m.m.GetGradeMaxPct()))
				if pct >= lo && pct <= hi {
					bad = false
				}
			}
			if bad {
				out = append(out, fmt.Sprintf("Sb %.2f %% outside the ore grade range (%s, %.0f %% slack)", pct, strings.Join(ranges, "; "), r.cfg.GradeTolerance*100))
			}
			continue
		}
		checked, bad, isHigh := false, true, true
		var ranges []string
		for _, m := range mines {
			var er *pb.ElementRange
			for _, x := range m.m.GetAssayEnvelope() {
				if strings.EqualFold(x.GetElement(), el) {
					er = x
					break
				}
			}
			if er == nil {
				continue
			}
			checked = true
			enrich := 1.0
			if s.product == pb.Product_PRODUCT_CONCENTRATE && m.m.GetGradeMinPct() > 0 {
				// Impurities that float with stibnite enrich at most as Sb does.
				enrich = math.Max(1, lotGrade/m.m.GetGradeMinPct())
			}
			hi := er.GetMaxPct() * enrich * factor
			lo := er.GetMinPct() / factor
			if s.product == pb.Product_PRODUCT_CONCENTRATE {
				lo = 0
			}
			ranges = append(ranges, fmt.Sprintf("%s %g-%g %%", m.id, er.GetMinPct(), er.GetMaxPct()))
			if pct <= hi && pct >= lo {
				bad = false
			}
			if pct <= hi {
				isHigh = false
			}
		}
		if checked && bad {
			dir := "below"
			if isHigh {
				dir, high[el] = "above", true
			}
			out = append(out, fmt.Sprintf("%s %g %% %s the envelope (%s) by more than a factor %g", el, pct, dir, strings.Join(ranges, "; "), factor))
		}
	}
	if len(out) == 0 {
		return
	}
	sev := pb.Severity_SEVERITY_WARNING
	msg := fmt.Sprintf("assay %q of lot %q does not match its origin mine: %s", a.GetSampleId(), lot, strings.Join(out, "; "))
	if high["Hg"] && high["As"] {
		sev = pb.Severity_SEVERITY_CRITICAL
		msg += "; Hg and As high together: the pattern of Afghan Kharnak-type (Ghor) cinnabar-realgar-stibnite ore (BGS), not of the declared mine"
	}
	for _, m := range mines {
		ev = append(ev, r.party(m.id).GetRegistrationRecord())
	}
	r.flag(rec, RuleAssayMismatch, sev, lot, lots, ev, "%s", msg)
}

// ancestry walks back from the lot's head record along the custody links
// and returns the (record, lot) pairs of the lot's history and the set of
// records in it. A link to a record not in the bundle makes it incomplete.
func (r *run) ancestry(head *entry, lot string) (map[skey]bool, map[*entry]bool) {
	anc := map[skey]bool{}
	recs := map[*entry]bool{}
	type item struct {
		rec *entry
		lot string
	}
	stack := []item{{head, lot}}
	follow := func(from *entry, link, lot, field string) {
		tgt := r.byID[link]
		if tgt == nil {
			r.fail("index %d: %s %s names a record not in the bundle (incomplete bundle)", from.idx, field, link)
			return
		}
		stack = append(stack, item{tgt, lot})
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := skey{it.rec.id, it.lot}
		if anc[k] {
			continue
		}
		anc[k] = true
		recs[it.rec] = true
		switch b := it.rec.st.GetBody().(type) {
		case *pb.Statement_Dispatch:
			if b.Dispatch.GetLotId() == it.lot {
				follow(it.rec, b.Dispatch.GetCustodyLink(), it.lot, "dispatch.custody_link")
			}
		case *pb.Statement_Receipt:
			if b.Receipt.GetLotId() == it.lot {
				follow(it.rec, b.Receipt.GetDispatchLink(), it.lot, "receipt.dispatch_link")
			}
		case *pb.Statement_Transformation:
			t := b.Transformation
			isOut := slices.ContainsFunc(t.GetOutputs(), func(o *pb.TransformationOutput) bool { return o.GetLotId() == it.lot })
			for _, in := range t.GetInputs() {
				if isOut || in.GetLotId() == it.lot {
					follow(it.rec, in.GetLink(), in.GetLotId(), "transformation input link")
				}
			}
		}
	}
	// Assays of the lots in the history, drawn from a record in it.
	for _, rec := range r.recs {
		if a := rec.st.GetAssay(); a != nil && anc[skey{a.GetSubjectLink(), a.GetLotId()}] {
			anc[skey{rec.id, a.GetLotId()}] = true
			recs[rec] = true
		}
	}
	return anc, recs
}

// head returns the last record in the bundle that names lot as its
// subject, an output or an input.
func (r *run) head(lot string) *entry {
	for i := len(r.recs) - 1; i >= 0; i-- {
		rec := r.recs[i]
		switch b := rec.st.GetBody().(type) {
		case *pb.Statement_Extraction:
			if b.Extraction.GetLotId() == lot {
				return rec
			}
		case *pb.Statement_Dispatch:
			if b.Dispatch.GetLotId() == lot {
				return rec
			}
		case *pb.Statement_Receipt:
			if b.Receipt.GetLotId() == lot {
				return rec
			}
		case *pb.Statement_Transformation:
			for _, o := range b.Transformation.GetOutputs() {
				if o.GetLotId() == lot {
					return rec
				}
			}
			for _, in := range b.Transformation.GetInputs() {
				if in.GetLotId() == lot {
					return rec
				}
			}
		}
	}
	return nil
}

// analyse runs the mass flow and the rules and fills rep. Errors (an
// incomplete bundle) go to r.errs.
func (r *run) analyse(rep *pb.VerificationReport) {
	lot := r.b.GetLotId()
	r.keyChecks()
	f := r.simulate()
	head := r.head(lot)
	if head == nil {
		r.fail("lot %q has no custody record in the bundle (incomplete bundle)", lot)
		return
	}
	anc, ancRecs := r.ancestry(head, lot)
	if len(r.errs) > 0 {
		return
	}
	// The lot's state: what its head record left, or, when a
	// transformation used it up, what it was before.
	st := f.states[skey{head.id, lot}]
	if st == nil {
		if t := head.st.GetTransformation(); t != nil {
			for _, in := range t.GetInputs() {
				if in.GetLotId() == lot {
					st = f.states[skey{in.GetLink(), lot}]
				}
			}
		}
	}
	if st == nil {
		r.fail("index %d: lot %q has no state at its head record (incomplete bundle)", head.idx, lot)
		return
	}
	if st.transit != nil && st.transit == head {
		d := head.st.GetDispatch()
		r.flag(head, RuleUnconfirmedCustody, pb.Severity_SEVERITY_WARNING, lot, nil, nil,
			"lot %q is in transit: dispatch to %q has no receipt in the bundle", lot, d.GetToPartyId())
	}
	r.volume(ancRecs, st)
	var flags []*pb.Flag
	for _, c := range r.cands {
		if c.rec != nil && !ancRecs[c.rec] {
			continue
		}
		if c.rec != nil && len(c.lots) > 0 && !slices.ContainsFunc(c.lots, func(l string) bool { return anc[skey{c.rec.id, l}] }) {
			continue
		}
		flags = append(flags, c.flag)
	}
	rep.Flags = sortFlags(flags)
	rep.ContainedSbKg = st.sb
	for _, id := range slices.Sorted(maps.Keys(st.comp)) {
		if id == untraced {
			continue
		}
		rep.Origins = append(rep.Origins, &pb.OriginShare{MinePartyId: id, SbKg: st.comp[id], Share: share(st.comp[id], st.sb)})
	}
	sort.SliceStable(rep.Origins, func(i, j int) bool { return rep.Origins[i].GetSbKg() > rep.Origins[j].GetSbKg() })
	rep.UntracedShare = share(st.comp[untraced], st.sb)
}

func share(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return math.Min(1, math.Max(0, part/whole))
}

// volume raises MINE_OVER_CAPACITY and ORIGIN_VOLUME for the lot.
func (r *run) volume(ancRecs map[*entry]bool, st *lotState) {
	var latest *entry
	lastByMine := map[string]*entry{}
	var ancExt []*entry
	for _, rec := range r.recs {
		if rec.st.GetExtraction() == nil || !ancRecs[rec] {
			continue
		}
		ancExt = append(ancExt, rec)
		if latest == nil || rec.time.After(latest.time) {
			latest = rec
		}
		if m := rec.st.GetPartyId(); registry.HasRole(r.party(m), pb.Role_ROLE_MINE) {
			if l := lastByMine[m]; l == nil || rec.time.After(l.time) {
				lastByMine[m] = rec
			}
		}
	}
	if latest == nil || r.cfg.CapacityWindow <= 0 {
		return
	}
	end := latest.time
	start := end.Add(-r.cfg.CapacityWindow)
	years := r.cfg.CapacityWindow.Hours() / (365 * 24)
	ore := map[string]float64{}
	inWindow := map[string][]string{}
	var natSb float64
	var natEv []string
	national := false
	for _, rec := range r.recs {
		x := rec.st.GetExtraction()
		if x == nil || !rec.time.After(start) || rec.time.After(end) {
			continue
		}
		p := r.party(rec.st.GetPartyId())
		if !registry.HasRole(p, pb.Role_ROLE_MINE) {
			continue
		}
		sb := x.GetMassKg() * (1 - x.GetMoisturePct()/100) * x.GetSbGradePct() / 100
		oreKg := x.GetMassKg()
		if x.GetProduct() != pb.Product_PRODUCT_ORE {
			if g := p.GetRegistration().GetMine().GetGradeMaxPct(); g > 0 {
				oreKg = sb / (g / 100) // the least ore that holds this Sb
			}
		}
		ore[p.GetRegistration().GetPartyId()] += oreKg
		inWindow[p.GetRegistration().GetPartyId()] = append(inWindow[p.GetRegistration().GetPartyId()], rec.id)
		if p.GetRegistration().GetCountry() == r.cfg.NationalCountry {
			natSb += sb
			natEv = append(natEv, rec.id)
		}
	}
	ids := func(rs []*entry, pred func(*entry) bool) []string {
		var out []string
		for _, x := range rs {
			if pred(x) {
				out = append(out, x.id)
			}
		}
		return out
	}
	for _, m := range slices.Sorted(maps.Keys(lastByMine)) {
		p, last := r.party(m), lastByMine[m]
		prof := p.GetRegistration().GetMine()
		if p.GetRegistration().GetCountry() == r.cfg.NationalCountry {
			national = true
		}
		if prof == nil {
			continue
		}
		own := ids(ancExt, func(x *entry) bool { return x.st.GetPartyId() == m })
		if cap := prof.GetAnnualOreCapacityKg() * years * (1 + r.cfg.CapacityTolerance); ore[m] > cap {
			r.flag(last, RuleMineOverCapacity, pb.Severity_SEVERITY_CRITICAL, last.lot(), nil, append(own, inWindow[m]...),
				"mine %q extracted %.0f kg ore in the %.0f days to %s (%d extractions), above its licensed %.0f kg/yr prorated to %.0f kg (+%.0f %% tolerance)",
				m, ore[m], r.cfg.CapacityWindow.Hours()/24, ts(end), len(inWindow[m]), prof.GetAnnualOreCapacityKg(), cap, r.cfg.CapacityTolerance*100)
		}
		if yearSb := prof.GetAnnualOreCapacityKg() * prof.GetGradeMaxPct() / 100; st.comp[m] > yearSb*(1+r.cfg.CapacityTolerance) {
			r.flag(last, RuleOriginVolume, pb.Severity_SEVERITY_CRITICAL, st.lot, nil, own,
				"lot %q holds %.0f kg Sb attributed to mine %q, more than a year of its capacity can contain (%.0f kg ore/yr x %.1f %% = %.0f kg Sb)",
				st.lot, st.comp[m], m, prof.GetAnnualOreCapacityKg(), prof.GetGradeMaxPct(), yearSb)
		}
	}
	if national && r.cfg.NationalOutputKgSbPerYear > 0 {
		if limit := r.cfg.NationalOutputKgSbPerYear * years * (1 + r.cfg.CapacityTolerance); natSb > limit {
			r.flag(latest, RuleOriginVolume, pb.Severity_SEVERITY_CRITICAL, latest.lot(), nil, natEv,
				"extractions in %s in the %.0f days to %s contain %.0f kg Sb, above its recorded mine output of %.0f kg Sb/yr prorated to %.0f kg (+%.0f %% tolerance)",
				r.cfg.NationalCountry, r.cfg.CapacityWindow.Hours()/24, ts(end), natSb, r.cfg.NationalOutputKgSbPerYear, limit, r.cfg.CapacityTolerance*100)
		}
	}
}
