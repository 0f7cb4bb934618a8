package record

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/tlog"
)

// StatementPayloadType is the DSSE payload type of every ledger statement.
const StatementPayloadType = "application/vnd.antimony.statement.v1+proto"

// Limits on what the ledger accepts. They keep one record small enough to
// verify cheaply and to serve in one message.
const (
	MaxEnvelopeSize = 64 << 10 // encoded DSSE JSON bytes
	MaxPayloadSize  = 32 << 10 // statement bytes
	MaxSignatures   = 4
)

// PAE is the DSSE pre-authentication encoding of a payload: the exact bytes
// every signature covers.
//
//	"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(payloadType) + len(payload) + 32)
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// dsseJSON is the DSSE JSON envelope. Its field order is fixed, so the
// encoding of an envelope is canonical and its record id well defined.
type dsseJSON struct {
	PayloadType string    `json:"payloadType"`
	Payload     []byte    `json:"payload"`
	Signatures  []dsseSig `json:"signatures"`
}

type dsseSig struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// EncodeEnvelope returns the canonical DSSE JSON bytes of env: the bytes
// the ledger stores and hashes into the record's id ([IDOf]). The encoding
// is encoding/json's of [dsseJSON], byte for byte.
func EncodeEnvelope(env *pb.Envelope) ([]byte, error) {
	if b, ok := appendDSSE(env); ok {
		return b, nil
	}
	return marshalDSSE(env)
}

// marshalDSSE encodes env's [dsseJSON] with encoding/json.
func marshalDSSE(env *pb.Envelope) ([]byte, error) {
	d := dsseJSON{PayloadType: env.GetPayloadType(), Payload: env.GetPayload(), Signatures: []dsseSig{}}
	for _, s := range env.GetSignatures() {
		d.Signatures = append(d.Signatures, dsseSig{KeyID: s.GetKeyid(), Sig: s.GetSig()})
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, Rejectf(ErrMalformed, "encoding envelope: %v", err)
	}
	return b, nil
}

// appendDSSE writes the bytes encoding/json writes for env's [dsseJSON]
// without reflection, for the usual envelope: every string plain ASCII,
// which encoding/json copies unescaped, and no byte field nil (which it
// writes as null). For any other envelope it reports false.
func appendDSSE(env *pb.Envelope) ([]byte, bool) {
	pt, payload, sigs := env.GetPayloadType(), env.GetPayload(), env.GetSignatures()
	if !plainJSON(pt) || payload == nil {
		return nil, false
	}
	size := 48 + len(pt) + base64.StdEncoding.EncodedLen(len(payload))
	for _, s := range sigs {
		if !plainJSON(s.GetKeyid()) || s.GetSig() == nil {
			return nil, false
		}
		size += 24 + len(s.GetKeyid()) + base64.StdEncoding.EncodedLen(len(s.GetSig()))
	}
	b := make([]byte, 0, size)
	b = append(b, `{"payloadType":"`...)
	b = append(b, pt...)
	b = append(b, `","payload":"`...)
	b = base64.StdEncoding.AppendEncode(b, payload)
	b = append(b, `","signatures":[`...)
	for i, s := range sigs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"keyid":"`...)
		b = append(b, s.GetKeyid()...)
		b = append(b, `","sig":"`...)
		b = base64.StdEncoding.AppendEncode(b, s.GetSig())
		b = append(b, `"}`...)
	}
	return append(b, "]}"...), true
}

