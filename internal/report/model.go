package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
	"github.com/antimony-ledger/provenance/verifier"
)

// A rec is one decoded record of the bundle, with what the log says of it.
type rec struct {
	index   uint64
	id      string // record id, text form
	logTime time.Time
	env     *pb.Envelope
	st      *pb.Statement
	// A record the verifier applied a correction to shows the corrected
	// values in st (as the verifier judges them); orig is the statement as
	// first signed, fixedBy the correction and fix what the verifier says
	// it changed. A correction record points back at what it corrected
	// (fixes), with the same note.
	orig    *pb.Statement
	fixedBy *rec
	fixes   *rec
	fix     *pb.AppliedCorrection
}

// A bundleView is the bundle's records decoded, for display. Decoding here
// checks nothing: the verifier's report says whether the records are
// authentic; this only reads what they claim.
type bundleView struct {
	recs    []*rec          // in log order, as the bundle lists them
	byID    map[string]*rec // record id -> record
	parties map[string]*pb.PartyRegistration
	leaves  int // bundle records, with or without their data
	// leafOnly holds the log index of each record the bundle shows by its
	// leaf alone (another party's record whose tally a rule counts).
	leafOnly map[string]uint64
}

func decodeBundle(b *pb.Bundle) *bundleView {
	v := &bundleView{byID: map[string]*rec{}, parties: map[string]*pb.PartyRegistration{}, leafOnly: map[string]uint64{}}
	for _, br := range b.GetRecords() {
		v.leaves++
		if len(br.GetData()) == 0 {
			var id tlog.RecordID
			if copy(id[:], br.GetRecordId()) == len(id) {
				v.leafOnly[id.String()] = br.GetIndex()
			}
			continue
		}
		env, st, err := record.Decode(br.GetData())
		if err != nil {
			continue
		}
		// Strings are shown on a page: control and bidirectional
		// characters are escaped as the terminal report escapes them.
		record.MapStrings(st, record.Printable)
		r := &rec{index: br.GetIndex(), id: tlog.RecordIDOf(br.GetData()).String(), env: env, st: st}
		if t := br.GetIntegratedTime(); t != nil {
			r.logTime = t.AsTime()
		}
		v.recs = append(v.recs, r)
		v.byID[r.id] = r
		if reg := st.GetPartyRegistration(); reg != nil {
			v.parties[reg.GetPartyId()] = reg
		}
	}
	slices.SortStableFunc(v.recs, func(a, b *rec) int {
		switch {
		case a.index < b.index:
			return -1
		case a.index > b.index:
			return 1
		}
		return 0
	})
	return v
}

// applyCorrections puts the corrected values of each correction the
// verifier applied (the report's corrections) into the record it corrects,
// as the verifier's correct does, keeping the values as first signed: the
// timeline and the graph show the lot as the verdict judged it, with the
// originals marked. A correction the verifier did not apply (an INVALID
// bundle's) changes nothing.
func (v *bundleView) applyCorrections(applied []*pb.AppliedCorrection) {
	for _, ac := range applied {
		orig, cr := v.byID[ac.GetCorrects()], v.byID[ac.GetRecord()]
		if orig == nil || cr == nil || orig.orig != nil || cr.st.GetCorrection() == nil {
			continue
		}
		if orig.st.GetExtraction() == nil && orig.st.GetDispatch() == nil && orig.st.GetReceipt() == nil {
			continue // not a record a correction corrects
		}
		st := verifier.CorrectedStatement(orig.st, cr.st.GetCorrection())
		orig.orig, orig.st, orig.fixedBy, orig.fix = orig.st, st, cr, ac
		cr.fixes, cr.fix = orig, ac
	}
}

// lotsOf returns the lots a custody record concerns: the lot it names, or a
// transformation's inputs and outputs.
func lotsOf(st *pb.Statement) []string { return verifier.RecordLots(st) }

// ancestry returns the lot and every lot it was made from, through the
// transformations in the bundle whose outputs include a lot of the set.
func (v *bundleView) ancestry(lot string) map[string]bool {
	set := map[string]bool{lot: true}
	for changed := true; changed; {
		changed = false
		for _, r := range v.recs {
			t := r.st.GetTransformation()
			if t == nil || !slices.ContainsFunc(t.GetOutputs(), func(o *pb.TransformationOutput) bool { return set[o.GetLotId()] }) {
				continue
			}
			for _, in := range t.GetInputs() {
				if !set[in.GetLotId()] {
					set[in.GetLotId()], changed = true, true
				}
			}
		}
	}
	return set
}

