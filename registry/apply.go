package registry

import (
	"errors"

	"google.golang.org/protobuf/proto"

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
}

// Apply works out what the registry statement st, at position at, changes,
// as the registry stands before it. It fails, changing nothing, if st
// registers a party or key already registered, lists a key twice, adds a
// key that is not a sound public key ([record.CheckPublicKey]:
// [record.ErrMalformed]), or rotates or revokes a key its party does not
// have or a key already revoked. For any other statement it returns a zero Change.
func (g Registry) Apply(st *pb.Statement, at Position) (Change, error) {
	switch b := st.GetBody().(type) {
	case *pb.Statement_PartyRegistration:
		return g.register(b.PartyRegistration, at)
	case *pb.Statement_KeyRotation:
		return g.rotate(b.KeyRotation)
	case *pb.Statement_KeyRevocation:
		return g.revoke(b.KeyRevocation, at)
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

func (g Registry) rotate(r *pb.KeyRotation) (Change, error) {
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
	if r.GetRetireKeyId() != "" {
		old := FindKey(party, r.GetRetireKeyId())
		if old == nil {
			return Change{}, record.Rejectf(record.ErrNotFound, "key %s is not a key of party %q", r.GetRetireKeyId(), r.GetPartyId())
		}
		if old.GetNotAfter() == nil || r.GetRetireAt().AsTime().Before(old.GetNotAfter().AsTime()) {
			old.NotAfter = r.GetRetireAt()
			c.Retired = old
		}
	}
	party.Keys = append(party.Keys, ks)
	return c, nil
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
	ks.Revoked, ks.RevokedIndex, ks.RevokedAt = true, at.Index, r.GetRevokedAt()
	return Change{Party: party, Revoked: ks}, nil
}
