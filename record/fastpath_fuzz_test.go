package record

// Fuzz tests of the hand-written fast paths against what they replace.

import (
	"bytes"
	"regexp"
	"testing"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// FuzzAppendDSSE: where the direct encoder takes an envelope, it writes
// exactly what encoding/json writes; it declines only envelopes that
// encoding/json would write differently (escaped strings, null bytes).
func FuzzAppendDSSE(f *testing.F) {
	f.Add(StatementPayloadType, []byte("statement"), false, "zQ3shKeyID", []byte{1, 2, 3}, false, 1)
	f.Add("", []byte{}, false, "", []byte{}, false, 0)
	f.Add("a<b>&c", []byte{0xff}, false, "k\"\\", []byte{}, false, 2)
	f.Add("tab\there", []byte(nil), true, "k", []byte(nil), true, 1)
	f.Add("ünïcode\u2028", []byte("x"), false, "\x7f", []byte("y"), false, 3)
	f.Add("plain", []byte("p"), false, "é", []byte("s"), false, 4)
	f.Fuzz(func(t *testing.T, pt string, payload []byte, nilPayload bool, keyid string, sig []byte, nilSig bool, nsigs int) {
		env := &pb.Envelope{PayloadType: pt, Payload: payload}
		if nilPayload {
			env.Payload = nil
		}
		n := max(nsigs%5, 0)
		for i := range n {
			s := &pb.Signature{Keyid: keyid + string(rune('a'+i)), Sig: append(bytes.Clone(sig), byte(i))}
			if nilSig && i == 1 {
				s.Sig = nil
			}
			env.Signatures = append(env.Signatures, s)
		}
		want, err := marshalDSSE(env)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendDSSE(env)
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("direct encoding\n%s\nencoding/json\n%s", got, want)
		}
		plain := plainJSON(pt) && env.Payload != nil && (n == 0 || plainJSON(keyid) && !(nilSig && n > 1))
		if ok != plain {
			t.Fatalf("direct encoder took=%v, envelope plain=%v", ok, plain)
		}
		if enc, err := EncodeEnvelope(env); err != nil || !bytes.Equal(enc, want) {
			t.Fatalf("EncodeEnvelope: %v\n%s\nwant\n%s", err, enc, want)
		}
	})
}

// FuzzValidID: validID accepts exactly what the pattern it replaces does.
func FuzzValidID(f *testing.F) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)
	for _, s := range []string{"", "a", "L-1", "-L", "mine.qa:2_x", "ünï", "a b", "a\n", "Z9", ".", "a/b", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validID(s), pattern.MatchString(s); got != want {
			t.Fatalf("validID(%q) = %v, pattern says %v", s, got, want)
		}
	})
}
