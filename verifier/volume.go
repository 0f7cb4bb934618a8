package verifier

import (
	"maps"
	"slices"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/registry"
)

// Volume: a lot's origin mines against their licensed capacity
// (MINE_OVER_CAPACITY) and the country's recorded output (ORIGIN_VOLUME),
// over the capacity window before the lot's latest extraction.

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
