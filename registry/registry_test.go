package registry_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/registry"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("registry test " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func ts(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }

const day = 24 * time.Hour

// world is a registry in memory with a registrar, a mine with two keys (the
// second valid for 10 days from day 5) and an exporter, built by applying
// registry statements as the audit and the verifier do.
type world struct {
	t        *testing.T
	regKey   ed25519.PrivateKey
	reg      registry.Registry
	mem      *registry.Memory
	next     uint64
	mine     ed25519.PrivateKey
	mineLate ed25519.PrivateKey
	exporter ed25519.PrivateKey
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, regKey: key("registrar"), mem: registry.NewMemory(), mine: key("mine"), mineLate: key("mine late"), exporter: key("exporter")}
	w.reg = registry.Registry{Registrar: registry.NewRegistrar(pub(w.regKey)), Reader: w.mem}
	w.mustApply(w.registration("mine-1", []pb.Role{pb.Role_ROLE_MINE},
		&pb.PartyKey{PublicKey: pub(w.mine), NotBefore: ts(0)},
		&pb.PartyKey{PublicKey: pub(w.mineLate), NotBefore: ts(5 * day), NotAfter: ts(15 * day)}))
	w.mustApply(w.registration("exp-1", []pb.Role{pb.Role_ROLE_EXPORTER}, &pb.PartyKey{PublicKey: pub(w.exporter), NotBefore: ts(0)}))
	return w
}

func (w *world) registration(id string, roles []pb.Role, keys ...*pb.PartyKey) *pb.Statement {
	return &pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(0), Body: &pb.Statement_PartyRegistration{
		PartyRegistration: &pb.PartyRegistration{PartyId: id, Name: id, Roles: roles, Country: "PK", Keys: keys},
	}}
}

func (w *world) at(event time.Duration) registry.Position {
	return registry.Position{Index: w.next, ID: "rec", LogTime: t0.Add(event), EventTime: t0.Add(event)}
}

// apply applies a registry statement at the next index.
func (w *world) apply(st *pb.Statement) (registry.Change, error) {
	c, err := w.reg.Apply(st, nil, w.at(st.GetEventTime().AsTime().Sub(t0)))
	if err == nil {
		w.mem.Put(c)
		w.next++
	}
	return c, err
}

func (w *world) mustApply(st *pb.Statement) registry.Change {
	w.t.Helper()
	c, err := w.apply(st)
	if err != nil {
		w.t.Fatalf("applying %v: %v", st.GetBody(), err)
	}
	return c
}

func signed(st *pb.Statement, keys ...ed25519.PrivateKey) *pb.Envelope {
	env := &pb.Envelope{PayloadType: record.StatementPayloadType, Payload: []byte("payload")}
	for _, k := range keys {
		env.Signatures = append(env.Signatures, &pb.Signature{Keyid: record.KeyID(pub(k)), Sig: make([]byte, 64)})
	}
	return env
}

func extraction(party string, event time.Duration) *pb.Statement {
	return &pb.Statement{PartyId: party, EventTime: ts(event), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{LotId: "L"}}}
}

