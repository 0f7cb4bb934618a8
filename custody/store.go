package custody

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/registry"
	"github.com/antimony-ledger/provenance/tlog"
)

// Config configures a [Store].
type Config struct {
	// Origin is the log's checkpoint origin line.
	Origin string
	// LogSigner signs checkpoints.
	LogSigner note.Signer
	// Registrar is the first registrar key: the public key allowed to sign
	// registry statements until a registrar rotation in the log replaces
	// it.
	Registrar ed25519.PublicKey
	// RevocationReach is registry.Registry.RevocationReach: how long
	// before the log takes a revocation the key's validity may end. Zero
	// means registry.DefaultRevocationReach; verifiers must use the same.
	RevocationReach time.Duration
	// Logger receives operational logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the log's clock (ledger.Options.Now); nil means time.Now.
	// For tests and simulations only.
	Now func() time.Time
	// MinFreeBytes is ledger.Options.MinFreeBytes: the free space kept
	// for the store, under which appends fail with ledger.ErrNoSpace.
	MinFreeBytes int64
	// OpenCheck is ledger.Options.OpenCheck: how many of the newest
	// entries Open checks against the tree (0: ledger.DefaultOpenCheck;
	// negative: none, for an audit).
	OpenCheck int
}

// A Store is the custody ledger: a [ledger.Log] of signed statements with
// the append-time validation and the lot and party indexes of this
// package. It is safe for concurrent use.
type Store struct {
	log       *ledger.Log
	registrar registry.Registrar
	reach     time.Duration

	keys     sync.Map // key id -> ed25519.PublicKey, of registered keys
	keyCount atomic.Int64

	parties partyCache // the committer's decoded parties
	decoded decodedCache

	// madeFrom holds the answers of madeFrom, which never change: a
	// lot's first record is its first for good.
	madeFromMu      sync.Mutex
	madeFromOf      map[string][]string
	madeFromIDs     int          // the ids madeFromOf's lists hold, each list once
	madeFromDecodes atomic.Int64 // records madeFrom decoded, for tests

	// legacyFold holds the folded ids (fold key -> id) of a store written
	// before the fold index; nil otherwise. Read-only after Open.
	legacyFold map[string]string
}

// Open opens (creating if needed) the store in dir. ctx owns the store's
// background work; Close releases it.
func Open(ctx context.Context, dir string, cfg Config) (*Store, error) {
	if len(cfg.Registrar) != ed25519.PublicKeySize {
		return nil, errors.New("custody: registrar public key required")
	}
	s := &Store{registrar: registry.NewRegistrar(cfg.Registrar), reach: cfg.RevocationReach}
	l, err := ledger.Open(ctx, dir, ledger.Options{
		Origin: cfg.Origin, Signer: cfg.LogSigner, Apply: s.apply, Logger: cfg.Logger, Now: cfg.Now,
		MinFreeBytes: cfg.MinFreeBytes,
		OpenCheck:    cfg.OpenCheck,
	})
	if err != nil {
		return nil, err
	}
	s.log = l
	if err := s.foldLegacy(ctx); err != nil {
		l.Close()
		return nil, fmt.Errorf("custody: folding the ids of a store from before the fold index: %w", err)
	}
	return s, nil
}

// Close closes the underlying log.
func (s *Store) Close() error { return s.log.Close() }

// Log returns the underlying log, for entries, checkpoints and proofs.
func (s *Store) Log() *ledger.Log { return s.log }

// RegistrarKeyID returns the key id of the registrar key.
func (s *Store) RegistrarKeyID() string { return s.registrar.ID }

// FirstRegistrar returns the registrar key the store was opened with: the
// first registrar key, which a buyer's verifier pins.
func (s *Store) FirstRegistrar() registry.Registrar { return s.registrar }

// CurrentRegistrar returns the registrar key as the committed registry
// stands: the first registrar key, or the one the latest registrar
// rotation put in its place.
func (s *Store) CurrentRegistrar() (registry.Registrar, error) {
	g := registry.Registry{Registrar: s.registrar, Reader: registry.ReaderFuncs{
		PartyFunc: s.Party,
		KeyOwnerFunc: func(keyID string) (string, error) {
			owner, err := s.log.StateGet([]byte(keyPrefix + keyID))
			if errors.Is(err, ledger.ErrNotFound) {
				return "", record.ErrNotFound
			}
			return string(owner), err
		},
	}}
	return g.Current()
}

// SubmitResult is the outcome of an accepted submission.
type SubmitResult struct {
	Entry ledger.Entry
	// ID is the record's id, Entry.ID in its text form.
	ID string
	// Duplicate is true when the identical envelope was already in the log.
	Duplicate bool
}

