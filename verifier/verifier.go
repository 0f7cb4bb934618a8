// Package verifier verifies a lot's chain of custody offline, from a
// provenance [pb.Bundle]: the lot's records and every record they continue,
// back to the extractions, the registry records of every signer, the
// extractions of the origin mines in a capacity window, each with an RFC
// 6962 inclusion proof to one signed checkpoint.
//
// # Trust
//
// A verifier trusts only the pinned keys of a [Trust]: the log's checkpoint
// key and the registrar key. [Verify] opens the checkpoint with the log key,
// proves every record's inclusion in it, rebuilds the party registry from
// registrar-signed records in log order by the rules of package registry
// (which refuse a key that is not sound, [record.CheckPublicKey]) and
// checks every custody record's DSSE signatures with a key registered to
// the acting party earlier in the log. Signatures are checked under
// ZIP-215, as every check of stored records in this module is, so the
// verdict does not depend on the library that signed (the server admits
// only signatures that RFC 8032 verifiers accept too). Any failure there
// is cryptographic and makes the verdict INVALID, with an error naming
// the record's log index. Nothing the server says outside the bundle is
// used.
//
// # Mass flow
//
// Contained antimony is dry mass x Sb grade, dry mass being wet mass x (1 -
// moisture). Records are replayed in log order; every custody record yields
// the state of the lots it touches (holder, masses, contained Sb and its
// composition by origin mine), keyed by the record and the lot, so a record
// continues exactly the state its link names. A transformation pools the Sb
// consumed from its inputs and gives each output its share of that pool;
// output Sb beyond what the inputs can yield at the kind's maximum recovery
// ([Config]) is untraced, as is Sb gained in a handoff beyond tolerance,
// Sb of an extraction by a party that is not a registered mine, and a
// second continuation of one custody record. The report gives the lot's
// contained Sb, its share per origin mine and the untraced share.
//
// # Rules
//
// Authentic but implausible claims raise flags, each with a stable rule id
// ([Rules]), a severity, a message with the numbers and the evidence record
// ids. Only records in the lot's own ancestry raise flags; other records in
// a bundle (other lots of a mine, later records of an ancestor lot) serve
// as context for capacity, volume and double-spend checks. The verdict is
// INVALID on any cryptographic failure, else FLAGGED if any rule fired,
// else VERIFIED.
//
// # Previews
//
// [PreviewLots] answers a writer before a record is submitted: which flags
// would the lot carry with it? It verifies the bundles as they are, then
// replays them with the signed but unsubmitted records appended after the
// checkpoint. Those records alone carry no inclusion proof, so a
// [Preview] has flags but no verdict, and nothing in it vouches for a lot.
// [PreviewNewLot] does the same for records that start a lot (an
// extraction), against the records its rules need rather than a bundle.
package verifier

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/internal/refdata"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/registry"
	"github.com/antimony-ledger/provenance/tlog"
)

// Trust is what a verifier trusts: only the pinned keys.
type Trust struct {
	// Log verifies the log's signed checkpoints and the time each was
	// signed (tlog.NewVerifier of the log's pinned verifier key).
	Log *tlog.Verifier
	// Registrar is the first registrar key: it signs party
	// registrations, key rotations and revocations until a registrar
	// rotation in the log hands over to the next.
	Registrar ed25519.PublicKey
	// Witnesses, if not nil, is the witness policy the bundle's
	// checkpoint must meet: its tree cosigned by a quorum of the policy's
	// witnesses, within MaxAge. Without one, a log key holder could show
	// this buyer one history and another buyer another.
	Witnesses *tlog.Policy
}

// maxProofLen bounds an inclusion proof: a tree of 2^64 leaves needs 64.
const maxProofLen = 64

