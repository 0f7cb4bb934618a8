package custody_test

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

func extractionSt(party, lot string, c *ct.Chain) *pb.Statement {
	return &pb.Statement{PartyId: party, EventTime: c.At(ct.Day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: lot, MassKg: 1000, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}}
}

// wantRefused submits env and fails unless it is refused with kind, a
// message containing phrase, and the log unchanged.
func wantRefused(t *testing.T, s *custody.Store, env *pb.Envelope, kind error, phrase string) {
	t.Helper()
	size := s.Log().Size()
	if _, err := s.Submit(t.Context(), env); !errors.Is(err, kind) || !strings.Contains(err.Error(), phrase) {
		t.Errorf("Submit: %v, want %v saying %q", err, kind, phrase)
	}
	if s.Log().Size() != size {
		t.Errorf("a refused submission changed the log: size %d -> %d", size, s.Log().Size())
	}
}

// TestSubmitRefusesIdentityKey: the registrar registers a mine whose key
// is the identity point, and an extraction is "signed" without any
// private key: R = [s]B for an arbitrary s, which verifies under ZIP-215
// and under crypto/ed25519 alike, since [k]A is the identity for every
// message. The store refuses the registration (malformed, naming the
// problem), and so the extraction (no such party). A rotation to such a
// key is refused too.
func TestSubmitRefusesIdentityKey(t *testing.T) {
	c := ct.New()
	s := c.OpenStore(t)
	identity := ct.SmallOrderEncoding("identity")
	mine := c.AddParty("mine-nokey", "Mine Without a Key", "PK", pb.Role_ROLE_MINE)
	mine.Reg.Keys[0].PublicKey = identity
	forged := c.SignCrafted(ct.Craft{Pub: identity}, extractionSt(mine.ID, "FORGED", c))
	sig := forged.GetSignatures()[0].GetSig()
	if !record.VerifySignature(forged, identity, sig) || !ed25519.Verify(identity, record.PAE(forged.GetPayloadType(), forged.GetPayload()), sig) {
		t.Fatal("the forgery does not verify: the test shows nothing")
	}
	wantRefused(t, s, c.Register(mine), record.ErrMalformed, "public key is the identity point")
	wantRefused(t, s, forged, record.ErrNotFound, `party "mine-nokey" is not registered`)

	// As a rotation of a registered party's key.
	good := c.AddParty("mine-good", "Mine", "PK", pb.Role_ROLE_MINE)
	ct.Submit(t, s, c.Register(good))
	for _, k := range ct.UnsoundKeys(good.Key.Public().(ed25519.PublicKey)) {
		rot := c.RegistrarSign(&pb.Statement{Note: k.Name, Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
			PartyId: good.ID, NewKey: &pb.PartyKey{PublicKey: k.Key, NotBefore: c.At(0)}}}})
		wantRefused(t, s, rot, record.ErrMalformed, k.Problem)
	}
	forged = c.SignCrafted(ct.Craft{Pub: identity}, extractionSt(good.ID, "FORGED-2", c))
	wantRefused(t, s, forged, record.ErrUnknownKey, "not registered to party")
}

// TestAuditRefusesUnsoundKey: the audit rebuilds the registry by the same
// rules as the store, so a registration of a key that is not sound,
// appended behind the store's back, fails it at its index, naming the
// problem: the identity, under which a record signed without any private
// key follows, and a key of mixed order.
func TestAuditRefusesUnsoundKey(t *testing.T) {
	w := newAuditWorld(1)
	mine := w.mines[0]
	unsound := []ct.UnsoundKey{ct.SmallOrderKeys()[0]} // the identity
	for _, k := range ct.UnsoundKeys(mine.Key.Public().(ed25519.PublicKey)) {
		if strings.Contains(k.Problem, "mixed order") {
			unsound = append(unsound, k)
			break
		}
	}
	for _, k := range unsound {
		nokey := w.c.AddParty("mine-nokey", "Mine Without a Key", "PK", pb.Role_ROLE_MINE)
		nokey.Reg.Keys[0].PublicKey = k.Key
		craft := ct.Craft{Pub: k.Key}
		if strings.Contains(k.Problem, "mixed") {
			craft.Key = mine.Key
		}
		envs := append(w.registrations(), w.c.Register(nokey), w.c.SignCrafted(craft, extractionSt(nokey.ID, "FORGED", w.c)))
		_, err := w.audit(t, w.rawStore(t, envs))
		wantBadIndex(t, err, 2, k.Problem)
	}
}
