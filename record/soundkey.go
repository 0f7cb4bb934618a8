package record

import (
	"bytes"
	"crypto/ed25519"

	"filippo.io/edwards25519"
)

// CheckPublicKey returns nil if pub is a sound Ed25519 public key: the
// canonical encoding (RFC 8032 §5.1.2) of a point of the prime-order
// subgroup other than the identity, as every key made by RFC 8032 key
// generation is. Otherwise it returns a [*RejectError] wrapping
// [ErrMalformed] that names the problem. The registry refuses every other
// key in a registration or rotation (package registry), so the server, the
// offline audit and the buyer's verifier refuse the same keys.
//
// Why each kind of key is refused:
//
//   - A point of small order (one of the 8 points of order 1, 2, 4 or 8,
//     in any of their 14 encodings) lets anyone sign without a private
//     key: [k]A takes at most 8 values whatever the message, so R and s
//     that satisfy the equations are found in a few tries, under ZIP-215
//     and RFC 8032 alike (for the identity, R = [s]B with any s signs
//     every message). A party could also register one on purpose, to deny
//     its records later.
//   - A non-canonical encoding (y not reduced modulo p = 2^255-19, or x = 0
//     with the sign bit set) gives one point a second key id, since the id
//     hashes the bytes, and verifiers that decode strictly (RFC 8032
//     §5.1.3, libsodium) refuse every signature under it.
//   - A point with a small-order component (A = A0 + T, A0 of prime order,
//     T of small order, T not the identity) cannot come from key
//     generation either. Its holder's signatures satisfy the cofactored
//     equation of ZIP-215 but, whenever [k]T is not the identity (for half
//     of all messages or more), not the cofactorless one of
//     crypto/ed25519, so verifiers would disagree about them. Refusing it costs one scalar
//     multiplication per key registered, nothing per signature.
func CheckPublicKey(pub []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return Rejectf(ErrMalformed, "public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	// SetBytes accepts the non-canonical encodings; they are told apart
	// below by encoding the point again.
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return Rejectf(ErrMalformed, "public key is not the encoding of a curve point")
	}
	if enc := p.Bytes(); !bytes.Equal(enc, pub) {
		if bytes.Equal(enc[:31], pub[:31]) && enc[31]&0x7f == pub[31]&0x7f {
			// Same y; the only sign SetBytes ignores is that of x = 0.
			return Rejectf(ErrMalformed, "public key is a non-canonical encoding: x is 0 and the sign bit is set")
		}
		return Rejectf(ErrMalformed, "public key is a non-canonical encoding: y is not reduced modulo 2^255-19")
	}
	if n := smallOrderOf(p); n == 1 {
		return Rejectf(ErrMalformed, "public key is the identity point, of order 1")
	} else if n > 0 {
		return Rejectf(ErrMalformed, "public key is a point of small order %d", n)
	}
	if !torsionFree(p) {
		return Rejectf(ErrMalformed, "public key is a point of mixed order: it has a small-order component")
	}
	return nil
}

// smallOrderOf returns the order of p if it is 1, 2, 4 or 8, and 0 if p is
// not of small order.
func smallOrderOf(p *edwards25519.Point) int {
	q := new(edwards25519.Point).Set(p)
	identity := edwards25519.NewIdentityPoint()
	for n := 1; n <= 8; n *= 2 {
		if q.Equal(identity) == 1 {
			return n
		}
		q.Add(q, q)
	}
	return 0
}

// minusOne is l-1, the scalar -1.
var minusOne = func() *edwards25519.Scalar {
	one, err := new(edwards25519.Scalar).SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
	if err != nil {
		panic(err)
	}
	return one.Negate(one)
}()

// torsionFree reports whether p is in the prime-order subgroup: whether
// [l]p, computed as [l-1]p + p, is the identity. (A Scalar holds l as 0,
// but the multiplication by the scalar l-1 is plain group arithmetic,
// valid for any point of the curve, not only for those of order l.) The
// inputs are public, so the variable-time multiplication is fine.
func torsionFree(p *edwards25519.Point) bool {
	q := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(minusOne, p, edwards25519.NewScalar())
	q.Add(q, p)
	return q.Equal(edwards25519.NewIdentityPoint()) == 1
}
