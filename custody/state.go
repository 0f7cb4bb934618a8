package custody

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"

	"github.com/antimony-ledger/provenance/record"
)

// State keys. Every index is a projection of the log, written in the same
// Badger transaction as the entry it derives from.
const (
	partyPrefix     = "p/"  // party id -> pb.Party
	keyPrefix       = "k/"  // key id -> party id
	lotPrefix       = "l/"  // lot id -> pb.LotState
	lotHistPrefix   = "lh/" // lot id \x00 BE8(index) -> ""
	partyLotsPrefix = "pl/" // party id \x00 lot id -> "" (every lot the party held or was sent)
	payloadPrefix   = "sp/" // sha256(payload) -> BE8(index)
	partyHistPrefix = "ph/" // party id \x00 BE8(index) -> "" (registry records about the party)
	mineExtPrefix   = "mx/" // mine party id \x00 BE8(index) -> "" (the mine's extractions)
	// country \x00 BE8(event time, sign flipped) BE8(index) -> mine party id:
	// a country's extractions in event-time order, for the national volume.
	countryExtPrefix = "cx/"
)

// consumedEpsilonKg is the mass below which a lot counts as used up.
const consumedEpsilonKg = 1e-6

// A prepared submission: decoded, and with the signatures that were
// already verified against keys known before the commit.
type prepared struct {
	env        *pb.Envelope
	st         *pb.Statement
	payloadSum [32]byte        // SHA-256 of the statement bytes
	id         string          // the record's link, once its leaf hash is known
	verified   map[string]bool // key id -> signature verified
}