// custody returns the records of the lots in set (lot and its ancestry),
// in log order: the lot's history. Other records of the bundle (other lots
// of a mine, the registry) are context for the verifier's rules and are
// left out.
func (v *bundleView) custody(lot string, set map[string]bool) []*rec {
	var out []*rec
	for _, r := range v.recs {
		if t := r.st.GetTransformation(); t != nil {
			// A transformation belongs to the history if it made a lot
			// of the set, or used up the lot itself; one that only
			// consumed an ancestor made other lots.
			if slices.ContainsFunc(t.GetOutputs(), func(o *pb.TransformationOutput) bool { return set[o.GetLotId()] }) ||
				slices.ContainsFunc(t.GetInputs(), func(in *pb.TransformationInput) bool { return in.GetLotId() == lot }) {
				out = append(out, r)
			}
			continue
		}
		if slices.ContainsFunc(lotsOf(r.st), func(l string) bool { return set[l] }) {
			out = append(out, r)
		}
	}
	return out
}

// party names a party by its registered name and id, or its id alone.
func (v *bundleView) party(id string) string {
	if reg := v.parties[id]; reg != nil && reg.GetName() != "" && reg.GetName() != id {
		return reg.GetName() + " (" + id + ")"
	}
	return id
}

// A lotMaterial is what the records last declared of a lot: its moisture
// and the Sb grade of its dry mass, to put a contained Sb figure on each
// record of the timeline.
type lotMaterial struct {
	moist   float64 // percent of wet mass
	grade   float64 // fraction of dry mass
	product pb.Product
}

func sbOf(wet, moistPct, grade float64) float64 { return wet * (1 - moistPct/100) * grade }

// A row is one record of the custody timeline.
type row struct {
	Anchor    string
	Index     uint64
	ID        string
	Short     string
	LogTime   string
	EventTime string
	Party     string
	Kind      string
	Lot       string
	Lots      []string // Lot, each lot apart
	What      string
	Mass      string
	Sb        string
	Note      string
	Flagged   bool
	// A corrected record: the mass and contained Sb as first signed, when
	// the correction changed the mass, and what the correction changed.
	MassWas   string
	SbWas     string
	Corrected string
}