// Submit validates env and appends it to the log. It returns once the
// entry is durable. A rejection is a *[record.RejectError] wrapping one of
// package record's sentinel errors, and leaves the log unchanged.
func (s *Store) Submit(ctx context.Context, env *pb.Envelope) (SubmitResult, error) {
	return s.SubmitInTurn(ctx, env, nil)
}

// SubmitInTurn is [Store.Submit] in t's place in its [ledger.Sequence]:
// the envelope reaches the log only after the previous turn's did, or that
// submission ended without reaching it (refused, or its ctx done). A nil
// t means no order. Each turn must be used once, and the submissions of a
// sequence must share one ctx: once it is done, none of them goes on.
func (s *Store) SubmitInTurn(ctx context.Context, env *pb.Envelope, t *ledger.Turn) (SubmitResult, error) {
	defer t.Pass(ctx) // if refused before reaching the log; a no-op after
	if err := record.CheckEnvelopeShape(env); err != nil {
		return SubmitResult{}, err
	}
	data, err := record.EncodeEnvelope(env)
	if err != nil {
		return SubmitResult{}, err
	}
	if len(data) > record.MaxEnvelopeSize {
		return SubmitResult{}, record.Rejectf(record.ErrMalformed, "envelope is %d bytes encoded, limit %d", len(data), record.MaxEnvelopeSize)
	}
	// data is canonical by construction and, the shape check having
	// limited every string to ASCII, decodes to exactly env's fields: no
	// need to decode it again.
	p, err := prepareEnvelope(env)
	if err != nil {
		return s.replayOr(ctx, data, err)
	}
	// Signature checks are the expensive part: do them here, in the
	// submitter's goroutine, off the committer's path, against keys
	// already committed. The committer re-checks key status in log order
	// and verifies any signature whose key is newer.
	if err := s.preverify(p); err != nil {
		return s.replayOr(ctx, data, err)
	}
	p.id = tlog.RecordIDOf(data).String() // here rather than on the committer's path
	// p travels with the entry to apply, which judges it in log order.
	e, dup, err := s.log.AppendWith(ctx, data, ledger.AppendOptions{Value: p, Turn: t})
	if err != nil {
		return SubmitResult{}, err
	}
	return SubmitResult{Entry: e, ID: p.id, Duplicate: dup}, nil
}

// replayOr returns the entry holding data if it is already in the log (an
// identical envelope is idempotent, whatever the rules or the state now
// say), and otherwise fails with err. It is only called on rejection, so
// accepted submissions do not pay for the lookup; the ledger's committer
// finds other replays.
func (s *Store) replayOr(ctx context.Context, data []byte, err error) (SubmitResult, error) {
	if e, gerr := s.log.GetByID(ctx, tlog.RecordIDOf(data)); gerr == nil {
		return SubmitResult{Entry: e, ID: e.ID.String(), Duplicate: true}, nil
	}
	return SubmitResult{}, err
}

// prepare decodes stored envelope bytes and their statement.
func prepare(data []byte) (*prepared, error) {
	env, st, err := record.Decode(data)
	if err != nil {
		return nil, err
	}
	return newPrepared(env, st), nil
}

// prepareEnvelope decodes the statement of an envelope that passed
// [record.CheckEnvelopeShape]. It keeps its own copy of env's fields.
func prepareEnvelope(env *pb.Envelope) (*prepared, error) {
	st, err := record.DecodeStatement(env.GetPayload())
	if err != nil {
		return nil, err
	}
	// The rules for new records: a submission, not a stored record.
	if err := record.CheckAdmissible(env.GetPayload(), st); err != nil {
		return nil, err
	}
	cp := &pb.Envelope{PayloadType: env.GetPayloadType(), Payload: env.GetPayload()}
	for _, sig := range env.GetSignatures() {
		cp.Signatures = append(cp.Signatures, &pb.Signature{Keyid: sig.GetKeyid(), Sig: sig.GetSig()})
	}
	return newPrepared(cp, st), nil
}

func newPrepared(env *pb.Envelope, st *pb.Statement) *prepared {
	return &prepared{env: env, st: st, payloadSum: sha256.Sum256(env.GetPayload()), verified: map[string]bool{}}
}

// preverify checks p's signatures by keys already known, by the rule of
// admission (record.AdmitSignature), and records which it checked.
func (s *Store) preverify(p *prepared) error {
	for _, sig := range p.env.GetSignatures() {
		pub, err := s.publicKey(sig.GetKeyid())
		if errors.Is(err, record.ErrNotFound) {
			continue // maybe registered earlier in the same commit group
		} else if err != nil {
			return err
		}
		if err := admit(p.env, sig.GetKeyid(), pub, sig.GetSig()); err != nil {
			return err
		}
		p.verified[sig.GetKeyid()] = true
	}
	return nil
}

