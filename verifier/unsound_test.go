package verifier_test

import (
	"crypto/ed25519"
	"strings"
	"testing"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestUnsoundKeyInvalid: a bundle whose registry gives a mine a key that
// is not sound is INVALID, and the report names the registration, the key
// and the problem. The mine's extraction is "signed" with no private key
// (R = [s]B, which ZIP-215 accepts under every small-order key, and
// crypto/ed25519 too under the identity): without the key check, the
// buyer would get VERIFIED for a lot no one signed. The same for a key
// of mixed order, whose holder signs with the scalar of its prime-order
// part. Non-canonical encodings of other points are refused too. Only
// the registrar signs registrations, so the registrar (by default, the
// operator) could put such a key in a log; the store itself refuses it
// (package custody).
func TestUnsoundKeyInvalid(t *testing.T) {
	x := lottest.New(t)
	holder := ct.New().AddParty("holder", "holder", "PK", pb.Role_ROLE_MINE).Key
	// Under these keys the crafted signature verifies (ZIP-215); under the
	// others (non-canonical encodings of larger points, non-points) no one
	// can sign, but the registration is refused all the same.
	forgeable := map[string]bool{}
	for _, k := range ct.SmallOrderKeys() {
		forgeable[k.Name] = true
	}
	for _, k := range ct.UnsoundKeys(holder.Public().(ed25519.PublicKey)) {
		t.Run(k.Name, func(t *testing.T) {
			raw := lottest.NewRawLog(t, x.C)
			mine := x.C.AddParty("mine-nokey", "Mine Without a Key", "PK", pb.Role_ROLE_MINE)
			mine.Reg.Site = lottest.MineSite
			mine.Reg.Keys[0].PublicKey = k.Key
			raw.Add(x.C.Register(mine))

			craft := ct.Craft{Pub: k.Key} // no private key
			if strings.Contains(k.Problem, "mixed order") {
				craft.Key = holder
				forgeable[k.Name] = true
			}
			st := &pb.Statement{PartyId: mine.ID, EventTime: x.Day(1), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
				LotId: "FORGED", MassKg: 1000, SbGradePct: 9, Site: lottest.MineSite, Product: pb.Product_PRODUCT_ORE}}}
			env := x.C.SignCrafted(craft, st)
			if forgeable[k.Name] && !record.VerifySignature(env, k.Key, env.GetSignatures()[0].GetSig()) {
				t.Fatal("ZIP-215 refuses the crafted signature: the test shows nothing")
			}
			raw.Add(env)

			rep := verifier.Verify(raw.Bundle("FORGED"), x.Trust(), verifier.DefaultConfig())
			lottest.WantInvalid(t, rep, "index 0: keys[0]: key "+record.KeyID(k.Key)+": public key")
			lottest.WantInvalid(t, rep, k.Problem)
		})
	}
}
