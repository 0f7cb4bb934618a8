// Package report renders one verified lot as an HTML page for a compliance
// file: the verdict, the checkpoint the lot was checked against and its
// witnesses, what was checked, each flag explained in plain words with its
// evidence, the origins and untraced share in words, the custody timeline,
// a custody graph and a route map drawn as inline SVG.
//
// The caller verifies (with [verifier.VerifyLot], trusting only its pinned
// keys) and passes the bundle and the report; this package checks nothing
// itself and states nothing the report and the bundle do not say. The
// figures are computed from them, never written into the page by hand.
//
// # Self-contained
//
// [HTML] writes a whole document whose CSS and SVG are inline; its Content
// Security Policy forbids every request, so a page kept in a compliance
// file, opened years later and offline, shows the same thing and reaches
// nobody. [Fragment] writes the same content for embedding in the web
// console. The package links neither Badger nor gRPC nor the network, so
// it builds for GOOS=js GOARCH=wasm.
//
// # Hostile text
//
// Party names, notes, place names and lot ids are the signers' own text.
// Everything is written through html/template, so it is escaped for the
// context it lands in (HTML text, attributes, SVG); control and
// bidirectional characters are escaped as the terminal report escapes them
// ([record.Printable]).
//
// # Words
//
// [Explain] holds the one plain-words explanation of each rule, and
// [Glossary] the terms the page defines (contained Sb, untraced share, tree
// size...): the console and provctl take their words from here.
package report

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
	"github.com/antimony-ledger/provenance/verifier"
)

// An Input is one lot, already verified by the caller.
type Input struct {
	// Lot is the lot the report is of.
	Lot string
	// Bundle is the bundle that was verified.
	Bundle *pb.Bundle
	// Report is what verifier.VerifyLot returned for Lot and Bundle.
	Report *pb.VerificationReport
	// Generated is when the report was made.
	Generated time.Time
	// Source says who verified, where and against which keys; it is shown
	// in the header as given.
	Source string
}

// HTML writes the report as a whole HTML document with inline CSS (with a
// print stylesheet for A4) and inline SVG, which makes no request of any
// kind when opened.
func HTML(w io.Writer, in Input) error {
	v, err := build(in)
	if err != nil {
		return err
	}
	return page.ExecuteTemplate(w, "document", v)
}

// Fragment writes the same content as [HTML] without the document around
// it (no html, head or body elements): one div with its own style element,
// for embedding in a page. The style element's text is [StyleSheet]
// exactly; the fragment has no script, no event handler attribute and no
// style attribute.
func Fragment(w io.Writer, in Input) error {
	v, err := build(in)
	if err != nil {
		return err
	}
	return page.ExecuteTemplate(w, "fragment", v)
}

// StyleSheet returns the text of the style element that [HTML] and
// [Fragment] write, byte for byte: a page that embeds the fragment under a
// Content-Security-Policy allows it with the hash of this text
// ('sha256-...' in style-src).
func StyleSheet() string { return css }

// The view is what the template shows: every figure computed here.
type view struct {
	Lot          string
	Verdict      string
	VerdictClass string
	VerdictWords string
	Invalid      bool
	Generated    string
	Source       string
	Holder       string
	Mass         string
	ContainedSb  string

	Origin    string
	TreeSize  uint64
	Root      string
	Signed    string
	Cosigners []cosigner
	Witnessed []string

	Checks checks

	Flags       []flagView
	FlagCounts  string
	Rules       []ruleRow
	Unfired     []ruleRow // the rules that raised no flag
	Corrections []correctionView

	Origins     []originRow
	UntracedPct string
	UntracedKg  string
	OriginWords []string
	AssayNotes  []string

	Errors   []string
	Timeline []row
	Graph    graphView
	Map      mapView
	Glossary []Term
	CSS      template.CSS
}

type cosigner struct {
	Name    string
	Checked bool
}

type evidence struct {
	Anchor, Short, ID, Desc string
}

