package record_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// fuzzStatements returns one valid statement of every kind, for seeds.
func fuzzStatements() []*pb.Statement {
	c := ct.New()
	mine := c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	link := ct.ID(c.Register(mine))
	return []*pb.Statement{
		{PartyId: record.RegistrarPartyID, EventTime: c.At(0), Body: &pb.Statement_PartyRegistration{PartyRegistration: mine.Reg}},
		{PartyId: record.RegistrarPartyID, EventTime: c.At(0), Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
			PartyId: mine.ID, NewKey: &pb.PartyKey{PublicKey: bytes.Repeat([]byte{1}, 32), NotBefore: c.At(0), NotAfter: c.At(ct.Day)},
			RetireKeyId: mine.KeyID(), RetireAt: c.At(ct.Day)}}},
		{PartyId: record.RegistrarPartyID, EventTime: c.At(0), Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
			PartyId: mine.ID, KeyId: mine.KeyID(), RevokedAt: c.At(0), Reason: "lost"}}},
		{PartyId: mine.ID, EventTime: c.At(ct.Day), Note: "first lot", Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: "L1", MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6, Name: "pit"}}}},
		{PartyId: "lab", EventTime: c.At(ct.Day), Body: &pb.Statement_Assay{Assay: &pb.Assay{
			LotId: "L1", SubjectLink: link, SampleId: "S1", Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: 9}, {Element: "As", Pct: 0.1}}}}},
		{PartyId: mine.ID, EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
			LotId: "L1", CustodyLink: link, ToPartyId: "exp-kar", MassKg: 1000, Seals: []string{"S-1"}, Transport: "truck",
			Route: []*pb.Waypoint{{Location: &pb.Location{Lat: 34.115, Lon: 71.085, Name: "Torkham"}, Time: c.At(2 * ct.Day)}}, BorderCrossing: "Torkham"}}},
		{PartyId: mine.ID, EventTime: c.At(ct.Day), Body: &pb.Statement_LabNomination{LabNomination: &pb.LabNomination{
			LotId: "L1", CustodyLink: link, LabPartyIds: []string{"lab", "lab-2"}}}},
		{PartyId: "exp-kar", EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
			LotId: "L1", DispatchLink: link, MassKg: 998, SealsIntact: true}}},
		{PartyId: "smelter", EventTime: c.At(4 * ct.Day), Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
			Kind:    pb.TransformationKind_TRANSFORMATION_KIND_SMELT,
			Inputs:  []*pb.TransformationInput{{LotId: "L1", Link: link, MassKg: 998}},
			Outputs: []*pb.TransformationOutput{{LotId: "M1", MassKg: 80, Product: pb.Product_PRODUCT_METAL, SbGradePct: 99.6}}}}},
	}
}

func marshalStatement(tb testing.TB, st *pb.Statement) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzDecodeEnvelope: DecodeEnvelope never panics, and what it accepts is
// canonical: EncodeEnvelope gives back exactly the input bytes, so one
// envelope has one leaf hash. What it accepts also passes through the
// other envelope functions without panicking.
func FuzzDecodeEnvelope(f *testing.F) {
	c := ct.New()
	for _, st := range fuzzStatements() {
		b, err := record.EncodeEnvelope(record.SignPayload(record.StatementPayloadType, marshalStatement(f, st), c.Registrar))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"payloadType":"","payload":null,"signatures":[]}`))
	f.Add([]byte(`{"payloadType":"a\u003cb","payload":"AAEC","signatures":[{"keyid":"","sig":null}]}`))
	f.Add([]byte(`{"payloadType":"x","payload":"AA==","signatures":null}`))
	f.Add([]byte(`{"PayloadType":"x","payload":"AA==","signatures":[]}`))
	f.Add([]byte(`{"payloadType":"x","payloadType":"y","payload":"AA==","signatures":[]}`))
	f.Add([]byte(`{"payloadType":"x","payload":"AA==","signatures":[]} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := record.DecodeEnvelope(data)
		if err != nil {
			if env != nil {
				t.Fatalf("DecodeEnvelope returned an envelope and %v", err)
			}
			return
		}
		enc, err := record.EncodeEnvelope(env)
		if err != nil {
			t.Fatalf("EncodeEnvelope of a decoded envelope: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("round trip changed the bytes:\n in %q\nout %q", data, enc)
		}
		env2, err := record.DecodeEnvelope(enc)
		if err != nil || !proto.Equal(env, env2) {
			t.Fatalf("re-decoding: %v, equal %v", err, proto.Equal(env, env2))
		}
		if len(data) > record.MaxEnvelopeSize {
			t.Fatalf("accepted %d bytes, limit %d", len(data), record.MaxEnvelopeSize)
		}
		// Must not panic, whatever they answer.
		_ = record.CheckEnvelopeShape(env)
		_, _ = record.IDOf(env)
		for _, s := range env.GetSignatures() {
			_ = record.VerifySignature(env, c.RegistrarPublic(), s.GetSig())
		}
		_, _ = record.DecodeStatement(env.GetPayload())
	})
}

// FuzzDecodeStatement: DecodeStatement never panics; what it accepts passes
// ValidateStatement, has no unknown fields, and is stable: its
// deterministic encoding decodes to an equal statement that encodes to the
// same bytes again.
func FuzzDecodeStatement(f *testing.F) {
	for _, st := range fuzzStatements() {
		f.Add(marshalStatement(f, st))
	}
	// Near misses: an unknown field, a bad timestamp, an empty statement.
	x := fuzzStatements()[3]
	f.Add(append(marshalStatement(f, x), 0xf8, 0x3f, 0x01)) // field 1023, varint
	x.EventTime = &timestamppb.Timestamp{Seconds: 1, Nanos: 1e9}
	f.Add(marshalStatement(f, x))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		st, err := record.DecodeStatement(payload)
		if err != nil {
			if st != nil {
				t.Fatalf("DecodeStatement returned a statement and %v", err)
			}
			return
		}
		if err := record.ValidateStatement(st); err != nil {
			t.Fatalf("DecodeStatement accepted a statement ValidateStatement rejects: %v", err)
		}
		if len(st.ProtoReflect().GetUnknown()) > 0 {
			t.Fatalf("accepted unknown fields")
		}
		b1 := marshalStatement(t, st)
		st2, err := record.DecodeStatement(b1)
		if err != nil {
			t.Fatalf("the re-encoding of an accepted statement is rejected: %v\n%x", err, b1)
		}
		if !proto.Equal(st, st2) {
			t.Fatalf("re-decoding changed the statement:\n%v\n%v", st, st2)
		}
		if b2 := marshalStatement(t, st2); !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", b1, b2)
		}
		// Signing it must work: every accepted statement can be signed and
		// its envelope decoded back.
		env := record.SignPayload(record.StatementPayloadType, payload, fuzzKey)
		data, err := record.EncodeEnvelope(env)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := record.DecodeEnvelope(data); err != nil && len(data) <= record.MaxEnvelopeSize {
			t.Fatalf("the envelope of an accepted statement does not decode: %v", err)
		}
	})
}

var fuzzKey = ct.New().Registrar
