package registry

import (
	"errors"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// A Change is what a registry statement does to the registry. The caller
// stores Party (a new value: the Reader's party is never modified) and
// records the owner of every one of its keys.
type Change struct {
	// Party is the party registered, or changed, as it stands after the
	// statement: its registration (without keys) and its keys' status.
	Party *pb.Party
	// Added are the keys the statement registered.
	Added []*pb.KeyStatus
	// Retired is the key whose window a rotation ended earlier than
	// before; nil if none.
	Retired *pb.KeyStatus
	// Revoked is the key a revocation revoked; nil if none.
	Revoked *pb.KeyStatus
	// Recovery is set when a key rotation added a key without a signature
	// by any key of the party: a key recovery by the registrar alone.
	Recovery bool
	// Reached is set when a revocation's revoked_at is earlier than the
	// revocation reach allows: it takes effect at the bound instead.
	Reached bool
	// Registrar is the new registrar key of a registrar rotation.
	Registrar *Registrar
}

// Apply works out what the registry statement st, signed as env (whose
// signatures the caller has resolved and verified), at position at,
// changes, as the registry stands before it. It fails, changing nothing,
// if st registers a party or key already registered, lists a key twice,
// adds a key that is not a sound public key ([record.CheckPublicKey]:
// [record.ErrMalformed]), or rotates or revokes a key its party does not
// have or a key already revoked. A key rotation that no valid, unrecovered key of the party
// signed is a recovery (the added key's recovery_record is at.ID, or the
// recovery of the recovered key that signed). A revocation takes effect
// no earlier than the revocation reach before at.LogTime, a retirement no
// earlier than at.LogTime.
// For any other statement it returns a zero Change.
func (g Registry) Apply(st *pb.Statement, env *pb.Envelope, at Position) (Change, error) {
	switch b := st.GetBody().(type) {
	case *pb.Statement_PartyRegistration:
		return g.register(b.PartyRegistration, at)
	case *pb.Statement_KeyRotation:
		return g.rotate(b.KeyRotation, env, at)
	case *pb.Statement_KeyRevocation:
		return g.revoke(b.KeyRevocation, at)
	case *pb.Statement_RegistrarRotation:
		return g.rotateRegistrar(b.RegistrarRotation)
	}
	return Change{}, nil
}

func (g Registry) register(r *pb.PartyRegistration, at Position) (Change, error) {
	if _, err := g.Reader.Party(r.GetPartyId()); err == nil {
		return Change{}, record.Rejectf(record.ErrAlreadyExists, "party %q is already registered", r.GetPartyId())
	} else if !errors.Is(err, record.ErrNotFound) {
		return Change{}, err
	}
	// Keys are kept in the party's key list, not in the registration.
	reg := proto.CloneOf(r)
	reg.Keys = nil
	c := Change{Party: &pb.Party{Registration: reg, RegistrationRecord: at.ID}}
	for i, k := range r.GetKeys() {
		ks, err := g.newKey(k)
		if errors.As(err, new(keyTaken)) {
			return Change{}, record.Rejectf(record.ErrAlreadyExists, "keys[%d]: %v", i, err)
		} else if errors.As(err, new(unsoundKey)) {
			return Change{}, record.Rejectf(record.ErrMalformed, "keys[%d]: %v", i, err)
		} else if err != nil {
			return Change{}, err
		}
		if FindKey(c.Party, ks.GetKeyId()) != nil {
			return Change{}, record.Rejectf(record.ErrMalformed, "keys[%d]: key %s listed twice", i, ks.GetKeyId())
		}
		c.Party.Keys = append(c.Party.Keys, ks)
	}
	c.Added = c.Party.Keys
	return c, nil
}

// newKey returns the status of a new key, or an unsoundKey error if it is
// not a sound public key (record.CheckPublicKey), or a keyTaken error if
// its id is registered already, or the Reader's error. Every key enters the
// registry here, so the server, the audit and the verifier refuse the same
// keys.
func (g Registry) newKey(k *pb.PartyKey) (*pb.KeyStatus, error) {
	id := record.KeyID(k.GetPublicKey())
	if err := record.CheckPublicKey(k.GetPublicKey()); err != nil {
		reason := err.Error()
		if re, ok := errors.AsType[*record.RejectError](err); ok {
			reason = re.Reason
		}
		return nil, unsoundKey{id, reason}
	}
	// The registrar's keys are registered to it once it rotates; the
	// first is not registered anywhere, and is never a party's: its
	// signature on a rotation is the registrar's, not the party's consent.
	if id == g.Registrar.ID {
		return nil, keyTaken{id, record.RegistrarPartyID}
	}
	if owner, err := g.Reader.KeyOwner(id); err == nil {
		return nil, keyTaken{id, owner}
	} else if !errors.Is(err, record.ErrNotFound) {
		return nil, err
	}
	return &pb.KeyStatus{KeyId: id, PublicKey: k.GetPublicKey(), NotBefore: k.GetNotBefore(), NotAfter: k.GetNotAfter()}, nil
}

type keyTaken struct{ id, owner string }

func (e keyTaken) Error() string { return "key " + e.id + " is already registered to party " + e.owner }

type unsoundKey struct{ id, reason string }

func (e unsoundKey) Error() string { return "key " + e.id + ": " + e.reason }

// changing returns a copy of party id to change.
func (g Registry) changing(id string) (*pb.Party, error) {
	p, err := g.Reader.Party(id)
	if err != nil {
		return nil, err
	}
	return proto.CloneOf(p), nil
}

func (g Registry) rotate(r *pb.KeyRotation, env *pb.Envelope, at Position) (Change, error) {
	party, err := g.changing(r.GetPartyId())
	if err != nil {
		return Change{}, err
	}
	ks, err := g.newKey(r.GetNewKey())
	if errors.As(err, new(keyTaken)) {
		return Change{}, record.Rejectf(record.ErrAlreadyExists, "new_key: %v", err)
	} else if errors.As(err, new(unsoundKey)) {
		return Change{}, record.Rejectf(record.ErrMalformed, "new_key: %v", err)
	} else if err != nil {
		return Change{}, err
	}
	c := Change{Party: party, Added: []*pb.KeyStatus{ks}}
	if rec := consent(party, env, at); rec != "" {
		c.Recovery = true
		ks.RecoveryRecord = rec
		if rec == consentNone {
			ks.RecoveryRecord = at.ID
		}
	}
	if r.GetRetireKeyId() != "" {
		old := FindKey(party, r.GetRetireKeyId())
		if old == nil {
			return Change{}, record.Rejectf(record.ErrNotFound, "key %s is not a key of party %q", r.GetRetireKeyId(), r.GetPartyId())
		}
		// A retirement is planned, never backdated: it ends the key no
		// earlier than the log takes the rotation (the party may have
		// signed the request, and records with the old key, before the
		// registrar co-signed it). Ending a key earlier is what a
		// revocation, with its reach, is for.
		end := r.GetRetireAt()
		if !at.LogTime.IsZero() && end.AsTime().Before(at.LogTime) {
			end = timestamppb.New(at.LogTime)
		}
		if old.GetNotAfter() == nil || end.AsTime().Before(old.GetNotAfter().AsTime()) {
			old.NotAfter = end
			c.Retired = old
		}
	}
	party.Keys = append(party.Keys, ks)
	return c, nil
}

// consentNone is consent's answer when no key of the party co-signed.
const consentNone = "none"

// consent returns "" if a key of party that may sign at at, and was not
// itself added by a recovery, co-signed env; otherwise the recovery the
// rotation continues: the recovery record of a recovered key that
// co-signed (a key the registrar added alone cannot consent for the
// party, or the registrar could launder a recovery through it), or
// consentNone.
func consent(party *pb.Party, env *pb.Envelope, at Position) string {
	rec := consentNone
	for _, s := range env.GetSignatures() {
		ks := FindKey(party, s.GetKeyid())
		if ks == nil || len(KeyProblems(ks, at)) > 0 {
			continue
		}
		if ks.GetRecoveryRecord() == "" {
			return ""
		}
		if rec == consentNone {
			rec = ks.GetRecoveryRecord()
		}
	}
	return rec
}

// rotateRegistrar adds the new registrar key to the registrar's entry,
// whose last key is the current one ([Registry.Current]).
func (g Registry) rotateRegistrar(r *pb.RegistrarRotation) (Change, error) {
	cur, err := g.Current()
	if err != nil {
		return Change{}, err
	}
	party, err := g.changing(record.RegistrarPartyID)
	if errors.Is(err, record.ErrNotFound) {
		party = &pb.Party{
			Registration: &pb.PartyRegistration{PartyId: record.RegistrarPartyID, Name: "registrar"},
			Keys:         []*pb.KeyStatus{{KeyId: cur.ID, PublicKey: cur.Key}},
		}
	} else if err != nil {
		return Change{}, err
	}
	ks, err := g.newKey(&pb.PartyKey{PublicKey: r.GetNewKey()})
	if errors.As(err, new(keyTaken)) {
		return Change{}, record.Rejectf(record.ErrAlreadyExists, "new_key: %v", err)
	} else if errors.As(err, new(unsoundKey)) {
		return Change{}, record.Rejectf(record.ErrMalformed, "new_key: %v", err)
	} else if err != nil {
		return Change{}, err
	}
	party.Keys = append(party.Keys, ks)
	next := NewRegistrar(r.GetNewKey())
	return Change{Party: party, Added: []*pb.KeyStatus{ks}, Registrar: &next}, nil
}

func (g Registry) revoke(r *pb.KeyRevocation, at Position) (Change, error) {
	party, err := g.changing(r.GetPartyId())
	if err != nil {
		return Change{}, err
	}
	ks := FindKey(party, r.GetKeyId())
	if ks == nil {
		return Change{}, record.Rejectf(record.ErrNotFound, "key %s is not a key of party %q", r.GetKeyId(), r.GetPartyId())
	}
	if ks.GetRevoked() {
		return Change{}, record.Rejectf(record.ErrAlreadyExists, "key %s was already revoked at index %d", r.GetKeyId(), ks.GetRevokedIndex())
	}
	c := Change{Party: party, Revoked: ks}
	when := r.GetRevokedAt()
	if bound := g.reach(at.LogTime); when.AsTime().Before(bound) {
		when, c.Reached = timestamppb.New(bound), true
	}
	ks.Revoked, ks.RevokedIndex, ks.RevokedAt = true, at.Index, when
	return c, nil
}