type flagView struct {
	Severity, SevClass, Rule, Explain, Message string
	Lot, Party, EventTime                      string
	Index                                      uint64
	Evidence                                   []evidence
	// CorrectedBy are the corrections (short ids) whose values no longer
	// raise the flag: it stays shown, and no longer counts.
	CorrectedBy []string
	// ExplainedAbove: an earlier flag of the page has the same rule, so
	// the printed page refers to its explanation instead of repeating it.
	ExplainedAbove bool
}

// correctionView is one correction the verifier applied.
type correctionView struct {
	Record, RecordID, Corrects, CorrectsID, Reason string
	Index                                          uint64
	Changes                                        []string
	AfterMovedOn                                   bool
}

type ruleRow struct {
	ID, Severity, Description string
	// Fired counts the rule's flags that count; Corrected those the
	// values as first signed raised and a correction withdrew.
	Fired, Corrected int
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func itThey(n int) string {
	if n == 1 {
		return "it does"
	}
	return "they do"
}

type originRow struct {
	Mine, Kg, Pct string
}

func severity(s pb.Severity) string { return strings.TrimPrefix(s.String(), "SEVERITY_") }

func build(in Input) (*view, error) {
	if in.Report == nil {
		return nil, fmt.Errorf("report of lot %q: no verification report", in.Lot)
	}
	b := in.Bundle
	if b == nil {
		b = &pb.Bundle{}
	}
	// The verifier's report carries the signers' strings (flag messages
	// quote lot ids and party ids): escape their control characters.
	rep := proto.Clone(in.Report).(*pb.VerificationReport)
	record.MapStrings(rep, record.Printable)
	lot := record.Printable(in.Lot)

	bv := decodeBundle(b)
	v := &view{
		Lot:       lot,
		Verdict:   strings.TrimPrefix(rep.GetVerdict().String(), "VERDICT_"),
		Invalid:   rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED && rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED,
		Generated: stamp(in.Generated),
		Source:    record.Printable(in.Source),
		Errors:    rep.GetErrors(),
		Glossary:  Glossary(),
		CSS:       template.CSS(css),
		TreeSize:  rep.GetTreeSize(),
		Root:      rep.GetCheckpointRoot(),
		Witnessed: rep.GetWitnessedBy(),
		Checks:    countChecks(b, bv),
	}
	// From here on the records show the corrected values the verdict was
	// judged on (the originals kept, and marked).
	bv.applyCorrections(rep.GetCorrections())
	if ct := rep.GetCheckpointTime(); ct != nil {
		v.Signed = stamp(ct.AsTime())
	}
	v.Origin, v.Cosigners = noteSigners(b, rep.GetWitnessedBy())

	// A corrected flag (raised by values a correction replaced) is shown
	// and does not count: the rules and the verdict count the others.
	fired, correctedBy := map[string]int{}, map[string]int{}
	counted := 0
	for _, f := range rep.GetFlags() {
		if len(f.GetCorrectedBy()) > 0 {
			correctedBy[f.GetRule()]++
			continue
		}
		fired[f.GetRule()]++
		counted++
	}
	uncounted := len(rep.GetFlags()) - counted
	rulesFired := 0
	for _, r := range verifier.Rules() {
		v.Rules = append(v.Rules, ruleRow{ID: r.ID, Severity: severity(r.Severity), Description: r.Description, Fired: fired[r.ID], Corrected: correctedBy[r.ID]})
		if fired[r.ID] == 0 && correctedBy[r.ID] == 0 {
			v.Unfired = append(v.Unfired, v.Rules[len(v.Rules)-1])
		}
		if fired[r.ID] > 0 {
			rulesFired++
		}
	}

	// Which keys those are (pinned by a buyer, or a server's own) is the
	// Source's to say.
	keys := "the keys the verifier trusted"
	if v.Source != "" {
		keys += " (named above)"
	}
	switch rep.GetVerdict() {
	case pb.Verdict_VERDICT_VERIFIED:
		v.VerdictClass = "ok"
		v.VerdictWords = fmt.Sprintf("Every signature, hash link and inclusion proof in the bundle checked against %s, and none of the %d rules raised a flag.", keys, len(v.Rules))
		if uncounted > 0 {
			v.VerdictWords = fmt.Sprintf("Every signature, hash link and inclusion proof in the bundle checked against %s, and none of the %d rules raised a flag on the lot as corrected. %s of the values as first signed %s shown below, marked corrected: %s not count.", keys, len(v.Rules), plural(uncounted, "flag"), isAre(uncounted), itThey(uncounted))
		}
	case pb.Verdict_VERDICT_FLAGGED:
		v.VerdictClass = "flagged"
		v.VerdictWords = fmt.Sprintf("The records are authentic: every signature, hash link and inclusion proof checked against %s. But %d of the %d rules raised %s: the records claim something implausible. Read the flags before relying on the lot's declared origin.", keys, rulesFired, len(v.Rules), plural(counted, "flag"))
		if uncounted > 0 {
			v.VerdictWords += fmt.Sprintf(" (%s of the values as first signed, which corrections replaced, %s shown too, marked corrected, and not counted.)", plural(uncounted, "more flag"), isAre(uncounted))
		}
	default:
		v.VerdictClass = "invalid"
		v.Verdict = "INVALID"
		v.VerdictWords = "Verification FAILED: a signature, hash link, key or proof did not check (see the errors). Nothing in this report is to be trusted. The records below are shown only as the bundle claims them, to help find what is wrong; they may be forged."
		if by := rep.GetConsumedBy(); by != "" {
			// VerifyLot's verdict on a lot that no longer exists.
			v.VerdictWords = fmt.Sprintf("This lot was used up by transformation %s: it no longer exists, nobody holds it and nobody can sell it; the lots that transformation made are the ones to verify. Anyone offering this lot offers material already used up, so the verifier reports it INVALID and nothing in this report is to be trusted as a description of material on offer.", shorten(by))
		}
	}

	var counts []string
	bySev := map[string]int{}
	corrected := 0
	for _, f := range rep.GetFlags() {
		if len(f.GetCorrectedBy()) > 0 {
			corrected++
			continue
		}
		bySev[severity(f.GetSeverity())]++
	}
	for _, s := range []string{"CRITICAL", "WARNING", "INFO"} {
		if n := bySev[s]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, strings.ToLower(s)))
		}
	}
	if corrected > 0 {
		counts = append(counts, fmt.Sprintf("%d corrected (shown, not counted)", corrected))
	}
	for _, c := range rep.GetCorrections() {
		v.Corrections = append(v.Corrections, correctionView{
			Record: shorten(c.GetRecord()), RecordID: c.GetRecord(), Corrects: shorten(c.GetCorrects()), CorrectsID: c.GetCorrects(),
			Index: c.GetCorrectsIndex(), Reason: c.GetReason(), Changes: c.GetChanges(), AfterMovedOn: c.GetAfterLotMovedOn(),
		})
	}
	v.FlagCounts = strings.Join(counts, ", ")

	evidenceIDs := map[string]bool{}
	explained := map[string]bool{}
	for _, f := range rep.GetFlags() {
		fv := flagView{
			Severity: severity(f.GetSeverity()), SevClass: strings.ToLower(severity(f.GetSeverity())),
			Rule: f.GetRule(), Explain: Explain(f.GetRule()), Message: f.GetMessage(),
			Lot: f.GetLotId(), Party: bv.party(f.GetPartyId()), Index: f.GetIndex(),
			ExplainedAbove: explained[f.GetRule()],
		}
		explained[f.GetRule()] = true
		for _, id := range f.GetCorrectedBy() {
			fv.CorrectedBy = append(fv.CorrectedBy, shorten(id))
		}
		if fv.Explain == "" {
			fv.Explain = "This report has no explanation of this rule; see the verifier's message."
		}
		if t := f.GetEventTime(); t != nil {
			fv.EventTime = stamp(t.AsTime())
		}
		for _, id := range f.GetEvidence() {
			evidenceIDs[id] = true
			ev := evidence{Short: shorten(id), ID: id, Desc: "not among the bundle's records"}
			if r := bv.byID[id]; r != nil {
				ev.Anchor = anchor(r.index)
				ev.Desc = fmt.Sprintf("log index %d, %s by %s", r.index, describeKind(r.st), bv.party(r.st.GetPartyId()))
			} else if i, ok := bv.leafOnly[id]; ok {
				ev.Desc = fmt.Sprintf("log index %d, a record the bundle proves by its log entry only (another party's record, not shown to this reader; the log's running tally in it is what the rule counts)", i)
			}
			fv.Evidence = append(fv.Evidence, ev)
		}
		v.Flags = append(v.Flags, fv)
	}

	set := bv.ancestry(in.Lot)
	hist := bv.custody(in.Lot, set)
	v.Timeline = bv.timeline(hist, evidenceIDs)
	v.Graph = buildGraph(in.Lot, set, hist)
	named := map[string]bool{}
	for _, r := range hist {
		if c := r.st.GetDispatch().GetBorderCrossing(); c != "" {
			named[strings.ToLower(c)] = true
		}
	}
	v.Map = buildMap(hist, named)

	if !v.Invalid {
		v.Holder = holderWords(rep, bv)
		v.Mass, v.ContainedSb = kg(rep.GetMassKg()), kg(rep.GetContainedSbKg())
		v.UntracedPct = fmt.Sprintf("%.1f %%", rep.GetUntracedShare()*100)
		v.UntracedKg = kg(rep.GetUntracedShare() * rep.GetContainedSbKg())
		for _, o := range rep.GetOrigins() {
			v.Origins = append(v.Origins, originRow{Mine: bv.party(o.GetMinePartyId()), Kg: kg(o.GetSbKg()), Pct: fmt.Sprintf("%.1f %%", o.GetShare()*100)})
		}
		v.OriginWords = originWords(rep, bv)
		v.AssayNotes = assayNotes(rep, bv)
	}
	return v, nil
}