// admit returns nil if sig, by the key keyID with public key pub, may be
// admitted (record.AdmitSignature), and otherwise the refusal. A
// signature that ZIP-215 accepts but crypto/ed25519 does not is refused
// as any bad signature is, and the reason says so: only the key's holder
// can make one, signing in a way RFC 8032 signers do not, so it is worth
// telling apart from a forgery.
func admit(env *pb.Envelope, keyID string, pub ed25519.PublicKey, sig []byte) error {
	if record.AdmitSignature(env, pub, sig) {
		return nil
	}
	if record.VerifySignature(env, pub, sig) {
		return record.Rejectf(record.ErrBadSignature, "signature by key %s does not verify under RFC 8032 as crypto/ed25519 checks it "+
			"(R must be the canonical encoding of [s]B - [k]A); only ZIP-215 accepts it, and the log admits only signatures every verifier accepts", keyID)
	}
	return record.Rejectf(record.ErrBadSignature, "signature by key %s does not verify", keyID)
}

// publicKey returns the public key with a key id, from the registrar key
// or the committed registry.
func (s *Store) publicKey(keyID string) (ed25519.PublicKey, error) {
	if keyID == s.registrar.ID {
		return s.registrar.Key, nil
	}
	// A key id is the hash of its public key, so a key found once is the
	// same key forever (its status is checked by apply, in log order).
	if pub, ok := s.keys.Load(keyID); ok {
		return pub.(ed25519.PublicKey), nil
	}
	pub, err := s.registeredKey(keyID)
	if err == nil {
		if s.keyCount.Add(1) > maxCachedKeys {
			s.keys.Clear()
			s.keyCount.Store(0)
		}
		s.keys.Store(keyID, pub)
	}
	return pub, err
}

// maxCachedKeys bounds the public key cache; it is cleared when full.
const maxCachedKeys = 1 << 16

func (s *Store) registeredKey(keyID string) (ed25519.PublicKey, error) {
	owner, err := s.log.StateGet([]byte(keyPrefix + keyID))
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, record.ErrNotFound
	} else if err != nil {
		return nil, err
	}
	party, err := s.Party(string(owner))
	if err != nil {
		return nil, err
	}
	if k := registry.FindKey(party, keyID); k != nil {
		return k.GetPublicKey(), nil
	}
	return nil, record.ErrNotFound
}

// Party returns a registered party and the status of its keys.
func (s *Store) Party(id string) (*pb.Party, error) { return readParty(s.log.StateGet, id) }

