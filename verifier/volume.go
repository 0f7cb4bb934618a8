package verifier

import (
	"maps"
	"slices"
	"strings"

	"github.com/antimony-ledger/provenance/index"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/registry"
)

// Volume: a lot's origin mines against their licensed capacity
// (MINE_OVER_CAPACITY) and the country's recorded output (ORIGIN_VOLUME),
// over the capacity window before the lot's latest extraction.

// volume raises MINE_OVER_CAPACITY and ORIGIN_VOLUME for the lot, from the
// running tallies the log commits in extraction leaves (package index):
// for each origin mine, the ore it extracted in the capacity window that
// ends when the log took the lot's latest extraction by that mine; for
// the national country, the Sb extracted there in the window that ends
// with the lot's latest extraction there. Windows are of the log's time,
// which the signers cannot set. No other party's extraction is needed,
// only the tallies of two leaves at the window's start.
func (r *run) volume(ancRecs map[*entry]bool, st *lotState) {
	if r.cfg.CapacityWindow <= 0 {
		return
	}
	ancExt, lastByMine, national := r.ancestryExtractions(ancRecs)
	for _, m := range slices.Sorted(maps.Keys(lastByMine)) {
		p, last := r.party(m), lastByMine[m]
		prof := p.GetRegistration().GetMine()
		if prof == nil {
			continue
		}
		own := ownExtractions(ancExt, m)
		w, ok := r.window(last, index.MineTally(m))
		if !ok {
			return
		}
		r.capacityCheck(last, m, prof, w, append(own, w.evidence...))
		r.lotYearCheck(last, st.lot, m, prof, st.comp[m], own)
	}
	if national == nil || r.cfg.NationalOutputKgSbPerYear <= 0 {
		return
	}
	w, ok := r.window(national, index.CountryTally(r.cfg.NationalCountry))
	if !ok {
		return
	}
	r.nationalCheck(national, w)
}

// ancestryExtractions returns the extractions among r.recs of ancestry
// ancRecs, in log order; by mine (a party with the role), the latest of
// its; and the latest by a mine of NationalCountry.
func (r *run) ancestryExtractions(ancRecs map[*entry]bool) (ext []*entry, lastByMine map[string]*entry, national *entry) {
	lastByMine = map[string]*entry{}
	for _, rec := range r.recs {
		if rec.st.GetExtraction() == nil || !ancRecs[rec] {
			continue
		}
		ext = append(ext, rec)
		m := rec.st.GetPartyId()
		p := r.party(m)
		if !registry.HasRole(p, pb.Role_ROLE_MINE) {
			continue
		}
		lastByMine[m] = rec
		if p.GetRegistration().GetCountry() == r.cfg.NationalCountry {
			national = rec
		}
	}
	return ext, lastByMine, national
}

func ownExtractions(ext []*entry, m string) []string {
	var own []string
	for _, x := range ext {
		if x.st.GetPartyId() == m {
			own = append(own, x.id)
		}
	}
	return own
}

// withdrawnLotYear returns the lot-year ORIGIN_VOLUME flags that the
// corrections among fixes (in log order) withdrew: those the lot's state
// raised just before the log took a correction, as the corrections before
// it left the lot, and no longer raised just after it, each marked
// corrected by it. Unlike a record's flags, the lot-year flag is of the
// lot's state, not of one record, so it is weighed when the correction is
// logged (as the server's follower does, which keeps it from then on);
// flags the lot raises now (have) are left out.
func (r *run) withdrawnLotYear(lot string, ancRecs map[*entry]bool, fixes []*fix, have []*pb.Flag) []*pb.Flag {
	if r.cfg.CapacityWindow <= 0 {
		return nil
	}
	if !r.lotYearPossible(ancRecs) {
		return nil // as in most lots: no need to replay the bundle's prefixes
	}
	seen := map[string]bool{}
	for _, f := range have {
		seen[ReplayFlagKey(f)] = true
	}
	var out []*pb.Flag
	if len(fixes) > maxExactCorrections {
		// All at once, as withdrawn does past the bound: the lot-year
		// flags of the whole bundle as first signed (no correction was
		// logged before index 1) that the corrected lot does not raise.
		for _, f := range r.lotYearAt(lot, ancRecs, ^uint64(0), 1) {
			if k := ReplayFlagKey(f); !seen[k] {
				seen[k] = true
				for _, x := range fixes {
					f.CorrectedBy = append(f.CorrectedBy, x.rec.id)
				}
				out = append(out, f)
			}
		}
		return out
	}
	for _, x := range fixes {
		before := r.lotYearAt(lot, ancRecs, x.rec.idx, x.rec.idx)
		if len(before) == 0 {
			continue
		}
		after := r.lotYearAt(lot, ancRecs, x.rec.idx, x.rec.idx+1)
		raised := map[string]bool{}
		for _, f := range after {
			raised[ReplayFlagKey(f)] = true
		}
		for _, f := range before {
			if k := ReplayFlagKey(f); !raised[k] && !seen[k] {
				seen[k] = true
				f.CorrectedBy = []string{x.rec.id}
				out = append(out, f)
			}
		}
	}
	return out
}