func describeKind(st *pb.Statement) string {
	switch {
	case st.GetExtraction() != nil:
		return "extraction of " + st.GetExtraction().GetLotId()
	case st.GetDispatch() != nil:
		return "dispatch of " + st.GetDispatch().GetLotId()
	case st.GetReceipt() != nil:
		return "receipt of " + st.GetReceipt().GetLotId()
	case st.GetAssay() != nil:
		return "assay of " + st.GetAssay().GetLotId()
	case st.GetLabNomination() != nil:
		return "lab nomination for " + st.GetLabNomination().GetLotId()
	case st.GetTransformation() != nil:
		return kindName(st.GetTransformation().GetKind())
	case st.GetCorrection() != nil:
		return "correction of " + st.GetCorrection().GetLotId()
	case st.GetPartyRegistration() != nil:
		return "registration of " + st.GetPartyRegistration().GetPartyId()
	case st.GetKeyRotation() != nil:
		return "key rotation of " + st.GetKeyRotation().GetPartyId()
	case st.GetKeyRevocation() != nil:
		return "key revocation of " + st.GetKeyRevocation().GetPartyId()
	case st.GetRegistrarRotation() != nil:
		return "registrar rotation"
	}
	return "record"
}

// holderWords says who holds the lot, as the terminal report does.
func holderWords(rep *pb.VerificationReport, bv *bundleView) string {
	switch {
	case rep.GetConsumedBy() != "":
		return fmt.Sprintf("Used up by transformation %s: the lot no longer exists and nobody holds it; the figures are what it held before.", shorten(rep.GetConsumedBy()))
	case rep.GetInTransitTo() != "":
		return fmt.Sprintf("Held by %s, in transit to %s (dispatch %s not yet received).", bv.party(rep.GetHolderPartyId()), bv.party(rep.GetInTransitTo()), shorten(rep.GetPendingDispatch()))
	case rep.GetHolderPartyId() != "":
		return fmt.Sprintf("Held by %s.", bv.party(rep.GetHolderPartyId()))
	}
	return "No holder is recorded."
}

