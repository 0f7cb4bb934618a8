package record

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"sync"
	"sync/atomic"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"
)

// batchValid reports whether every check's signature is valid under the
// ZIP-215 rules of ed25519consensus.Verify, with one multiscalar
// multiplication. For random 128-bit z_i, and k_i = SHA-512(R_i || A_i ||
// M_i) mod l, it checks
//
//	[8]([-Σ z_i s_i]B + Σ [z_i]R_i + Σ_A [Σ_{i: A_i = A} z_i k_i]A) = 0,
//
// the equation of ed25519consensus.BatchVerifier, with the terms of the
// signatures by one key summed into one: a party uploading its own
// records adds one point to the sum, not one per record. Keys are decoded
// once and kept (keyPoints). As there, s must be canonical, R and A may
// have any encoding of a curve point, and the cofactor makes the batch
// agree with one-by-one verification: true means every signature is
// valid (but for a chance of about 2^-128), false that at least one is
// not, or that an input is malformed.
func batchValid(checks []SignatureCheck) bool {
	sigs := make([]Signed, len(checks))
	for i, c := range checks {
		sigs[i] = Signed{c.PublicKey, PAE(c.Envelope.GetPayloadType(), c.Envelope.GetPayload()), c.Sig}
	}
	return BatchValid(sigs)
}

// A Signed is a signature Sig by PublicKey over Message, for a caller that
// holds messages (PAEs) rather than envelopes, such as the offline audit.
type Signed struct{ PublicKey, Message, Sig []byte }

// Valid reports whether s is valid under the ZIP-215 rules of
// ed25519consensus.Verify, as [VerifySignature] and [BatchValid] decide.
func (s Signed) Valid() bool {
	return len(s.PublicKey) == ed25519.PublicKeySize && len(s.Sig) == ed25519.SignatureSize &&
		ed25519consensus.Verify(s.PublicKey, s.Message, s.Sig)
}

// Admissible reports whether s is valid under both ZIP-215 ([Signed.Valid])
// and the RFC 8032 rules of crypto/ed25519.Verify, which are stricter: a
// canonical s (as ZIP-215), and R equal, byte for byte, to the canonical
// encoding of [s]B - [k]A (the cofactorless equation, with R canonical).
// Every signature crypto/ed25519.Verify accepts, ZIP-215 accepts, so this
// is crypto/ed25519.Verify alone. Proof: both decode A with edwards25519's
// Point.SetBytes and both hash the same bytes R || A || M into k, so they
// agree on A and k; if crypto/ed25519 accepts, R is the canonical
// encoding of the point P = [s]B - [k]A, which SetBytes decodes to P
// itself, and [8](P - P) is the identity, so the cofactored ZIP-215
// equation holds, with the same canonical s. (TestAdmissible and
// FuzzAdmissible check it against both libraries.)
//
// Why not a batch: no batch checks the cofactorless equation. Without the
// cofactor, a batch sums [z_i]T_i over the small-order parts T_i of the
// signatures' R, and with random z_i that sum is the identity with
// probability up to 1/2 (T of order 2 and an even z): so the ZIP-215
// batch multiplies by the cofactor, which accepts every T. A batch
// followed by a check of each R would be exact: given a key of prime
// order ([CheckPublicKey]), a passing batch leaves R - ([s]B - [k]A) of
// small order, the identity exactly when R is of prime order, so "R
// canonical and [l]R the identity" completes it. But that check is a
// multiplication by l and costs about as much as crypto/ed25519.Verify
// itself, which makes the batch pure overhead (BENCHMARKS.md, "Strict
// admission"); and it would rest on the key being of prime order, which
// the pinned registrar key, and keys registered before the registry
// checked them, are not known to be.
func (s Signed) Admissible() bool {
	return len(s.PublicKey) == ed25519.PublicKeySize && ed25519.Verify(s.PublicKey, s.Message, s.Sig)
}

// BatchValid is batchValid for signatures over given messages: true means
// every signature is valid (but for a chance of about 2^-128).
func BatchValid(checks []Signed) bool {
	if len(checks) == 0 {
		return false
	}
	// Term 0 is B's; then each signature's R, and each distinct key's A.
	scalars := make([]*edwards25519.Scalar, 1, 1+2*len(checks))
	points := make([]*edwards25519.Point, 1, 1+2*len(checks))
	bCoeff := new(edwards25519.Scalar)
	scalars[0], points[0] = bCoeff, edwards25519.NewGeneratorPoint()
	keyTerm := make(map[[ed25519.PublicKeySize]byte]int, len(checks))
	var zBytes [32]byte
	var digest [sha512.Size]byte
	h := sha512.New()
	for _, c := range checks {
		if len(c.PublicKey) != ed25519.PublicKeySize || len(c.Sig) != ed25519.SignatureSize {
			return false
		}
		s, err := new(edwards25519.Scalar).SetCanonicalBytes(c.Sig[32:])
		if err != nil {
			return false
		}
		r, err := new(edwards25519.Point).SetBytes(c.Sig[:32])
		if err != nil {
			return false
		}
		if _, err := rand.Read(zBytes[:16]); err != nil {
			return false
		}
		z, err := new(edwards25519.Scalar).SetCanonicalBytes(zBytes[:]) // < 2^128 < l
		if err != nil {
			return false
		}
		h.Reset()
		h.Write(c.Sig[:32])
		h.Write(c.PublicKey)
		h.Write(c.Message)
		k, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(digest[:0]))
		if err != nil {
			return false
		}
		bCoeff.MultiplyAdd(z, s, bCoeff)
		scalars, points = append(scalars, z), append(points, r)
		zk := new(edwards25519.Scalar).Multiply(z, k)
		key := [ed25519.PublicKeySize]byte(c.PublicKey)
		if j, ok := keyTerm[key]; ok {
			scalars[j].Add(scalars[j], zk)
			continue
		}
		a, ok := keyPoints.point(key)
		if !ok {
			return false
		}
		keyTerm[key] = len(scalars)
		scalars, points = append(scalars, zk), append(points, a)
	}
	bCoeff.Negate(bCoeff)
	check := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	return check.MultByCofactor(check).Equal(edwards25519.NewIdentityPoint()) == 1
}

// keyPoints keeps decoded public keys, which batches only read.
var keyPoints = &pointCache{}

// maxKeyPoints bounds keyPoints; past it, it starts again empty.
const maxKeyPoints = 8192

// A pointCache maps encoded public keys to their decoded points.
type pointCache struct {
	m sync.Map // [32]byte -> *edwards25519.Point; never written to once stored
	n atomic.Int64
}

// point returns key's point, or false if key is not the encoding of one.
func (c *pointCache) point(key [ed25519.PublicKeySize]byte) (*edwards25519.Point, bool) {
	if p, ok := c.m.Load(key); ok {
		return p.(*edwards25519.Point), true
	}
	p, err := new(edwards25519.Point).SetBytes(key[:])
	if err != nil {
		return nil, false
	}
	// One caller of those past the bound empties the cache. Every entry
	// maps a key to its own decoding, so whatever the interleaving, a
	// Load never returns another key's point.
	if n := c.n.Add(1); n > maxKeyPoints && c.n.CompareAndSwap(n, 0) {
		c.m.Clear()
	}
	c.m.Store(key, p)
	return p, true
}
