package record

import (
	"crypto/ed25519"
	"crypto/sha512"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// batchCase signs payload i with key k of keys.
func batchCase(t testing.TB, keys []ed25519.PrivateKey, k, i int) SignatureCheck {
	env := &pb.Envelope{PayloadType: StatementPayloadType, Payload: fmt.Appendf(nil, "record %d", i)}
	return SignatureCheck{Envelope: env, PublicKey: keys[k].Public().(ed25519.PublicKey), Sig: ed25519.Sign(keys[k], PAE(env.GetPayloadType(), env.GetPayload()))}
}

func testKeys(n int) []ed25519.PrivateKey {
	keys := make([]ed25519.PrivateKey, n)
	for i := range keys {
		seed := sha512.Sum512(fmt.Appendf(nil, "batch key %d", i))
		keys[i] = ed25519.NewKeyFromSeed(seed[:32])
	}
	return keys
}

// singlesValid is the reference: every check valid under ed25519consensus.
func singlesValid(checks []SignatureCheck) bool {
	for _, c := range checks {
		if len(c.PublicKey) != ed25519.PublicKeySize || !ed25519consensus.Verify(c.PublicKey, PAE(c.Envelope.GetPayloadType(), c.Envelope.GetPayload()), c.Sig) {
			return false
		}
	}
	return true
}

// Encodings of points of small order, and a non-canonical one: facts of
// the curve (y = 1, the identity; y = -1, of order 2; y = 0, of order 4,
// with either sign of x; and y = 1 + p, the identity again).
var smallOrder = map[string][32]byte{
	"identity":                {1},
	"order 2":                 {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	"order 4":                 {},
	"order 4, other x":        {31: 0x80},
	"identity, x sign set":    {0: 1, 31: 0x80},
	"identity, non-canonical": {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}

// torsionSig returns a signature that ZIP-215's cofactored equation
// accepts for any message under a small-order key A: with [8]A = 0 it
// needs only [8](sB - R) = 0, so R = sB + T for a small-order T.
func torsionSig(t testing.TB, a, tEnc [32]byte, payload string) SignatureCheck {
	tp, err := new(edwards25519.Point).SetBytes(tEnc[:])
	if err != nil {
		t.Fatal(err)
	}
	seed := sha512.Sum512([]byte(payload))
	s, err := new(edwards25519.Scalar).SetUniformBytes(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	r := new(edwards25519.Point).ScalarBaseMult(s)
	r.Add(r, tp)
	sig := append(r.Bytes(), s.Bytes()...)
	return SignatureCheck{Envelope: &pb.Envelope{PayloadType: StatementPayloadType, Payload: []byte(payload)}, PublicKey: a[:], Sig: sig}
}

// TestBatchValid: the batch accepts exactly what one-by-one ZIP-215
// verification accepts: valid batches with keys repeated or not, the
// small-order cases the cofactor is there for, and no batch with one bad
// signature, whatever is wrong with it and wherever it is.
func TestBatchValid(t *testing.T) {
	keys := testKeys(5)
	valid := func(n, distinct int) []SignatureCheck {
		var cs []SignatureCheck
		for i := range n {
			cs = append(cs, batchCase(t, keys, i%distinct, i))
		}
		return cs
	}
	for _, tc := range []struct{ n, distinct int }{{1, 1}, {2, 1}, {2, 2}, {64, 1}, {64, 3}, {64, 5}, {7, 5}} {
		if cs := valid(tc.n, tc.distinct); !batchValid(cs) || !singlesValid(cs) {
			t.Errorf("%d valid signatures by %d keys: batch %v, one by one %v", tc.n, tc.distinct, batchValid(cs), singlesValid(cs))
		}
	}
	for name, a := range smallOrder {
		for tName, tEnc := range smallOrder {
			cs := append(valid(6, 2), torsionSig(t, a, tEnc, "torsion "+name+tName), torsionSig(t, a, tEnc, "again "+name+tName))
			if !singlesValid(cs) {
				t.Fatalf("key %s, R with %s: the reference refuses the fixture", name, tName)
			}
			if !batchValid(cs) {
				t.Errorf("key %s, R with %s: batch refuses what one-by-one accepts", name, tName)
			}
		}
	}

	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 31: 0x10} // the group order
	breaks := map[string]func(c *SignatureCheck){
		"s changed": func(c *SignatureCheck) { c.Sig = append([]byte(nil), c.Sig...); c.Sig[40] ^= 1 },
		"R changed": func(c *SignatureCheck) { c.Sig = append([]byte(nil), c.Sig...); c.Sig[3] ^= 1 },
		"message changed": func(c *SignatureCheck) {
			c.Envelope = &pb.Envelope{PayloadType: c.Envelope.GetPayloadType(), Payload: append([]byte("x"), c.Envelope.GetPayload()...)}
		},
		"another key":          func(c *SignatureCheck) { c.PublicKey = keys[4].Public().(ed25519.PublicKey) },
		"key not on the curve": func(c *SignatureCheck) { c.PublicKey = append([]byte{2}, make([]byte, 31)...) },
		"short key":            func(c *SignatureCheck) { c.PublicKey = c.PublicKey[:31] },
		"short sig":            func(c *SignatureCheck) { c.Sig = c.Sig[:63] },
		"s not canonical": func(c *SignatureCheck) {
			// s + l: the same scalar mod l, which ZIP-215 refuses.
			var sum [32]byte
			carry := 0
			for i := range 32 {
				v := int(c.Sig[32+i]) + int(l[i]) + carry
				sum[i], carry = byte(v), v>>8
			}
			c.Sig = append(append([]byte(nil), c.Sig[:32]...), sum[:]...)
		},
	}
	for name, brk := range breaks {
		for _, at := range []int{0, 17, 63} {
			cs := valid(64, 3)
			brk(&cs[at])
			if singlesValid(cs) {
				t.Fatalf("%s at %d: the reference accepts the broken check", name, at)
			}
			if batchValid(cs) {
				t.Errorf("%s at %d: batch accepts a batch with a bad signature", name, at)
			}
			if ok := VerifySignatures(cs); ok[at] || !ok[(at+1)%64] {
				t.Errorf("%s at %d: VerifySignatures gives %v at the bad one, %v at the next", name, at, ok[at], ok[(at+1)%64])
			}
		}
	}
}

// FuzzBatchValid compares the batch with one-by-one ZIP-215 verification
// on arbitrary keys, signatures and messages, from seeds that verify.
func FuzzBatchValid(f *testing.F) {
	keys := testKeys(2)
	for i := range 3 {
		c := batchCase(f, keys, i%2, i)
		f.Add(byte(i), []byte(c.PublicKey), c.Sig, c.Envelope.GetPayload())
	}
	for _, a := range smallOrder {
		c := torsionSig(f, a, smallOrder["order 2"], "seed")
		f.Add(byte(1), []byte(c.PublicKey), c.Sig, c.Envelope.GetPayload())
	}
	f.Fuzz(func(t *testing.T, copies byte, pub, sig, msg []byte) {
		// The fuzzed check, after up to three valid ones (two by one key).
		var cs []SignatureCheck
		for i := range int(copies % 4) {
			cs = append(cs, batchCase(t, keys, min(i, 1), i))
		}
		cs = append(cs, SignatureCheck{Envelope: &pb.Envelope{PayloadType: StatementPayloadType, Payload: msg}, PublicKey: pub, Sig: sig})
		if got, want := batchValid(cs), singlesValid(cs); got != want {
			t.Fatalf("batch %v, one by one %v", got, want)
		}
	})
}

// TestBatchValidCancellingErrors: two bad signatures whose errors cancel
// (s one more in the first, one less in the second, same key) pass only if
// both get the same random coefficient; each must get its own.
func TestBatchValidCancellingErrors(t *testing.T) {
	keys := testKeys(1)
	a, b := batchCase(t, keys, 0, 1), batchCase(t, keys, 0, 2)
	shift := func(c *SignatureCheck, by int) {
		s, err := new(edwards25519.Scalar).SetCanonicalBytes(c.Sig[32:])
		if err != nil {
			t.Fatal(err)
		}
		one, _ := new(edwards25519.Scalar).SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
		if by > 0 {
			s.Add(s, one)
		} else {
			s.Subtract(s, one)
		}
		c.Sig = append(append([]byte(nil), c.Sig[:32]...), s.Bytes()...)
	}
	shift(&a, 1)
	shift(&b, -1)
	cs := []SignatureCheck{a, b}
	if singlesValid(cs[:1]) || singlesValid(cs[1:]) {
		t.Fatal("the reference accepts a shifted signature")
	}
	for range 100 {
		if batchValid(cs) {
			t.Fatal("a batch of two bad signatures whose errors cancel passes")
		}
	}
}

// TestBatchValidEncodings: one point under several encodings in a batch
// (each its own term) agrees with one-by-one verification.
func TestBatchValidEncodings(t *testing.T) {
	var cs []SignatureCheck
	for _, name := range []string{"identity", "identity, x sign set", "identity, non-canonical"} {
		cs = append(cs, torsionSig(t, smallOrder[name], smallOrder["order 4"], "encoding "+name))
	}
	if !singlesValid(cs) || !batchValid(cs) {
		t.Fatalf("one by one %v, batch %v", singlesValid(cs), batchValid(cs))
	}
}