func TestAuthorize(t *testing.T) {
	w := newWorld(t)
	w.mustApply(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(20 * day), Body: &pb.Statement_KeyRevocation{
		KeyRevocation: &pb.KeyRevocation{PartyId: "exp-1", KeyId: record.KeyID(pub(w.exporter)), RevokedAt: ts(20 * day)},
	}})
	rotation := &pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(0), Body: &pb.Statement_KeyRotation{
		KeyRotation: &pb.KeyRotation{PartyId: "mine-1", NewKey: &pb.PartyKey{PublicKey: pub(key("new")), NotBefore: ts(0)}},
	}}
	errVerify := errors.New("verify says no")
	for _, tc := range []struct {
		name   string
		st     *pb.Statement
		keys   []ed25519.PrivateKey
		at     registry.Position
		verify error
		want   error // nil: authorized
		phrase string
	}{
		{name: "mine signs with its key", st: extraction("mine-1", day), keys: []ed25519.PrivateKey{w.mine}, at: w.at(day)},
		{name: "registrar signs a rotation", st: rotation, keys: []ed25519.PrivateKey{w.regKey}, at: w.at(day)},
		{name: "registry statement by a party", st: &pb.Statement{PartyId: "mine-1", Body: rotation.Body}, keys: []ed25519.PrivateKey{w.regKey}, at: w.at(day), want: record.ErrNotAllowed, phrase: "registry statements are made by"},
		{name: "registry statement by another key", st: rotation, keys: []ed25519.PrivateKey{w.mine}, at: w.at(day), want: record.ErrUnknownKey, phrase: "must be signed by the registrar key"},
		{name: "rotation co-signed by the party", st: rotation, keys: []ed25519.PrivateKey{w.regKey, w.mine}, at: w.at(day)},
		{name: "rotation co-signed by another party", st: rotation, keys: []ed25519.PrivateKey{w.regKey, w.exporter}, at: w.at(day), want: record.ErrUnknownKey, phrase: `neither the registrar key`},
		{name: "rotation co-signed by a key outside its window", st: rotation, keys: []ed25519.PrivateKey{w.regKey, w.mineLate}, at: w.at(day), want: record.ErrKeyNotValid, phrase: "not valid at the record time"},
		{name: "registration co-signed by a party key", st: w.registration("mine-7", []pb.Role{pb.Role_ROLE_MINE}), keys: []ed25519.PrivateKey{w.regKey, w.mine}, at: w.at(day), want: record.ErrUnknownKey, phrase: "is not the registrar key"},
		{name: "registrar makes an extraction", st: extraction(record.RegistrarPartyID, day), keys: []ed25519.PrivateKey{w.regKey}, at: w.at(day), want: record.ErrNotAllowed, phrase: "registrar signs only"},
		{name: "unregistered party", st: extraction("ghost", day), keys: []ed25519.PrivateKey{w.mine}, at: w.at(day), want: record.ErrNotFound, phrase: `party "ghost" is not registered`},
		{name: "key of another party", st: extraction("mine-1", day), keys: []ed25519.PrivateKey{w.exporter}, at: w.at(day), want: record.ErrUnknownKey, phrase: `belongs to party "exp-1"`},
		{name: "unregistered key", st: extraction("mine-1", day), keys: []ed25519.PrivateKey{key("stranger")}, at: w.at(day), want: record.ErrUnknownKey, phrase: "is not registered to party"},
		{name: "second signature by an unregistered key", st: extraction("mine-1", day), keys: []ed25519.PrivateKey{w.mine, key("stranger")}, at: w.at(day), want: record.ErrUnknownKey},
		{name: "revoked key", st: extraction("exp-1", 21*day), keys: []ed25519.PrivateKey{w.exporter}, at: w.at(21 * day), want: record.ErrKeyNotValid, phrase: "was revoked at index 2"},
		{name: "revoked key, event time backdated", st: extraction("exp-1", day), keys: []ed25519.PrivateKey{w.exporter}, at: w.at(day), want: record.ErrKeyNotValid, phrase: "was revoked at index 2"},
		{name: "log time before the window", st: extraction("mine-1", 4*day), keys: []ed25519.PrivateKey{w.mineLate}, at: registry.Position{Index: w.next, EventTime: t0.Add(6 * day), LogTime: t0.Add(4 * day)}, want: record.ErrKeyNotValid, phrase: "not valid at the record time"},
		{name: "log time at the window's end", st: extraction("mine-1", 15*day), keys: []ed25519.PrivateKey{w.mineLate}, at: registry.Position{Index: w.next, EventTime: t0.Add(6 * day), LogTime: t0.Add(15 * day)}, want: record.ErrKeyNotValid, phrase: "not valid at the record time"},
		{name: "log time after the window", st: extraction("mine-1", 6*day), keys: []ed25519.PrivateKey{w.mineLate}, at: registry.Position{Index: w.next, EventTime: t0.Add(6 * day), LogTime: t0.Add(16 * day)}, want: record.ErrKeyNotValid, phrase: "not valid at the record time"},
		{name: "event time outside the window, logged inside it: a claim, not judged here", st: extraction("mine-1", 4*day), keys: []ed25519.PrivateKey{w.mineLate}, at: registry.Position{Index: w.next, EventTime: t0.Add(4 * day), LogTime: t0.Add(6 * day)}},
		{name: "log time unknown: the event time is judged", st: extraction("mine-1", 16*day), keys: []ed25519.PrivateKey{w.mineLate}, at: registry.Position{Index: w.next, EventTime: t0.Add(16 * day)}, want: record.ErrKeyNotValid, phrase: "not valid at the event time"},
		{name: "log time unknown, event time inside", st: extraction("mine-1", 6*day), keys: []ed25519.PrivateKey{w.mineLate}, at: registry.Position{Index: w.next, EventTime: t0.Add(6 * day)}},
		{name: "verify refuses", st: extraction("mine-1", day), keys: []ed25519.PrivateKey{w.mine}, at: w.at(day), verify: errVerify, want: errVerify},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var verified []string
			_, err := w.reg.Authorize(tc.st, signed(tc.st, tc.keys...), tc.at, func(s registry.Signer) error {
				verified = append(verified, s.KeyID)
				return tc.verify
			})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Authorize: %v", err)
				}
				if len(verified) != len(tc.keys) {
					t.Fatalf("verify called for %d signatures, want %d", len(verified), len(tc.keys))
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Authorize: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.phrase) {
				t.Errorf("Authorize: %q does not say %q", err, tc.phrase)
			}
		})
	}
}

