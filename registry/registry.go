// Package registry is the ledger's one rulebook of who may sign what, with
// no I/O: parties and their roles, keys with their validity windows,
// rotations and revocations, and the registrar that signs them. It answers
// "may this key sign this statement at this log position and time"
// ([Registry.Authorize]) and works out what a registry record changes
// ([Registry.Apply]).
//
// Three callers judge records by it, each reading the registry as it
// stands at the record's place in the log through a small [Reader]:
//
//   - append-time validation (package custody) reads the store's state
//     through the commit's state transaction, and rejects;
//   - the offline audit (custody.Store.Audit) rebuilds the registry in a
//     [Memory] from the registry records, in log order, and fails the
//     audit at the first record the rules refuse;
//   - the buyer's verifier (package verifier) rebuilds it in a [Memory]
//     from a bundle's registry records, calls a bundle INVALID when a
//     signature has no key registered to its signer, and flags keys used
//     outside their validity (KEY_MISUSE, through [KeyProblems]).
//
// So a rule changed here changes for all three at once: the audit cannot
// fail logs the server accepted, nor the verifier call their lots INVALID.
//
// # Rules
//
// Registry statements (party registrations, key rotations and
// revocations) are made by the party [record.RegistrarPartyID] and signed
// by the registrar key, and the registrar signs nothing else. Every other
// statement is made by a registered party and signed only by keys
// registered to it. A key may sign at a position when it was not revoked
// before it, not revoked as of the log's time, and its window
// [not_before, not_after) holds the log's time ([CheckKey]). A key id
// belongs to one party, for ever. A key is registered only if it is sound
// ([record.CheckPublicKey]): a key of small order signs without a private
// key, and a non-canonical or mixed-order one makes verifiers disagree.
// Roles decide which statements a party may make ([Action], [Allows]).
//
// Refusals wrap the sentinel errors of package record: [record.ErrNotAllowed],
// [record.ErrNotFound], [record.ErrUnknownKey], [record.ErrKeyNotValid],
// [record.ErrAlreadyExists] and [record.ErrMalformed].
package registry