// An entry is one decoded bundle record.
type entry struct {
	idx  uint64
	rid  tlog.RecordID
	id   string // rid's text form, as links to the record carry it
	env  *pb.Envelope
	st   *pb.Statement
	time time.Time // event time, the signer's claim
	leaf tlog.Leaf // what the log committed: its time, tallies, map root
	// ids of the keys signing the record, registered to its party
	keys []string
}

// logTime is when the log integrated the record.
func (e *entry) logTime() time.Time { return e.leaf.Time }

// A run is the state of one verification.
type run struct {
	b     *pb.Bundle
	trust Trust
	cfg   Config
	cache *Cache

	ckpt tlog.Checkpoint
	recs []*entry
	byID map[string]*entry
	// leaves holds every leaf of the bundle by index, with or without its
	// record: the tallies of other parties' extractions, and the
	// checkpoint's last leaf, whose map root is mapRoot.
	leaves  map[uint64]tlog.Leaf
	order   []uint64 // the indexes of leaves, ascending (as the bundle lists them)
	mapRoot *[32]byte
	// The registry, rebuilt from the bundle's registry records in log
	// order and judged by package registry's rules; after crypto, it
	// holds the registry as the whole bundle records it.
	reg         *registry.Memory
	rules       registry.Registry
	retiredBy   map[string]string // key id -> rotation that last ended its window
	reached     map[string]reach  // key id -> revocation or retirement the reach bound
	witnessedBy []string          // witnesses whose cosignatures met the policy
	addedBy     map[string]*entry // key id -> the key rotation that added it

	errs  []string
	cands []cand
	// fixes are the bundle's corrections by the id of the record each
	// corrects; step replays those records with the corrected values
	// (those logged before fixedBefore, when it is set).
	fixes map[string]*fix
	// transit holds, in a preview, the flags inTransit raised: a lot in
	// transit, the state a pending dispatch leaves (Preview.Expected).
	transit map[*pb.Flag]bool
	// fixedBefore, when not 0, limits the corrections step applies to
	// those the log took before that index (see withdrawn and
	// withdrawnLotYear).
	fixedBefore uint64
	geo         map[refdata.Point]borderFacts // see border

	// preview is set by PreviewLots: records past the checkpoint are
	// pending, not in the log, and the bundles' completeness was checked
	// by VerifyLot before they were appended.
	preview bool
}

// A cand is a candidate flag: it is reported if its record (and, when
// lots is set, one of those lots at that record) is in the lot's ancestry.
type cand struct {
	flag *pb.Flag
	rec  *entry
	lots []string
}

// Verify verifies a bundle offline against the trust roots and returns the
// report. It never panics on hostile input: an unexpected internal failure
// is reported as an INVALID verdict.
func Verify(b *pb.Bundle, trust Trust, cfg Config) *pb.VerificationReport {
	return verify(b, trust, cfg, nil)
}

// VerifyLot is [Verify] for a buyer who asked for lot: a bundle of any
// other lot, however genuine, is INVALID, so a server or seller cannot
// answer for one lot with another's records; so is a lot a transformation
// used up, which nobody can hold or sell any more.
func VerifyLot(lot string, b *pb.Bundle, trust Trust, cfg Config) *pb.VerificationReport {
	if b.GetLotId() != lot {
		rep := &pb.VerificationReport{LotId: lot, Verdict: pb.Verdict_VERDICT_INVALID, Records: uint32(min(len(b.GetRecords()), 1<<31)),
			Errors: []string{fmt.Sprintf("the bundle is for lot %q, not lot %q", b.GetLotId(), lot)}}
		rep.Text = Text(rep)
		return rep
	}
	rep := Verify(b, trust, cfg)
	if by := rep.GetConsumedBy(); by != "" && rep.GetVerdict() != pb.Verdict_VERDICT_INVALID {
		// Its history may be clean, but the lot is gone: whoever offers it
		// now offers what a transformation already used up.
		rep.Verdict = pb.Verdict_VERDICT_INVALID
		rep.Errors = append(rep.Errors, fmt.Sprintf("lot %q was used up by transformation %s: it no longer exists, so nobody holds it or can sell it (its outputs are the lots to verify)", lot, by))
		rep.Text = Text(rep)
	}
	return rep
}

