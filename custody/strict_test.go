package custody_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// strictCases are signatures by key that ZIP-215 accepts and
// crypto/ed25519 refuses: R with a small-order component (R = [r]B + T,
// s = r + k·a: the cofactored equation holds, the cofactorless one does
// not), and R a small-order point, canonical or in each non-canonical
// encoding (s = k·a). No one but key's holder can make them.
func strictCases(key ed25519.PrivateKey) map[string]ct.Craft {
	cases := map[string]ct.Craft{}
	for _, name := range []string{"order 2", "order 4", "order 8", "order 8, -y, other x"} {
		cases["R plus the point of "+name] = ct.Craft{Key: key, T: ct.SmallOrderPoint(name)}
	}
	for _, k := range ct.SmallOrderKeys() {
		if k.Name == "identity" {
			continue // canonical and [s]B - [k]A itself: a valid signature
		}
		cases["R = "+k.Name] = ct.Craft{Key: key, REnc: k.Key}
	}
	return cases
}

// TestSubmitRefusesNonStrictSignatures: a registered mine, with its
// ordinary key, signs extractions in ways ZIP-215 accepts and
// crypto/ed25519 (RFC 8032, cofactorless, canonical R) refuses. The store
// refuses each as a bad signature, saying that only ZIP-215 accepts it,
// both in Submit (checked in the submitter's goroutine) and when appended
// without Submit (checked by the committer, as are signatures by keys
// registered in the same commit group); the ZIP-215 check that the audit
// and the verifier run still accepts each.
func TestSubmitRefusesNonStrictSignatures(t *testing.T) {
	c := ct.New()
	s := c.OpenStore(t)
	mine := c.AddParty("mine-qa", "Mine", "PK", pb.Role_ROLE_MINE)
	ct.Submit(t, s, c.Register(mine))
	pub := mine.Key.Public().(ed25519.PublicKey)
	i := 0
	for name, craft := range strictCases(mine.Key) {
		i++
		env := c.SignCrafted(craft, extractionSt(mine.ID, fmt.Sprintf("L-%d", i), c))
		sig := env.GetSignatures()[0].GetSig()
		msg := record.PAE(env.GetPayloadType(), env.GetPayload())
		if !record.VerifySignature(env, pub, sig) || ed25519.Verify(pub, msg, sig) {
			t.Fatalf("%s: ZIP-215 %v, crypto/ed25519 %v: want only ZIP-215", name, record.VerifySignature(env, pub, sig), ed25519.Verify(pub, msg, sig))
		}
		t.Run(name, func(t *testing.T) {
			wantRefused(t, s, env, record.ErrBadSignature, "only ZIP-215 accepts it")
			// Appended without Submit's check, the committer checks it.
			data, err := record.EncodeEnvelope(env)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Log().Append(t.Context(), data); !errors.Is(err, record.ErrBadSignature) {
				t.Errorf("committer: %v, want a bad signature", err)
			}
		})
	}
	// The same extraction signed the standard way is admitted.
	ct.Submit(t, s, c.Sign(mine, extractionSt(mine.ID, "L-standard", c)))
}

// TestAuditKeepsZIP215: the audit judges stored records by ZIP-215, as the
// buyer's verifier does: a record with a mixed-order R, which a store of
// an earlier build admitted (here appended behind the store's back),
// passes.
func TestAuditKeepsZIP215(t *testing.T) {
	w := newAuditWorld(1)
	mine := w.mines[0]
	mixed := w.c.SignCrafted(ct.Craft{Key: mine.Key, T: ct.SmallOrderPoint("order 8")}, extractionSt(mine.ID, "MIXED", w.c))
	envs := append(w.registrations(), mixed)
	if rep, err := w.audit(t, w.rawStore(t, envs)); err != nil || rep.Signatures != uint64(len(envs)) {
		t.Fatalf("audit of a ZIP-215-valid record: %+v, %v", rep, err)
	}
}
