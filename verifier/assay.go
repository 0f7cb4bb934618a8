package verifier

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/registry"
)

// Assays: who may sign them (KEY_MISUSE, UNNAMED_LAB), and what they
// measure against the origin mines' reference envelopes (ASSAY_MISMATCH).

// nominate records the labs a lot's holder named, for assay: a
// nomination by anyone but the lot's holder names no one.
func (r *run) nominate(f *flow, rec *entry, n *pb.LabNomination) {
	if t := f.custody[n.GetLotId()]; t != nil && t.holder == rec.st.GetPartyId() {
		f.custody[n.GetLotId()] = &custodyTerm{holder: t.holder, labs: n.GetLabPartyIds()}
	}
}

func (r *run) assay(f *flow, rec *entry, a *pb.Assay) {
	lot := a.GetLotId()
	s := f.states[skey{a.GetSubjectLink(), lot}]
	if s == nil {
		return // the subject is not a record of this lot in the bundle
	}
	lots := []string{lot}
	signer := rec.st.GetPartyId()
	// Who may assay is judged, as the store judges it, by the lot's
	// custody when the log took the assay, whatever its subject record.
	term := f.custody[lot]
	if term == nil {
		term = &custodyTerm{holder: s.holder}
	}
	switch {
	case term.holder == signer:
	case !registry.Allows(r.party(signer), registry.AssayUnheld):
		r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
			"assay of lot %q held by %q is signed by %q, which is neither the holder nor a LAB", lot, term.holder, signer)
	case !slices.Contains(term.labs, signer):
		r.flag(rec, RuleUnnamedLab, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
			"assay of lot %q held by %q is signed by LAB %q, which the holder had not named to assay it: the ledger refuses such an assay (a stranger could flood the lot, or pin a false assay on it)", lot, term.holder, signer)
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
