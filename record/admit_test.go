package record_test

import (
	"crypto/ed25519"
	"fmt"
	"maps"
	"slices"
	"testing"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// bothAccept is the definition admission must meet: ZIP-215
// (ed25519consensus) and RFC 8032 as crypto/ed25519 checks it.
func bothAccept(pub, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519consensus.Verify(pub, msg, sig) && ed25519.Verify(pub, msg, sig)
}

// craftedSignatures returns signatures of msg that exercise every rule on
// which ZIP-215 and crypto/ed25519 could differ: keys of small order in
// every encoding, of mixed order, and generated; R standard, with each
// small-order component, and each encoding of each small-order point; s
// canonical or not; and the signature of another message.
func craftedSignatures(t testing.TB, msg []byte) []record.Signed {
	holder := testKey("holder")
	holderPub := holder.Public().(ed25519.PublicKey)
	type signer struct {
		name string
		key  ed25519.PrivateKey // nil: a key no one holds
		pub  []byte
	}
	signers := []signer{{"generated", holder, holderPub}}
	for _, k := range ct.UnsoundKeys(holderPub) {
		s := signer{name: k.Name, pub: k.Key}
		if _, err := new(edwards25519.Point).SetBytes(k.Key); err != nil {
			continue // not a point: nothing verifies under it
		}
		for _, so := range ct.SmallOrderKeys() {
			if so.Name == k.Name {
				s.key = nil // small order: a = 0 signs
			}
		}
		if k.Problem == "mixed order" {
			s.key = holder // its holder signs with the scalar of the prime-order part
		}
		signers = append(signers, s)
	}
	rs := map[string]func(c ct.Craft) ct.Craft{"standard R": func(c ct.Craft) ct.Craft { return c }}
	for _, so := range ct.SmallOrderKeys() {
		rs["R plus the point "+so.Name] = func(c ct.Craft) ct.Craft { c.T = ct.SmallOrderPoint(so.Name); return c }
		rs["R = "+so.Name] = func(c ct.Craft) ct.Craft { c.REnc = so.Key; return c }
	}
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 31: 0x10}
	var out []record.Signed
	for _, sg := range signers {
		for _, rName := range slices.Sorted(maps.Keys(rs)) {
			sig := rs[rName](ct.Craft{Key: sg.key, Pub: sg.pub}).Sign(msg)
			out = append(out, record.Signed{PublicKey: sg.pub, Message: msg, Sig: sig})
			// s + l: the same scalar, not canonical.
			plusL := append([]byte(nil), sig...)
			carry := 0
			for i := range 32 {
				v := int(plusL[32+i]) + int(l[i]) + carry
				plusL[32+i], carry = byte(v), v>>8
			}
			out = append(out, record.Signed{PublicKey: sg.pub, Message: msg, Sig: plusL})
			// Another message.
			out = append(out, record.Signed{PublicKey: sg.pub, Message: append([]byte("x"), msg...), Sig: sig})
		}
	}
	return out
}

// TestAdmissible: over several thousand crafted signatures, admission is
// exactly "ZIP-215 and crypto/ed25519 both accept", and everything
// crypto/ed25519 accepts ZIP-215 accepts (so admission is crypto/ed25519
// alone, record.Signed.Admissible). The crafted set holds signatures of
// each kind: accepted by both, by ZIP-215 only, and by neither.
func TestAdmissible(t *testing.T) {
	var both, zip215Only, neither int
	for m := range 3 {
		msg := record.PAE(record.StatementPayloadType, fmt.Appendf(nil, "message %d", m))
		for _, s := range craftedSignatures(t, msg) {
			z, std := ed25519consensus.Verify(s.PublicKey, s.Message, s.Sig), ed25519.Verify(s.PublicKey, s.Message, s.Sig)
			if std && !z {
				t.Fatalf("crypto/ed25519 accepts what ZIP-215 refuses: key %x, sig %x", s.PublicKey, s.Sig)
			}
			if got := s.Admissible(); got != (z && std) {
				t.Fatalf("Admissible %v, ZIP-215 %v, crypto/ed25519 %v: key %x, sig %x", got, z, std, s.PublicKey, s.Sig)
			}
			if s.Valid() != z {
				t.Fatalf("Valid %v, ZIP-215 %v", s.Valid(), z)
			}
			env := &pb.Envelope{PayloadType: record.StatementPayloadType, Payload: fmt.Appendf(nil, "message %d", m)}
			if string(record.PAE(env.GetPayloadType(), env.GetPayload())) == string(s.Message) && record.AdmitSignature(env, s.PublicKey, s.Sig) != (z && std) {
				t.Fatal("AdmitSignature disagrees with Admissible")
			}
			switch {
			case z && std:
				both++
			case z:
				zip215Only++
			default:
				neither++
			}
		}
	}
	t.Logf("%d signatures: %d accepted by both, %d by ZIP-215 only, %d by neither", both+zip215Only+neither, both, zip215Only, neither)
	if both == 0 || zip215Only < 100 || neither == 0 {
		t.Fatalf("the crafted set lacks a kind: %d both, %d ZIP-215 only, %d neither", both, zip215Only, neither)
	}
}

// FuzzAdmissible: on arbitrary keys, signatures and messages (seeded with
// crafted ones of every kind), admission is exactly "ZIP-215 and
// crypto/ed25519 both accept".
func FuzzAdmissible(f *testing.F) {
	msg := record.PAE(record.StatementPayloadType, []byte("seed"))
	for i, s := range craftedSignatures(f, msg) {
		if i%7 == 0 {
			f.Add([]byte(s.PublicKey), s.Sig, s.Message)
		}
	}
	f.Fuzz(func(t *testing.T, pub, sig, msg []byte) {
		if got, want := (record.Signed{PublicKey: pub, Message: msg, Sig: sig}).Admissible(), bothAccept(pub, msg, sig); got != want {
			t.Fatalf("Admissible %v, both accept %v", got, want)
		}
	})
}
