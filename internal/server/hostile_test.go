package server_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// hostileWorld is a ledger with lots in every custody state, and the
// parties and keys to attack it with.
type hostileWorld struct {
	c                      *ct.Chain
	mine, mineB, exporter  *ct.Party
	buyer, revoked, future *ct.Party
	l1Ext, l1Disp, l1Rec   string // L1: mine -> exporter, received
	l2Ext, l3Ext, lbExt    string // L2 in transit to exporter; L3 held by mine; LB held by mine B
	l3ExtEnv               *pb.Envelope
	stranger               ed25519.PrivateKey // registered to nobody
	missingLink            string
}

func newHostileWorld(t *testing.T) *hostileWorld {
	return &hostileWorld{c: ct.New()}
}

// populate submits the world's records to s.
func (w *hostileWorld) populate(t *testing.T, s *custody.Store) {
	c := w.c
	w.mine = c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	w.mineB = c.AddParty("mine-b", "Second Mine", "PK", pb.Role_ROLE_MINE)
	w.exporter = c.AddParty("exp-kar", "Karachi Exporter", "PK", pb.Role_ROLE_EXPORTER)
	w.buyer = c.AddParty("buyer-us", "US Buyer", "US", pb.Role_ROLE_BUYER)
	w.revoked = c.AddParty("mine-rev", "Revoked Mine", "PK", pb.Role_ROLE_MINE)
	w.future = c.AddParty("mine-fut", "Future Mine", "PK", pb.Role_ROLE_MINE)
	w.future.Reg.Keys[0].NotBefore = timestamppb.New(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, p := range []*ct.Party{w.mine, w.mineB, w.exporter, w.buyer, w.revoked, w.future} {
		ct.Submit(t, s, c.Register(p))
	}
	ct.Submit(t, s, c.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: w.revoked.ID, KeyId: w.revoked.KeyID(), RevokedAt: c.At(0), Reason: "key compromised",
	}}}))
	w.l1Ext = ct.Submit(t, s, w.extract(w.mine, "L1", 10000))[0]
	w.l1Disp = ct.Submit(t, s, w.dispatch(w.mine, "L1", w.l1Ext, w.exporter.ID))[0]
	w.l1Rec = ct.Submit(t, s, c.Sign(w.exporter, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
		LotId: "L1", DispatchLink: w.l1Disp, MassKg: 9990, SealsIntact: true,
	}}}))[0]
	w.l2Ext = ct.Submit(t, s, w.extract(w.mine, "L2", 5000))[0]
	ct.Submit(t, s, w.dispatch(w.mine, "L2", w.l2Ext, w.exporter.ID))
	w.l3ExtEnv = w.extract(w.mine, "L3", 7000)
	w.l3Ext = ct.Submit(t, s, w.l3ExtEnv)[0]
	w.lbExt = ct.Submit(t, s, w.extract(w.mineB, "LB", 3000))[0]
	w.stranger = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	w.missingLink = tlog.RecordIDOf([]byte("a record that was never appended")).String()
}

func (w *hostileWorld) extraction(lot string, kg float64) *pb.Extraction {
	return &pb.Extraction{LotId: lot, MassKg: kg, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
		Site: &pb.Location{Lat: 30.7, Lon: 66.6}}
}

func (w *hostileWorld) extract(p *ct.Party, lot string, kg float64) *pb.Envelope {
	return w.c.Sign(p, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: w.extraction(lot, kg)}})
}

func (w *hostileWorld) extractWith(p *ct.Party, edit func(*pb.Extraction)) *pb.Envelope {
	x := w.extraction("LX", 1000)
	edit(x)
	return w.c.Sign(p, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: x}})
}

func (w *hostileWorld) dispatch(p *ct.Party, lot, link, to string) *pb.Envelope {
	return w.c.Sign(p, &pb.Statement{EventTime: w.c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: lot, CustodyLink: link, ToPartyId: to, MassKg: 1000,
	}}})
}