// plainJSON reports whether encoding/json writes s between its quotes as
// it is: printable ASCII other than the quote, the backslash and the
// characters it escapes for HTML.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// DecodeEnvelope parses canonical DSSE JSON bytes, as stored in the ledger.
// Unknown fields and non-canonical encodings are rejected, so one envelope
// has exactly one encoding.
func DecodeEnvelope(data []byte) (*pb.Envelope, error) {
	if len(data) > MaxEnvelopeSize {
		return nil, Rejectf(ErrMalformed, "envelope is %d bytes, limit %d", len(data), MaxEnvelopeSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d dsseJSON
	if err := dec.Decode(&d); err != nil {
		return nil, Rejectf(ErrMalformed, "decoding envelope JSON: %v", err)
	}
	if dec.More() {
		return nil, Rejectf(ErrMalformed, "trailing data after envelope")
	}
	env := &pb.Envelope{PayloadType: d.PayloadType, Payload: d.Payload}
	for _, s := range d.Signatures {
		env.Signatures = append(env.Signatures, &pb.Signature{Keyid: s.KeyID, Sig: s.Sig})
	}
	canon, err := EncodeEnvelope(env)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, data) {
		return nil, Rejectf(ErrMalformed, "envelope is not in canonical DSSE JSON form")
	}
	return env, nil
}

// Decode decodes a record's stored bytes: its envelope, which must be
// canonical DSSE JSON of the shape [CheckEnvelopeShape] allows, and its
// statement ([DecodeStatement]). It does not verify signatures.
func Decode(data []byte) (*pb.Envelope, *pb.Statement, error) {
	env, err := DecodeEnvelope(data)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckEnvelopeShape(env); err != nil {
		return nil, nil, err
	}
	st, err := DecodeStatement(env.GetPayload())
	if err != nil {
		return nil, nil, err
	}
	return env, st, nil
}

// Sign serializes st, signs it in a DSSE envelope with key, and returns the
// envelope. The private key stays with the caller; only the signature
// leaves.
func Sign(st *pb.Statement, key ed25519.PrivateKey) (*pb.Envelope, error) {
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding statement: %w", err)
	}
	return SignPayload(StatementPayloadType, payload, key), nil
}

// SignPayload signs payload of payloadType in a DSSE envelope with key.
func SignPayload(payloadType string, payload []byte, key ed25519.PrivateKey) *pb.Envelope {
	pub := key.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(key, PAE(payloadType, payload))
	return &pb.Envelope{
		PayloadType: payloadType,
		Payload:     payload,
		Signatures:  []*pb.Signature{{Keyid: KeyID(pub), Sig: sig}},
	}
}

// Cosign adds key's signature to env, which keeps its others: a key
// rotation co-signed by the party and the registrar, or a registrar
// rotation by the old registrar key and the new. It returns env.
func Cosign(env *pb.Envelope, key ed25519.PrivateKey) *pb.Envelope {
	pub := key.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(key, PAE(env.GetPayloadType(), env.GetPayload()))
	env.Signatures = append(env.Signatures, &pb.Signature{Keyid: KeyID(pub), Sig: sig})
	return env
}

// CheckEnvelopeShape checks what can be checked of an envelope without
// keys: payload type, sizes, signature count and key id form.
func CheckEnvelopeShape(env *pb.Envelope) error {
	if env == nil {
		return Rejectf(ErrMalformed, "no envelope")
	}
	if env.GetPayloadType() != StatementPayloadType {
		return Rejectf(ErrMalformed, "payload type %q, want %q", trunc(env.GetPayloadType()), StatementPayloadType)
	}
	if len(env.GetPayload()) == 0 {
		return Rejectf(ErrMalformed, "empty payload")
	}
	if len(env.GetPayload()) > MaxPayloadSize {
		return Rejectf(ErrMalformed, "payload is %d bytes, limit %d", len(env.GetPayload()), MaxPayloadSize)
	}
	if len(env.GetSignatures()) == 0 {
		return Rejectf(ErrBadSignature, "envelope has no signature")
	}
	if len(env.GetSignatures()) > MaxSignatures {
		return Rejectf(ErrMalformed, "envelope has %d signatures, limit %d", len(env.GetSignatures()), MaxSignatures)
	}
	seen := map[string]bool{}
	for i, s := range env.GetSignatures() {
		if err := checkKeyID(s.GetKeyid()); err != nil {
			return Rejectf(ErrMalformed, "signature %d: %v", i, err)
		}
		if seen[s.GetKeyid()] {
			return Rejectf(ErrMalformed, "signature %d: key %s signs twice", i, s.GetKeyid())
		}
		seen[s.GetKeyid()] = true
		if len(s.GetSig()) != ed25519.SignatureSize {
			return Rejectf(ErrBadSignature, "signature %d is %d bytes, want %d", i, len(s.GetSig()), ed25519.SignatureSize)
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// IDOf returns the id the ledger gives env's record, and that other
// statements use to link to it: the [tlog.RecordID] of its canonical
// encoding ([EncodeEnvelope]). A client computes it before submitting.
func IDOf(env *pb.Envelope) (tlog.RecordID, error) {
	data, err := EncodeEnvelope(env)
	if err != nil {
		return tlog.RecordID{}, err
	}
	return tlog.RecordIDOf(data), nil
}