// apply is the ledger's ApplyFunc: the append-time validation that depends
// on the log's state, decided in log order by the ledger's single committer.
func (s *Store) apply(tx *ledger.StateTx, e ledger.Entry, value any) error {
	p, ok := value.(*prepared)
	if !ok { // appended without a prepared submission (not through Submit)
		var err error
		if p, err = prepare(e.Data); err != nil {
			return err
		}
		p.id = RecordID(e)
	}
	sum := p.payloadSum
	if v, err := tx.Get(append([]byte(payloadPrefix), sum[:]...)); err == nil {
		return record.Rejectf(record.ErrAlreadyExists, "statement already recorded at index %d in a different envelope", binary.BigEndian.Uint64(v))
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	a := &applier{s: s, tx: tx, e: e, p: p, st: p.st, id: p.id}
	if err := a.authorize(); err != nil {
		return err
	}
	if err := a.body(); err != nil {
		return err
	}
	tx.Set(append([]byte(payloadPrefix), sum[:]...), be8(e.Index))
	return nil
}

// RecordID is a record's link: the base58 multihash of its leaf hash.
func RecordID(e ledger.Entry) string { return e.ID.String() }

type applier struct {
	s     *Store
	tx    *ledger.StateTx
	e     ledger.Entry
	p     *prepared
	st    *pb.Statement
	id    string
	party *pb.Party
}

// authorize checks that every signature is by a current key of the acting
// party (or of the registrar for registry statements).
func (a *applier) authorize() error {
	_, registry := registryBody(a.st)
	if registry {
		if a.st.GetPartyId() != record.RegistrarPartyID {
			return record.Rejectf(record.ErrNotAllowed, "registry statements are made by %q, not %q", record.RegistrarPartyID, a.st.GetPartyId())
		}
		for _, sig := range a.p.env.GetSignatures() {
			if sig.GetKeyid() != a.s.registrarID {
				return record.Rejectf(record.ErrUnknownKey, "key %s is not the registrar key", sig.GetKeyid())
			}
			if !a.p.verified[sig.GetKeyid()] && !record.VerifySignature(a.p.env, a.s.registrar, sig.GetSig()) {
				return record.Rejectf(record.ErrBadSignature, "registrar signature does not verify")
			}
		}
		return nil
	}
	if a.st.GetPartyId() == record.RegistrarPartyID {
		return record.Rejectf(record.ErrNotAllowed, "the registrar signs only registrations, rotations and revocations")
	}
	party, err := a.viewParty(a.st.GetPartyId())
	if err != nil {
		return err
	}
	a.party = party
	for _, sig := range a.p.env.GetSignatures() {
		ks := findKey(party, sig.GetKeyid())
		if ks == nil {
			if owner, err := a.tx.Get([]byte(keyPrefix + sig.GetKeyid())); err == nil {
				return record.Rejectf(record.ErrUnknownKey, "key %s belongs to party %q, not %q", sig.GetKeyid(), owner, party.GetRegistration().GetPartyId())
			}
			return record.Rejectf(record.ErrUnknownKey, "key %s is not registered to party %q", sig.GetKeyid(), party.GetRegistration().GetPartyId())
		}
		if !a.p.verified[sig.GetKeyid()] && !record.VerifySignature(a.p.env, ks.GetPublicKey(), sig.GetSig()) {
			return record.Rejectf(record.ErrBadSignature, "signature by key %s does not verify", sig.GetKeyid())
		}
		if ks.GetRevoked() {
			return record.Rejectf(record.ErrKeyNotValid, "key %s was revoked at index %d", ks.GetKeyId(), ks.GetRevokedIndex())
		}
		for _, t := range []struct {
			what string
			at   time.Time
		}{{"record time", a.e.Time}, {"event time", a.st.GetEventTime().AsTime()}} {
			if !keyValidAt(ks, t.at) {
				return record.Rejectf(record.ErrKeyNotValid, "key %s is not valid at the %s %s (valid %s)", ks.GetKeyId(), t.what, t.at.UTC().Format(time.RFC3339), windowString(ks))
			}
		}
	}
	return nil
}

func keyValidAt(ks *pb.KeyStatus, t time.Time) bool {
	if t.Before(ks.GetNotBefore().AsTime()) {
		return false
	}
	return ks.GetNotAfter() == nil || t.Before(ks.GetNotAfter().AsTime())
}

func windowString(ks *pb.KeyStatus) string {
	s := "from " + ks.GetNotBefore().AsTime().UTC().Format(time.RFC3339)
	if ks.GetNotAfter() != nil {
		s += " until " + ks.GetNotAfter().AsTime().UTC().Format(time.RFC3339)
	}
	return s
}

func findKey(p *pb.Party, keyID string) *pb.KeyStatus {
	for _, k := range p.GetKeys() {
		if k.GetKeyId() == keyID {
			return k
		}
	}
	return nil
}

func registryBody(st *pb.Statement) (string, bool) {
	switch st.GetBody().(type) {
	case *pb.Statement_PartyRegistration:
		return "party registration", true
	case *pb.Statement_KeyRotation:
		return "key rotation", true
	case *pb.Statement_KeyRevocation:
		return "key revocation", true
	}
	return "", false
}

func (a *applier) body() error {
	switch b := a.st.GetBody().(type) {
	case *pb.Statement_PartyRegistration:
		return a.register(b.PartyRegistration)
	case *pb.Statement_KeyRotation:
		return a.rotate(b.KeyRotation)
	case *pb.Statement_KeyRevocation:
		return a.revoke(b.KeyRevocation)
	case *pb.Statement_Extraction:
		return a.extract(b.Extraction)
	case *pb.Statement_Assay:
		return a.assay(b.Assay)
	case *pb.Statement_Dispatch:
		return a.dispatch(b.Dispatch)
	case *pb.Statement_Receipt:
		return a.receipt(b.Receipt)
	case *pb.Statement_Transformation:
		return a.transform(b.Transformation)
	}
	return record.Rejectf(record.ErrMalformed, "statement has no body")
}

func (a *applier) register(r *pb.PartyRegistration) error {
	if ok, err := a.tx.Has([]byte(partyPrefix + r.GetPartyId())); err != nil {
		return err
	} else if ok {
		return record.Rejectf(record.ErrAlreadyExists, "party %q is already registered", r.GetPartyId())
	}
	party := &pb.Party{Registration: r, RegistrationRecord: a.id}
	for i, k := range r.GetKeys() {
		ks, err := a.newKey(k)
		if err != nil {
			return record.Rejectf(record.ErrAlreadyExists, "keys[%d]: %v", i, err)
		}
		if findKey(party, ks.GetKeyId()) != nil {
			return record.Rejectf(record.ErrMalformed, "keys[%d]: key %s listed twice", i, ks.GetKeyId())
		}
		party.Keys = append(party.Keys, ks)
	}
	// Keys are kept in the party record, not duplicated in the registration.
	party.Registration = proto.CloneOf(r)
	party.Registration.Keys = nil
	return a.putParty(party)
}

func (a *applier) newKey(k *pb.PartyKey) (*pb.KeyStatus, error) {
	id := record.KeyID(k.GetPublicKey())
	if owner, err := a.tx.Get([]byte(keyPrefix + id)); err == nil {
		return nil, errors.New("key " + id + " is already registered to party " + string(owner))
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return nil, err
	}
	return &pb.KeyStatus{KeyId: id, PublicKey: k.GetPublicKey(), NotBefore: k.GetNotBefore(), NotAfter: k.GetNotAfter()}, nil
}

func (a *applier) rotate(r *pb.KeyRotation) error {
	party, err := a.getParty(r.GetPartyId())
	if err != nil {
		return err
	}
	ks, err := a.newKey(r.GetNewKey())
	if err != nil {
		return record.Rejectf(record.ErrAlreadyExists, "new_key: %v", err)
	}
	if r.GetRetireKeyId() != "" {
		old := findKey(party, r.GetRetireKeyId())
		if old == nil {
			return record.Rejectf(record.ErrNotFound, "key %s is not a key of party %q", r.GetRetireKeyId(), r.GetPartyId())
		}
		if old.GetNotAfter() == nil || r.GetRetireAt().AsTime().Before(old.GetNotAfter().AsTime()) {
			old.NotAfter = r.GetRetireAt()
		}
	}
	party.Keys = append(party.Keys, ks)
	return a.putParty(party)
}

func (a *applier) revoke(r *pb.KeyRevocation) error {
	party, err := a.getParty(r.GetPartyId())
	if err != nil {
		return err
	}
	ks := findKey(party, r.GetKeyId())
	if ks == nil {
		return record.Rejectf(record.ErrNotFound, "key %s is not a key of party %q", r.GetKeyId(), r.GetPartyId())
	}
	if ks.GetRevoked() {
		return record.Rejectf(record.ErrAlreadyExists, "key %s was already revoked at index %d", r.GetKeyId(), ks.GetRevokedIndex())
	}
	ks.Revoked, ks.RevokedIndex, ks.RevokedAt = true, a.e.Index, r.GetRevokedAt()
	return a.putParty(party)
}

func (a *applier) requireRole(what string, roles ...pb.Role) error {
	for _, r := range roles {
		if slices.Contains(a.party.GetRegistration().GetRoles(), r) {
			return nil
		}
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.String()
	}
	return record.Rejectf(record.ErrNotAllowed, "party %q may not sign %s: needs one of roles %v", a.st.GetPartyId(), what, names)
}

// custodyRoles may hold, dispatch, receive and transform lots.
var custodyRoles = []pb.Role{pb.Role_ROLE_MINE, pb.Role_ROLE_EXPORTER, pb.Role_ROLE_TRADER, pb.Role_ROLE_SMELTER, pb.Role_ROLE_REFINER, pb.Role_ROLE_BUYER}

func (a *applier) extract(x *pb.Extraction) error {
	if err := a.requireRole("an extraction", pb.Role_ROLE_MINE); err != nil {
		return err
	}
	if err := a.newLot(x.GetLotId()); err != nil {
		return err
	}
	lot := &pb.LotState{
		LotId: x.GetLotId(), HolderPartyId: a.st.GetPartyId(), MassKg: x.GetMassKg(),
		Product: x.GetProduct(), SbGradePct: x.GetSbGradePct(), Head: a.id, OriginRecord: a.id,
	}
	a.partyLot(a.st.GetPartyId(), lot.GetLotId())
	a.tx.Set(indexKey(mineExtPrefix, a.st.GetPartyId(), a.e.Index), nil)
	a.tx.Set(countryExtKey(a.party.GetRegistration().GetCountry(), a.st.GetEventTime().AsTime(), a.e.Index), []byte(a.st.GetPartyId()))
	return a.putLot(lot)
}

func (a *applier) assay(x *pb.Assay) error {
	lot, err := a.getLot(x.GetLotId())
	if err != nil {
		return err
	}
	if lot.GetHolderPartyId() != a.st.GetPartyId() {
		if err := a.requireRole("an assay of a lot it does not hold", pb.Role_ROLE_LAB); err != nil {
			return err
		}
	}
	switch x.GetSubjectLink() {
	case lot.GetHead(), lot.GetOriginRecord(), lot.GetPendingDispatch():
	default:
		return a.badLink("assay.subject_link", x.GetSubjectLink(), lot.GetHead())
	}
	return a.putLot(lot) // records the assay in the lot's history
}

func (a *applier) dispatch(d *pb.Dispatch) error {
	if err := a.requireRole("a dispatch", custodyRoles...); err != nil {
		return err
	}
	lot, err := a.heldLot(d.GetLotId(), d.GetCustodyLink(), "dispatch.custody_link")
	if err != nil {
		return err
	}
	if d.GetToPartyId() == a.st.GetPartyId() {
		return record.Rejectf(record.ErrMalformed, "dispatch.to_party_id: a party cannot dispatch to itself")
	}
	to, err := a.viewParty(d.GetToPartyId())
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(to.GetRegistration().GetRoles(), func(r pb.Role) bool { return slices.Contains(custodyRoles, r) }) {
		return record.Rejectf(record.ErrNotAllowed, "party %q cannot take custody of a lot", d.GetToPartyId())
	}
	lot.InTransitTo, lot.PendingDispatch = d.GetToPartyId(), a.id
	a.partyLot(d.GetToPartyId(), lot.GetLotId())
	return a.putLot(lot)
}

func (a *applier) receipt(r *pb.Receipt) error {
	lot, err := a.getLot(r.GetLotId())
	if err != nil {
		return err
	}
	if lot.GetInTransitTo() == "" {
		return record.Rejectf(record.ErrConflict, "lot %q is not in transit", r.GetLotId())
	}
	if lot.GetInTransitTo() != a.st.GetPartyId() {
		return record.Rejectf(record.ErrNotAllowed, "lot %q was dispatched to %q, not %q", r.GetLotId(), lot.GetInTransitTo(), a.st.GetPartyId())
	}
	if r.GetDispatchLink() != lot.GetPendingDispatch() {
		return a.badLink("receipt.dispatch_link", r.GetDispatchLink(), lot.GetPendingDispatch())
	}
	lot.HolderPartyId, lot.MassKg, lot.Head = a.st.GetPartyId(), r.GetMassKg(), a.id
	lot.InTransitTo, lot.PendingDispatch = "", ""
	return a.putLot(lot)
}

func (a *applier) transform(t *pb.Transformation) error {
	if err := a.requireRole("a transformation", pb.Role_ROLE_MINE, pb.Role_ROLE_EXPORTER, pb.Role_ROLE_TRADER, pb.Role_ROLE_SMELTER, pb.Role_ROLE_REFINER); err != nil {
		return err
	}
	for _, in := range t.GetInputs() {
		lot, err := a.heldLot(in.GetLotId(), in.GetLink(), "transformation input link")
		if err != nil {
			return err
		}
		// Consuming more than is held is recorded, not refused: the
		// verifier reports it (DOUBLE_SPEND) with this record as evidence.
		lot.MassKg = math.Max(0, lot.GetMassKg()-in.GetMassKg())
		if lot.GetMassKg() < consumedEpsilonKg {
			lot.MassKg, lot.Consumed = 0, true
		} else {
			lot.Head = a.id
		}
		if err := a.putLot(lot); err != nil {
			return err
		}
	}
	for _, out := range t.GetOutputs() {
		if err := a.newLot(out.GetLotId()); err != nil {
			return err
		}
		lot := &pb.LotState{
			LotId: out.GetLotId(), HolderPartyId: a.st.GetPartyId(), MassKg: out.GetMassKg(),
			Product: out.GetProduct(), SbGradePct: out.GetSbGradePct(), Head: a.id, OriginRecord: a.id,
		}
		a.partyLot(a.st.GetPartyId(), lot.GetLotId())
		if err := a.putLot(lot); err != nil {
			return err
		}
	}
	return nil
}

// heldLot returns a lot the signer holds now, with link its current
// custody record.
func (a *applier) heldLot(lotID, link, field string) (*pb.LotState, error) {
	lot, err := a.getLot(lotID)
	if err != nil {
		return nil, err
	}
	switch {
	case lot.GetHolderPartyId() != a.st.GetPartyId():
		return nil, record.Rejectf(record.ErrNotAllowed, "party %q does not hold lot %q (held by %q)", a.st.GetPartyId(), lotID, lot.GetHolderPartyId())
	case lot.GetInTransitTo() != "":
		return nil, record.Rejectf(record.ErrConflict, "lot %q is in transit to %q", lotID, lot.GetInTransitTo())
	case lot.GetConsumed():
		return nil, record.Rejectf(record.ErrConflict, "lot %q has been used up", lotID)
	case link != lot.GetHead():
		return nil, a.badLink(field, link, lot.GetHead())
	}
	return lot, nil
}

// badLink explains a link that is not the one the lot's state requires:
// a record that does not exist, or a stale one.
func (a *applier) badLink(field, link, want string) error {
	if _, err := a.tx.Entry(mustRecordID(link)); errors.Is(err, ledger.ErrNotFound) {
		return record.Rejectf(record.ErrNotFound, "%s: no record %s in the log", field, link)
	}
	return record.Rejectf(record.ErrConflict, "%s: record %s is not the lot's current custody record %s", field, link, want)
}

func (a *applier) newLot(lotID string) error {
	if ok, err := a.tx.Has([]byte(lotPrefix + lotID)); err != nil {
		return err
	} else if ok {
		return record.Rejectf(record.ErrAlreadyExists, "lot %q already exists", lotID)
	}
	return nil
}

func (a *applier) getParty(id string) (*pb.Party, error) { return readParty(a.tx.Get, id) }

// viewParty is getParty for reading only: the party it returns may be
// shared with other records' checks, and must not be changed. Most records
// read the acting party, so decoded parties are kept while their stored
// bytes stay the same.
func (a *applier) viewParty(id string) (*pb.Party, error) {
	b, err := a.tx.Get([]byte(partyPrefix + id))
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, record.Rejectf(record.ErrNotFound, "party %q is not registered", id)
	} else if err != nil {
		return nil, fmt.Errorf("reading party %q: %w", id, err)
	}
	return a.s.parties.decode(id, b)
}