// TestKeyProblems: read after the record, as the verifier reads a bundle,
// a revocation logged later flags a record whose event time is at or after
// the revocation's time, and not one before it.
func TestKeyProblems(t *testing.T) {
	w := newWorld(t)
	c := w.mustApply(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(30 * day), Body: &pb.Statement_KeyRevocation{
		KeyRevocation: &pb.KeyRevocation{PartyId: "mine-1", KeyId: record.KeyID(pub(w.mine)), RevokedAt: ts(25 * day)},
	}})
	ks := c.Revoked
	if ks == nil || !ks.GetRevoked() || ks.GetRevokedIndex() != 2 || c.Reached {
		t.Fatalf("revocation change = %+v", c)
	}
	before := registry.Position{Index: 1, EventTime: t0.Add(24 * day)}
	if ps := registry.KeyProblems(ks, before); len(ps) != 0 {
		t.Errorf("event before revoked_at: %v", ps)
	}
	asOf := registry.Position{Index: 1, EventTime: t0.Add(25 * day)}
	if ps := registry.KeyProblems(ks, asOf); len(ps) != 1 || ps[0].Problem != registry.RevokedAsOf || !errors.Is(ps[0], record.ErrKeyNotValid) {
		t.Errorf("event at revoked_at, logged before the revocation: %v", ps)
	}
	after := registry.Position{Index: 3, EventTime: t0.Add(day)}
	if ps := registry.KeyProblems(ks, after); len(ps) != 1 || ps[0].Problem != registry.RevokedBefore {
		t.Errorf("logged after the revocation: %v", ps)
	}
	// A key used outside its window.
	late := registry.FindKey(w.mem.Get("mine-1"), record.KeyID(pub(w.mineLate)))
	if ps := registry.KeyProblems(late, registry.Position{Index: 3, EventTime: t0.Add(20 * day)}); len(ps) != 1 || ps[0].Problem != registry.OutsideWindow {
		t.Errorf("outside the window: %v", ps)
	}
}

