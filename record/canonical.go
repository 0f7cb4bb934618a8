package record

import (
	"bytes"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// checkCanonical fails unless payload is the deterministic protobuf
// encoding of st, which it decodes to: fields in field-number order, each
// once, packed where packable, no default values written out. Otherwise
// one statement would have many encodings, and the log, which finds
// replays by their bytes, would record one claim twice. The error names
// the first field whose encoding differs.
func checkCanonical(payload []byte, st *pb.Statement) error {
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		return Rejectf(ErrMalformed, "encoding statement: %v", err)
	}
	if bytes.Equal(payload, want) {
		if f := negativeZero(st.ProtoReflect()); f != "" {
			// -0 and +0 are one number but two encodings (+0 is omitted).
			return Rejectf(ErrMalformed, "%s: -0 is not a value; write 0 (omitted)", f)
		}
		return nil
	}
	return Rejectf(ErrMalformed, "payload is not the deterministic encoding of the statement it holds (%s): encode it with deterministic protobuf serialization, fields in number order, each once, no default values",
		firstDifference(st.ProtoReflect().Descriptor(), payload, want, ""))
}

// firstDifference names the first field, as a dotted path, at which the
// encodings a and b of a message of type md differ.
func firstDifference(md protoreflect.MessageDescriptor, a, b []byte, prefix string) string {
	for len(a) > 0 || len(b) > 0 {
		na, fa := nextField(a)
		nb, fb := nextField(b)
		if na == 0 && nb == 0 {
			return prefix + "an undecodable field"
		}
		if na != nb {
			switch {
			case nb == 0 || (na != 0 && !hasField(b, na)):
				return prefix + fieldName(md, na) + " (repeated, or a default value written out)"
			case na == 0 || !hasField(a, nb):
				return prefix + fieldName(md, nb)
			}
			return prefix + fieldName(md, nb) + " and " + prefix + fieldName(md, na) + " (out of field-number order)"
		}
		if !bytes.Equal(fa, fb) {
			fd := md.Fields().ByNumber(na)
			if fd != nil && fd.Message() != nil && !fd.IsList() && !fd.IsMap() {
				va, vb := messageValue(fa), messageValue(fb)
				if va != nil && vb != nil {
					return firstDifference(fd.Message(), va, vb, prefix+string(fd.Name())+".")
				}
			}
			return prefix + fieldName(md, na)
		}
		a, b = a[len(fa):], b[len(fb):]
	}
	return prefix + "the message"
}

// hasField reports whether b, a message's encoding, holds field num.
func hasField(b []byte, num protowire.Number) bool {
	for len(b) > 0 {
		n, f := nextField(b)
		if f == nil {
			return false
		}
		if n == num {
			return true
		}
		b = b[len(f):]
	}
	return false
}

// nextField returns the number and the whole encoding (tag and value) of
// the first field of b, or 0 and nil.
func nextField(b []byte) (protowire.Number, []byte) {
	if len(b) == 0 {
		return 0, nil
	}
	num, _, n := protowire.ConsumeField(b)
	if n < 0 {
		return 0, nil
	}
	return num, b[:n]
}

// messageValue returns the bytes of a length-delimited field's value.
func messageValue(field []byte) []byte {
	_, typ, n := protowire.ConsumeTag(field)
	if n < 0 || typ != protowire.BytesType {
		return nil
	}
	v, m := protowire.ConsumeBytes(field[n:])
	if m < 0 {
		return nil
	}
	return v
}

func fieldName(md protoreflect.MessageDescriptor, n protowire.Number) string {
	if fd := md.Fields().ByNumber(n); fd != nil {
		return string(fd.Name())
	}
	return "field " + strconv.Itoa(int(n))
}

// negativeZero returns the dotted name of the first double field of m, at
// any depth, that holds -0, or "".
func negativeZero(m protoreflect.Message) string {
	found := ""
	walkScalars(m, "", func(name string, fd protoreflect.FieldDescriptor, v protoreflect.Value, _ func(protoreflect.Value)) bool {
		if fd.Kind() == protoreflect.DoubleKind && v.Float() == 0 && math.Signbit(v.Float()) {
			found = name
		}
		return found == ""
	})
	return found
}