import (
	"crypto/ed25519"
	"errors"
	"time"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// A Reader reads the registry as it stands at one place in the log. The
// custody store reads its state transaction, the audit and the verifier a
// [Memory].
type Reader interface {
	// Party returns the party registered as id, with the status of its
	// keys, or an error wrapping [record.ErrNotFound]. The caller MUST
	// NOT modify the party: a Reader may share it.
	Party(id string) (*pb.Party, error)
	// KeyOwner returns the id of the party that key id keyID is
	// registered to, or an error wrapping [record.ErrNotFound].
	KeyOwner(keyID string) (string, error)
}

// ReaderFuncs adapts two functions to a [Reader].
type ReaderFuncs struct {
	PartyFunc    func(id string) (*pb.Party, error)
	KeyOwnerFunc func(keyID string) (string, error)
}

// Party calls f.PartyFunc.
func (f ReaderFuncs) Party(id string) (*pb.Party, error) { return f.PartyFunc(id) }

// KeyOwner calls f.KeyOwnerFunc.
func (f ReaderFuncs) KeyOwner(keyID string) (string, error) { return f.KeyOwnerFunc(keyID) }

// A Registrar is the key that signs registry statements, with its key id.
type Registrar struct {
	Key ed25519.PublicKey
	ID  string
}

// NewRegistrar returns the registrar with public key pub.
func NewRegistrar(pub ed25519.PublicKey) Registrar {
	return Registrar{Key: pub, ID: record.KeyID(pub)}
}

// A Registry is the rulebook of one ledger, reading the registry through
// Reader. It is a value; make one for each place in the log.
type Registry struct {
	// Registrar is the first registrar key, which clients pin; registrar
	// rotations in the log replace it ([Registry.Current]).
	Registrar Registrar
	Reader    Reader
	// RevocationReach bounds how long before the log took a revocation,
	// or a rotation that retires a key, the key's validity may end; an
	// earlier time takes effect at the bound. Zero means
	// [DefaultRevocationReach].
	RevocationReach time.Duration
}

// DefaultRevocationReach is the default [Registry.RevocationReach]: a key
// revoked today can be declared compromised since a week ago, not since
// last year, which would put KEY_MISUSE on a party's whole history.
const DefaultRevocationReach = 7 * 24 * time.Hour

// reach returns the earliest time a revocation or retirement logged at t
// may take effect, or the zero time when t is not known.
func (g Registry) reach(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	d := g.RevocationReach
	if d <= 0 {
		d = DefaultRevocationReach
	}
	return t.Add(-d)
}

// A Position is where and when a record is judged.
type Position struct {
	// Index is the record's log index.
	Index uint64
	// ID is the record's id, in its text form.
	ID string
	// LogTime is the time the log appended the record; zero where it is
	// not known (a bundle does not carry it).
	LogTime time.Time
	// EventTime is the time the record's signer claims for the event.
	EventTime time.Time
}

// A Signer is one signature of a record, resolved against the registry:
// the public key it must verify under.
type Signer struct {
	KeyID     string
	PublicKey ed25519.PublicKey
	Sig       []byte
	// Key is the signing key's status as the Reader has it; nil for the
	// registrar.
	Key *pb.KeyStatus
}

// IsRegistryStatement reports whether st is a registry statement: a party
// registration, key rotation, key revocation or registrar rotation.
func IsRegistryStatement(st *pb.Statement) bool {
	switch st.GetBody().(type) {
	case *pb.Statement_PartyRegistration, *pb.Statement_KeyRotation, *pb.Statement_KeyRevocation, *pb.Statement_RegistrarRotation:
		return true
	}
	return false
}

// Authorize decides whether env's signatures may sign st at position at,
// and returns the acting party (nil for a registry statement, which the
// registrar makes). For each signature in order it resolves the key (the
// registrar's for a registry statement, otherwise one registered to the
// acting party), calls verify, if not nil, with it (the caller checks the
// signature there, or collects it to check in a batch), and checks that
// the key is valid at at ([CheckKey]). It returns the first failure.
func (g Registry) Authorize(st *pb.Statement, env *pb.Envelope, at Position, verify func(Signer) error) (*pb.Party, error) {
	return g.signers(st, env, &at, verify)
}

// Signers resolves env's signatures as [Registry.Authorize] does, without
// judging the keys' validity, and returns the acting party and the
// signers. The verifier uses it: it flags keys used outside their validity
// rather than refusing them, judging them against the registry as the whole
// bundle records it ([KeyProblems]).
func (g Registry) Signers(st *pb.Statement, env *pb.Envelope) (*pb.Party, []Signer, error) {
	var out []Signer
	party, err := g.signers(st, env, nil, func(s Signer) error {
		out = append(out, s)
		return nil
	})
	return party, out, err
}

func (g Registry) signers(st *pb.Statement, env *pb.Envelope, at *Position, verify func(Signer) error) (*pb.Party, error) {
	if IsRegistryStatement(st) {
		return nil, g.registrySigners(st, env, at, verify)
	}
	if st.GetPartyId() == record.RegistrarPartyID {
		return nil, record.Rejectf(record.ErrNotAllowed, "the registrar signs only registrations, rotations and revocations")
	}
	party, err := g.Reader.Party(st.GetPartyId())
	if err != nil {
		return nil, err
	}
	if cp := st.GetCorrection().GetCounterpartyId(); cp != "" {
		return party, g.cosigners(party, cp, env, at, verify)
	}
	for _, sig := range env.GetSignatures() {
		if err := g.partySigner(party, sig, at, verify); err != nil {
			return nil, err
		}
	}
	return party, nil
}

// cosigners resolves the signatures of a correction of a handoff: each
// by a key of the acting party or of the counterparty, and at least one
// by each, so that neither side of a handoff rewrites it alone.
func (g Registry) cosigners(party *pb.Party, counterparty string, env *pb.Envelope, at *Position, verify func(Signer) error) error {
	other, err := g.Reader.Party(counterparty)
	if err != nil {
		return err
	}
	var byParty, byOther bool
	for _, sig := range env.GetSignatures() {
		switch {
		case FindKey(party, sig.GetKeyid()) != nil:
			byParty = true
			err = g.partySigner(party, sig, at, verify)
		case FindKey(other, sig.GetKeyid()) != nil:
			byOther = true
			err = g.partySigner(other, sig, at, verify)
		default:
			err = record.Rejectf(record.ErrUnknownKey, "key %s is a key of neither %q nor the counterparty %q", sig.GetKeyid(), party.GetRegistration().GetPartyId(), counterparty)
		}
		if err != nil {
			return err
		}
	}
	switch {
	case !byParty:
		return record.Rejectf(record.ErrUnknownKey, "a correction must be signed by its party %q", party.GetRegistration().GetPartyId())
	case !byOther:
		return record.Rejectf(record.ErrNotAllowed, "a correction of a handoff must be co-signed by the counterparty %q", counterparty)
	}
	return nil
}

// partySigner resolves sig to a key of party and checks it.
func (g Registry) partySigner(party *pb.Party, sig *pb.Signature, at *Position, verify func(Signer) error) error {
	id := party.GetRegistration().GetPartyId()
	ks := FindKey(party, sig.GetKeyid())
	if ks == nil {
		if owner, err := g.Reader.KeyOwner(sig.GetKeyid()); err == nil {
			return record.Rejectf(record.ErrUnknownKey, "key %s belongs to party %q, not %q", sig.GetKeyid(), owner, id)
		}
		return record.Rejectf(record.ErrUnknownKey, "key %s is not registered to party %q", sig.GetKeyid(), id)
	}
	if verify != nil {
		if err := verify(Signer{KeyID: ks.GetKeyId(), PublicKey: ks.GetPublicKey(), Sig: sig.GetSig(), Key: ks}); err != nil {
			return err
		}
	}
	if at != nil {
		return CheckKey(ks, *at)
	}
	return nil
}

// registrySigners resolves the signatures of a registry statement: one by
// the current registrar key, which every registry statement needs; for a
// key rotation or revocation, any by keys of the party it changes (a
// rotation the party co-signs is not a recovery); for a registrar
// rotation, one by the new registrar key.
func (g Registry) registrySigners(st *pb.Statement, env *pb.Envelope, at *Position, verify func(Signer) error) error {
	if st.GetPartyId() != record.RegistrarPartyID {
		return record.Rejectf(record.ErrNotAllowed, "registry statements are made by %q, not %q", record.RegistrarPartyID, st.GetPartyId())
	}
	reg, err := g.Current()
	if err != nil {
		return err
	}
	var subject *pb.Party // the party whose keys may co-sign
	var newReg Registrar  // a registrar rotation's new key
	switch b := st.GetBody().(type) {
	case *pb.Statement_KeyRotation:
		id := b.KeyRotation.GetPartyId()
		if subject, err = g.Reader.Party(id); err != nil && !errors.Is(err, record.ErrNotFound) {
			return err
		}
	case *pb.Statement_KeyRevocation:
		id := b.KeyRevocation.GetPartyId()
		if subject, err = g.Reader.Party(id); err != nil && !errors.Is(err, record.ErrNotFound) {
			return err
		}
	case *pb.Statement_RegistrarRotation:
		newReg = NewRegistrar(b.RegistrarRotation.GetNewKey())
	}
	var byRegistrar, byNew bool
	signedBy := func(k Registrar, sig *pb.Signature) error {
		if verify == nil {
			return nil
		}
		return verify(Signer{KeyID: k.ID, PublicKey: k.Key, Sig: sig.GetSig()})
	}
	for _, sig := range env.GetSignatures() {
		switch kid := sig.GetKeyid(); {
		case kid == reg.ID:
			byRegistrar = true
			if err := signedBy(reg, sig); err != nil {
				return err
			}
		case newReg.ID != "" && kid == newReg.ID:
			byNew = true
			if err := signedBy(newReg, sig); err != nil {
				return err
			}
		case subject != nil && FindKey(subject, kid) != nil:
			if err := g.partySigner(subject, sig, at, verify); err != nil {
				return err
			}
		case subject != nil:
			return record.Rejectf(record.ErrUnknownKey, "key %s is neither the registrar key %s nor a key of party %q", kid, reg.ID, subject.GetRegistration().GetPartyId())
		default:
			return record.Rejectf(record.ErrUnknownKey, "key %s is not the registrar key %s", kid, reg.ID)
		}
	}
	if !byRegistrar {
		return record.Rejectf(record.ErrUnknownKey, "a registry statement must be signed by the registrar key %s", reg.ID)
	}
	if newReg.ID != "" && !byNew {
		return record.Rejectf(record.ErrNotAllowed, "a registrar rotation must also be signed by the new registrar key %s", newReg.ID)
	}
	return nil
}

// Current returns the registrar key as the registry stands: the key of
// the latest registrar rotation, or the first registrar key (g.Registrar)
// if there has been none.
func (g Registry) Current() (Registrar, error) {
	p, err := g.Reader.Party(record.RegistrarPartyID)
	if errors.Is(err, record.ErrNotFound) {
		return g.Registrar, nil
	} else if err != nil {
		return Registrar{}, err
	}
	ks := p.GetKeys()
	if len(ks) == 0 {
		return Registrar{}, record.Rejectf(record.ErrMalformed, "the registrar's entry holds no key")
	}
	k := ks[len(ks)-1]
	return Registrar{Key: k.GetPublicKey(), ID: k.GetKeyId()}, nil
}

// FindKey returns the key of p with id keyID, or nil.
func FindKey(p *pb.Party, keyID string) *pb.KeyStatus {
	for _, k := range p.GetKeys() {
		if k.GetKeyId() == keyID {
			return k
		}
	}
	return nil
}