func TestApply(t *testing.T) {
	w := newWorld(t)
	rot := func(party string, newKey ed25519.PrivateKey, retire ed25519.PrivateKey, at time.Duration) *pb.Statement {
		r := &pb.KeyRotation{PartyId: party, NewKey: &pb.PartyKey{PublicKey: pub(newKey), NotBefore: ts(0)}}
		if retire != nil {
			r.RetireKeyId, r.RetireAt = record.KeyID(pub(retire)), ts(at)
		}
		return &pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(0), Body: &pb.Statement_KeyRotation{KeyRotation: r}}
	}
	rev := func(party string, k ed25519.PrivateKey) *pb.Statement {
		return &pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(0), Body: &pb.Statement_KeyRevocation{
			KeyRevocation: &pb.KeyRevocation{PartyId: party, KeyId: record.KeyID(pub(k)), RevokedAt: ts(day)},
		}}
	}
	for _, tc := range []struct {
		name string
		st   *pb.Statement
		want error
	}{
		{"party registered twice", w.registration("mine-1", []pb.Role{pb.Role_ROLE_MINE}, &pb.PartyKey{PublicKey: pub(key("x")), NotBefore: ts(0)}), record.ErrAlreadyExists},
		{"key of another party", w.registration("mine-2", []pb.Role{pb.Role_ROLE_MINE}, &pb.PartyKey{PublicKey: pub(w.exporter), NotBefore: ts(0)}), record.ErrAlreadyExists},
		{"key listed twice", w.registration("mine-3", []pb.Role{pb.Role_ROLE_MINE}, &pb.PartyKey{PublicKey: pub(key("y")), NotBefore: ts(0)}, &pb.PartyKey{PublicKey: pub(key("y")), NotBefore: ts(0)}), record.ErrMalformed},
		{"rotation for an unregistered party", rot("ghost", key("z"), nil, 0), record.ErrNotFound},
		{"rotation to a taken key", rot("mine-1", w.exporter, nil, 0), record.ErrAlreadyExists},
		{"rotation retiring a key of another party", rot("mine-1", key("z"), w.exporter, day), record.ErrNotFound},
		{"revocation of a key of another party", rev("mine-1", w.exporter), record.ErrNotFound},
		{"revocation for an unregistered party", rev("ghost", w.mine), record.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := w.next
			if _, err := w.apply(tc.st); !errors.Is(err, tc.want) {
				t.Fatalf("Apply: %v, want %v", err, tc.want)
			}
			if w.next != size {
				t.Fatal("a refused statement was applied")
			}
		})
	}
	if _, err := w.apply(w.registration("mine-1", nil)); !errors.Is(err, record.ErrConflict) {
		t.Errorf("ErrAlreadyExists must be a conflict: %v", err)
	}

	// A rotation that ends a window earlier says so; one that would end it
	// later changes nothing. Neither changes the party the Reader holds.
	held := w.mem.Get("mine-1")
	c := w.mustApply(rot("mine-1", key("r1"), w.mineLate, 10*day))
	if c.Retired == nil || !c.Retired.GetNotAfter().AsTime().Equal(t0.Add(10*day)) || len(c.Added) != 1 {
		t.Fatalf("earlier retirement: %+v", c)
	}
	if k := registry.FindKey(held, record.KeyID(pub(w.mineLate))); !k.GetNotAfter().AsTime().Equal(t0.Add(15 * day)) {
		t.Fatal("Apply modified the party its Reader holds")
	}
	if c := w.mustApply(rot("mine-1", key("r2"), w.mineLate, 12*day)); c.Retired != nil {
		t.Fatalf("later retirement changed the window: %+v", c.Retired)
	}
	if owner, err := w.mem.KeyOwner(record.KeyID(pub(key("r2")))); err != nil || owner != "mine-1" {
		t.Fatalf("rotated key owner = %q, %v", owner, err)
	}

	held = w.mem.Get("mine-1")
	c = w.mustApply(rev("mine-1", w.mine))
	if !c.Revoked.GetRevoked() || registry.FindKey(held, record.KeyID(pub(w.mine))).GetRevoked() {
		t.Fatal("a revocation must revoke the key in a new party, not in the one its Reader holds")
	}
	if _, err := w.apply(rev("mine-1", w.mine)); !errors.Is(err, record.ErrAlreadyExists) {
		t.Fatalf("second revocation: %v", err)
	}
}

// TestApplyRefusesUnsoundKeys: a registration or a rotation that adds a
// key that is not sound (every encoding of every small-order point,
// non-canonical encodings, points of mixed order, strings that are not a
// point) is refused as malformed, naming the key, the problem and, in a
// registration, which key; nothing is applied. Keys enter the registry
// only there, so the server, the audit and the verifier all refuse them.
func TestApplyRefusesUnsoundKeys(t *testing.T) {
	w := newWorld(t)
	for _, k := range ct.UnsoundKeys(pub(key("sound"))) {
		t.Run(k.Name, func(t *testing.T) {
			pk := &pb.PartyKey{PublicKey: k.Key, NotBefore: ts(0)}
			for _, tc := range []struct {
				st     *pb.Statement
				phrase string
			}{
				{w.registration("mine-unsound", []pb.Role{pb.Role_ROLE_MINE}, &pb.PartyKey{PublicKey: pub(key("ok")), NotBefore: ts(0)}, pk), "keys[1]: key " + record.KeyID(k.Key) + ": public key"},
				{&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(0), Body: &pb.Statement_KeyRotation{
					KeyRotation: &pb.KeyRotation{PartyId: "mine-1", NewKey: pk}}}, "new_key: key " + record.KeyID(k.Key) + ": public key"},
			} {
				size := w.next
				c, err := w.apply(tc.st)
				if !errors.Is(err, record.ErrMalformed) || !strings.Contains(err.Error(), tc.phrase) || !strings.Contains(err.Error(), k.Problem) {
					t.Errorf("%T: %v, want malformed with %q and %q", tc.st.GetBody(), err, tc.phrase, k.Problem)
				}
				if w.next != size || c.Party != nil {
					t.Errorf("%T: a refused statement was applied", tc.st.GetBody())
				}
			}
			if _, err := w.mem.KeyOwner(record.KeyID(k.Key)); !errors.Is(err, record.ErrNotFound) {
				t.Errorf("the unsound key is registered: %v", err)
			}
		})
	}
}

