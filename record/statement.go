package record

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// RegistrarPartyID is the party id on registry statements (registrations,
// key rotations and revocations), which only the registrar key may sign.
const RegistrarPartyID = "registrar"

// maxAssayRounding is how far over 100 % an assay's percentages may add
// up: each figure is rounded, and an assay lists at most MaxListLen.
const maxAssayRounding = 0.5

// Structural limits on a statement.
const (
	MaxStringLen = 256   // bytes, for names, notes, transport, seals
	MaxListLen   = 256   // waypoints, inputs, outputs, seals, elements
	MaxMassKg    = 1e9   // one million tonnes: far beyond any real lot
	maxKeys      = 8     // keys in one registration
	maxIDLen     = 128   // party and lot ids
	maxCapacity  = 1e12  // kg/yr, sanity bound on a declared capacity
	maxSkew      = 1e-12 // floats compared with this slack
	MaxNamedLabs = 16    // labs one lab nomination may name
)

var (
	elementPattern = regexp.MustCompile(`^[A-Z][a-z]{0,2}$`)
	countryPattern = regexp.MustCompile(`^[A-Z]{2}$`)
)

// DecodeStatement decodes and structurally validates a statement payload:
// it rejects unknown fields, missing or out-of-range values and oversize
// lists. It does not look at the log's state. It is what every reader of
// stored records applies (the server's reads, the audit, the verifier), so
// a log keeps reading as it was written; a new record must also pass
// [CheckAdmissible].
func DecodeStatement(payload []byte) (*pb.Statement, error) {
	if len(payload) > MaxPayloadSize {
		return nil, Rejectf(ErrMalformed, "payload is %d bytes, limit %d", len(payload), MaxPayloadSize)
	}
	st := &pb.Statement{}
	if err := proto.Unmarshal(payload, st); err != nil {
		return nil, Rejectf(ErrMalformed, "decoding statement: %v", err)
	}
	if hasUnknown(st.ProtoReflect()) {
		return nil, Rejectf(ErrMalformed, "statement has unknown fields")
	}
	if err := ValidateStatement(st); err != nil {
		return nil, err
	}
	return st, nil
}

// CheckAdmissible applies the rules a new record must meet besides
// [DecodeStatement]'s, which the server applies when it takes one (since
// issue 18; records logged before them keep reading as they were): the
// payload is the deterministic encoding of st, with no -0; no free text
// holds a control, format or separator character ([UnsafeRune]); no place
// is at 0°N 0°E; an assay's percentages add up to at most the whole; a
// receipt says where the lot arrived.
func CheckAdmissible(payload []byte, st *pb.Statement) error {
	if err := checkCanonical(payload, st); err != nil {
		return err
	}
	if id := st.GetPartyRegistration().GetPartyId(); strings.EqualFold(id, OperatorPartyID) || strings.EqualFold(id, RegistrarPartyID) {
		return Rejectf(ErrMalformed, "party_registration.party_id: %q is reserved (the API's names for the operator and the registrar)", id)
	}
	return validate(st, true)
}

// OperatorPartyID is the identity the operator authenticates as, with a
// token signed by the log's own key (README, "Who may read what"): no
// party may be registered under it.
const OperatorPartyID = "operator"

// CheckDisplaySafe fails if any string of st holds a C0 or C1 control
// character or a bidirectional embedding, override or isolate (U+202A-
// U+202E, U+2066-U+2069): what the verifier refuses in a bundle, since
// such text could hide or rearrange what a buyer reads.
func CheckDisplaySafe(st *pb.Statement) error {
	var bad error
	walkScalars(st.ProtoReflect(), "", func(name string, fd protoreflect.FieldDescriptor, v protoreflect.Value, _ func(protoreflect.Value)) bool {
		if fd.Kind() != protoreflect.StringKind {
			return true
		}
		for i, r := range v.String() {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				bad = Rejectf(ErrMalformed, "%s: character U+%04X at byte %d is a control or bidirectional-override character, which could hide or rearrange text on a reader's screen", name, r, i)
				return false
			}
		}
		return true
	})
	return bad
}

