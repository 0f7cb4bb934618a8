package chaintest

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"time"

	"filippo.io/edwards25519"
	"google.golang.org/protobuf/proto"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// An UnsoundKey is a 32-byte string that is not a sound Ed25519 public key
// (record.CheckPublicKey), with the problem a refusal of it must name.
type UnsoundKey struct {
	Name    string
	Key     []byte
	Problem string
}

// smallOrderKeys are the 14 encodings of the 8 points of small order that
// edwards25519 (and so ZIP-215) decodes. Facts of the curve: y = 1 is the
// identity, y = -1 the point of order 2, y = 0 the two points of order 4
// (x = ±√-1), and two values of y the four points of order 8. The
// non-canonical encodings set the sign of x = 0, or write y + p for
// y < 19.
var smallOrderKeys = []struct{ name, hex, problem string }{
	{"identity", "0100000000000000000000000000000000000000000000000000000000000000", "identity point, of order 1"},
	{"identity, sign of x = 0 set", "0100000000000000000000000000000000000000000000000000000000000080", "x is 0 and the sign bit is set"},
	{"identity, y = p + 1", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "y is not reduced"},
	{"identity, y = p + 1, sign set", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "y is not reduced"},
	{"order 2", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "small order 2"},
	{"order 2, sign of x = 0 set", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "x is 0 and the sign bit is set"},
	{"order 4", "0000000000000000000000000000000000000000000000000000000000000000", "small order 4"},
	{"order 4, other x", "0000000000000000000000000000000000000000000000000000000000000080", "small order 4"},
	{"order 4, y = p", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "y is not reduced"},
	{"order 4, y = p, other x", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "y is not reduced"},
	{"order 8", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "small order 8"},
	{"order 8, other x", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", "small order 8"},
	{"order 8, -y", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", "small order 8"},
	{"order 8, -y, other x", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "small order 8"},
}

// SmallOrderKeys returns the 14 encodings of the 8 points of small order,
// canonical or not: all the 32-byte strings that decode to a point of
// order 1, 2, 4 or 8.
func SmallOrderKeys() []UnsoundKey {
	out := make([]UnsoundKey, len(smallOrderKeys))
	for i, k := range smallOrderKeys {
		b, err := hex.DecodeString(k.hex)
		if err != nil {
			panic(err)
		}
		out[i] = UnsoundKey{Name: k.name, Key: b, Problem: k.problem}
	}
	return out
}

// SmallOrderEncoding returns the encoding named name of [SmallOrderKeys].
func SmallOrderEncoding(name string) []byte {
	for _, k := range SmallOrderKeys() {
		if k.Name == name {
			return k.Key
		}
	}
	panic("chaintest: no small-order encoding " + name)
}

// SmallOrderPoint returns the point of small order that the encoding
// named name of [SmallOrderKeys] decodes to.
func SmallOrderPoint(name string) *edwards25519.Point {
	p, err := new(edwards25519.Point).SetBytes(SmallOrderEncoding(name))
	if err != nil {
		panic(err)
	}
	return p
}

// UnsoundKeys returns every kind of key the registry refuses:
// [SmallOrderKeys]; pub's point plus a point of order 2, 4 and 8 (points
// of mixed order, for pub of prime order); the non-canonical encodings y
// + p of the curve points with y < 19 that are not of small order; and a
// string that is not the encoding of a curve point.
func UnsoundKeys(pub ed25519.PublicKey) []UnsoundKey {
	out := SmallOrderKeys()
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		panic(err)
	}
	for _, t := range []string{"order 2", "order 4", "order 8", "order 8, -y, other x"} {
		m := new(edwards25519.Point).Add(a, SmallOrderPoint(t))
		out = append(out, UnsoundKey{Name: "a key plus the point of " + t, Key: m.Bytes(), Problem: "mixed order"})
	}
	notPoint := false
	for y := byte(2); y < 19; y++ {
		enc := make([]byte, 32)
		enc[0] = y
		if _, err := new(edwards25519.Point).SetBytes(enc); err != nil {
			if !notPoint {
				out = append(out, UnsoundKey{Name: fmt.Sprintf("y = %d, not on the curve", y), Key: enc, Problem: "not the encoding of a curve point"})
				notPoint = true
			}
			continue
		}
		nc, _ := hex.DecodeString("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f") // p
		nc[0] += y                                                                                    // y + p: no carry for y < 19
		out = append(out, UnsoundKey{Name: fmt.Sprintf("y = %d + p", y), Key: nc, Problem: "y is not reduced"})
	}
	return out
}

// A Craft makes Ed25519 signatures that standard signing never makes, to
// test what verifiers accept: with a key no one holds, with a small-order
// component in R, or with R in a non-canonical encoding. The signature of
// a message M is R || s, with R = [r]B + T (T the identity unless set),
// k = SHA-512(R || A || M) mod l and s = r + k·a.
type Craft struct {
	// Key gives the secret scalar a and, unless Pub is set, A. Nil: a = 0,
	// for a key whose point is of small order, which no one holds; Pub
	// must then be set.
	Key ed25519.PrivateKey
	// Pub, if set, is the public key A hashed into k: with Key, a key of
	// mixed order made from Key's ([UnsoundKeys]).
	Pub []byte
	// T, if set, is added to R: a point of small order.
	T *edwards25519.Point
	// REnc, if set, is R written as these bytes, an encoding of a point
	// of small order (canonical or not), and r is 0: then s = k·a and
	// [s]B - [k]A is the identity, so the cofactored equation holds for
	// every encoding of every small-order R.
	REnc []byte
}

// Sign returns the signature of msg.
func (c Craft) Sign(msg []byte) []byte {
	a := edwards25519.NewScalar()
	pub := c.Pub
	var nonceSeed []byte
	if c.Key != nil {
		h := sha512.Sum512(c.Key.Seed())
		var err error
		if a, err = edwards25519.NewScalar().SetBytesWithClamping(h[:32]); err != nil {
			panic(err)
		}
		if pub == nil {
			pub = c.Key.Public().(ed25519.PublicKey)
		}
		nonceSeed = h[32:]
	}
	var rEnc []byte
	r := edwards25519.NewScalar()
	if c.REnc != nil {
		if _, err := new(edwards25519.Point).SetBytes(c.REnc); err != nil {
			panic(err)
		}
		rEnc = c.REnc
	} else {
		nh := sha512.Sum512(append(append([]byte("chaintest craft nonce "), nonceSeed...), msg...))
		var err error
		if r, err = edwards25519.NewScalar().SetUniformBytes(nh[:]); err != nil {
			panic(err)
		}
		R := new(edwards25519.Point).ScalarBaseMult(r)
		if c.T != nil {
			R.Add(R, c.T)
		}
		rEnc = R.Bytes()
	}
	h := sha512.New()
	h.Write(rEnc)
	h.Write(pub)
	h.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		panic(err)
	}
	s := edwards25519.NewScalar().MultiplyAdd(k, a, r)
	return append(append([]byte(nil), rEnc...), s.Bytes()...)
}

// SignCrafted returns st signed with cr, as the holder of the public key
// it signs under would submit it (deterministic protobuf, the key id of
// that public key), and moves the clock as [Chain.Sign] does.
func (c *Chain) SignCrafted(cr Craft, st *pb.Statement) *pb.Envelope {
	c.Clock.Advance(st.GetEventTime().AsTime().Add(time.Minute))
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		panic(err)
	}
	pub := cr.Pub
	if pub == nil {
		pub = cr.Key.Public().(ed25519.PublicKey)
	}
	return &pb.Envelope{
		PayloadType: record.StatementPayloadType,
		Payload:     payload,
		Signatures:  []*pb.Signature{{Keyid: record.KeyID(pub), Sig: cr.Sign(record.PAE(record.StatementPayloadType, payload))}},
	}
}
