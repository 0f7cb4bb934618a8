package custody

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/registry"

	"github.com/antimony-ledger/provenance/index"
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
	correctedPrefix = "cr/" // record id -> id of the correction of it
	partyHistPrefix = "ph/" // party id \x00 BE8(index) -> "" (registry records about the party)
	// tally key (index.MineTally, index.CountryTally) -> BE8(index) ||
	// index.MarshalExtra of the tally as of that extraction: the last one.
	tallyPrefix = "tl/"
	// Ids folded to lower case -> the id as registered, so that an id
	// differing from another only in letter case is refused: "kr-100"
	// beside "KR-100" would read as the same lot on paper.
	lotFoldPrefix   = "fl/"
	partyFoldPrefix = "fp/"
	// foldCompleteKey, set with the log's first record, says the fold
	// index holds every id. A store written before the index has not got
	// it, and its earlier ids are folded in memory at open (legacyFold).
	foldCompleteKey = "fc"
)

// consumedEpsilonKg is the mass below which a lot counts as used up.
const consumedEpsilonKg = 1e-6

// A prepared submission: decoded, and with the signatures that were
// already verified against keys known before the commit.
type prepared struct {
	env        *pb.Envelope
	st         *pb.Statement
	payloadSum [32]byte        // SHA-256 of the statement bytes
	id         string          // the record's id, once known
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
		p.id = e.ID.String()
	}
	sum := p.payloadSum
	if v, err := tx.Get(append([]byte(payloadPrefix), sum[:]...)); err == nil {
		return record.Rejectf(record.ErrAlreadyExists, "statement already recorded at index %d in a different envelope", binary.BigEndian.Uint64(v))
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	if ev := p.st.GetEventTime().AsTime(); ev.After(e.Time.Add(MaxEventAhead)) {
		return record.Rejectf(record.ErrMalformed, "event_time %s is more than %v after the log's time %s",
			ev.UTC().Format(time.RFC3339), MaxEventAhead, e.Time.UTC().Format(time.RFC3339))
	}
	a := &applier{s: s, tx: tx, e: e, p: p, st: p.st, id: p.id}
	if err := a.authorize(); err != nil {
		return err
	}
	if err := a.body(); err != nil {
		return err
	}
	tx.Set(append([]byte(payloadPrefix), sum[:]...), be8(e.Index))
	s.decoded.put(e.ID, p.env, p.st)
	if e.Index == 0 && !withoutFoldIndex {
		tx.Set([]byte(foldCompleteKey), nil)
	}
	return a.index()
}

// MaxEventAhead is how far after the log's own clock an event time may be:
// an event the signer dates later is refused. It allows for clocks a few
// minutes apart.
const MaxEventAhead = 10 * time.Minute

// index adds the record to the log's verifiable index (index.Add): the
// chain of every lot it names and, for a registry record, of its party;
// for an extraction, the running tallies of its mine and its mine's
// country, in the record's leaf.
func (a *applier) index() error {
	extra, err := index.Add(IndexStore(a.tx), a.e.Index, a.e.ID, a.st, a.party.GetRegistration().GetCountry())
	if err != nil {
		return err
	}
	if extra != nil {
		a.tx.SetExtra(extra)
	}
	return nil
}

// IndexStore keeps the log's index (package index) through a commit's
// state transaction, as the store does: the chains in the ledger's
// verifiable map, each tally key's latest tally in the state. Tests that
// build logs without the store's rules index their records with it.
func IndexStore(tx *ledger.StateTx) index.Store { return indexStore{tx} }

type indexStore struct{ tx *ledger.StateTx }

func (s indexStore) Chain(key []byte) (index.Chain, error) {
	b, err := s.tx.GetIndex(key)
	if errors.Is(err, ledger.ErrNotFound) {
		return index.Chain{}, nil
	} else if err != nil {
		return index.Chain{}, err
	}
	return index.ParseChain(b)
}

func (s indexStore) SetChain(key []byte, c index.Chain) { s.tx.SetIndex(key, c.Marshal()) }

func (s indexStore) Tally(key string) (index.Tally, uint64, bool, error) {
	b, err := s.tx.Get([]byte(tallyPrefix + key))
	if errors.Is(err, ledger.ErrNotFound) {
		return index.Tally{}, 0, false, nil
	} else if err != nil {
		return index.Tally{}, 0, false, err
	}
	var ts []index.Tally
	if len(b) >= 8 {
		ts, err = index.ParseExtra(b[8:])
	}
	if err != nil || len(ts) != 1 || ts[0].Key != key {
		return index.Tally{}, 0, false, fmt.Errorf("tally %q: malformed", key)
	}
	return ts[0], binary.BigEndian.Uint64(b), true, nil
}