// VerifyCached is [Verify], sharing work with the other verifications of
// lots of the same log through c, as the server's flag backend does.
func VerifyCached(b *pb.Bundle, trust Trust, cfg Config, c *Cache) *pb.VerificationReport {
	return verify(b, trust, cfg, c)
}

func verify(b *pb.Bundle, trust Trust, cfg Config, c *Cache) (rep *pb.VerificationReport) {
	rep = &pb.VerificationReport{LotId: b.GetLotId()}
	defer func() {
		if p := recover(); p != nil {
			rep.Verdict = pb.Verdict_VERDICT_INVALID
			rep.Flags, rep.Origins = nil, nil
			rep.Errors = append(rep.Errors, fmt.Sprintf("internal error while verifying: %v", p))
		}
		rep.Text = Text(rep)
	}()
	r := newRun(b, trust, cfg, c)
	if !r.crypto() {
		rep.Verdict = pb.Verdict_VERDICT_INVALID
		rep.Errors = r.errs
		rep.TreeSize = r.ckpt.Size
		if !r.ckpt.Time.IsZero() { // the checkpoint verified: say when it was signed
			rep.CheckpointTime = timestamppb.New(r.ckpt.Time)
		}
		rep.Records = uint32(min(len(b.GetRecords()), 1<<31))
		return rep
	}
	rep.TreeSize = r.ckpt.Size
	rep.CheckpointRoot = base64.StdEncoding.EncodeToString(r.ckpt.Root[:])
	rep.CheckpointTime = timestamppb.New(r.ckpt.Time)
	rep.WitnessedBy = r.witnessedBy
	rep.Records = uint32(len(r.recs))
	r.analyse(rep)
	if len(r.errs) > 0 {
		rep.Verdict = pb.Verdict_VERDICT_INVALID
		rep.Errors = r.errs
		rep.Flags, rep.Origins = nil, nil
		return rep
	}
	if slices.ContainsFunc(rep.Flags, func(f *pb.Flag) bool { return len(f.GetCorrectedBy()) == 0 }) {
		rep.Verdict = pb.Verdict_VERDICT_FLAGGED
	} else {
		rep.Verdict = pb.Verdict_VERDICT_VERIFIED
	}
	return rep
}

func newRun(b *pb.Bundle, trust Trust, cfg Config, c *Cache) *run {
	return &run{b: b, trust: trust, cfg: cfg, cache: c, byID: map[string]*entry{}, leaves: map[uint64]tlog.Leaf{}, reg: registry.NewMemory(), retiredBy: map[string]string{}, reached: map[string]reach{}, addedBy: map[string]*entry{}}
}

func (r *run) fail(format string, args ...any) bool {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	return false
}