// timeline describes each custody record in words, with the mass it
// declares and the contained Sb that mass holds at the lot's last declared
// moisture and grade.
func (v *bundleView) timeline(recs []*rec, flagged map[string]bool) []row {
	mat := map[string]*lotMaterial{}
	get := func(lot string) *lotMaterial {
		if m := mat[lot]; m != nil {
			return m
		}
		m := &lotMaterial{}
		mat[lot] = m
		return m
	}
	var rows []row
	for _, r := range recs {
		st := r.st
		w := row{
			Anchor: anchor(r.index), Index: r.index, ID: r.id, Short: shorten(r.id),
			LogTime: shortStamp(r.logTime), Party: v.party(st.GetPartyId()), Note: st.GetNote(),
			Flagged: flagged[r.id],
		}
		if t := st.GetEventTime(); t != nil {
			w.EventTime = shortStamp(t.AsTime())
		}
		switch {
		case st.GetExtraction() != nil:
			x := st.GetExtraction()
			m := get(x.GetLotId())
			m.moist, m.grade, m.product = x.GetMoisturePct(), x.GetSbGradePct()/100, x.GetProduct()
			w.Kind, w.Lot = "extraction", x.GetLotId()
			w.What = fmt.Sprintf("%s extracted at %s, %s moisture, %s Sb", productName(x.GetProduct()), place(x.GetSite()), pct(x.GetMoisturePct()), pct(x.GetSbGradePct()))
			w.Mass, w.Sb = kg(x.GetMassKg()), kg(sbOf(x.GetMassKg(), m.moist, m.grade))
		case st.GetDispatch() != nil:
			d := st.GetDispatch()
			m := get(d.GetLotId())
			if d.GetMoisturePct() > 0 {
				m.moist = d.GetMoisturePct()
			}
			w.Kind, w.Lot = "dispatch", d.GetLotId()
			parts := []string{"to " + v.party(d.GetToPartyId())}
			if d.GetTransport() != "" {
				parts = append(parts, "by "+d.GetTransport())
			}
			if len(d.GetSeals()) > 0 {
				parts = append(parts, "seals "+strings.Join(d.GetSeals(), ", "))
			}
			if n := len(d.GetRoute()); n > 0 {
				var names []string
				for _, wp := range d.GetRoute() {
					names = append(names, place(wp.GetLocation()))
				}
				parts = append(parts, "route "+strings.Join(names, " → "))
			}
			if c := d.GetBorderCrossing(); c != "" {
				parts = append(parts, "border crossing "+c)
			}
			w.What = strings.Join(parts, "; ")
			w.Mass, w.Sb = kg(d.GetMassKg()), kg(sbOf(d.GetMassKg(), m.moist, m.grade))
		case st.GetReceipt() != nil:
			x := st.GetReceipt()
			m := get(x.GetLotId())
			w.Kind, w.Lot = "receipt", x.GetLotId()
			seals := "seals intact"
			if !x.GetSealsIntact() {
				seals = "seals NOT intact"
			}
			w.What = seals
			if x.GetLocation() != nil {
				w.What += " at " + place(x.GetLocation())
			}
			if d := v.byID[x.GetDispatchLink()]; d != nil && d.st.GetDispatch() != nil {
				w.What += fmt.Sprintf(" (dispatched %s kg)", kg(d.st.GetDispatch().GetMassKg()))
			}
			w.Mass, w.Sb = kg(x.GetMassKg()), kg(sbOf(x.GetMassKg(), m.moist, m.grade))
		case st.GetTransformation() != nil:
			t := st.GetTransformation()
			w.Kind = kindName(t.GetKind())
			var ins, outs []string
			var inWet, inDry, outMass, outSb float64
			for _, in := range t.GetInputs() {
				m := get(in.GetLotId())
				inWet += in.GetMassKg()
				inDry += in.GetMassKg() * (1 - m.moist/100)
				ins = append(ins, fmt.Sprintf("%s %s kg (%s kg Sb)", in.GetLotId(), kg(in.GetMassKg()), kg(sbOf(in.GetMassKg(), m.moist, m.grade))))
			}
			// Products of processing are weighed dry; a split or merge
			// keeps its inputs' moisture (as the verifier takes them).
			outMoist := 0.0
			if (t.GetKind() == pb.TransformationKind_TRANSFORMATION_KIND_SPLIT || t.GetKind() == pb.TransformationKind_TRANSFORMATION_KIND_MERGE) && inWet > 0 {
				outMoist = (1 - inDry/inWet) * 100
			}
			var lots []string
			for _, o := range t.GetOutputs() {
				m := get(o.GetLotId())
				m.moist, m.grade, m.product = outMoist, o.GetSbGradePct()/100, o.GetProduct()
				sb := sbOf(o.GetMassKg(), outMoist, m.grade)
				outMass += o.GetMassKg()
				outSb += sb
				lots = append(lots, o.GetLotId())
				outs = append(outs, fmt.Sprintf("%s %s kg %s at %s Sb (%s kg Sb)", o.GetLotId(), kg(o.GetMassKg()), productName(o.GetProduct()), pct(o.GetSbGradePct()), kg(sb)))
			}
			w.Lot, w.Lots = strings.Join(lots, ", "), lots
			w.What = "in: " + strings.Join(ins, "; ") + " → out: " + strings.Join(outs, "; ")
			w.Mass, w.Sb = kg(outMass), kg(outSb)
		case st.GetAssay() != nil:
			a := st.GetAssay()
			w.Kind, w.Lot = "assay", a.GetLotId()
			var els []string
			for _, e := range a.GetElements() {
				els = append(els, fmt.Sprintf("%s %g %%", e.GetElement(), e.GetPct()))
			}
			w.What = "sample " + a.GetSampleId() + ": " + strings.Join(els, ", ")
		case st.GetLabNomination() != nil:
			n := st.GetLabNomination()
			w.Kind, w.Lot = "lab nomination", n.GetLotId()
			var labs []string
			for _, l := range n.GetLabPartyIds() {
				labs = append(labs, v.party(l))
			}
			w.What = "labs named to assay the lot: " + strings.Join(labs, ", ")
		case st.GetCorrection() != nil:
			c := st.GetCorrection()
			w.Kind, w.Lot = "correction", c.GetLotId()
			w.What = v.correctionWords(r, c)
		default:
			continue
		}
		if w.Lots == nil && w.Lot != "" {
			w.Lots = []string{w.Lot}
		}
		if r.orig != nil {
			if was, now := massOf(r.orig), massOf(st); was != now {
				m := get(w.Lot)
				w.MassWas, w.SbWas = kg(was), kg(sbOf(was, m.moist, m.grade))
			}
			w.Corrected = fmt.Sprintf("by record #%d: %s", r.fixedBy.index, strings.Join(r.fix.GetChanges(), "; "))
		}
		rows = append(rows, w)
	}
	return rows
}