func (a *applier) putParty(p *pb.Party) error {
	b, err := proto.Marshal(p)
	if err != nil {
		return err
	}
	a.tx.Set([]byte(partyPrefix+p.GetRegistration().GetPartyId()), b)
	a.tx.Set(indexKey(partyHistPrefix, p.GetRegistration().GetPartyId(), a.e.Index), nil)
	for _, k := range p.GetKeys() {
		a.tx.Set([]byte(keyPrefix+k.GetKeyId()), []byte(p.GetRegistration().GetPartyId()))
	}
	return nil
}

func (a *applier) getLot(id string) (*pb.LotState, error) { return readLot(a.tx.Get, id) }

// putLot stores the lot's state and adds this record to its history.
func (a *applier) putLot(lot *pb.LotState) error {
	b, err := proto.Marshal(lot)
	if err != nil {
		return err
	}
	a.tx.Set([]byte(lotPrefix+lot.GetLotId()), b)
	a.tx.Set(indexKey(lotHistPrefix, lot.GetLotId(), a.e.Index), nil)
	return nil
}

func (a *applier) partyLot(party, lot string) {
	a.tx.Set([]byte(partyLotsPrefix+party+"\x00"+lot), nil)
}

// indexKey is the key of a record in a per-lot or per-party index; a scan
// of prefix+id+"\x00" returns the records in log order.
func indexKey(prefix, id string, index uint64) []byte {
	return append([]byte(prefix+id+"\x00"), be8(index)...)
}