// crypto checks the checkpoint, every inclusion proof, envelope and
// statement encoding, the registry's signatures and every custody
// signature. It returns false, with r.errs set, on the first failure.
func (r *run) crypto() bool {
	if r.b == nil {
		return r.fail("no bundle")
	}
	if r.trust.Log == nil {
		return r.fail("no trusted log key")
	}
	if len(r.trust.Registrar) != ed25519.PublicKeySize {
		return r.fail("trusted registrar key is %d bytes, want %d", len(r.trust.Registrar), ed25519.PublicKeySize)
	}
	if err := record.CheckPublicKey(r.trust.Registrar); err != nil {
		return r.fail("trusted registrar key: %v", err)
	}
	r.rules = registry.Registry{Registrar: registry.NewRegistrar(r.trust.Registrar), Reader: r.reg, RevocationReach: r.cfg.RevocationReach}
	if r.b.GetLotId() == "" {
		return r.fail("bundle names no lot")
	}
	if err := record.CheckID("bundle lot_id", r.b.GetLotId()); err != nil {
		return r.fail("%v", err)
	}
	if n := len(r.b.GetRecords()); n > r.cfg.MaxRecords && r.cfg.MaxRecords > 0 {
		return r.fail("bundle has %d records, limit %d", n, r.cfg.MaxRecords)
	}
	c, err := tlog.OpenCheckpoint([]byte(r.b.GetCheckpoint()), r.trust.Log)
	if err != nil {
		return r.fail("checkpoint: %v", err)
	}
	if c.Time.IsZero() {
		return r.fail("checkpoint: it carries no time signed by the log (each checkpoint must, in a cosignature/v1 line by the log's key)")
	}
	r.ckpt = c // reported even if refused below
	now := time.Now()
	if r.cfg.Now != nil {
		now = r.cfg.Now()
	}
	if ahead := c.Time.Sub(now); r.cfg.MaxCheckpointAhead > 0 && ahead > r.cfg.MaxCheckpointAhead {
		return r.fail("checkpoint: signed at %s, %s after this verifier's clock (%s): a checkpoint from the future would pass any freshness limit", c.Time.Format(time.RFC3339), Age(ahead), now.UTC().Format(time.RFC3339))
	}
	if age := now.Sub(c.Time); r.cfg.MaxAge > 0 && age > r.cfg.MaxAge {
		return r.fail("checkpoint: signed at %s, %s ago, more than the maximum age of %s: the bundle says what the log held then; fetch a fresh one (stale bundle)", c.Time.Format(time.RFC3339), Age(age), Age(r.cfg.MaxAge))
	}
	r.ckpt = c
	if r.trust.Witnesses != nil && r.trust.Witnesses.Quorum() != "none" && !r.witnessed(c, now) {
		return false
	}
	var prev uint64
	var prevTime time.Time
	for i, br := range r.b.GetRecords() {
		idx := br.GetIndex()
		if i > 0 && idx <= prev {
			return r.fail("record %d: index %d does not follow index %d (records must be sorted by index, without duplicates)", i, idx, prev)
		}
		prev = idx
		if idx >= c.Size {
			return r.fail("index %d: beyond the checkpoint's tree size %d", idx, c.Size)
		}
		if len(br.GetInclusionProof()) > maxProofLen {
			return r.fail("index %d: inclusion proof has %d hashes", idx, len(br.GetInclusionProof()))
		}
		proof := make([][32]byte, len(br.GetInclusionProof()))
		for j, h := range br.GetInclusionProof() {
			if len(h) != 32 {
				return r.fail("index %d: inclusion proof hash %d is %d bytes, want 32", idx, j, len(h))
			}
			proof[j] = [32]byte(h)
		}
		leaf, withData, err := bundleLeaf(br)
		if err != nil {
			return r.fail("index %d: %v", idx, err)
		}
		if err := r.cache.verifyInclusion(leaf.Hash(), idx, c.Size, proof, c.Root); err != nil {
			return r.fail("index %d: inclusion proof does not verify against the checkpoint (size %d): %v", idx, c.Size, err)
		}
		// The log's integration times never decrease along the log.
		if leaf.Time.Before(prevTime) {
			return r.fail("index %d: integrated at %s, before the leaf before it in the bundle (%s): the log's times never go backwards", idx, leaf.Time.Format(time.RFC3339Nano), prevTime.Format(time.RFC3339Nano))
		}
		prevTime = leaf.Time
		r.leaves[idx] = leaf
		r.order = append(r.order, idx)
		if idx == c.Size-1 {
			r.mapRoot = leaf.MapRoot
			// The checkpoint was signed when its last leaf was integrated,
			// or later (signed again at the same size): never before.
			if c.Time.Before(leaf.Time.Truncate(time.Second)) {
				return r.fail("checkpoint: signed at %s, before its last leaf (index %d) was integrated at %s", c.Time.Format(time.RFC3339), idx, leaf.Time.Format(time.RFC3339Nano))
			}
		}
		if !withData {
			continue // a leaf shown without its record
		}
		rid := leaf.Record
		d, ok := r.cache.record(rid)
		if !ok {
			env, st, err := record.Decode(br.GetData())
			if err == nil {
				// A bundle carries no text that could rewrite a buyer's
				// screen.
				err = record.CheckDisplaySafe(st)
			}
			if err != nil {
				return r.fail("index %d: %v", idx, err)
			}
			d = decodedRecord{env: env, st: st, id: rid.String()}
			r.cache.putRecord(rid, len(br.GetData()), d)
		}
		rec := &entry{idx: idx, rid: rid, id: d.id, env: d.env, st: d.st, time: d.st.GetEventTime().AsTime(), leaf: leaf}
		r.recs = append(r.recs, rec)
		r.byID[rec.id] = rec
	}
	return r.registry()
}