// addSig returns env with one more signature over the same PAE.
func addSig(env *pb.Envelope, key ed25519.PrivateKey) *pb.Envelope {
	out := proto.Clone(env).(*pb.Envelope)
	other := record.SignPayload(env.GetPayloadType(), env.GetPayload(), key)
	out.Signatures = append(out.Signatures, other.GetSignatures()...)
	return out
}

func marshalDet(st *pb.Statement) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		panic(err)
	}
	return b
}

// hostileCase is one submission the ledger must refuse, on both
// transports, leaving the log exactly as it was.
type hostileCase struct {
	name string
	// req is sent over gRPC; its protojson form over HTTP unless httpBody
	// is set.
	req      *apipb.SubmitRequest
	httpBody []byte
	code     codes.Code
	phrase   string // in both error messages, unless httpPhrase is set
	// httpStatus and httpPhrase override what HTTP must answer, where the
	// HTTP layer refuses before gRPC (oversized bodies).
	httpStatus int
	httpPhrase string
	// sentinel, where set, is the error the store's Submit must wrap for
	// req: one case per sentinel of package record pins the mapping from
	// the domain's errors to codes (the rules themselves are tested where
	// they live, in package registry and custody).
	sentinel error
}

func (w *hostileWorld) cases(t *testing.T) []hostileCase {
	c := w.c
	env := func(e *pb.Envelope) *apipb.SubmitRequest { return &apipb.SubmitRequest{Envelope: e} }
	good := w.extractWith(w.mine, func(x *pb.Extraction) {}) // valid and unsubmitted
	mutate := func(f func(*pb.Envelope)) *apipb.SubmitRequest {
		e := proto.Clone(good).(*pb.Envelope)
		f(e)
		return env(e)
	}
	sigBy := func(key ed25519.PrivateKey, st *pb.Statement) *apipb.SubmitRequest {
		return env(record.SignPayload(record.StatementPayloadType, marshalDet(st), key))
	}
	extSt := func(party string, x *pb.Extraction) *pb.Statement {
		return &pb.Statement{PartyId: party, EventTime: c.At(ct.Day), Body: &pb.Statement_Extraction{Extraction: x}}
	}

	// A statement with a field this server does not know, validly signed.
	withUnknown := protowire.AppendVarint(protowire.AppendTag(marshalDet(extSt(w.mine.ID, w.extraction("LU", 10))), 99, protowire.VarintType), 1)
	// The same statement as another's bytes: its note field written twice,
	// and its fields out of order (issue 18: one claim, one encoding).
	noted := extSt(w.mine.ID, w.extraction("LD", 10))
	noted.Note = "permit 7"
	noteField := protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), "permit 7")
	twice := append(marshalDet(noted), noteField...)
	noted.Note = ""
	outOfOrder := append(marshalDet(noted), noteField...)
	// Registrations whose ids differ from taken ones only in case.
	caseTwin := proto.CloneOf(w.mine.Reg)
	caseTwin.PartyId, caseTwin.Keys[0].PublicKey = "MINE-QA", w.stranger.Public().(ed25519.PublicKey)
	registrarTwin := proto.CloneOf(caseTwin)
	registrarTwin.PartyId = "Registrar"
	operatorTwin := proto.CloneOf(caseTwin)
	operatorTwin.PartyId = "Operator"
	// An envelope with an unknown field, in binary and in JSON.
	unknownEnv := proto.Clone(good).(*pb.Envelope)
	unknownEnv.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 15, protowire.VarintType), 1))
	goodJSON, err := protojson.Marshal(env(good))
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]map[string]any
	if err := json.Unmarshal(goodJSON, &generic); err != nil {
		t.Fatal(err)
	}
	generic["envelope"]["certificate"] = "x"
	unknownJSON, err := json.Marshal(generic)
	if err != nil {
		t.Fatal(err)
	}
	// Over a megabyte: refused by gRPC's message limit and by the HTTP
	// body limit before any decoding.
	huge := proto.Clone(good).(*pb.Envelope)
	huge.Payload = bytes.Repeat([]byte{0x0a}, 1100<<10)
	routes := make([]*pb.Waypoint, record.MaxListLen+1)
	for i := range routes {
		routes[i] = &pb.Waypoint{Location: &pb.Location{Lat: 30, Lon: 67}, Time: c.At(2 * ct.Day)}
	}
	l3Disp := func(edit func(*pb.Dispatch)) *apipb.SubmitRequest {
		d := &pb.Dispatch{LotId: "L3", CustodyLink: w.l3Ext, ToPartyId: w.exporter.ID, MassKg: 7000}
		edit(d)
		return env(c.Sign(w.mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: d}}))
	}
	noTime := &pb.Statement{PartyId: w.mine.ID, Body: &pb.Statement_Extraction{Extraction: w.extraction("LT", 10)}}
	badTime := extSt(w.mine.ID, w.extraction("LT", 10))
	badTime.EventTime = &timestamppb.Timestamp{Seconds: 1700000000, Nanos: 2e9}
	fakeReg := proto.Clone(w.buyer.Reg).(*pb.PartyRegistration)
	fakeReg.PartyId = "buyer-2"
	// A mine whose key is the identity point, under which R = [s]B signs
	// anything; and the registered mine's signatures that only ZIP-215
	// accepts (issue 14).
	identityReg := proto.Clone(w.mineB.Reg).(*pb.PartyRegistration)
	identityReg.PartyId, identityReg.Keys[0].PublicKey = "mine-identity", ct.SmallOrderEncoding("identity")
	mixedR := c.SignCrafted(ct.Craft{Key: w.mine.Key, T: ct.SmallOrderPoint("order 8")}, extSt(w.mine.ID, w.extraction("LM", 10)))
	nonCanonicalR := c.SignCrafted(ct.Craft{Key: w.mine.Key, REnc: ct.SmallOrderEncoding("identity, y = p + 1")}, extSt(w.mine.ID, w.extraction("LC", 10)))

	return []hostileCase{
		// Envelope shape.
		{name: "no envelope", req: &apipb.SubmitRequest{}, httpBody: []byte(`{}`), code: codes.InvalidArgument, phrase: "no envelope"},
		{name: "empty envelope", req: env(&pb.Envelope{}), httpBody: []byte(`{"envelope":{}}`), code: codes.InvalidArgument, phrase: "payload type"},
		{name: "wrong payload type", req: env(record.SignPayload("application/json", good.GetPayload(), w.mine.Key)), code: codes.InvalidArgument, phrase: "payload type"},
		{name: "empty payload", req: mutate(func(e *pb.Envelope) { e.Payload = nil }), code: codes.InvalidArgument, phrase: "empty payload"},
		{name: "no signatures", req: mutate(func(e *pb.Envelope) { e.Signatures = nil }), code: codes.Unauthenticated, phrase: "no signature"},
		{name: "truncated signature", req: mutate(func(e *pb.Envelope) { e.Signatures[0].Sig = e.Signatures[0].Sig[:63] }), code: codes.Unauthenticated, phrase: "want 64"},
		{name: "bad signature bytes", req: mutate(func(e *pb.Envelope) { e.Signatures[0].Sig[10] ^= 0x40 }), code: codes.Unauthenticated, sentinel: record.ErrBadSignature, phrase: "does not verify"},
		{name: "signature over other payload", req: mutate(func(e *pb.Envelope) { e.Payload = marshalDet(extSt(w.mine.ID, w.extraction("LY", 5))) }), code: codes.Unauthenticated, phrase: "does not verify"},
		{name: "key id not a multihash", req: mutate(func(e *pb.Envelope) { e.Signatures[0].Keyid = "not-a-key" }), code: codes.InvalidArgument, phrase: "multihash"},
		{name: "same key signs twice", req: mutate(func(e *pb.Envelope) { e.Signatures = append(e.Signatures, e.Signatures[0]) }), code: codes.InvalidArgument, phrase: "signs twice"},
		{name: "too many signatures", req: mutate(func(e *pb.Envelope) {
			for range record.MaxSignatures {
				e.Signatures = append(e.Signatures, &pb.Signature{Keyid: e.Signatures[0].Keyid, Sig: e.Signatures[0].Sig})
			}
		}), code: codes.InvalidArgument, phrase: "limit 4"},
		{name: "unknown envelope field", req: env(unknownEnv), httpBody: unknownJSON, code: codes.InvalidArgument, phrase: "unknown field"},
		{name: "payload not a statement", req: env(record.SignPayload(record.StatementPayloadType, []byte("not a statement \xff\xfe"), w.mine.Key)), code: codes.InvalidArgument, phrase: "decoding statement"},
		{name: "statement with unknown field", req: env(record.SignPayload(record.StatementPayloadType, withUnknown, w.mine.Key)), code: codes.InvalidArgument, phrase: "unknown fields"},
		{name: "statement with a field twice", req: env(record.SignPayload(record.StatementPayloadType, twice, w.mine.Key)), code: codes.InvalidArgument, sentinel: record.ErrMalformed, phrase: "not the deterministic encoding of the statement it holds (note"},
		{name: "statement with fields out of order", req: env(record.SignPayload(record.StatementPayloadType, outOfOrder, w.mine.Key)), code: codes.InvalidArgument, phrase: "out of field-number order"},
		{name: "payload over the record limit", req: env(record.SignPayload(record.StatementPayloadType, bytes.Repeat([]byte{0x0a}, 40<<10), w.mine.Key)), code: codes.InvalidArgument, phrase: "limit"},
		{name: "message over the transport limit", req: env(huge), code: codes.ResourceExhausted, phrase: "larger than max",
			httpStatus: http.StatusRequestEntityTooLarge, httpPhrase: "limit"},

		// Statement structure.
		{name: "negative mass", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.MassKg = -5 })), code: codes.InvalidArgument, phrase: "finite mass"},
		{name: "NaN mass", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.MassKg = math.NaN() })), code: codes.InvalidArgument, sentinel: record.ErrMalformed, phrase: "finite mass"},
		{name: "infinite mass", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.MassKg = math.Inf(1) })), code: codes.InvalidArgument, phrase: "finite mass"},
		{name: "grade over 100 percent", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.SbGradePct = 150 })), code: codes.InvalidArgument, phrase: "percentage"},
		{name: "unknown product", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.Product = 42 })), code: codes.InvalidArgument, phrase: "must be ORE"},
		{name: "latitude out of range", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.Site.Lat = 91 })), code: codes.InvalidArgument, phrase: "out of range"},
		{name: "lot id with bad characters", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.LotId = "L1/../../etc" })), code: codes.InvalidArgument, phrase: "may hold only"},
		// Issue 18: text that could rewrite a reader's screen.
		{name: "note with an ANSI escape", req: env(c.Sign(w.mine, &pb.Statement{Note: "ok\x1b[8mhidden", Body: &pb.Statement_Extraction{Extraction: w.extraction("LE", 10)}})), code: codes.InvalidArgument, sentinel: record.ErrMalformed, phrase: "U+001B at byte 2 is a control or bidirectional-override character"},
		{name: "note with a bidi override", req: env(c.Sign(w.mine, &pb.Statement{Note: "KR-002\u202e", Body: &pb.Statement_Extraction{Extraction: w.extraction("LE", 10)}})), code: codes.InvalidArgument, phrase: "U+202E"},
		{name: "site name with a C1 control", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.Site.Name = "pit\u0085" })), code: codes.InvalidArgument, phrase: "U+0085"},
		{name: "note with a newline", req: env(c.Sign(w.mine, &pb.Statement{Note: "line\nVERIFIED", Body: &pb.Statement_Extraction{Extraction: w.extraction("LE", 10)}})), code: codes.InvalidArgument, phrase: "U+000A"},
		{name: "seal with a bidi isolate", req: l3Disp(func(d *pb.Dispatch) { d.Seals = []string{"S\u2066"} }), code: codes.InvalidArgument, phrase: "U+2066"},
		{name: "lot id in Urdu script", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.LotId = "لاٹ-1" })), code: codes.InvalidArgument, phrase: "ASCII letters A-Z and a-z"},
		// Issue 18: look-alike ids, implausible numbers and places.
		{name: "lot id differing only in case", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.LotId = "l3" })), code: codes.AlreadyExists, sentinel: record.ErrAlreadyExists, phrase: `lot id "l3" differs only in letter case from the existing lot "L3"`},
		{name: "party id differing only in case", req: env(c.RegistrarSign(&pb.Statement{Body: &pb.Statement_PartyRegistration{PartyRegistration: caseTwin}})), code: codes.AlreadyExists, phrase: "differs only in letter case from the existing party"},
		{name: "party id Registrar", req: env(c.RegistrarSign(&pb.Statement{Body: &pb.Statement_PartyRegistration{PartyRegistration: registrarTwin}})), code: codes.InvalidArgument, phrase: "reserved"},
		{name: "party id Operator", req: env(c.RegistrarSign(&pb.Statement{Body: &pb.Statement_PartyRegistration{PartyRegistration: operatorTwin}})), code: codes.InvalidArgument, phrase: "reserved"},
		{name: "extraction at 0°N 0°E", req: env(w.extractWith(w.mine, func(x *pb.Extraction) { x.Site.Lat, x.Site.Lon = 0, 0 })), code: codes.InvalidArgument, phrase: "0°N 0°E"},
		{name: "waypoint at 0°N 0°E", req: l3Disp(func(d *pb.Dispatch) { d.Route = []*pb.Waypoint{{Location: &pb.Location{}, Time: c.At(2 * ct.Day)}} }), code: codes.InvalidArgument, phrase: "0°N 0°E"},
		{name: "assay adding up to over 100 percent", req: env(c.Sign(w.mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Assay{Assay: &pb.Assay{LotId: "L3", SubjectLink: w.l3Ext,
			Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: 70}, {Element: "S", Pct: 28}, {Element: "Fe", Pct: 9}}}}})), code: codes.InvalidArgument, phrase: "add up to 107"},
		{name: "note over 256 bytes", req: env(c.Sign(w.mine, &pb.Statement{Note: strings.Repeat("x", 300), Body: &pb.Statement_Extraction{Extraction: w.extraction("LN", 10)}})), code: codes.InvalidArgument, phrase: "limit 256"},
		{name: "too many waypoints", req: l3Disp(func(d *pb.Dispatch) { d.Route = routes }), code: codes.InvalidArgument, phrase: "257 items"},
		{name: "missing event time", req: sigBy(w.mine.Key, noTime), code: codes.InvalidArgument, phrase: "event_time: missing"},
		{name: "invalid event time", req: sigBy(w.mine.Key, badTime), code: codes.InvalidArgument, phrase: "not a valid timestamp"},
		{name: "dispatch to itself", req: l3Disp(func(d *pb.Dispatch) { d.ToPartyId = w.mine.ID }), code: codes.InvalidArgument, phrase: "itself"},

		// Keys and signers.
		{name: "unknown key", req: sigBy(w.stranger, extSt(w.mine.ID, w.extraction("LK", 10))), code: codes.Unauthenticated, sentinel: record.ErrUnknownKey, phrase: "not registered to party"},
		{name: "party id of another key", req: sigBy(w.mine.Key, extSt(w.mineB.ID, w.extraction("LK", 10))), code: codes.Unauthenticated, phrase: "belongs to party"},
		{name: "unregistered party", req: sigBy(w.stranger, extSt("ghost-mine", w.extraction("LK", 10))), code: codes.NotFound, sentinel: record.ErrNotFound, phrase: `party "ghost-mine" is not registered`},
		{name: "revoked key", req: env(w.extract(w.revoked, "LR", 10)), code: codes.PermissionDenied, sentinel: record.ErrKeyNotValid, phrase: "revoked"},
		{name: "key before its window", req: env(w.extract(w.future, "LF", 10)), code: codes.PermissionDenied, phrase: "is not valid at"},
		{name: "registration signed by a party key", req: sigBy(w.mine.Key, &pb.Statement{PartyId: record.RegistrarPartyID, EventTime: c.At(0),
			Body: &pb.Statement_PartyRegistration{PartyRegistration: fakeReg}}), code: codes.Unauthenticated, phrase: "not the registrar key"},
		{name: "registration made by a party", req: sigBy(w.mine.Key, &pb.Statement{PartyId: w.mine.ID, EventTime: c.At(0),
			Body: &pb.Statement_PartyRegistration{PartyRegistration: fakeReg}}), code: codes.PermissionDenied, phrase: "registry statements are made by"},
		{name: "registration of the identity point as a key", req: env(c.RegistrarSign(&pb.Statement{Body: &pb.Statement_PartyRegistration{PartyRegistration: identityReg}})),
			code: codes.InvalidArgument, sentinel: record.ErrMalformed, phrase: "public key is the identity point"},
		{name: "signature with a mixed-order R", req: env(mixedR), code: codes.Unauthenticated, sentinel: record.ErrBadSignature, phrase: "only ZIP-215 accepts it"},
		{name: "signature with a non-canonical R", req: env(nonCanonicalR), code: codes.Unauthenticated, phrase: "only ZIP-215 accepts it"},
		{name: "registrar signs an extraction", req: sigBy(c.Registrar, extSt(record.RegistrarPartyID, w.extraction("LG", 10))), code: codes.PermissionDenied, phrase: "registrar signs only"},

		// Custody.
		{name: "non-mine extraction", req: env(w.extract(w.exporter, "LE", 10)), code: codes.PermissionDenied, sentinel: record.ErrNotAllowed, phrase: "may not sign"},
		{name: "mine dispatches a lot it never held", req: env(w.dispatch(w.mine, "LB", w.lbExt, w.exporter.ID)), code: codes.PermissionDenied, phrase: "does not hold"},
		{name: "mine dispatches a lot it handed over", req: env(w.dispatch(w.mine, "L1", w.l1Ext, w.buyer.ID)), code: codes.PermissionDenied, phrase: "does not hold"},
		{name: "receipt by someone other than the addressee", req: env(c.Sign(w.buyer, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
			LotId: "L2", DispatchLink: w.l2Ext, MassKg: 5000, SealsIntact: true}}})), code: codes.PermissionDenied, phrase: "is not in transit to"},
		{name: "receipt without a location", req: env(c.Sign(w.exporter, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
			LotId: "L2", DispatchLink: w.l2Ext, MassKg: 5000, SealsIntact: true}}})), code: codes.InvalidArgument, phrase: "receipt.location: missing"},
		{name: "dispatch link to a missing record", req: l3Disp(func(d *pb.Dispatch) { d.CustodyLink = w.missingLink }), code: codes.NotFound, phrase: "no record"},
		{name: "dispatch of a lot in transit", req: env(w.dispatch(w.mine, "L2", w.l2Ext, w.buyer.ID)), code: codes.FailedPrecondition, sentinel: record.ErrConflict, phrase: "in transit"},
		{name: "dispatch with a stale custody link", req: env(w.dispatch(w.exporter, "L1", w.l1Ext, w.buyer.ID)), code: codes.FailedPrecondition, phrase: "not the lot's current custody record"},
		{name: "receipt of a lot not in transit", req: env(c.Sign(w.exporter, &pb.Statement{EventTime: c.At(4 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
			LotId: "L1", DispatchLink: w.l1Disp, MassKg: 9990}}})), code: codes.FailedPrecondition, phrase: "not in transit"},
		{name: "dispatch to an unknown party", req: l3Disp(func(d *pb.Dispatch) { d.ToPartyId = "nobody" }), code: codes.NotFound, phrase: "not registered"},
		{name: "duplicate lot creation", req: env(w.extract(w.mine, "L1", 12345)), code: codes.AlreadyExists, phrase: `lot "L1" already exists`},
		{name: "duplicate party registration", req: env(c.RegistrarSign(&pb.Statement{Note: "again", Body: &pb.Statement_PartyRegistration{PartyRegistration: w.mine.Reg}})), code: codes.AlreadyExists, sentinel: record.ErrAlreadyExists, phrase: "already registered"},

		// Replays of an accepted statement in altered envelopes.
		{name: "replay with an extra valid signature", req: env(addSig(w.l3ExtEnv, w.exporter.Key)), code: codes.AlreadyExists, phrase: "already recorded"},
		{name: "replay signed by a different key", req: env(record.SignPayload(w.l3ExtEnv.GetPayloadType(), w.l3ExtEnv.GetPayload(), w.mineB.Key)), code: codes.AlreadyExists, phrase: "already recorded"},
		{name: "replay with a forged second signature", req: env(func() *pb.Envelope {
			e := addSig(w.l3ExtEnv, w.exporter.Key)
			e.Signatures[1].Sig[0] ^= 1
			return e
		}()), code: codes.Unauthenticated, phrase: "does not verify"},
	}
}