// MapStrings replaces every string of m, at any depth, by f of it.
func MapStrings(m proto.Message, f func(string) string) {
	walkScalars(m.ProtoReflect(), "", func(_ string, fd protoreflect.FieldDescriptor, v protoreflect.Value, set func(protoreflect.Value)) bool {
		if fd.Kind() == protoreflect.StringKind {
			set(protoreflect.ValueOfString(f(v.String())))
		}
		return true
	})
}

// walkScalars calls f with the dotted name (list elements indexed),
// descriptor and value of every value of m that is not a message, at any
// depth, and a function that replaces that value, until f returns false.
// It reports whether f never did.
func walkScalars(m protoreflect.Message, prefix string, f func(name string, fd protoreflect.FieldDescriptor, v protoreflect.Value, set func(protoreflect.Value)) bool) bool {
	ok := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := prefix + string(fd.Name())
		switch {
		case fd.IsMap():
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && ok; i++ {
				item := fmt.Sprintf("%s[%d]", name, i)
				if fd.Message() != nil {
					ok = walkScalars(l.Get(i).Message(), item+".", f)
				} else {
					ok = f(item, fd, l.Get(i), func(x protoreflect.Value) { l.Set(i, x) })
				}
			}
		case fd.Message() != nil:
			ok = walkScalars(v.Message(), name+".", f)
		default:
			ok = f(name, fd, v, func(x protoreflect.Value) { m.Set(fd, x) })
		}
		return ok
	})
	return ok
}