func (s indexStore) SetTally(key string, at uint64, t index.Tally) {
	s.tx.Set([]byte(tallyPrefix+key), append(be8(at), index.MarshalExtra([]index.Tally{t})...))
}

type applier struct {
	s     *Store
	tx    *ledger.StateTx
	e     ledger.Entry
	p     *prepared
	st    *pb.Statement
	id    string
	party *pb.Party
}

// registry returns the rulebook reading the registry as of this entry:
// the state of the entries before it, through the commit's transaction.
func (a *applier) registry() registry.Registry {
	return registry.Registry{Registrar: a.s.registrar, RevocationReach: a.s.reach, Reader: registry.ReaderFuncs{
		PartyFunc: a.viewParty,
		KeyOwnerFunc: func(keyID string) (string, error) {
			owner, err := a.tx.Get([]byte(keyPrefix + keyID))
			if errors.Is(err, ledger.ErrNotFound) {
				return "", record.Rejectf(record.ErrNotFound, "key %s is not registered", keyID)
			}
			return string(owner), err
		},
	}}
}

// position is where and when the entry is judged.
func (a *applier) position() registry.Position {
	return registry.Position{Index: a.e.Index, ID: a.id, LogTime: a.e.Time, EventTime: a.st.GetEventTime().AsTime()}
}

// authorize checks, by the registry's rules, that every signature is by a
// key that may sign the statement here, and that it may be admitted
// (unless it was checked before the commit, against the same key).
func (a *applier) authorize() error {
	party, err := a.registry().Authorize(a.st, a.p.env, a.position(), func(sg registry.Signer) error {
		if a.p.verified[sg.KeyID] {
			return nil
		}
		return admit(a.p.env, sg.KeyID, sg.PublicKey, sg.Sig)
	})
	a.party = party
	return err
}

func (a *applier) body() error {
	switch b := a.st.GetBody().(type) {
	case *pb.Statement_PartyRegistration, *pb.Statement_KeyRotation, *pb.Statement_KeyRevocation, *pb.Statement_RegistrarRotation:
		if r, ok := b.(*pb.Statement_PartyRegistration); ok {
			if err := a.foldUnique(partyFoldPrefix, "party", r.PartyRegistration.GetPartyId()); err != nil {
				return err
			}
		}
		c, err := a.registry().Apply(a.st, a.p.env, a.position())
		if err != nil {
			return err
		}
		return a.putParty(c.Party)
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
	case *pb.Statement_LabNomination:
		return a.nominate(b.LabNomination)
	case *pb.Statement_Correction:
		return a.correct(b.Correction)
	}
	return record.Rejectf(record.ErrMalformed, "statement has no body")
}