// pending is one signature awaiting (batch) verification.
type pending struct {
	rec *entry
	key ed25519.PublicKey
	kid string
	sig []byte
}

// bundleLeaf rebuilds the leaf the log committed for a bundle record, and
// says whether the record itself is in the bundle.
func bundleLeaf(br *pb.BundleRecord) (tlog.Leaf, bool, error) {
	var l tlog.Leaf
	data := br.GetData()
	switch rid := br.GetRecordId(); {
	case len(data) > 0:
		l.Record = tlog.RecordIDOf(data)
		if len(rid) > 0 && !bytes.Equal(rid, l.Record[:]) {
			return l, false, errors.New("record_id is not the id of the record's data")
		}
	case len(rid) == 32:
		l.Record = tlog.RecordID(rid)
	default:
		return l, false, errors.New("a leaf without its record must give its 32-byte record_id")
	}
	if br.GetIntegratedTime() == nil {
		return l, false, errors.New("no integrated_time: the log commits each record's time in its leaf")
	}
	if !br.GetIntegratedTime().IsValid() {
		return l, false, errors.New("integrated_time is not a valid time")
	}
	l, err := tlog.NewLeaf(br.GetIntegratedTime().AsTime(), l.Record, br.GetExtra(), br.GetMapRoot())
	if err != nil {
		return l, false, err
	}
	return l, len(data) > 0, nil
}

// registry replays the registry records in log order, resolving every
// signature by the registry's rules to a key registered earlier to the
// acting party (the trusted registrar key for registry statements), then
// verifies every signature. Keys used outside their validity are not
// refused here: keyChecks flags them.
func (r *run) registry() bool {
	var sigs []pending
	for _, rec := range r.recs {
		var err error
		if sigs, err = r.applyRegistry(rec, sigs); err != nil {
			return r.failRule(rec, err)
		}
	}
	return r.verifySigs(sigs)
}

// applyRegistry resolves rec's signers to registered keys (rec.keys),
// appending its signatures to sigs, and, for a registry record, applies
// it to the registry.
func (r *run) applyRegistry(rec *entry, sigs []pending) ([]pending, error) {
	_, signers, err := r.rules.Signers(rec.st, rec.env)
	if err != nil {
		return sigs, err
	}
	for _, sg := range signers {
		sigs = append(sigs, pending{rec, sg.PublicKey, sg.KeyID, sg.Sig})
		if sg.Key != nil {
			rec.keys = append(rec.keys, sg.KeyID)
		}
	}
	if !registry.IsRegistryStatement(rec.st) {
		return sigs, nil
	}
	c, err := r.rules.Apply(rec.st, rec.env, registry.Position{Index: rec.idx, ID: rec.id, LogTime: rec.logTime(), EventTime: rec.time})
	if err != nil {
		return sigs, err
	}
	r.reg.Put(c)
	if c.Retired != nil {
		r.retiredBy[c.Retired.GetKeyId()] = rec.id
	}
	if rv := rec.st.GetKeyRevocation(); c.Reached && rv != nil {
		r.reached[rv.GetKeyId()] = reach{rec, rv.GetRevokedAt().AsTime()}
	}
	if rec.st.GetKeyRotation() != nil {
		for _, k := range c.Added {
			r.addedBy[k.GetKeyId()] = rec
		}
	}
	return sigs, nil
}