func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len() && !found; i++ {
				found = hasUnknown(l.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}

// ValidateStatement checks a statement's structure: ids, times, finite
// masses and percentages, links, list and string sizes.
func ValidateStatement(st *pb.Statement) error { return validate(st, false) }

// validate checks st; strict adds the rules of [CheckAdmissible].
func validate(st *pb.Statement, strict bool) error {
	v := &validator{strict: strict}
	v.id("party_id", st.GetPartyId())
	v.time("event_time", st.GetEventTime())
	v.str("note", st.GetNote())
	switch b := st.GetBody().(type) {
	case *pb.Statement_PartyRegistration:
		v.registration(b.PartyRegistration)
	case *pb.Statement_KeyRotation:
		r := b.KeyRotation
		v.id("key_rotation.party_id", r.GetPartyId())
		if r.GetPartyId() == RegistrarPartyID {
			v.fail("key_rotation.party_id: the registrar's key changes only by a registrar_rotation, signed by the old key and the new")
		}
		v.key("key_rotation.new_key", r.GetNewKey())
		if r.GetRetireKeyId() != "" {
			v.keyID("key_rotation.retire_key_id", r.GetRetireKeyId())
			v.time("key_rotation.retire_at", r.GetRetireAt())
		}
	case *pb.Statement_KeyRevocation:
		r := b.KeyRevocation
		v.id("key_revocation.party_id", r.GetPartyId())
		if r.GetPartyId() == RegistrarPartyID {
			v.fail("key_revocation.party_id: the registrar's key changes only by a registrar_rotation, signed by the old key and the new")
		}
		v.keyID("key_revocation.key_id", r.GetKeyId())
		v.time("key_revocation.revoked_at", r.GetRevokedAt())
		v.str("key_revocation.reason", r.GetReason())
	case *pb.Statement_RegistrarRotation:
		r := b.RegistrarRotation
		if len(r.GetNewKey()) != 32 {
			v.fail("registrar_rotation.new_key: %d bytes, want 32", len(r.GetNewKey()))
		}
		v.str("registrar_rotation.reason", r.GetReason())
	case *pb.Statement_Extraction:
		x := b.Extraction
		v.id("extraction.lot_id", x.GetLotId())
		v.mass("extraction.mass_kg", x.GetMassKg())
		v.pct("extraction.moisture_pct", x.GetMoisturePct())
		v.pct("extraction.sb_grade_pct", x.GetSbGradePct())
		v.location("extraction.site", x.GetSite(), true)
		v.product("extraction.product", x.GetProduct())
	case *pb.Statement_Assay:
		a := b.Assay
		v.id("assay.lot_id", a.GetLotId())
		v.link("assay.subject_link", a.GetSubjectLink())
		v.str("assay.sample_id", a.GetSampleId())
		v.count("assay.elements", len(a.GetElements()), 1)
		seen := map[string]bool{}
		for i, e := range a.GetElements() {
			name := fmt.Sprintf("assay.elements[%d]", i)
			v.element(name+".element", e.GetElement())
			v.pct(name+".pct", e.GetPct())
			if seen[e.GetElement()] {
				v.fail("%s: element %q listed twice", name, e.GetElement())
			}
			seen[e.GetElement()] = true
		}
		// Mass percentages of one sample cannot add up to more than the
		// whole (a little over, for rounding of each figure).
		total := 0.0
		for _, e := range a.GetElements() {
			total += e.GetPct()
		}
		if v.strict && total > 100+maxAssayRounding {
			v.fail("assay.elements: percentages add up to %.4g %%, more than the whole sample", total)
		}
	case *pb.Statement_Dispatch:
		d := b.Dispatch
		v.id("dispatch.lot_id", d.GetLotId())
		v.link("dispatch.custody_link", d.GetCustodyLink())
		v.id("dispatch.to_party_id", d.GetToPartyId())
		v.mass("dispatch.mass_kg", d.GetMassKg())
		v.pct("dispatch.moisture_pct", d.GetMoisturePct())
		v.count("dispatch.seals", len(d.GetSeals()), 0)
		for i, s := range d.GetSeals() {
			v.str(fmt.Sprintf("dispatch.seals[%d]", i), s)
		}
		v.str("dispatch.transport", d.GetTransport())
		v.count("dispatch.route", len(d.GetRoute()), 0)
		for i, w := range d.GetRoute() {
			v.location(fmt.Sprintf("dispatch.route[%d].location", i), w.GetLocation(), true)
			v.time(fmt.Sprintf("dispatch.route[%d].time", i), w.GetTime())
		}
		v.str("dispatch.border_crossing", d.GetBorderCrossing())
	case *pb.Statement_LabNomination:
		n := b.LabNomination
		v.id("lab_nomination.lot_id", n.GetLotId())
		v.link("lab_nomination.custody_link", n.GetCustodyLink())
		if len(n.GetLabPartyIds()) > MaxNamedLabs {
			v.fail("lab_nomination.lab_party_ids: %d labs, limit %d", len(n.GetLabPartyIds()), MaxNamedLabs)
		}
		seen := map[string]bool{}
		for i, lab := range n.GetLabPartyIds() {
			name := fmt.Sprintf("lab_nomination.lab_party_ids[%d]", i)
			v.id(name, lab)
			switch {
			case seen[lab]:
				v.fail("%s: party %q named twice", name, lab)
			case lab == st.GetPartyId():
				v.fail("%s: %q is the signer, and a holder assays its own lot without naming itself", name, lab)
			}
			seen[lab] = true
		}
	case *pb.Statement_Receipt:
		r := b.Receipt
		v.id("receipt.lot_id", r.GetLotId())
		v.link("receipt.dispatch_link", r.GetDispatchLink())
		v.mass("receipt.mass_kg", r.GetMassKg())
		v.location("receipt.location", r.GetLocation(), v.strict)
	case *pb.Statement_Transformation:
		t := b.Transformation
		if _, ok := pb.TransformationKind_name[int32(t.GetKind())]; !ok || t.GetKind() == pb.TransformationKind_TRANSFORMATION_KIND_UNSPECIFIED {
			v.fail("transformation.kind: must be SPLIT, MERGE, CONCENTRATE, SMELT or REFINE")
		}
		v.count("transformation.inputs", len(t.GetInputs()), 1)
		v.count("transformation.outputs", len(t.GetOutputs()), 1)
		lots := map[string]bool{}
		for i, in := range t.GetInputs() {
			name := fmt.Sprintf("transformation.inputs[%d]", i)
			v.id(name+".lot_id", in.GetLotId())
			v.link(name+".link", in.GetLink())
			v.mass(name+".mass_kg", in.GetMassKg())
			if lots[in.GetLotId()] {
				v.fail("%s: lot %q appears twice", name, in.GetLotId())
			}
			lots[in.GetLotId()] = true
		}
		for i, out := range t.GetOutputs() {
			name := fmt.Sprintf("transformation.outputs[%d]", i)
			v.id(name+".lot_id", out.GetLotId())
			v.mass(name+".mass_kg", out.GetMassKg())
			v.product(name+".product", out.GetProduct())
			v.pct(name+".sb_grade_pct", out.GetSbGradePct())
			if lots[out.GetLotId()] {
				v.fail("%s: lot %q appears twice", name, out.GetLotId())
			}
			lots[out.GetLotId()] = true
		}
		v.location("transformation.site", t.GetSite(), false)
	case *pb.Statement_Correction:
		c := b.Correction
		v.id("correction.lot_id", c.GetLotId())
		v.link("correction.corrects", c.GetCorrects())
		if c.GetCounterpartyId() != "" {
			v.id("correction.counterparty_id", c.GetCounterpartyId())
			if c.GetCounterpartyId() == st.GetPartyId() {
				v.fail("correction.counterparty_id: %q is the signer; the counterparty is the other side of the handoff", c.GetCounterpartyId())
			}
		}
		if c.MassKg != nil {
			v.mass("correction.mass_kg", c.GetMassKg())
		}
		v.location("correction.location", c.GetLocation(), false)
		if c.MassKg == nil && c.SealsIntact == nil && c.GetLocation() == nil {
			v.fail("correction: corrects nothing (set mass_kg, seals_intact or location)")
		}
		v.str("correction.reason", c.GetReason())
		if c.GetReason() == "" {
			v.fail("correction.reason: missing (say why the record was wrong)")
		}
	case nil:
		v.fail("statement has no body")
	default:
		v.fail("statement body %T is not supported", b)
	}
	return v.err
}

// validator collects the first structural error; later checks are no-ops.
type validator struct {
	err    error
	strict bool // the rules for new records (CheckAdmissible)
}

func (v *validator) fail(format string, args ...any) {
	if v.err == nil {
		v.err = Rejectf(ErrMalformed, format, args...)
	}
}

func (v *validator) id(name, s string) {
	switch {
	case s == "":
		v.fail("%s: missing", name)
	case len(s) > maxIDLen:
		v.fail("%s: %d bytes, limit %d", name, len(s), maxIDLen)
	case !validID(s):
		v.fail("%s: %q may hold only ASCII letters A-Z and a-z, digits 0-9 and . _ : -, starting with a letter or digit (ids are ASCII so that look-alike letters cannot pass one id off as another; names and notes take any script)", name, trunc(s))
	}
}

// CheckID fails if s is not a valid id: what every lot and party id in a
// statement must be, and what a bundle's lot_id must be.
func CheckID(name, s string) error {
	v := &validator{}
	v.id(name, s)
	return v.err
}

// validID reports whether s matches ^[A-Za-z0-9][A-Za-z0-9._:-]*$: an
// ASCII letter or digit, then letters, digits and . _ : -. (Every record
// names a party and a lot, so this is checked by hand, not by regexp.)
func validID(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return s != ""
}

func (v *validator) str(name, s string) {
	if len(s) > MaxStringLen {
		v.fail("%s: %d bytes, limit %d", name, len(s), MaxStringLen)
	} else if !utf8.ValidString(s) {
		v.fail("%s: not valid UTF-8", name)
	} else if i, r, bad := UnsafeRune(s); bad && v.strict {
		v.fail("%s: character U+%04X at byte %d is a control or bidirectional-override character, which could hide or rearrange text on a reader's screen", name, r, i)
	}
}

// UnsafeRune returns the first rune of s that must not reach a screen,
// with its byte offset: a C0 or C1 control character (newlines and tabs
// included), a Unicode format character (category Cf: bidirectional
// marks, embeddings, overrides and isolates such as U+200E, U+061C,
// U+202A-U+202E and U+2066-U+2069, zero-width spaces, the byte-order mark,
// soft hyphens, tags), except the zero-width joiner and non-joiner that
// Urdu and Persian need, or a line or paragraph separator (U+2028,
// U+2029). Such characters can hide the rest of a line, or make it read as
// something else.
func UnsafeRune(s string) (int, rune, bool) {
	for i, r := range s {
		if unsafeRune(r) {
			return i, r, true
		}
	}
	return 0, 0, false
}

func unsafeRune(r rune) bool {
	switch {
	case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		return true // C0 and C1 controls
	case r == 0x200c || r == 0x200d:
		return false // zero-width (non-)joiners: Urdu and Persian need them
	}
	// Format characters (bidi marks, embeddings, overrides and isolates,
	// zero-width spaces, the byte-order mark, soft hyphens, tags) and the
	// line and paragraph separators.
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// Printable returns s with every character [UnsafeRune] would find
// replaced by its \uXXXX escape (\u001b, \u202e; a surrogate pair past
// U+FFFF), which JSON reads as the same character, and invalid UTF-8 by
// \ufffd: what tools print of text they did not write.
func Printable(s string) string {
	if _, _, bad := UnsafeRune(s); !bad && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\ufffd") {
		if unsafeRune(r) {
			// \uXXXX (a surrogate pair past U+FFFF): readable on a
			// terminal, and the same character in JSON.
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, "\\u%04x\\u%04x", r1, r2)
			} else {
				fmt.Fprintf(&b, "\\u%04x", r)
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (v *validator) count(name string, n, min int) {
	if n < min {
		v.fail("%s: at least %d required", name, min)
	} else if n > MaxListLen {
		v.fail("%s: %d items, limit %d", name, n, MaxListLen)
	}
}

func (v *validator) time(name string, ts *timestamppb.Timestamp) {
	if ts == nil {
		v.fail("%s: missing", name)
		return
	}
	if !ts.IsValid() {
		v.fail("%s: not a valid timestamp", name)
		return
	}
	if y := ts.AsTime().Year(); y < 1900 || y > 2200 {
		v.fail("%s: year %d out of range", name, y)
	}
}

func (v *validator) mass(name string, kg float64) {
	if math.IsNaN(kg) || math.IsInf(kg, 0) || kg <= 0 || kg > MaxMassKg {
		v.fail("%s: %v must be a finite mass in (0, %g] kg", name, kg, MaxMassKg)
	}
}

func (v *validator) pct(name string, p float64) {
	if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 || p > 100 {
		v.fail("%s: %v must be a percentage in [0, 100]", name, p)
	}
}

func (v *validator) product(name string, p pb.Product) {
	if _, ok := pb.Product_name[int32(p)]; !ok || p == pb.Product_PRODUCT_UNSPECIFIED {
		v.fail("%s: must be ORE, CONCENTRATE, TRIOXIDE or METAL", name)
	}
}

func (v *validator) location(name string, l *pb.Location, required bool) {
	if l == nil {
		if required {
			v.fail("%s: missing", name)
		}
		return
	}
	if math.IsNaN(l.GetLat()) || l.GetLat() < -90 || l.GetLat() > 90 {
		v.fail("%s.lat: %v out of range [-90, 90]", name, l.GetLat())
	}
	if math.IsNaN(l.GetLon()) || l.GetLon() < -180 || l.GetLon() > 180 {
		v.fail("%s.lon: %v out of range [-180, 180]", name, l.GetLon())
	}
	if v.strict && l.GetLat() == 0 && l.GetLon() == 0 {
		// No honest fix is at 0°N 0°E, in the Gulf of Guinea: it is what a
		// receiver with no fix, or a form left blank, reports.
		v.fail("%s: 0°N 0°E is not a place antimony moves through (a GPS receiver without a fix, or coordinates left blank)", name)
	}
	v.str(name+".name", l.GetName())
}

func (v *validator) element(name, s string) {
	if !elementPattern.MatchString(s) {
		v.fail("%s: %q is not a chemical symbol", name, trunc(s))
	}
}

func (v *validator) link(name, s string) {
	if err := checkLink(s); err != nil {
		v.fail("%s: %v", name, err)
	}
}

func (v *validator) keyID(name, s string) {
	if err := checkKeyID(s); err != nil {
		v.fail("%s: %v", name, err)
	}
}

func (v *validator) key(name string, k *pb.PartyKey) {
	if k == nil {
		v.fail("%s: missing", name)
		return
	}
	if len(k.GetPublicKey()) != 32 {
		v.fail("%s.public_key: %d bytes, want 32", name, len(k.GetPublicKey()))
	}
	v.time(name+".not_before", k.GetNotBefore())
	if k.GetNotAfter() != nil {
		v.time(name+".not_after", k.GetNotAfter())
		if v.err == nil && !k.GetNotAfter().AsTime().After(k.GetNotBefore().AsTime()) {
			v.fail("%s: not_after must be after not_before", name)
		}
	}
}

func (v *validator) registration(r *pb.PartyRegistration) {
	v.id("party_registration.party_id", r.GetPartyId())
	if r.GetPartyId() == RegistrarPartyID {
		v.fail("party_registration.party_id: %q is reserved", RegistrarPartyID)
	}
	v.str("party_registration.name", r.GetName())
	if r.GetName() == "" {
		v.fail("party_registration.name: missing")
	}
	v.count("party_registration.roles", len(r.GetRoles()), 1)
	for i, role := range r.GetRoles() {
		if _, ok := pb.Role_name[int32(role)]; !ok || role == pb.Role_ROLE_UNSPECIFIED {
			v.fail("party_registration.roles[%d]: unknown role %d", i, role)
		}
	}
	if !countryPattern.MatchString(r.GetCountry()) {
		v.fail("party_registration.country: %q is not an ISO 3166-1 alpha-2 code", trunc(r.GetCountry()))
	}
	v.location("party_registration.site", r.GetSite(), false)
	v.str("party_registration.licence", r.GetLicence())
	if len(r.GetKeys()) == 0 || len(r.GetKeys()) > maxKeys {
		v.fail("party_registration.keys: %d keys, want 1 to %d", len(r.GetKeys()), maxKeys)
	}
	for i, k := range r.GetKeys() {
		v.key(fmt.Sprintf("party_registration.keys[%d]", i), k)
	}
	if m := r.GetMine(); m != nil {
		v.str("party_registration.mine.deposit", m.GetDeposit())
		if c := m.GetAnnualOreCapacityKg(); math.IsNaN(c) || c <= 0 || c > maxCapacity {
			v.fail("party_registration.mine.annual_ore_capacity_kg: %v must be in (0, %g]", c, maxCapacity)
		}
		v.pct("party_registration.mine.grade_min_pct", m.GetGradeMinPct())
		v.pct("party_registration.mine.grade_max_pct", m.GetGradeMaxPct())
		if m.GetGradeMinPct() > m.GetGradeMaxPct() {
			v.fail("party_registration.mine: grade_min_pct above grade_max_pct")
		}
		v.count("party_registration.mine.assay_envelope", len(m.GetAssayEnvelope()), 0)
		for i, e := range m.GetAssayEnvelope() {
			name := fmt.Sprintf("party_registration.mine.assay_envelope[%d]", i)
			v.element(name+".element", e.GetElement())
			v.pct(name+".min_pct", e.GetMinPct())
			v.pct(name+".max_pct", e.GetMaxPct())
			if e.GetMinPct() > e.GetMaxPct() {
				v.fail("%s: min_pct above max_pct", name)
			}
		}
	} else if slices.Contains(r.GetRoles(), pb.Role_ROLE_MINE) {
		v.fail("party_registration.mine: a MINE must declare its profile (capacity, grades)")
	}
}

func checkKeyID(s string) error {
	if s == "" {
		return fmt.Errorf("missing key id")
	}
	return checkSHA256Multihash(s)
}

func checkLink(s string) error {
	if s == "" {
		return fmt.Errorf("missing link")
	}
	return checkSHA256Multihash(s)
}

func checkSHA256Multihash(s string) error {
	if len(s) > 64 {
		return fmt.Errorf("%q is not a base58 sha2-256 multihash", trunc(s))
	}
	mh, err := multihash.FromB58String(s)
	if err != nil {
		return fmt.Errorf("%q is not a base58 multihash: %v", trunc(s), err)
	}
	d, err := multihash.Decode(mh)
	if err != nil || d.Code != multihash.SHA2_256 || d.Length != 32 {
		return fmt.Errorf("%q is not a sha2-256 multihash", trunc(s))
	}
	return nil
}