func (a *applier) extract(x *pb.Extraction) error {
	if err := registry.Require(a.party, registry.Extract); err != nil {
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
	return a.putLot(lot)
}

func (a *applier) assay(x *pb.Assay) error {
	lot, err := a.getLot(x.GetLotId())
	if err != nil {
		return err
	}
	if withoutNamedLabs {
		if lot.GetHolderPartyId() != a.st.GetPartyId() {
			if err := registry.Require(a.party, registry.AssayUnheld); err != nil {
				return err
			}
		}
	} else if err := registry.RequireAssay(a.party, x.GetLotId(), lot.GetHolderPartyId(), lot.GetNamedLabs()); err != nil {
		return err
	}
	switch x.GetSubjectLink() {
	case lot.GetHead(), lot.GetOriginRecord(), lot.GetPendingDispatch():
	default:
		return a.badLink("assay.subject_link", x.GetSubjectLink(), lot.GetHead())
	}
	return a.putLot(lot) // records the assay in the lot's history
}

func (a *applier) dispatch(d *pb.Dispatch) error {
	if err := registry.Require(a.party, registry.Dispatch); err != nil {
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
	if err := registry.Require(to, registry.Hold); err != nil {
		return err
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
	switch signer := a.st.GetPartyId(); {
	case lot.GetInTransitTo() == signer:
	case lot.GetInTransitTo() == "" && lot.GetHolderPartyId() == signer:
		return record.Rejectf(record.ErrConflict, "lot %q is not in transit", r.GetLotId())
	default:
		// One refusal whether the lot is moving or not, naming no
		// destination: a stranger must not learn when a lot is on the
		// road, nor where to (the read policy keeps both from it).
		return record.Rejectf(record.ErrNotAllowed, "lot %q is not in transit to %q", r.GetLotId(), signer)
	}
	if r.GetDispatchLink() != lot.GetPendingDispatch() {
		return a.badLink("receipt.dispatch_link", r.GetDispatchLink(), lot.GetPendingDispatch())
	}
	lot.HolderPartyId, lot.MassKg, lot.Head = a.st.GetPartyId(), r.GetMassKg(), a.id
	lot.InTransitTo, lot.PendingDispatch = "", ""
	lot.NamedLabs = nil // the sender's labs were the sender's to name
	return a.putLot(lot)
}

// nominate records the labs the holder names for its custody of a lot,
// replacing any it named before: the signer must hold the lot (also while
// a dispatch of it awaits its receipt), link to its current custody
// record, and name only registered LABs.
func (a *applier) nominate(n *pb.LabNomination) error {
	lot, err := a.getLot(n.GetLotId())
	if err != nil {
		return err
	}
	switch {
	case lot.GetHolderPartyId() != a.st.GetPartyId():
		return record.Rejectf(record.ErrNotAllowed, "party %q does not hold lot %q: only the holder names the labs that may assay it", a.st.GetPartyId(), n.GetLotId())
	case lot.GetConsumed():
		return record.Rejectf(record.ErrConflict, "lot %q has been used up", n.GetLotId())
	case n.GetCustodyLink() != lot.GetHead():
		return a.badLink("lab_nomination.custody_link", n.GetCustodyLink(), lot.GetHead())
	}
	for _, id := range n.GetLabPartyIds() {
		lab, err := a.viewParty(id)
		if err != nil {
			return err
		}
		if err := registry.RequireLab(lab); err != nil {
			return err
		}
	}
	lot.NamedLabs = append([]string(nil), n.GetLabPartyIds()...)
	return a.putLot(lot) // records the nomination in the lot's history
}

func (a *applier) transform(t *pb.Transformation) error {
	if err := registry.Require(a.party, registry.Transform); err != nil {
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

// correct admits a correction: of an extraction, dispatch or receipt of
// the same lot that the signer signed, not corrected before, with only the
// values that kind of record has, and naming as counterparty (whose
// co-signature the registry's rules required) the other side of a
// handoff. A correction is taken at any time, also after the lot moved on:
// the verifier shows it and the flags it withdrew. If the corrected record
// is still the lot's head, the lot's mass becomes the corrected one.
func (a *applier) correct(c *pb.Correction) error {
	e, err := a.tx.Entry(mustRecordID(c.GetCorrects()))
	if errors.Is(err, ledger.ErrNotFound) {
		return record.Rejectf(record.ErrNotFound, "correction.corrects: no record %s in the log", c.GetCorrects())
	} else if err != nil {
		return err
	}
	_, orig, err := DecodeEntry(e)
	if err != nil {
		return fmt.Errorf("reading record %s: %w", c.GetCorrects(), err)
	}
	if orig.GetPartyId() != a.st.GetPartyId() {
		return record.Rejectf(record.ErrNotAllowed, "correction.corrects: record %s is signed by %q; only its signer corrects it", c.GetCorrects(), orig.GetPartyId())
	}
	want, err := a.counterparty(orig, c)
	if err != nil {
		return err
	}
	if c.GetCounterpartyId() != want {
		if want == "" {
			return record.Rejectf(record.ErrMalformed, "correction.counterparty_id: an extraction has no counterparty")
		}
		return record.Rejectf(record.ErrMalformed, "correction.counterparty_id: %q is not the other side of the handoff, %q, who must co-sign", c.GetCounterpartyId(), want)
	}
	key := []byte(correctedPrefix + c.GetCorrects())
	if prev, err := a.tx.Get(key); err == nil {
		return record.Rejectf(record.ErrAlreadyExists, "correction.corrects: record %s was already corrected by %s; a record is corrected once", c.GetCorrects(), prev)
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	lot, err := a.getLot(c.GetLotId())
	if err != nil {
		return err
	}
	if c.MassKg != nil && lot.GetHead() == c.GetCorrects() && !lot.GetConsumed() && orig.GetDispatch() == nil {
		lot.MassKg = c.GetMassKg()
	}
	a.tx.Set(key, []byte(a.id))
	return a.putLot(lot) // records the correction in the lot's history
}

// counterparty checks that correction c may correct orig (its kind, lot
// and fields) and returns the party who must co-sign it: "" for an
// extraction, a dispatch's addressee, a receipt's sender.
func (a *applier) counterparty(orig *pb.Statement, c *pb.Correction) (string, error) {
	var lot, who string
	var seals, place bool // which fields besides the mass the kind has
	switch b := orig.GetBody().(type) {
	case *pb.Statement_Extraction:
		lot, place = b.Extraction.GetLotId(), true
		if c.MassKg != nil && c.GetMassKg() > b.Extraction.GetMassKg() {
			// The log's running tallies of the mine and the country (the
			// capacity and national-volume rules) count the mass as
			// first logged: a larger one would escape them.
			return "", record.Rejectf(record.ErrNotAllowed, "correction.mass_kg: %.1f kg is more than the %.1f kg extracted as logged; an extraction's mass is corrected only downwards, since the mine's and the country's running totals count it as first logged (log a further extraction instead)", c.GetMassKg(), b.Extraction.GetMassKg())
		}
	case *pb.Statement_Dispatch:
		lot, who = b.Dispatch.GetLotId(), b.Dispatch.GetToPartyId()
	case *pb.Statement_Receipt:
		lot, seals, place = b.Receipt.GetLotId(), true, true
		e, err := a.tx.Entry(mustRecordID(b.Receipt.GetDispatchLink()))
		if err != nil {
			return "", fmt.Errorf("reading the dispatch %s of receipt %s: %w", b.Receipt.GetDispatchLink(), c.GetCorrects(), err)
		}
		_, d, err := DecodeEntry(e)
		if err != nil {
			return "", fmt.Errorf("reading the dispatch %s of receipt %s: %w", b.Receipt.GetDispatchLink(), c.GetCorrects(), err)
		}
		who = d.GetPartyId()
	case *pb.Statement_Correction:
		return "", record.Rejectf(record.ErrNotAllowed, "correction.corrects: record %s is a correction, which is not corrected in turn", c.GetCorrects())
	default:
		return "", record.Rejectf(record.ErrNotAllowed, "correction.corrects: record %s is not an extraction, dispatch or receipt, the records a correction may correct", c.GetCorrects())
	}
	switch {
	case lot != c.GetLotId():
		return "", record.Rejectf(record.ErrMalformed, "correction.lot_id: %q, but record %s is of lot %q", c.GetLotId(), c.GetCorrects(), lot)
	case c.SealsIntact != nil && !seals:
		return "", record.Rejectf(record.ErrMalformed, "correction.seals_intact: only a receipt's seal state is corrected")
	case c.GetLocation() != nil && !place:
		return "", record.Rejectf(record.ErrMalformed, "correction.location: only an extraction's site or a receipt's location is corrected")
	}
	return who, nil
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
		// Not naming the holder: a refusal must not tell a stranger who
		// holds a lot (the read policy keeps that from it).
		return nil, record.Rejectf(record.ErrNotAllowed, "party %q does not hold lot %q", a.st.GetPartyId(), lotID)
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
	return a.foldUnique(lotFoldPrefix, "lot", lotID)
}

// foldUnique refuses id if another id of its kind differs from it only in
// letter case, and otherwise records it. (Ids are ASCII, so folding is
// ASCII lower case.)
func (a *applier) foldUnique(prefix, kind, id string) error {
	folded := strings.ToLower(id)
	key := []byte(prefix + folded)
	other, err := a.tx.Get(key)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		if legacy, ok := a.s.legacyFold[prefix+folded]; ok {
			other, err = []byte(legacy), nil
		}
	case err != nil:
		return err
	}
	switch {
	case err != nil:
	case string(other) != id:
		return record.Rejectf(record.ErrAlreadyExists, "%s id %q differs only in letter case from the existing %s %q: on paper they would read as one", kind, id, kind, other)
	}
	if kind == "party" && strings.EqualFold(id, record.RegistrarPartyID) {
		return record.Rejectf(record.ErrAlreadyExists, "party id %q differs only in letter case from the reserved %q", id, record.RegistrarPartyID)
	}
	if !withoutFoldIndex {
		a.tx.Set(key, []byte(id))
	}
	return nil
}

// withoutNamedLabs makes the store admit an assay by any LAB, as a store
// before lab nominations did: for the test of such a store's log only.
var withoutNamedLabs = false

// withoutFoldIndex makes the store write no fold index, as a store before
// it: for the test of legacyFold only.
var withoutFoldIndex = false

// foldLegacy folds the ids of the lots and parties of a store written
// before the fold index (no foldCompleteKey), for foldUnique: a scan of
// the store's lots and parties at open.
func (s *Store) foldLegacy(ctx context.Context) error {
	if s.log.Size() == 0 {
		return nil
	}
	if _, err := s.log.StateGet([]byte(foldCompleteKey)); err == nil {
		return nil
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	s.legacyFold = map[string]string{}
	for _, p := range [][2]string{{lotPrefix, lotFoldPrefix}, {partyPrefix, partyFoldPrefix}} {
		for kv, err := range s.log.StateScan(ctx, []byte(p[0])) {
			if err != nil {
				return err
			}
			id := strings.TrimPrefix(string(kv.Key), p[0])
			s.legacyFold[p[1]+strings.ToLower(id)] = id
		}
	}
	return nil
}

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