// A reach is a revocation whose time reached back past the revocation
// reach: the record and the time it claimed.
type reach struct {
	rec     *entry
	claimed time.Time
}

// witnessed checks the bundle's witnessed checkpoint against the witness
// policy: the log's own, of the same tree as c, cosigned by a quorum. A
// cosignature counts only if the witness made it within MaxAge of now
// (and not more than MaxCheckpointAhead after it): the witness's time,
// not the log's, bounds how long an operator can show an old tree.
func (r *run) witnessed(c tlog.Checkpoint, now time.Time) bool {
	p := r.trust.Witnesses
	wc := r.b.GetWitnessedCheckpoint()
	if wc == "" {
		return r.fail("checkpoint: the bundle carries no witness cosignatures, and the witness policy's quorum %q needs those of %s (was the server started with its witnesses, and are they up?)",
			p.Quorum(), strings.Join(p.Missing(), ", "))
	}
	fresh := func(t time.Time) bool {
		if r.cfg.MaxAge > 0 && now.Sub(t) > r.cfg.MaxAge {
			return false
		}
		return r.cfg.MaxCheckpointAhead <= 0 || t.Sub(now) <= r.cfg.MaxCheckpointAhead
	}
	w, by, err := tlog.OpenWitnessed([]byte(wc), r.trust.Log, p, fresh)
	if err != nil && r.cfg.MaxAge > 0 {
		return r.fail("witnessed checkpoint: %v (a cosignature counts if made within the last %s)", err, Age(r.cfg.MaxAge))
	}
	if err != nil {
		return r.fail("witnessed checkpoint: %v", err)
	}
	// The witnesses must vouch for the tree the bundle's proofs lead to:
	// a cosignature of a later tree says nothing of what was appended
	// between the two, and would let an operator re-sign an old tree and
	// pass it off with a fresh cosignature of the live one.
	if w.Size != c.Size || w.Root != c.Root {
		return r.fail("witnessed checkpoint: it is of the tree of size %d, root %s, not of the bundle's (size %d, root %s): the witnesses must cosign the bundle's own tree (a split view, or an old tree passed off with a later cosignature)",
			w.Size, base64.StdEncoding.EncodeToString(w.Root[:]), c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
	}
	r.witnessedBy = by
	return true
}

// failRule fails the verification at rec for a registry rule it breaks. A
// party not found may be missing from the bundle rather than from the log,
// so the message says so.
func (r *run) failRule(rec *entry, err error) bool {
	reason := err.Error()
	if re, ok := errors.AsType[*record.RejectError](err); ok {
		reason = re.Reason
	}
	switch {
	case errors.Is(err, record.ErrNotFound) && r.party(actingOn(rec.st)) == nil:
		reason += " before this record (incomplete bundle or unregistered signer)"
	case errors.Is(err, record.ErrUnknownKey) && registry.IsRegistryStatement(rec.st):
		for _, sig := range rec.env.GetSignatures() {
			if sig.GetKeyid() != r.rules.Registrar.ID {
				reason = fmt.Sprintf("registry statement signed by key %s, not the trusted registrar key %s", sig.GetKeyid(), r.rules.Registrar.ID)
				break
			}
		}
	}
	return r.fail("index %d: %s", rec.idx, reason)
}

// verifySigs checks every signature. A batch is tried first (ZIP-215
// batch and single verification agree by construction); on failure the
// signatures are checked one by one to name the bad record.
func (r *run) verifySigs(sigs []pending) bool {
	if len(sigs) == 0 {
		return true
	}
	var todo []pending
	var keys [][32]byte
	for _, s := range sigs {
		k := sigKey(s.rec.rid, s.key, s.sig)
		if !r.cache.verified(k) {
			todo = append(todo, s)
			keys = append(keys, k)
		}
	}
	if len(todo) == 0 {
		return true
	}
	checks := make([]record.SignatureCheck, len(todo))
	for i, s := range todo {
		checks[i] = record.SignatureCheck{Envelope: s.rec.env, PublicKey: s.key, Sig: s.sig}
	}
	for i, ok := range record.VerifySignatures(checks) {
		if !ok {
			return r.fail("index %d: signature by key %s does not verify", todo[i].rec.idx, todo[i].kid)
		}
	}
	r.cache.putVerified(keys)
	return true
}

// actingOn returns the party a statement must find registered: the one a
// rotation or revocation changes, or the one making any other statement
// ("" for a registration).
func actingOn(st *pb.Statement) string {
	switch b := st.GetBody().(type) {
	case *pb.Statement_PartyRegistration:
		return ""
	case *pb.Statement_KeyRotation:
		return b.KeyRotation.GetPartyId()
	case *pb.Statement_KeyRevocation:
		return b.KeyRevocation.GetPartyId()
	}
	return st.GetPartyId()
}

// party returns the registered party id, or nil.
func (r *run) party(id string) *pb.Party { return r.reg.Get(id) }

// flag adds a candidate flag raised by rec.
func (r *run) flag(rec *entry, rule string, sev pb.Severity, lot string, lots []string, evidence []string, format string, args ...any) {
	f := &pb.Flag{
		Rule: rule, Severity: sev, Message: fmt.Sprintf(format, args...),
		LotId: lot, Evidence: r.evidence(rec, evidence),
	}
	if rec != nil {
		f.PartyId = rec.st.GetPartyId()
		f.EventTime = timestamppb.New(rec.time)
		f.Index = rec.idx
	}
	r.cands = append(r.cands, cand{flag: f, rec: rec, lots: lots})
}

// evidence returns rec's id followed by more, without duplicates, capped
// at MaxEvidence.
func (r *run) evidence(rec *entry, more []string) []string {
	max := r.cfg.MaxEvidence
	if max <= 0 {
		max = 32
	}
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] && len(out) < max {
			seen[id] = true
			out = append(out, id)
		}
	}
	if rec != nil {
		add(rec.id)
	}
	for _, id := range more {
		add(id)
	}
	return out
}

