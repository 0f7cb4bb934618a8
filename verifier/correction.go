package verifier

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// Corrections: a party corrects its own extraction, dispatch or receipt
// (co-signed by the other side of a handoff; package registry checks the
// signatures), once per record. The mass flow replays the corrected
// record with its corrected values, so the verdict is judged on them; the
// flags the original values raised, and the corrected ones do not, stay in
// the report with Flag.corrected_by set and do not count towards the
// verdict: a correction never removes a flag silently.

// A fix is one valid correction in the bundle.
type fix struct {
	rec       *entry        // the correction
	orig      *entry        // the record it corrects
	corrected *pb.Statement // orig's statement with the corrected values
	note      *pb.AppliedCorrection
}

// corrections checks the bundle's corrections by the rules the log admits
// them by (custody's correct) and returns them by the id of the record
// they correct. A correction the log would have refused makes the bundle
// INVALID: it is no record of the log's.
func (r *run) corrections() map[string]*fix {
	var fixes map[string]*fix
	for _, rec := range r.recs {
		c := rec.st.GetCorrection()
		if c == nil {
			continue
		}
		orig := r.byID[c.GetCorrects()]
		if orig == nil {
			r.fail("index %d: correction.corrects %s names a record not in the bundle (incomplete bundle)", rec.idx, c.GetCorrects())
			continue
		}
		if orig.st.GetPartyId() != rec.st.GetPartyId() {
			r.fail("index %d: correction of record %s (index %d) is signed by %q, but the record by %q: only its signer corrects a record", rec.idx, orig.id, orig.idx, rec.st.GetPartyId(), orig.st.GetPartyId())
			continue
		}
		if prev := fixes[orig.id]; prev != nil {
			r.fail("index %d: record %s (index %d) is corrected again, after the correction at index %d: the log corrects a record once", rec.idx, orig.id, orig.idx, prev.rec.idx)
			continue
		}
		f, err := r.correct(rec, orig, c)
		if err != nil {
			r.fail("index %d: correction of record %s (index %d): %v", rec.idx, orig.id, orig.idx, err)
			continue
		}
		if fixes == nil {
			fixes = map[string]*fix{}
		}
		fixes[orig.id] = f
	}
	return fixes
}

