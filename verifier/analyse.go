package verifier

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// The analysis that turns a bundle's records into a report: mass flow,
// ancestry, rules, and the lot's contained Sb by origin.

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
	case *pb.Statement_LabNomination:
		return b.LabNomination.GetLotId()
	case *pb.Statement_Correction:
		return b.Correction.GetLotId()
	case *pb.Statement_Transformation:
		if outs := b.Transformation.GetOutputs(); len(outs) > 0 {
			return outs[0].GetLotId()
		}
	}
	return ""
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// analyse runs the mass flow and the rules and fills rep. Errors (an
// incomplete bundle) go to r.errs.
func (r *run) analyse(rep *pb.VerificationReport) {
	lot := r.b.GetLotId()
	r.keyChecks()
	r.timeChecks()
	if r.fixes = r.corrections(); len(r.errs) > 0 {
		return
	}
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
	if r.complete(anc, ancRecs); len(r.errs) > 0 {
		return
	}
	st, consumed := f.lotAt(head, lot)
	if st == nil {
		r.fail("index %d: lot %q has no state at its head record (incomplete bundle)", head.idx, lot)
		return
	}
	if st.transit != nil && st.transit == head {
		r.inTransit(head, lot)
	}
	r.volume(ancRecs, st)
	rep.HolderPartyId, rep.HeadRecord, rep.MassKg = st.holder, head.id, st.wet
	if consumed {
		rep.HolderPartyId, rep.ConsumedBy = "", head.id
	} else if st.transit != nil {
		rep.InTransitTo, rep.PendingDispatch = st.transit.st.GetDispatch().GetToPartyId(), st.transit.id
	}
	ofLot := func(cands []cand) []*pb.Flag {
		var flags []*pb.Flag
		for _, c := range cands {
			if c.rec != nil && !ancRecs[c.rec] {
				continue
			}
			if c.rec != nil && len(c.lots) > 0 && !slices.ContainsFunc(c.lots, func(l string) bool { return anc[skey{c.rec.id, l}] }) {
				continue
			}
			flags = append(flags, c.flag)
		}
		return flags
	}
	flags := ofLot(r.cands)
	if len(r.fixes) > 0 {
		var fixes []*fix
		for _, x := range r.fixes {
			if ancRecs[x.rec] {
				fixes = append(fixes, x)
			}
		}
		slices.SortFunc(fixes, func(a, b *fix) int { return cmp.Compare(a.rec.idx, b.rec.idx) })
		for _, x := range fixes {
			note := proto.CloneOf(x.note)
			// Visible, not refused: the lot had moved on when the log took it.
			note.AfterLotMovedOn = slices.ContainsFunc(f.conts[skey{x.orig.id, x.rec.lot()}], func(c *entry) bool { return c.idx < x.rec.idx })
			rep.Corrections = append(rep.Corrections, note)
		}
		flags = append(flags, r.withdrawn(fixes, flags, ofLot)...)
		flags = append(flags, r.withdrawnLotYear(lot, ancRecs, fixes, flags)...)
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

// lotAt returns the lot's state in f: what its head record left, or,
// when a transformation used it up (consumed), what it was before.
func (f *flow) lotAt(head *entry, lot string) (st *lotState, consumed bool) {
	if st = f.states[skey{head.id, lot}]; st != nil {
		return st, false
	}
	if t := head.st.GetTransformation(); t != nil {
		for _, in := range t.GetInputs() {
			if in.GetLotId() == lot {
				st, consumed = f.states[skey{in.GetLink(), lot}], true
				if st == nil && f.usedUp[skey{in.GetLink(), lot}] {
					// Continued from a transformation that used the lot
					// up (an ORPHAN_INPUT the flow raised: a correction
					// can make an earlier transformation use it up),
					// which the flow weighed: used up from nothing, not
					// an incomplete bundle. A transformation the bundle
					// lacks records of leaves it INVALID (a cold review:
					// records left out hid a DOUBLE_SPEND).
					st = &lotState{lot: lot, holder: head.st.GetPartyId()}
				}
			}
		}
	}
	return st, consumed
}

// inTransitMark is in the message of inTransit's flag alone.
const inTransitMark = " is in transit: dispatch to "

// inTransit raises UNCONFIRMED_CUSTODY for a lot whose head record is a
// dispatch still without its receipt.
func (r *run) inTransit(head *entry, lot string) {
	r.flag(head, RuleUnconfirmedCustody, pb.Severity_SEVERITY_WARNING, lot, nil, nil,
		"lot %q"+inTransitMark+"%q has no receipt in the bundle", lot, head.st.GetDispatch().GetToPartyId())
	if r.preview {
		if r.transit == nil {
			r.transit = map[*pb.Flag]bool{}
		}
		r.transit[r.cands[len(r.cands)-1].flag] = true
	}
}

func share(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return math.Min(1, math.Max(0, part/whole))
}