// TestHostileSubmissions sends each hostile submission over gRPC and over
// HTTP, and checks the code, the status, the message, and that the log is
// untouched.
func TestHostileSubmissions(t *testing.T) {
	w := newHostileWorld(t)
	h := start(t, w.c, t.TempDir(), nil)
	w.populate(t, h.store)
	cases := w.cases(t)
	if len(cases) < 25 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	pinned := map[error]bool{}
	for _, tc := range cases {
		pinned[tc.sentinel] = true
	}
	for _, e := range []error{record.ErrMalformed, record.ErrBadSignature, record.ErrUnknownKey, record.ErrKeyNotValid,
		record.ErrNotAllowed, record.ErrNotFound, record.ErrAlreadyExists, record.ErrConflict} {
		if !pinned[e] {
			t.Errorf("no hostile case pins the code of %v", e)
		}
	}
	log := h.store.Log()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			size0, root0 := log.Root()
			ckpt0 := string(log.Checkpoint())
			defer func() {
				if size, root := log.Root(); size != size0 || root != root0 || string(log.Checkpoint()) != ckpt0 {
					t.Errorf("log changed: size %d -> %d, root %x -> %x", size0, size, root0, root)
				}
			}()

			_, err := h.ledger.Submit(t.Context(), tc.req)
			if st := status.Convert(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.phrase) {
				t.Errorf("gRPC: %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.phrase)
			}
			if tc.sentinel != nil {
				if _, err := h.store.Submit(t.Context(), tc.req.GetEnvelope()); !errors.Is(err, tc.sentinel) {
					t.Errorf("store: %v, want %v (answered as %v)", err, tc.sentinel, tc.code)
				}
			}

			body := tc.httpBody
			if body == nil {
				var err error
				if body, err = protojson.Marshal(tc.req); err != nil {
					t.Fatal(err)
				}
			}
			wantStatus, phrase := runtime.HTTPStatusFromCode(tc.code), tc.phrase
			if tc.httpStatus != 0 {
				wantStatus, phrase = tc.httpStatus, tc.httpPhrase
			}
			h.expectHTTPError("POST", "/v1/envelopes", body, wantStatus, phrase)
		})
	}

	// The ledger still works, and an exact replay is an idempotent success.
	size0, root0 := log.Root()
	if r := h.submitHTTP(w.l3ExtEnv); !r.GetDuplicate() {
		t.Fatalf("exact replay: %v, want duplicate", r)
	}
	if size, root := log.Root(); size != size0 || root != root0 {
		t.Fatal("exact replay changed the log")
	}
	h.submitGRPC(w.extract(w.mine, "L9", 100))
	if log.Size() != size0+1 {
		t.Fatalf("log size %d after a valid submission, want %d", log.Size(), size0+1)
	}

	// Every rejection was counted by kind.
	_, body := h.getAdmin("/metrics")
	for _, want := range []string{`provenance_submissions_total{outcome="malformed"}`, `provenance_submissions_total{outcome="bad signature"}`,
		`provenance_submissions_total{outcome="conflict"}`, `provenance_submissions_total{outcome="key not valid"}`,
		`provenance_submissions_total{outcome="not allowed"}`, `provenance_submissions_total{outcome="unknown key"}`,
		`code="PermissionDenied",method="/provenance.v1.LedgerService/Submit"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