// correct checks correction c of orig and returns orig's statement with
// the corrected values.
func (r *run) correct(rec, orig *entry, c *pb.Correction) (*fix, error) {
	st := CorrectedStatement(orig.st, c)
	note := &pb.AppliedCorrection{Record: rec.id, Corrects: orig.id, CorrectsIndex: orig.idx, Reason: c.GetReason()}
	var lot, counterparty string
	mass := func(name string, kg float64) {
		if c.MassKg != nil {
			note.Changes = append(note.Changes, fmt.Sprintf("%s mass %.1f kg -> %.1f kg", name, kg, c.GetMassKg()))
		}
	}
	place := func(name string, l *pb.Location) {
		if c.GetLocation() != nil {
			note.Changes = append(note.Changes, fmt.Sprintf("%s %s -> %s", name, where(l), where(c.GetLocation())))
		}
	}
	switch b := orig.st.GetBody().(type) {
	case *pb.Statement_Extraction:
		x := b.Extraction
		lot = x.GetLotId()
		if c.MassKg != nil && c.GetMassKg() > x.GetMassKg() {
			// The leaves' running tallies (capacity, national volume)
			// count the mass as logged: a larger one would escape them.
			return nil, fmt.Errorf("it raises the extraction's mass from %.1f kg to %.1f kg; an extraction is corrected only downwards, since the log's running totals of the mine and the country count it as first logged", x.GetMassKg(), c.GetMassKg())
		}
		mass("extraction", x.GetMassKg())
		place("extraction site", x.GetSite())
	case *pb.Statement_Dispatch:
		d := b.Dispatch
		lot, counterparty = d.GetLotId(), d.GetToPartyId()
		mass("dispatch", d.GetMassKg())
	case *pb.Statement_Receipt:
		x := b.Receipt
		lot = x.GetLotId()
		d := r.byID[x.GetDispatchLink()]
		if d == nil {
			return nil, fmt.Errorf("the receipt's dispatch %s is not in the bundle (incomplete bundle)", x.GetDispatchLink())
		}
		counterparty = d.st.GetPartyId()
		mass("receipt", x.GetMassKg())
		place("receipt location", x.GetLocation())
		if c.SealsIntact != nil {
			note.Changes = append(note.Changes, fmt.Sprintf("seals intact %t -> %t", x.GetSealsIntact(), c.GetSealsIntact()))
		}
	case *pb.Statement_Correction:
		return nil, fmt.Errorf("it is a correction, which is not corrected in turn")
	default:
		return nil, fmt.Errorf("it is not an extraction, dispatch or receipt, the records a correction may correct")
	}
	switch {
	case lot != c.GetLotId():
		return nil, fmt.Errorf("the correction names lot %q, the record lot %q", c.GetLotId(), lot)
	case c.GetCounterpartyId() != counterparty:
		return nil, fmt.Errorf("its counterparty is %q, but the other side of the handoff, who must co-sign, is %q", c.GetCounterpartyId(), counterparty)
	case c.SealsIntact != nil && st.GetReceipt() == nil:
		return nil, fmt.Errorf("only a receipt's seal state is corrected")
	case c.GetLocation() != nil && st.GetDispatch() != nil:
		return nil, fmt.Errorf("a dispatch's place is not corrected")
	}
	return &fix{rec: rec, orig: orig, corrected: st, note: note}, nil
}

// CorrectedStatement returns a copy of orig, an extraction, dispatch or
// receipt, with the values correction c gives that orig's kind has (mass;
// an extraction's site or a receipt's location; a receipt's seal state);
// orig unchanged for any other kind. Whether c may correct orig at all is
// the verifier's check (and the log's), not this.
func CorrectedStatement(orig *pb.Statement, c *pb.Correction) *pb.Statement {
	st := proto.CloneOf(orig)
	switch b := st.GetBody().(type) {
	case *pb.Statement_Extraction:
		if c.MassKg != nil {
			b.Extraction.MassKg = c.GetMassKg()
		}
		if c.GetLocation() != nil {
			b.Extraction.Site = c.GetLocation()
		}
	case *pb.Statement_Dispatch:
		if c.MassKg != nil {
			b.Dispatch.MassKg = c.GetMassKg()
		}
	case *pb.Statement_Receipt:
		if c.MassKg != nil {
			b.Receipt.MassKg = c.GetMassKg()
		}
		if c.GetLocation() != nil {
			b.Receipt.Location = c.GetLocation()
		}
		if c.SealsIntact != nil {
			b.Receipt.SealsIntact = c.GetSealsIntact()
		}
	}
	return st
}

func where(l *pb.Location) string {
	if l == nil {
		return "(none)"
	}
	s := fmt.Sprintf("%.4f, %.4f", l.GetLat(), l.GetLon())
	if l.GetName() != "" {
		s += " (" + l.GetName() + ")"
	}
	return s
}

// maxExactCorrections bounds the corrections of a lot's ancestry whose
// withdrawn flags withdrawn (and withdrawnLotYear) weigh one by one, each
// with two runs of the flow over the records before it: past it, so that
// a bundle of many corrections is not verified in time quadratic in them
// (TestManyCorrectionsLinear), they weigh them all at once, against the
// values as first signed. Then the withdrawn flags listed can differ
// from the listing's (a flag a correction withdrew after another
// correction raised it is not among them; one the values as first signed
// raise, on a record logged after an earlier correction, is); the
// verdict, which withdrawn flags do not count in, does not.
const maxExactCorrections = 64