// originWords explains the origin attribution and the untraced share.
func originWords(rep *pb.VerificationReport, bv *bundleView) []string {
	total := rep.GetContainedSbKg()
	u := rep.GetUntracedShare()
	var out []string
	if len(rep.GetOrigins()) > 0 {
		var parts []string
		for _, o := range rep.GetOrigins() {
			parts = append(parts, fmt.Sprintf("%s kg (%.1f %%) to %s", kg(o.GetSbKg()), o.GetShare()*100, bv.party(o.GetMinePartyId())))
		}
		out = append(out, fmt.Sprintf("The lot contains %s kg of antimony (contained Sb). Following the signed masses and grades of every handover and processing step back to the extractions, the records attribute %s.", kg(total), strings.Join(parts, ", ")))
	} else {
		out = append(out, fmt.Sprintf("The lot contains %s kg of antimony (contained Sb). The records attribute none of it to a registered mine.", kg(total)))
	}
	if u == 0 {
		out = append(out, "The untraced share is 0.0 %: every kilogram is accounted for by an extraction of a registered mine. That is what the signed records claim; whether the claims are plausible is for the flags above to say.")
	} else {
		out = append(out, fmt.Sprintf("The untraced share is %.1f %%: %s kg of antimony that the records do not lead back to any registered mine's extraction, such as metal that appeared in a processing step or a weighing beyond what went in. Its origin is unknown.", u*100, kg(u*total)))
	}
	return out
}