func be8(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// partyCacheSize bounds a [partyCache]; past it, the cache starts over.
const partyCacheSize = 1 << 14

// A partyCache holds decoded parties with the bytes they were decoded
// from. Only the ledger's committer uses it (through apply), so it has no
// lock.
type partyCache map[string]decodedParty

type decodedParty struct {
	stored []byte
	p      *pb.Party
}

// decode returns the party stored as b, decoding it only if b differs
// from what id's cached party was decoded from.
func (c *partyCache) decode(id string, b []byte) (*pb.Party, error) {
	if d, ok := (*c)[id]; ok && bytes.Equal(d.stored, b) {
		return d.p, nil
	}
	p := &pb.Party{}
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("reading party %q: %w", id, err)
	}
	if *c == nil || len(*c) >= partyCacheSize {
		*c = partyCache{}
	}
	(*c)[id] = decodedParty{stored: b, p: p}
	return p, nil
}

// readParty reads a party through get: a commit group's view of the state
// (StateTx.Get) or the committed state (Log.StateGet).
func readParty(get func([]byte) ([]byte, error), id string) (*pb.Party, error) {
	p := &pb.Party{}
	if err := readState(get, partyPrefix+id, p); errors.Is(err, ledger.ErrNotFound) {
		return nil, record.Rejectf(record.ErrNotFound, "party %q is not registered", id)
	} else if err != nil {
		return nil, fmt.Errorf("reading party %q: %w", id, err)
	}
	return p, nil
}

// readLot reads a lot's state through get, as [readParty].
func readLot(get func([]byte) ([]byte, error), id string) (*pb.LotState, error) {
	lot := &pb.LotState{}
	if err := readState(get, lotPrefix+id, lot); errors.Is(err, ledger.ErrNotFound) {
		return nil, record.Rejectf(record.ErrNotFound, "lot %q does not exist", id)
	} else if err != nil {
		return nil, fmt.Errorf("reading lot %q: %w", id, err)
	}
	return lot, nil
}

func readState(get func([]byte) ([]byte, error), key string, m proto.Message) error {
	b, err := get([]byte(key))
	if err != nil {
		return err
	}
	return proto.Unmarshal(b, m)
}

// countryExtKey orders a country's extractions by event time: the sign bit
// of the Unix seconds is flipped so that earlier times sort first.
func countryExtKey(country string, t time.Time, index uint64) []byte {
	k := []byte(countryExtPrefix + country + "\x00")
	k = binary.BigEndian.AppendUint64(k, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint64(k, index)
}