// withdrawn returns the flags the corrections among fixes (in log order)
// withdrew, as the log held them: for each correction x, the flags the
// records from the one x corrects up to x raise with the corrections
// logged before x applied (the lot as the log held it when it took x) and
// not with x applied too, marked corrected by x; less those the lot's
// records raise now, with every correction applied (have). A record
// logged after x was judged, when logged, on x's values, so a flag the
// values before x would raise on it was never the log's and is not
// listed (a receipt weighed against a dispatch corrected before the
// receipt was logged). The server's flag follower, which replays the
// records from the corrected one up to a correction when it follows it
// ([Replay]), keeps the same flags. ofLot keeps the candidates of the
// lot's ancestry.
//
// Past maxExactCorrections, the flags are weighed against the values as
// first signed for all the corrections at once: the flags those values
// raise on the records from a corrected one up to its correction, and
// the corrected values do not, marked corrected by every such
// correction.
func (r *run) withdrawn(fixes []*fix, have []*pb.Flag, ofLot func([]cand) []*pb.Flag) []*pb.Flag {
	key := func(f *pb.Flag) string { return ReplayFlagKey(f) }
	now := map[string]bool{}
	for _, f := range have {
		now[key(f)] = true
	}
	var out []*pb.Flag
	byKey := map[string]*pb.Flag{}
	add := func(f *pb.Flag, by *fix) {
		k := key(f)
		if now[k] {
			return
		}
		if prev := byKey[k]; prev != nil {
			if !slices.Contains(prev.CorrectedBy, by.rec.id) {
				prev.CorrectedBy = append(prev.CorrectedBy, by.rec.id)
			}
			return
		}
		f = proto.CloneOf(f)
		f.CorrectedBy = []string{by.rec.id}
		byKey[k] = f
		out = append(out, f)
	}
	if len(fixes) > maxExactCorrections {
		// No correction applied: none was logged before index 1.
		for _, f := range r.flagsBefore(^uint64(0), 1, ofLot) {
			for _, x := range fixes {
				if f.GetIndex() >= x.orig.idx && f.GetIndex() < x.rec.idx {
					add(f, x)
				}
			}
		}
		return out
	}
	for _, x := range fixes {
		in := func(f *pb.Flag) bool { return f.GetIndex() >= x.orig.idx && f.GetIndex() < x.rec.idx }
		before := slices.DeleteFunc(r.flagsBefore(x.rec.idx, x.rec.idx, ofLot), func(f *pb.Flag) bool { return !in(f) })
		if len(before) == 0 {
			continue
		}
		after := map[string]bool{}
		for _, f := range r.flagsBefore(x.rec.idx, x.rec.idx+1, ofLot) {
			after[key(f)] = true
		}
		for _, f := range before {
			if !after[key(f)] {
				add(f, x)
			}
		}
	}
	return out
}

// flagsBefore returns the flags the flow raises, through ofLot, run on
// the records before index upto alone, with the corrections logged before
// index fixedBefore applied.
func (r *run) flagsBefore(upto, fixedBefore uint64, ofLot func([]cand) []*pb.Flag) []*pb.Flag {
	defer r.prefix(upto, fixedBefore)()
	n0 := len(r.cands)
	r.simulate()
	return ofLot(r.cands[n0:])
}

// prefix makes the run the bundle's records before index upto alone, with
// the corrections logged before index fixedBefore applied, and returns
// what puts the run back as it was (its records, candidate flags and
// errors).
func (r *run) prefix(upto, fixedBefore uint64) (restore func()) {
	recs, cands, errs := r.recs, len(r.cands), len(r.errs)
	n := 0
	for n < len(recs) && recs[n].idx < upto {
		n++
	}
	r.recs, r.fixedBefore = recs[:n], fixedBefore
	return func() { r.recs, r.cands, r.errs, r.fixedBefore = recs, r.cands[:cands], r.errs[:errs], 0 }
}