// assayNotes reconciles an assay flag with the attribution, so a page
// never says "100 % mine X" next to "not of mine X" without saying why
// both hold: the attribution follows the custody records, the assay reads
// the material.
func assayNotes(rep *pb.VerificationReport, bv *bundleView) []string {
	var assay []*pb.Flag
	for _, f := range rep.GetFlags() {
		if f.GetRule() == verifier.RuleAssayMismatch {
			assay = append(assay, f)
		}
	}
	if len(assay) == 0 || len(rep.GetOrigins()) == 0 {
		return nil
	}
	var mines []string
	for _, o := range rep.GetOrigins() {
		mines = append(mines, fmt.Sprintf("%s: %.1f %%", bv.party(o.GetMinePartyId()), o.GetShare()*100))
	}
	afghan := slices.ContainsFunc(assay, func(f *pb.Flag) bool { return f.GetSeverity() == pb.Severity_SEVERITY_CRITICAL })
	suggests := "a different origin than the declared mine"
	if afghan {
		suggests = "a different origin: its mercury and arsenic, high together, are the pattern of the Afghan Kharnak (Ghor) deposit, so the material may be Afghan ore relabelled as Pakistani"
	}
	return []string{fmt.Sprintf(
		"Origin attribution and assay disagree, and both are reported as found. The attribution (%s) follows the signed custody records: it credits the mines whose extractions the records' masses lead back to. It is what the paperwork claims. The assay flagged below (ASSAY_MISMATCH) measured the material itself, and its chemistry does not fit that mine: it suggests %s. Treat the attribution as the declared origin, not as a finding that the material comes from there.",
		strings.Join(mines, ", "), suggests)}
}

// noteSigners reads the checkpoint's origin and the names of the witnesses
// whose cosignature lines the bundle's witnessed checkpoint carries, and
// marks those the verifier checked against the buyer's witness policy.
func noteSigners(b *pb.Bundle, checked []string) (origin string, out []cosigner) {
	text := b.GetCheckpoint()
	if b.GetWitnessedCheckpoint() != "" {
		text = b.GetWitnessedCheckpoint()
	}
	body, sigs, ok := strings.Cut(text, "\n\n")
	if !ok {
		return "", nil
	}
	if c, err := tlog.ParseCheckpoint(body + "\n"); err == nil {
		origin = record.Printable(c.Origin)
	}
	// The first signature line is the log's own; a log may sign a
	// checkpoint more than once under its name (a plain and a timestamped
	// signature), and those are not witnesses either.
	logName := ""
	for _, ln := range strings.Split(sigs, "\n") {
		rest, ok := strings.CutPrefix(ln, "— ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, " ")
		if logName == "" {
			logName = name
		}
		if name == logName {
			continue
		}
		name = record.Printable(name)
		out = append(out, cosigner{Name: name, Checked: slices.Contains(checked, name)})
	}
	return origin, out
}