// lotYearPossible reports whether a lot of ancestry ancRecs can raise the
// lot-year ORIGIN_VOLUME in any of its states: whether one of its mines put
// more Sb into it, by its extractions as signed (which a correction only
// lowers), than the rule allows. No mine is credited with more Sb than its
// extractions put in (lotState.rescale), so otherwise none can.
func (r *run) lotYearPossible(ancRecs map[*entry]bool) bool {
	put := map[string]float64{}
	ext, _, _ := r.ancestryExtractions(ancRecs)
	for _, rec := range ext {
		x := rec.st.GetExtraction()
		put[rec.st.GetPartyId()] += x.GetMassKg() * (1 - x.GetMoisturePct()/100) * x.GetSbGradePct() / 100
	}
	for m, sb := range put {
		prof := r.party(m).GetRegistration().GetMine()
		// With a margin for rounding in the flow's arithmetic.
		if yearSb := prof.GetAnnualOreCapacityKg() * prof.GetGradeMaxPct() / 100; prof != nil && sb*(1+1e-9) > yearSb*(1+r.cfg.CapacityTolerance) {
			return true
		}
	}
	return false
}

// lotYearAt returns the lot-year ORIGIN_VOLUME flags of lot as the records
// before index upto left it, with the corrections logged before index
// fixedBefore applied. The flow of the bundle's prefix raises no other
// flags and fails no check the whole bundle passed.
func (r *run) lotYearAt(lot string, ancRecs map[*entry]bool, upto, fixedBefore uint64) []*pb.Flag {
	defer r.prefix(upto, fixedBefore)()
	head := r.head(lot)
	if head == nil {
		return nil // the lot was not yet
	}
	f := r.simulate()
	st, _ := f.lotAt(head, lot)
	if st == nil {
		return nil
	}
	ext, lastByMine, _ := r.ancestryExtractions(ancRecs)
	n0 := len(r.cands)
	for _, m := range slices.Sorted(maps.Keys(lastByMine)) {
		if prof := r.party(m).GetRegistration().GetMine(); prof != nil {
			r.lotYearCheck(lastByMine[m], lot, m, prof, st.comp[m], ownExtractions(ext, m))
		}
	}
	var flags []*pb.Flag
	for _, c := range r.cands[n0:] {
		flags = append(flags, c.flag)
	}
	return flags
}

// The volume rules, which the verification of a bundle (volume) and the
// replay of a log (Replay) both apply.

// capacityCheck raises MINE_OVER_CAPACITY on mine m's extraction last if
// the ore m extracted in the capacity window ending there, w, is above its
// licensed capacity prorated to the window.
func (r *run) capacityCheck(last *entry, m string, prof *pb.MineProfile, w windowTotal, evidence []string) {
	ore := w.oreG / 1000
	if g := prof.GetGradeMaxPct(); g > 0 {
		ore += w.otherSbG / 1000 / (g / 100) // the least ore that holds this Sb
	}
	if cap := prof.GetAnnualOreCapacityKg() * r.windowYears() * (1 + r.cfg.CapacityTolerance); ore > cap {
		r.flag(last, RuleMineOverCapacity, pb.Severity_SEVERITY_CRITICAL, last.lot(), nil, evidence,
			"mine %q extracted %.0f kg ore in the %.0f days to %s (%d extractions, by the log's running tally), above its licensed %.0f kg/yr prorated to %.0f kg (+%.0f %% tolerance)",
			m, ore, r.cfg.CapacityWindow.Hours()/24, ts(last.logTime()), w.count, prof.GetAnnualOreCapacityKg(), cap, r.cfg.CapacityTolerance*100)
	}
}

// lotYearMark is in the message of lotYearCheck's flag alone.
const lotYearMark = " Sb attributed to mine "