// TestApplyReaderError: a Reader that cannot tell whether a party or key
// exists stops a registration or rotation; only "not found" means absent.
func TestApplyReaderError(t *testing.T) {
	errIO := errors.New("disk on fire")
	w := newWorld(t)
	for name, r := range map[string]registry.Reader{
		"party": registry.ReaderFuncs{
			PartyFunc:    func(string) (*pb.Party, error) { return nil, errIO },
			KeyOwnerFunc: w.mem.KeyOwner,
		},
		"key owner": registry.ReaderFuncs{
			PartyFunc:    w.mem.Party,
			KeyOwnerFunc: func(string) (string, error) { return "", errIO },
		},
	} {
		g := registry.Registry{Registrar: w.reg.Registrar, Reader: r}
		for _, st := range []*pb.Statement{
			w.registration("mine-9", []pb.Role{pb.Role_ROLE_MINE}, &pb.PartyKey{PublicKey: pub(key("n9")), NotBefore: ts(0)}),
			{PartyId: record.RegistrarPartyID, EventTime: ts(0), Body: &pb.Statement_KeyRotation{
				KeyRotation: &pb.KeyRotation{PartyId: "mine-1", NewKey: &pb.PartyKey{PublicKey: pub(key("n10")), NotBefore: ts(0)}},
			}},
		} {
			if c, err := g.Apply(st, nil, w.at(0)); !errors.Is(err, errIO) || c.Party != nil {
				t.Errorf("%s read fails, %T: change %v, err %v; want errIO", name, st.GetBody(), c.Party, err)
			}
		}
	}
}

func TestRoles(t *testing.T) {
	w := newWorld(t)
	mine, exporter := w.mem.Get("mine-1"), w.mem.Get("exp-1")
	for _, tc := range []struct {
		party *pb.Party
		a     registry.Action
		ok    bool
	}{
		{mine, registry.Extract, true},
		{exporter, registry.Extract, false},
		{exporter, registry.Dispatch, true},
		{exporter, registry.Transform, true},
		{exporter, registry.AssayUnheld, false},
		{nil, registry.Hold, false},
	} {
		err := registry.Require(tc.party, tc.a)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, record.ErrNotAllowed)) {
			t.Errorf("Require(%q, %v) = %v, want allowed %v", tc.party.GetRegistration().GetPartyId(), tc.a, err, tc.ok)
		}
	}
	if err := registry.Require(&pb.Party{Registration: &pb.PartyRegistration{PartyId: "lab", Roles: []pb.Role{pb.Role_ROLE_LAB}}}, registry.Hold); err == nil || !strings.Contains(err.Error(), "cannot take custody") {
		t.Errorf("a LAB taking custody: %v", err)
	}
}