// massOf is the wet mass an extraction, dispatch or receipt declares.
func massOf(st *pb.Statement) float64 {
	switch {
	case st.GetExtraction() != nil:
		return st.GetExtraction().GetMassKg()
	case st.GetDispatch() != nil:
		return st.GetDispatch().GetMassKg()
	case st.GetReceipt() != nil:
		return st.GetReceipt().GetMassKg()
	}
	return 0
}

// correctionWords says what correction r (c) corrects and why: the
// changes the verifier applied, or, for a correction it did not apply,
// the values the record claims.
func (v *bundleView) correctionWords(r *rec, c *pb.Correction) string {
	var what string
	if o := r.fixes; o != nil {
		what = fmt.Sprintf("corrects record #%d (%s by %s): %s", o.index, describeKind(o.st), v.party(o.st.GetPartyId()), strings.Join(r.fix.GetChanges(), "; "))
	} else {
		var claims []string
		if c.MassKg != nil {
			claims = append(claims, "mass "+kg(c.GetMassKg())+" kg")
		}
		if c.GetLocation() != nil {
			claims = append(claims, "place "+place(c.GetLocation()))
		}
		if c.SealsIntact != nil {
			claims = append(claims, fmt.Sprintf("seals intact %t", c.GetSealsIntact()))
		}
		what = fmt.Sprintf("corrects record %s to %s (not applied by the verifier)", shorten(c.GetCorrects()), strings.Join(claims, ", "))
	}
	if c.GetCounterpartyId() != "" {
		what += "; co-signed by " + v.party(c.GetCounterpartyId())
	}
	return what + "; reason: " + c.GetReason()
}

// checks counts what the verifier checked to reach its verdict, from the
// bundle it checked.
type checks struct {
	Signatures, Records, Proofs, Links, MapProofs, Rules int
}

func countChecks(b *pb.Bundle, v *bundleView) checks {
	c := checks{Proofs: v.leaves, MapProofs: len(b.GetMapProofs()), Rules: len(verifier.Rules()), Records: len(v.recs)}
	for _, r := range v.recs {
		c.Signatures += len(r.env.GetSignatures())
		st := r.st
		switch {
		case st.GetDispatch() != nil:
			c.Links += nonEmpty(st.GetDispatch().GetCustodyLink())
		case st.GetReceipt() != nil:
			c.Links += nonEmpty(st.GetReceipt().GetDispatchLink())
		case st.GetAssay() != nil:
			c.Links += nonEmpty(st.GetAssay().GetSubjectLink())
		case st.GetLabNomination() != nil:
			c.Links += nonEmpty(st.GetLabNomination().GetCustodyLink())
		case st.GetTransformation() != nil:
			for _, in := range st.GetTransformation().GetInputs() {
				c.Links += nonEmpty(in.GetLink())
			}
		}
	}
	return c
}

func nonEmpty(s string) int {
	if s == "" {
		return 0
	}
	return 1
}

func anchor(index uint64) string { return fmt.Sprintf("sbr-rec-%d", index) }

// shorten keeps the distinctive head and tail of a base58 multihash, as
// the terminal report does.
func shorten(id string) string {
	if len(id) <= 16 {
		return id
	}
	return id[:10] + "…" + id[len(id)-4:]
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// shortStamp is stamp without the zone, for the timeline, whose heading
// says UTC.
func shortStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func kg(v float64) string { return groupThousands(fmt.Sprintf("%.1f", v)) }

func pct(v float64) string { return fmt.Sprintf("%g %%", v) }

// groupThousands puts thin separators in the integer part of a decimal.
func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

func place(l *pb.Location) string {
	if l == nil {
		return "an unstated place"
	}
	if l.GetName() != "" {
		return l.GetName()
	}
	return fmt.Sprintf("%.3f, %.3f", l.GetLat(), l.GetLon())
}

func productName(p pb.Product) string {
	switch p {
	case pb.Product_PRODUCT_ORE:
		return "ore"
	case pb.Product_PRODUCT_CONCENTRATE:
		return "concentrate"
	case pb.Product_PRODUCT_TRIOXIDE:
		return "Sb2O3"
	case pb.Product_PRODUCT_METAL:
		return "metal"
	}
	return "material"
}

func kindName(k pb.TransformationKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "TRANSFORMATION_KIND_"))
}