// Parties returns every registered party, ordered by id.
func (s *Store) Parties(ctx context.Context) ([]*pb.Party, error) {
	var out []*pb.Party
	for kv, err := range s.log.StateScan(ctx, []byte(partyPrefix)) {
		if err != nil {
			return nil, err
		}
		p := &pb.Party{}
		if err := proto.Unmarshal(kv.Value, p); err != nil {
			return nil, fmt.Errorf("decoding party: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Lot returns a lot's state and every record naming it, in log order.
func (s *Store) Lot(ctx context.Context, id string) (*pb.LotState, []ledger.Entry, error) {
	lot, err := s.LotState(id)
	if err != nil {
		return nil, nil, err
	}
	hist, err := s.indexed(ctx, lotHistPrefix, id)
	if err != nil {
		return nil, nil, fmt.Errorf("reading lot %q history: %w", id, err)
	}
	return lot, hist, nil
}

// PartyRecords returns the registry records about a party (registration,
// rotations, revocations), in log order.
func (s *Store) PartyRecords(ctx context.Context, partyID string) ([]ledger.Entry, error) {
	return s.indexed(ctx, partyHistPrefix, partyID)
}

// indexed reads the entries of one per-id index, in log order.
func (s *Store) indexed(ctx context.Context, prefix, id string) ([]ledger.Entry, error) {
	var out []ledger.Entry
	for idx, err := range s.indexFrom(ctx, prefix, id, 0) {
		if err != nil {
			return nil, err
		}
		e, err := s.log.Get(ctx, idx)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// indexFrom yields the log indexes of one per-id index from index from
// on, in log order.
func (s *Store) indexFrom(ctx context.Context, prefix, id string, from uint64) iter.Seq2[uint64, error] {
	return func(yield func(uint64, error) bool) {
		p := []byte(prefix + id + "\x00")
		for kv, err := range s.log.StateScanFrom(ctx, p, binary.BigEndian.AppendUint64(bytes.Clone(p), from)) {
			if err != nil {
				yield(0, err)
				return
			}
			idx, ok := bytes.CutPrefix(kv.Key, p)
			if !ok || len(idx) != 8 {
				yield(0, fmt.Errorf("corrupt index key %q", kv.Key))
				return
			}
			if !yield(beUint64(idx), nil) {
				return
			}
		}
	}
}

// LotRecordsFrom counts the records naming a lot at log index from or
// later (the lot's history index from there on, without reading the
// records).
func (s *Store) LotRecordsFrom(ctx context.Context, id string, from uint64) (int, error) {
	n := 0
	for _, err := range s.indexFrom(ctx, lotHistPrefix, id, from) {
		if err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// LotState returns a lot's current state.
func (s *Store) LotState(id string) (*pb.LotState, error) { return readLot(s.log.StateGet, id) }

// PartyLots returns the lots a party holds or has in transit to it.
func (s *Store) PartyLots(ctx context.Context, partyID string) ([]*pb.LotState, error) {
	if _, err := s.Party(partyID); err != nil {
		return nil, err
	}
	prefix := []byte(partyLotsPrefix + partyID + "\x00")
	var out []*pb.LotState
	for kv, err := range s.log.StateScan(ctx, prefix) {
		if err != nil {
			return nil, err
		}
		lot, err := s.LotState(string(bytes.TrimPrefix(kv.Key, prefix)))
		if err != nil {
			return nil, err
		}
		if lot.GetConsumed() {
			continue
		}
		if lot.GetHolderPartyId() == partyID || lot.GetInTransitTo() == partyID {
			out = append(out, lot)
		}
	}
	return out, nil
}

// PartyLotIDs returns the ids of every lot a party holds, held, or was
// sent, in id order.
func (s *Store) PartyLotIDs(ctx context.Context, partyID string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		prefix := []byte(partyLotsPrefix + partyID + "\x00")
		for kv, err := range s.log.StateScan(ctx, prefix) {
			if err != nil {
				yield("", err)
				return
			}
			if !yield(string(bytes.TrimPrefix(kv.Key, prefix)), nil) {
				return
			}
		}
	}
}

// ErrTooManyLots is LotsAndAncestry's answer for a party whose lots and
// their ancestry number more than it was asked to gather.
var ErrTooManyLots = errors.New("more lots than asked for")

// LotsAndAncestry returns, in id order, every lot a party holds, held or
// was sent, and every lot those were made from, at any remove (the inputs
// of the transformation that made a lot, and theirs). For a party that is
// not a lab these are the lots it may read (package server's read
// policy); a lab may also read the lots it was named to assay. It returns
// ErrTooManyLots once it has found more than most.
func (s *Store) LotsAndAncestry(ctx context.Context, partyID string, most int) ([]string, error) {
	var lots []string
	for id, err := range s.PartyLotIDs(ctx, partyID) {
		if err != nil {
			return nil, err
		}
		lots = append(lots, id)
		if len(lots) > most {
			return nil, ErrTooManyLots
		}
	}
	seen := map[string]bool{}
	err := s.WalkAncestry(ctx, lots, most, func(id string) (bool, error) {
		seen[id] = true
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// WalkAncestry gives visit each of lots and each lot they were made from,
// and those made from, once each, nearest first, until visit says stop.
// It returns ErrTooManyLots once it has found more than most.
func (s *Store) WalkAncestry(ctx context.Context, lots []string, most int, visit func(lot string) (stop bool, err error)) error {
	seen := map[string]bool{}
	var queue []string
	for _, id := range lots {
		if !seen[id] {
			seen[id] = true
			queue = append(queue, id)
		}
	}
	if len(seen) > most {
		return ErrTooManyLots
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if stop, err := visit(id); err != nil || stop {
			return err
		}
		ins, err := s.madeFrom(ctx, id)
		if err != nil {
			return err
		}
		for _, in := range ins {
			if !seen[in] {
				seen[in] = true
				queue = append(queue, in)
			}
		}
		if len(seen) > most {
			return ErrTooManyLots
		}
	}
	return nil
}

// madeFrom returns the lots a lot was made from: the inputs of the
// transformation that made it, the first record of its history; none for
// an extracted lot.
func (s *Store) madeFrom(ctx context.Context, id string) ([]string, error) {
	s.madeFromMu.Lock()
	ins, ok := s.madeFromOf[id]
	s.madeFromMu.Unlock()
	if ok {
		return ins, nil
	}
	st, found, err := s.firstStatement(ctx, id)
	if err != nil || !found {
		return nil, err // a lot not yet in the store is not remembered
	}
	s.madeFromDecodes.Add(1)
	t := st.GetTransformation()
	for _, in := range t.GetInputs() {
		ins = append(ins, in.GetLotId())
	}
	// Every lot the record made was made from the same lots: one list,
	// shared, and one decode, for all of them.
	made := []string{id}
	if t != nil {
		made = created(t)
	}
	s.madeFromMu.Lock()
	defer s.madeFromMu.Unlock()
	if s.madeFromOf == nil || len(s.madeFromOf)+len(made) > madeFromCacheSize || s.madeFromIDs+len(ins) > madeFromCacheIDs {
		s.madeFromOf, s.madeFromIDs = map[string][]string{}, 0
	}
	for _, l := range made {
		s.madeFromOf[l] = ins
	}
	s.madeFromIDs += len(ins)
	return ins, nil
}

// created returns the ids of the lots a transformation makes.
func created(t *pb.Transformation) []string {
	var out []string
	for _, o := range t.GetOutputs() {
		out = append(out, o.GetLotId())
	}
	return out
}

// Bounds on the store's memory of madeFrom, in lots and in the input
// ids their lists hold (each list once, however many lots share it);
// past either, it starts over.
const (
	madeFromCacheSize = 1 << 18
	madeFromCacheIDs  = 1 << 20
)

// firstStatement returns the statement of a lot's first record, and
// whether the lot has one.
func (s *Store) firstStatement(ctx context.Context, id string) (*pb.Statement, bool, error) {
	for idx, err := range s.indexFrom(ctx, lotHistPrefix, id, 0) {
		if err != nil {
			return nil, false, err
		}
		e, err := s.log.Get(ctx, idx)
		if err != nil {
			return nil, false, fmt.Errorf("reading lot %q's first record: %w", id, err)
		}
		_, st, err := DecodeEntry(e)
		if err != nil {
			return nil, false, fmt.Errorf("reading lot %q's first record: %w", id, err)
		}
		return st, true, nil
	}
	return nil, false, nil
}

// DecodeEntry decodes a stored entry's envelope and statement.
func DecodeEntry(e ledger.Entry) (*pb.Envelope, *pb.Statement, error) {
	p, err := prepare(e.Data)
	if err != nil {
		return nil, nil, err
	}
	return p.env, p.st, nil
}

func mustRecordID(s string) tlog.RecordID {
	id, _ := tlog.ParseRecordID(s) // validated when the statement was decoded
	return id
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// HadLot reports whether party held lot, or was sent it, at any time.
func (s *Store) HadLot(party, lot string) (bool, error) {
	_, err := s.log.StateGet([]byte(partyLotsPrefix + party + "\x00" + lot))
	if errors.Is(err, ledger.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// StatementLots returns the ids of the lots a statement is about, whose
// histories it joins: none for a registry statement.
func StatementLots(st *pb.Statement) []string {
	switch b := st.GetBody().(type) {
	case *pb.Statement_Extraction:
		return []string{b.Extraction.GetLotId()}
	case *pb.Statement_Assay:
		return []string{b.Assay.GetLotId()}
	case *pb.Statement_Dispatch:
		return []string{b.Dispatch.GetLotId()}
	case *pb.Statement_Receipt:
		return []string{b.Receipt.GetLotId()}
	case *pb.Statement_LabNomination:
		return []string{b.LabNomination.GetLotId()}
	case *pb.Statement_Correction:
		return []string{b.Correction.GetLotId()}
	case *pb.Statement_Transformation:
		var out []string
		for _, in := range b.Transformation.GetInputs() {
			out = append(out, in.GetLotId())
		}
		for _, o := range b.Transformation.GetOutputs() {
			out = append(out, o.GetLotId())
		}
		return out
	}
	return nil
}

// Lots returns the lots whose ids sort after after ("" for the first), in
// id order: the lot listing's pages.
func (s *Store) Lots(ctx context.Context, after string) iter.Seq2[*pb.LotState, error] {
	return func(yield func(*pb.LotState, error) bool) {
		from := []byte(lotPrefix)
		if after != "" {
			from = []byte(lotPrefix + after + "\x00")
		}
		for kv, err := range s.log.StateScanFrom(ctx, []byte(lotPrefix), from) {
			if err != nil {
				yield(nil, err)
				return
			}
			lot := &pb.LotState{}
			if err := proto.Unmarshal(kv.Value, lot); err != nil {
				yield(nil, fmt.Errorf("decoding lot %q: %w", kv.Key, err))
				return
			}
			if !yield(lot, nil) {
				return
			}
		}
	}
}