// lotYearCheck raises ORIGIN_VOLUME, on mine m's latest extraction in a
// lot's history, if the lot holds more Sb (sb) from m than a year of m's
// capacity can contain.
func (r *run) lotYearCheck(last *entry, lot, m string, prof *pb.MineProfile, sb float64, own []string) {
	if yearSb := prof.GetAnnualOreCapacityKg() * prof.GetGradeMaxPct() / 100; sb > yearSb*(1+r.cfg.CapacityTolerance) {
		r.flag(last, RuleOriginVolume, pb.Severity_SEVERITY_CRITICAL, lot, nil, own,
			"lot %q holds %.0f kg"+lotYearMark+"%q, more than a year of its capacity can contain (%.0f kg ore/yr x %.1f %% = %.0f kg Sb)",
			lot, sb, m, prof.GetAnnualOreCapacityKg(), prof.GetGradeMaxPct(), yearSb)
	}
}

// nationalCheck raises ORIGIN_VOLUME on the extraction national if the Sb
// extracted in the national country in the capacity window ending there,
// w, is above the country's recorded output prorated to the window.
func (r *run) nationalCheck(national *entry, w windowTotal) {
	if sb, limit := w.sbG/1000, r.cfg.NationalOutputKgSbPerYear*r.windowYears()*(1+r.cfg.CapacityTolerance); sb > limit {
		r.flag(national, RuleOriginVolume, pb.Severity_SEVERITY_CRITICAL, national.lot(), nil, w.evidence,
			"extractions in %s, by all its mines, in the %.0f days to %s contain %.0f kg Sb (%d extractions, by the log's running tally), above the country's recorded national mine output of %.0f kg Sb/yr prorated to %.0f kg (+%.0f %% tolerance)",
			r.cfg.NationalCountry, r.cfg.CapacityWindow.Hours()/24, ts(national.logTime()), sb, w.count, r.cfg.NationalOutputKgSbPerYear, limit, r.cfg.CapacityTolerance*100)
	}
}

// windowYears is the capacity window in years.
func (r *run) windowYears() float64 { return r.cfg.CapacityWindow.Hours() / (365 * 24) }

// between sets w's sums to what a key's extractions add up to from its
// tally first (the last before the window; zero for none) to last.
func (w *windowTotal) between(first, last index.Tally) {
	w.count = last.Count - first.Count
	w.oreG = float64(last.OreG - first.OreG)
	w.sbG = float64(last.SbG - first.SbG)
	w.otherSbG = float64(last.OtherSbG - first.OtherSbG)
}

// windowTotal is what a key's extractions sum to in a capacity window.
type windowTotal struct {
	count               uint64
	oreG, sbG, otherSbG float64
	evidence            []string // the leaves the sums come from
}

// window sums key's extractions over the capacity window of the log's time
// that ends at end: end's tally, less the tally of the key's last
// extraction before the window. That one is shown to be the last by its
// successor's Prev: a leaf of the key taken at or after the window's start
// whose Prev is its index (or, when no extraction of the key precedes the
// window, the key's first leaf, whose Prev is index.NoPrev). A bundle
// without those leaves is incomplete: the verification fails, and ok is
// false.
func (r *run) window(end *entry, key string) (windowTotal, bool) {
	tallies, err := index.ParseExtra(end.leaf.Extra)
	last, found := index.Find(tallies, key)
	if err != nil || !found {
		r.fail("index %d: the extraction's leaf carries no running tally %q (a log that does not tally, or a damaged leaf)", end.idx, keyName(key))
		return windowTotal{}, false
	}
	start := end.logTime().Add(-r.cfg.CapacityWindow)
	var first index.Tally // zero: nothing before the window
	w := windowTotal{evidence: []string{end.id}}
	found = false
	for _, idx := range r.order { // the first that fits
		l := r.leaves[idx]
		if idx > end.idx || l.Time.Before(start) {
			continue
		}
		lts, err := index.ParseExtra(l.Extra)
		t, ok := index.Find(lts, key)
		if err != nil || !ok {
			continue
		}
		if t.Prev == index.NoPrev {
			found = true
			w.evidence = append(w.evidence, l.Record.String())
			break
		}
		pred, ok := r.leaves[t.Prev]
		if !ok || !pred.Time.Before(start) {
			continue
		}
		pts, err := index.ParseExtra(pred.Extra)
		pt, ok := index.Find(pts, key)
		if err != nil || !ok {
			continue
		}
		first, found = pt, true
		w.evidence = append(w.evidence, l.Record.String(), pred.Record.String())
		break
	}
	if !found {
		r.fail("index %d: the bundle lacks the leaves that start the %.0f-day window of %s's running tally before %s (incomplete bundle)",
			end.idx, r.cfg.CapacityWindow.Hours()/24, keyName(key), ts(end.logTime()))
		return windowTotal{}, false
	}
	w.between(first, last)
	return w, true
}

// keyName shows a tally key (kind \x00 id) as "kind id".
func keyName(k string) string { return strings.ReplaceAll(k, "\x00", " ") }
