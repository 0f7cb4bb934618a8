package record_test

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"filippo.io/edwards25519"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/record"
)

// testKey returns a key pair made the RFC 8032 way from a fixed seed.
func testKey(seed string) ed25519.PrivateKey {
	h := sha512.Sum512([]byte("soundkey test key " + seed))
	return ed25519.NewKeyFromSeed(h[:32])
}

// TestSmallOrderFixture checks the fixture the tests of unsound keys rely
// on: 14 encodings that decode to 8 distinct points, each of order
// dividing 8, those named "order 8" of order 8, and the non-canonical
// ones not what the point encodes to.
func TestSmallOrderFixture(t *testing.T) {
	keys := ct.SmallOrderKeys()
	points := map[string]bool{}
	identity := edwards25519.NewIdentityPoint()
	for _, k := range keys {
		p, err := new(edwards25519.Point).SetBytes(k.Key)
		if err != nil {
			t.Fatalf("%s: %v", k.Name, err)
		}
		if new(edwards25519.Point).MultByCofactor(p).Equal(identity) != 1 {
			t.Errorf("%s: [8]P is not the identity", k.Name)
		}
		p4 := new(edwards25519.Point).Add(p, p)
		p4.Add(p4, p4)
		if strings.HasPrefix(k.Name, "order 8") && p4.Equal(identity) == 1 {
			t.Errorf("%s: [4]P is the identity", k.Name)
		}
		canonical := string(p.Bytes()) == string(k.Key)
		if nonCanonical := strings.Contains(k.Problem, "sign bit") || strings.Contains(k.Problem, "reduced"); canonical == nonCanonical {
			t.Errorf("%s: canonical %v, but the problem named is %q", k.Name, canonical, k.Problem)
		}
		points[string(p.Bytes())] = true
	}
	if len(keys) != 14 || len(points) != 8 {
		t.Errorf("%d encodings of %d distinct points, want 14 of 8", len(keys), len(points))
	}
}

// TestCheckPublicKey: keys made by key generation are sound; every
// encoding of a small-order point, every non-canonical encoding, points
// with a small-order component, and a string that is not a point are
// refused as malformed, naming the problem.
func TestCheckPublicKey(t *testing.T) {
	for _, seed := range []string{"a", "b", "c"} {
		if err := record.CheckPublicKey(testKey(seed).Public().(ed25519.PublicKey)); err != nil {
			t.Errorf("generated key %s: %v", seed, err)
		}
	}
	rfc8032Test1, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	if err := record.CheckPublicKey(rfc8032Test1); err != nil {
		t.Errorf("RFC 8032 TEST 1 key: %v", err)
	}

	pub := testKey("a").Public().(ed25519.PublicKey)
	cases := append(ct.UnsoundKeys(pub),
		ct.UnsoundKey{Name: "31 bytes", Key: pub[:31], Problem: "31 bytes, want 32"},
		ct.UnsoundKey{Name: "empty", Problem: "0 bytes, want 32"},
	)
	kinds := map[string]int{}
	for _, c := range cases {
		err := record.CheckPublicKey(c.Key)
		re, ok := errors.AsType[*record.RejectError](err)
		if !ok || !errors.Is(err, record.ErrMalformed) || !strings.Contains(re.Reason, c.Problem) {
			t.Errorf("%s (%x): %v, want malformed naming %q", c.Name, c.Key, err, c.Problem)
		}
		kinds[c.Problem]++
	}
	for _, p := range []string{"mixed order", "y is not reduced", "not the encoding of a curve point"} {
		if kinds[p] == 0 {
			t.Errorf("no case of %q", p)
		}
	}
}