// TestRequireAssay: the holder assays its lot; anyone else only if it is
// a LAB the holder named (issue 15).
func TestRequireAssay(t *testing.T) {
	party := func(id string, r pb.Role) *pb.Party {
		return &pb.Party{Registration: &pb.PartyRegistration{PartyId: id, Roles: []pb.Role{r}}}
	}
	lab, other, holder := party("lab", pb.Role_ROLE_LAB), party("lab-2", pb.Role_ROLE_LAB), party("exp", pb.Role_ROLE_EXPORTER)
	buyer := party("buyer", pb.Role_ROLE_BUYER)
	for _, tc := range []struct {
		p      *pb.Party
		named  []string
		phrase string // "" when allowed
	}{
		{holder, nil, ""},
		{lab, []string{"lab"}, ""},
		{lab, []string{"lab-2", "lab"}, ""},
		{lab, nil, `lab "lab" may not assay lot "L1": its holder has not named it`},
		{other, []string{"lab"}, "has not named it"},
		{buyer, []string{"buyer"}, "needs one of roles [ROLE_LAB]"},
		{nil, nil, "needs one of roles"},
	} {
		err := registry.RequireAssay(tc.p, "L1", "exp", tc.named)
		if tc.phrase == "" && err != nil || tc.phrase != "" && (!errors.Is(err, record.ErrNotAllowed) || !strings.Contains(err.Error(), tc.phrase)) {
			t.Errorf("RequireAssay(%q, named %v) = %v, want %q", tc.p.GetRegistration().GetPartyId(), tc.named, err, tc.phrase)
		}
	}
	if err := registry.RequireLab(lab); err != nil {
		t.Errorf("RequireLab(a LAB) = %v", err)
	}
	if err := registry.RequireLab(buyer); !errors.Is(err, record.ErrNotAllowed) || !strings.Contains(err.Error(), "is not a LAB") {
		t.Errorf("RequireLab(a BUYER) = %v", err)
	}
}

// TestRevocationReach: a revocation logged at day 30 cannot end the key's
// validity before day 23 (the default reach of 7 days), however far back
// it claims; the change says it reached. A retirement cannot end it
// before day 30.
func TestRevocationReach(t *testing.T) {
	for _, reach := range []time.Duration{0, 2 * day} {
		w := newWorld(t)
		w.reg.RevocationReach = reach
		bound := t0.Add(30*day - registry.DefaultRevocationReach)
		if reach != 0 {
			bound = t0.Add(30*day - reach)
		}
		c := w.mustApply(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(30 * day), Body: &pb.Statement_KeyRevocation{
			KeyRevocation: &pb.KeyRevocation{PartyId: "mine-1", KeyId: record.KeyID(pub(w.mine)), RevokedAt: ts(-300 * day)},
		}})
		if !c.Reached || !c.Revoked.GetRevokedAt().AsTime().Equal(bound) {
			t.Fatalf("reach %v: revocation 330 days back took effect at %v (reached %v), want %v", reach, c.Revoked.GetRevokedAt().AsTime(), c.Reached, bound)
		}
		if ps := registry.KeyProblems(c.Revoked, registry.Position{Index: 1, LogTime: t0.Add(day)}); len(ps) != 0 {
			t.Errorf("a record logged on day 1 is condemned by a revocation logged on day 30: %v", ps)
		}
		// A retirement is never backdated: it ends the key when logged.
		c = w.mustApply(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(30 * day), Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
			PartyId: "exp-1", NewKey: &pb.PartyKey{PublicKey: pub(key("exp new")), NotBefore: ts(30 * day)},
			RetireKeyId: record.KeyID(pub(w.exporter)), RetireAt: ts(0),
		}}})
		if c.Reached || c.Retired == nil || !c.Retired.GetNotAfter().AsTime().Equal(t0.Add(30*day)) {
			t.Fatalf("reach %v: retirement at day 0 logged at day 30 ended the key at %v, want day 30", reach, c.Retired.GetNotAfter().AsTime())
		}
		// Within the reach, the claimed time stands.
		w2 := newWorld(t)
		c = w2.mustApply(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(30 * day), Body: &pb.Statement_KeyRevocation{
			KeyRevocation: &pb.KeyRevocation{PartyId: "mine-1", KeyId: record.KeyID(pub(w2.mine)), RevokedAt: ts(29 * day)},
		}})
		if c.Reached || !c.Revoked.GetRevokedAt().AsTime().Equal(t0.Add(29*day)) {
			t.Errorf("a revocation a day back was moved: %v", c.Revoked.GetRevokedAt().AsTime())
		}
	}
}