// sortFlags orders flags by severity (highest first), then log index,
// then rule, and drops exact duplicates.
func sortFlags(fs []*pb.Flag) []*pb.Flag {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.GetSeverity() != b.GetSeverity() {
			return a.GetSeverity() > b.GetSeverity()
		}
		if a.GetIndex() != b.GetIndex() {
			return a.GetIndex() < b.GetIndex()
		}
		if a.GetRule() != b.GetRule() {
			return a.GetRule() < b.GetRule()
		}
		return a.GetMessage() < b.GetMessage()
	})
	out := fs[:0]
	for i, f := range fs {
		if i > 0 {
			p := out[len(out)-1]
			if p.GetRule() == f.GetRule() && p.GetIndex() == f.GetIndex() && p.GetMessage() == f.GetMessage() && p.GetLotId() == f.GetLotId() {
				continue
			}
		}
		out = append(out, f)
	}
	return out
}

// Age formats a duration for people: whole seconds up to an hour, minutes
// up to two days, then days and hours.
func Age(d time.Duration) string {
	switch {
	case d < time.Hour:
		return d.Truncate(time.Second).String()
	case d < 48*time.Hour:
		return d.Truncate(time.Minute).String()
	}
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%d days %dh", days, int((d-time.Duration(days)*24*time.Hour)/time.Hour))
}
