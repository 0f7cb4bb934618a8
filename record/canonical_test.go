package record_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// TestCanonicalPayload: a payload must be the deterministic encoding of
// the statement it decodes to. Each variant below decodes to the same
// statement, and was accepted (and so recorded a second time) before.
func TestCanonicalPayload(t *testing.T) {
	st := &pb.Statement{PartyId: "mine-1", EventTime: timestamppb.New(timestamppb.Now().AsTime().Truncate(1e9)), Note: "permit 7",
		Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{LotId: "L1", MassKg: 1000, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
			Site: &pb.Location{Lat: 30, Lon: 67, Name: "pit"}}}}
	canon, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := record.DecodeStatement(canon); err != nil {
		t.Fatalf("the deterministic encoding: %v", err)
	}
	field := func(b []byte, num protowire.Number) []byte { // the first occurrence of field num, tag and value
		for len(b) > 0 {
			n, _, l := protowire.ConsumeField(b)
			if n == num {
				return b[:l]
			}
			b = b[l:]
		}
		t.Fatalf("no field %d", num)
		return nil
	}
	without := func(b []byte, num protowire.Number) []byte {
		var out []byte
		for len(b) > 0 {
			n, _, l := protowire.ConsumeField(b)
			if n != num {
				out = append(out, b[:l]...)
			}
			b = b[l:]
		}
		return out
	}
	note := field(canon, 3)
	ext := field(canon, 13)
	// The extraction with its site moved ahead of its lot id.
	_, _, tl := protowire.ConsumeTag(ext)
	inner, _ := protowire.ConsumeBytes(ext[tl:])
	site := field(inner, 5)
	reordered := append(append([]byte{}, site...), without(inner, 5)...)
	ext2 := protowire.AppendBytes(protowire.AppendTag(nil, 13, protowire.BytesType), reordered)
	for _, tc := range []struct {
		name, want string
		payload    []byte
	}{
		{"a field twice", "note", append(append([]byte{}, canon...), note...)},
		{"fields out of order", "note", append(without(canon, 3), note...)},
		{"a default value written out", "note", append(protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), ""), without(canon, 3)...)},
		{"a nested field out of order", "extraction.site", append(without(canon, 13), ext2...)},
	} {
		var got pb.Statement
		if err := proto.Unmarshal(tc.payload, &got); err != nil || !proto.Equal(&got, st) && tc.name != "a default value written out" {
			t.Fatalf("%s: the variant does not decode to the statement: %v", tc.name, err)
		}
		err := admit(tc.payload)
		if !errors.Is(err, record.ErrMalformed) || !strings.Contains(err.Error(), "not the deterministic encoding") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal naming %s", tc.name, err, tc.want)
		}
	}
}

// TestNegativeZero (from a cold review): -0 and 0 are one number with two
// encodings; -0 is refused, naming the field.
func TestNegativeZero(t *testing.T) {
	st := &pb.Statement{PartyId: "mine-1", EventTime: timestamppb.New(timestamppb.Now().AsTime().Truncate(1e9)),
		Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{LotId: "L1", MassKg: 1000, SbGradePct: 9, MoisturePct: math.Copysign(0, -1), Product: pb.Product_PRODUCT_ORE,
			Site: &pb.Location{Lat: 30, Lon: 67}}}}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := admit(b); !errors.Is(err, record.ErrMalformed) || !strings.Contains(err.Error(), "extraction.moisture_pct: -0") {
		t.Fatalf("moisture -0: %v", err)
	}
}

// TestUnsafeText: controls, format characters and separators are refused
// in free text; the joiners Urdu needs, and Urdu itself, are not.
func TestUnsafeText(t *testing.T) {
	for _, tc := range []struct {
		note string
		ok   bool
	}{
		{"permit 7", true}, {"کرنج کان", true}, {"می\u200cخواهم", true}, {"a\u200db", true},
		{"\x1b[8m", false}, {"a\tb", false}, {"\u0085", false}, {"\u200e", false}, {"\u200f", false}, {"\u061c", false},
		{"\u202e", false}, {"\u2066", false}, {"\u2028", false}, {"\u2029", false}, {"\u200b", false}, {"\ufeff", false},
		{"\u00ad", false}, {"\U000e0041", false}, {"\ufff9", false},
	} {
		st := &pb.Statement{PartyId: "mine-1", EventTime: timestamppb.New(timestamppb.Now().AsTime().Truncate(1e9)), Note: tc.note,
			Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{LotId: "L1", MassKg: 1000, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30, Lon: 67}}}}
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(st)
		err := admit(b)
		if (err == nil) != tc.ok {
			t.Errorf("note %q: %v", tc.note, err)
		}
		if p := record.Printable(tc.note); !tc.ok && p == tc.note {
			t.Errorf("Printable(%q) left it as it was", tc.note)
		}
	}
}

// admit applies what the server applies to a new record's payload.
func admit(payload []byte) error {
	st, err := record.DecodeStatement(payload)
	if err != nil {
		return err
	}
	return record.CheckAdmissible(payload, st)
}

// TestOldRecordsStillRead (from a cold review): the rules for new records
// do not apply to stored ones: a receipt without a location, text with a
// bidi mark, a -0 or a non-deterministic encoding, logged before the
// rules, still decodes, so the server, the audit and the verifier read
// the log as it was written.
func TestOldRecordsStillRead(t *testing.T) {
	st := &pb.Statement{PartyId: "exp-1", EventTime: timestamppb.New(timestamppb.Now().AsTime().Truncate(1e9)), Note: "left\u200eright",
		Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{LotId: "L1", DispatchLink: "QmYbHN5HrnG1EVuDcPv2ZsF2cX6UFzsjwMdRgiyE3Ad5SF", MassKg: math.Copysign(0, -1) + 10}}}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	b = append(b, protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), "left\u200eright")...)
	if _, err := record.DecodeStatement(b); err != nil {
		t.Fatalf("a stored record from before the rules: %v", err)
	}
	if err := admit(b); err == nil {
		t.Fatal("the same record is admitted as a new one")
	}
}