// TestKeyRecovery: a rotation co-signed by a key of the party adds the key
// as the party's; signed by the registrar alone, it is a recovery, and the
// key names the rotation.
func TestKeyRecovery(t *testing.T) {
	w := newWorld(t)
	rot := func(k ed25519.PrivateKey) *pb.Statement {
		return &pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(day), Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
			PartyId: "mine-1", NewKey: &pb.PartyKey{PublicKey: pub(k), NotBefore: ts(day)},
		}}}
	}
	st := rot(key("consented"))
	c, err := w.reg.Apply(st, signed(st, w.regKey, w.mine), w.at(day))
	if err != nil || c.Recovery || c.Added[0].GetRecoveryRecord() != "" {
		t.Fatalf("co-signed rotation: recovery %v (%q), err %v", c.Recovery, c.Added[0].GetRecoveryRecord(), err)
	}
	st = rot(key("imposed"))
	c, err = w.reg.Apply(st, signed(st, w.regKey), w.at(day))
	if err != nil || !c.Recovery || c.Added[0].GetRecoveryRecord() != "rec" {
		t.Fatalf("registrar-only rotation: recovery %v (%q), err %v", c.Recovery, c.Added[0].GetRecoveryRecord(), err)
	}
}

// TestRegistrarRotation: a registrar rotation needs the old key and the
// new; after it, only the new key signs registry statements, the old one
// is refused, and the new key belongs to the registrar for ever.
func TestRegistrarRotation(t *testing.T) {
	w := newWorld(t)
	next := key("registrar 2")
	st := &pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(day), Body: &pb.Statement_RegistrarRotation{
		RegistrarRotation: &pb.RegistrarRotation{NewKey: pub(next), Reason: "yearly"},
	}}
	if _, err := w.reg.Authorize(st, signed(st, w.regKey), w.at(day), nil); !errors.Is(err, record.ErrNotAllowed) {
		t.Fatalf("rotation without the new key: %v", err)
	}
	if _, err := w.reg.Authorize(st, signed(st, next), w.at(day), nil); !errors.Is(err, record.ErrUnknownKey) {
		t.Fatalf("rotation without the old key: %v", err)
	}
	if _, err := w.reg.Authorize(st, signed(st, w.regKey, next), w.at(day), nil); err != nil {
		t.Fatalf("rotation by both keys: %v", err)
	}
	c, err := w.reg.Apply(st, signed(st, w.regKey, next), w.at(day))
	if err != nil || c.Registrar == nil || c.Registrar.ID != record.KeyID(pub(next)) {
		t.Fatalf("apply: %+v, %v", c, err)
	}
	w.mem.Put(c)
	w.next++
	if cur, err := w.reg.Current(); err != nil || cur.ID != record.KeyID(pub(next)) {
		t.Fatalf("current registrar %v, %v", cur.ID, err)
	}
	if owner, err := w.mem.KeyOwner(record.KeyID(pub(next))); err != nil || owner != record.RegistrarPartyID {
		t.Fatalf("owner of the new registrar key: %q, %v", owner, err)
	}
	reg := w.registration("mine-8", []pb.Role{pb.Role_ROLE_MINE}, &pb.PartyKey{PublicKey: pub(key("m8")), NotBefore: ts(0)})
	if _, err := w.reg.Authorize(reg, signed(reg, w.regKey), w.at(2*day), nil); !errors.Is(err, record.ErrUnknownKey) {
		t.Fatalf("the old registrar key after the rotation: %v", err)
	}
	if _, err := w.reg.Authorize(reg, signed(reg, next), w.at(2*day), nil); err != nil {
		t.Fatalf("the new registrar key: %v", err)
	}
	// An unsound new registrar key is malformed.
	id := make([]byte, 32)
	id[0] = 1 // the identity point
	bad := &pb.Statement{PartyId: record.RegistrarPartyID, EventTime: ts(day), Body: &pb.Statement_RegistrarRotation{RegistrarRotation: &pb.RegistrarRotation{NewKey: id}}}
	if _, err := w.reg.Apply(bad, nil, w.at(2*day)); !errors.Is(err, record.ErrMalformed) {
		t.Fatalf("a registrar rotation to the identity point: %v", err)
	}
	// A party cannot register the registrar's key as its own.
	taken := w.registration("mine-9", []pb.Role{pb.Role_ROLE_MINE}, &pb.PartyKey{PublicKey: pub(next), NotBefore: ts(0)})
	if _, err := w.reg.Apply(taken, nil, w.at(2*day)); !errors.Is(err, record.ErrAlreadyExists) {
		t.Fatalf("registering the registrar key to a party: %v", err)
	}
}
