package custody

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/index"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/registry"
	"github.com/antimony-ledger/provenance/tlog"
)

// An AuditReport says how much [Store.Audit] checked.
type AuditReport struct {
	// Entries is the number of entries checked: on success, the
	// checkpoint's tree size.
	Entries uint64
	// Signatures is the number of signatures verified.
	Signatures uint64
	// Elapsed is the wall time of the audit.
	Elapsed time.Duration
}

// Tuning of the audit pipeline.
const (
	auditChunkLen   = 64                     // entries per decode task
	auditBatchLen   = 64                     // signatures per batch verification
	auditQueue      = 32                     // chunks or batches in flight
	auditProgressDt = 250 * time.Millisecond // progress callback period
)

// Audit checks the whole store against a signed checkpoint, without
// trusting anything the store derived at append time:
//
//   - the ledger audit ([ledger.Log.Audit]): every entry below the
//     checkpoint's size is re-hashed and checked against the stored tree,
//     and the recomputed root against the checkpoint's;
//
//   - every entry is re-decoded (canonical DSSE JSON, statement structure)
//     and every signature re-verified, under the ZIP-215 rules that the
//     buyer's verifier applies (admission is stricter, so the audit never
//     fails a signature the server admitted, and its verdict does not
//     depend on the library that signed), against the key registered to
//     the signer at that point in the log. The registry is rebuilt in log
//     order from the registry records themselves, starting from the
//     store's registrar key, by the rules of package registry (which
//     refuse unsound keys, record.CheckPublicKey); a key must belong to
//     the acting party (the registrar for registry statements), not be
//     revoked before the record, and be within its validity window at the
//     record's append time and its event time.
//
//   - the log's index is rebuilt in log order (package index): every
//     leaf's extra data must be the running tallies recomputed from the
//     records, every map root a leaf carries the root of the chains
//     recomputed up to that leaf, the checkpoint's last leaf must carry
//     one, and integration times must not decrease. A buyer's verifier
//     trusts what the leaves commit; this is where an operator who
//     committed a wrong chain or tally is caught.
//
// It does not replay custody rules (holdings, links, roles): those are
// decided at append time and reported by the verifier.
//
// Both checks stream the log a bounded chunk at a time and run side by
// side. Decoding and signature verification use every core
// (GOMAXPROCS): entries are decoded in parallel, keys are resolved in log
// order, and signatures are verified in ZIP-215 batches of 64 (batchValid),
// falling back to one-by-one verification only to name the bad entry of a
// failed batch.
//
// The first failing entry is reported as a [*ledger.AuditError] naming its
// index (the lowest bad index, whichever check found it); a checkpoint that
// does not verify with v, names another origin or is larger than the log,
// and a root mismatch not attributable to an entry, are other errors.
// progress, if not nil, is called periodically from a single goroutine with
// the number of entries checked and the total, and once more at the end.
// Audit may run while the store serves appends; it checks the prefix the
// checkpoint covers.
func (s *Store) Audit(ctx context.Context, checkpoint []byte, v note.Verifier, progress func(done, total uint64)) (AuditReport, error) {
	start := time.Now()
	c, err := tlog.OpenCheckpoint(checkpoint, v)
	if err != nil {
		return AuditReport{}, fmt.Errorf("audit: %w", err)
	}
	if size := s.log.Size(); c.Size > size {
		return AuditReport{}, fmt.Errorf("audit: checkpoint size %d is larger than the log (size %d)", c.Size, size)
	}
	a := &auditRun{
		s:        s,
		total:    c.Size,
		registry: newAuditRegistry(s.registrar, s.reach),
		index:    newAuditIndex(),
	}
	a.stopAt.Store(c.Size)
	workers := max(1, runtime.GOMAXPROCS(0))

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a.cancel = cancel

	// Decoding and verifying share one pool of workers, one per core.
	var pool sync.WaitGroup
	tasks := make(chan func(), auditQueue) // decode chunks, verify batches
	for range workers {
		pool.Go(func() {
			for task := range tasks {
				task()
			}
		})
	}

	// The ledger audit, side by side: hashes, tree nodes, root.
	var ledgerRun sync.WaitGroup
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	var ledgerErr error
	ledgerRun.Go(func() {
		ledgerErr = s.log.Audit(lctx, checkpoint, v, func(done, _ uint64) {
			a.ledgerDone.Store(done)
			// Entries below done match the tree; once that covers the
			// first bad entry found by the signature checks, the rest of
			// the ledger audit cannot change the verdict.
			if done > a.stopAt.Load() {
				lcancel()
			}
		})
		if ledgerErr == nil {
			a.ledgerDone.Store(c.Size)
		}
		var ae *ledger.AuditError
		if errors.As(ledgerErr, &ae) {
			a.fail(ae)
			ledgerErr = nil
		}
	})

	// The signature pipeline: read in order -> decode in parallel ->
	// resolve keys and apply the registry in order -> verify in batches in
	// parallel.
	ordered := make(chan *auditChunk, auditQueue) // to the resolver, log order
	var producers sync.WaitGroup
	producers.Go(func() { a.read(ctx, tasks, ordered) })
	producers.Go(func() { a.resolve(ctx, ordered, tasks) })

	// Progress, from this goroutine only.
	finished := make(chan struct{})
	go func() {
		ledgerRun.Wait()
		producers.Wait()
		close(tasks)
		pool.Wait()
		close(finished)
	}()
	if progress != nil {
		t := time.NewTicker(auditProgressDt)
	loop:
		for {
			select {
			case <-finished:
				break loop
			case <-t.C:
				progress(a.done(), c.Size)
			}
		}
		t.Stop()
	}
	<-finished

	rep := AuditReport{Entries: a.done(), Signatures: a.sigs.Load(), Elapsed: time.Since(start)}
	if progress != nil {
		progress(rep.Entries, c.Size)
	}
	if first := a.firstFailure(); first != nil {
		rep.Entries = first.Index
		return rep, first
	}
	if err := context.Cause(ctx); err != nil {
		return rep, err
	}
	if ledgerErr != nil {
		return rep, ledgerErr
	}
	return rep, nil
}

// auditRun is the shared state of one audit.
type auditRun struct {
	s        *Store
	total    uint64
	registry *auditRegistry // resolver goroutine only
	index    *auditIndex    // resolver goroutine only
	cancel   context.CancelCauseFunc

	// stopAt is the lowest bad index found so far (total if none): no
	// stage needs to look at entries from there on.
	stopAt     atomic.Uint64
	mu         sync.Mutex
	first      *ledger.AuditError
	ledgerDone atomic.Uint64 // entries the ledger audit has checked
	resolved   atomic.Uint64 // entries whose keys are resolved, in order
	sigs       atomic.Uint64 // signatures verified
}

// fail records a bad entry; the lowest index wins.
func (a *auditRun) fail(e *ledger.AuditError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.first == nil || e.Index < a.first.Index {
		a.first = e
		a.stopAt.Store(e.Index)
	}
}

func (a *auditRun) failf(index uint64, format string, args ...any) {
	a.fail(&ledger.AuditError{Index: index, Reason: fmt.Sprintf(format, args...)})
}

func (a *auditRun) firstFailure() *ledger.AuditError {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.first
}

// done is the number of entries both checks have got through.
func (a *auditRun) done() uint64 {
	return min(a.ledgerDone.Load(), a.resolved.Load(), a.stopAt.Load())
}

// An auditChunk is a run of consecutive entries, decoded by any worker and
// consumed in order by the resolver once ready is closed.
type auditChunk struct {
	entries []ledger.Entry
	out     []auditDecoded
	ready   chan struct{}
}

type auditDecoded struct {
	env *pb.Envelope
	st  *pb.Statement
	msg []byte // PAE: the bytes every signature covers
	err error
}

func (ch *auditChunk) decode() {
	ch.out = make([]auditDecoded, len(ch.entries))
	for i, e := range ch.entries {
		env, st, err := DecodeEntry(e)
		d := &ch.out[i]
		d.env, d.st, d.err = env, st, err
		if err == nil {
			d.msg = record.PAE(env.GetPayloadType(), env.GetPayload())
		}
	}
	close(ch.ready)
}

// read streams the checkpoint's prefix of the log in chunks.
func (a *auditRun) read(ctx context.Context, tasks chan<- func(), ordered chan<- *auditChunk) {
	defer close(ordered)
	cur := &auditChunk{ready: make(chan struct{})}
	send := func() bool {
		if len(cur.entries) == 0 {
			return true
		}
		select {
		case ordered <- cur:
		case <-ctx.Done():
			return false
		}
		tasks <- cur.decode // workers drain tasks until it is closed
		cur = &auditChunk{entries: make([]ledger.Entry, 0, auditChunkLen), ready: make(chan struct{})}
		return true
	}
	for e, err := range a.s.log.Range(ctx, 0, a.total) {
		if err != nil {
			a.cancel(fmt.Errorf("audit: reading the log: %w", err))
			return
		}
		if e.Index >= a.stopAt.Load() {
			break
		}
		cur.entries = append(cur.entries, e)
		if len(cur.entries) == auditChunkLen && !send() {
			return
		}
	}
	send()
}

// An auditSig is one signature to verify, with the key it must verify
// under.
type auditSig struct {
	index uint64
	keyID string
	pub   ed25519.PublicKey
	msg   []byte
	sig   []byte
}

// resolve takes decoded chunks in log order, finds the key each signature
// must verify under as of its entry, applies registry records, and hands
// signatures to the verifiers in batches.
func (a *auditRun) resolve(ctx context.Context, ordered <-chan *auditChunk, tasks chan<- func()) {
	batch := make([]auditSig, 0, auditBatchLen)
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		b := batch
		select {
		case tasks <- func() { a.verify(b) }:
		case <-ctx.Done():
			return false
		}
		batch = make([]auditSig, 0, auditBatchLen)
		return true
	}
	defer func() {
		flush()
		for range ordered { // let the reader finish; it stops at stopAt
		}
	}()
	for ch := range ordered {
		select {
		case <-ch.ready:
		case <-ctx.Done():
			return
		}
		for i, e := range ch.entries {
			if e.Index >= a.stopAt.Load() {
				return
			}
			d := ch.out[i]
			if d.err != nil {
				a.failf(e.Index, "decoding record: %v", d.err)
				return
			}
			sigs, err := a.registry.resolve(e, d)
			if err != nil {
				a.failf(e.Index, "%v", err)
				return
			}
			if err := a.index.add(e, d.st, a.registry.mem, e.Index == a.total-1); err != nil {
				a.failf(e.Index, "%v", err)
				return
			}
			batch = append(batch, sigs...)
			if len(batch) >= auditBatchLen && !flush() {
				return
			}
			a.resolved.Store(e.Index + 1)
		}
	}
}

// verify checks a batch of signatures; if the batch fails, it verifies them
// one by one to name the first bad entry.
func (a *auditRun) verify(b []auditSig) {
	stop := a.stopAt.Load()
	if len(b) == 0 || b[0].index >= stop {
		return
	}
	sigs := make([]record.Signed, len(b))
	for i, s := range b {
		sigs[i] = record.Signed{PublicKey: s.pub, Message: s.msg, Sig: s.sig}
	}
	if record.BatchValid(sigs) {
		a.sigs.Add(uint64(len(b)))
		return
	}
	for _, s := range b {
		if s.index >= a.stopAt.Load() {
			return
		}
		if !(record.Signed{PublicKey: s.pub, Message: s.msg, Sig: s.sig}).Valid() {
			a.failf(s.index, "signature by key %s does not verify", s.keyID)
			return
		}
		a.sigs.Add(1)
	}
}

// auditRegistry is the registry as of the entry being audited, rebuilt
// from the registry records in log order and judged by the same rules as
// at append time (package registry).
type auditRegistry struct {
	registry.Registry
	mem *registry.Memory
}

func newAuditRegistry(registrar registry.Registrar, reach time.Duration) *auditRegistry {
	mem := registry.NewMemory()
	return &auditRegistry{Registry: registry.Registry{Registrar: registrar, Reader: mem, RevocationReach: reach}, mem: mem}
}

// resolve returns the signatures of e to verify, each with the key it must
// verify under as of e, after checking that each key may sign e, and
// applies e to the registry if it is a registry record.
func (r *auditRegistry) resolve(e ledger.Entry, d auditDecoded) ([]auditSig, error) {
	at := registry.Position{Index: e.Index, LogTime: e.Time, EventTime: d.st.GetEventTime().AsTime()}
	sigs := make([]auditSig, 0, len(d.env.GetSignatures()))
	_, err := r.Authorize(d.st, d.env, at, func(sg registry.Signer) error {
		sigs = append(sigs, auditSig{index: e.Index, keyID: sg.KeyID, pub: sg.PublicKey, msg: d.msg, sig: sg.Sig})
		return nil
	})
	if err != nil || !registry.IsRegistryStatement(d.st) {
		return sigs, err
	}
	at.ID = e.ID.String()
	c, err := r.Apply(d.st, d.env, at)
	if err != nil {
		return nil, err
	}
	r.mem.Put(c)
	return sigs, nil
}

// auditIndex rebuilds the log's index from the records, as the store
// builds it at append time, to check what each leaf commits.
type auditIndex struct {
	chains  map[string]index.Chain
	tallies map[string]auditTally
	m       tlog.Map
	last    time.Time
}

type auditTally struct {
	t  index.Tally
	at uint64
}

func newAuditIndex() *auditIndex {
	return &auditIndex{chains: map[string]index.Chain{}, tallies: map[string]auditTally{}}
}

func (x *auditIndex) Chain(key []byte) (index.Chain, error) { return x.chains[string(key)], nil }

func (x *auditIndex) SetChain(key []byte, c index.Chain) {
	x.chains[string(key)] = c
	x.m = x.m.Set(key, c.Marshal())
}

func (x *auditIndex) Tally(key string) (index.Tally, uint64, bool, error) {
	t, ok := x.tallies[key]
	return t.t, t.at, ok, nil
}

func (x *auditIndex) SetTally(key string, at uint64, t index.Tally) {
	x.tallies[key] = auditTally{t, at}
}

// add indexes entry e and checks its leaf against the result. parties is
// the registry as of e; last says e is the checkpoint's last leaf.
func (x *auditIndex) add(e ledger.Entry, st *pb.Statement, parties *registry.Memory, last bool) error {
	if e.Time.Before(x.last) {
		return fmt.Errorf("integration time %s is before the previous entry's, %s", e.Time.Format(time.RFC3339Nano), x.last.Format(time.RFC3339Nano))
	}
	x.last = e.Time
	country := ""
	if p := parties.Get(st.GetPartyId()); p != nil {
		country = p.GetRegistration().GetCountry()
	}
	extra, err := index.Add(x, e.Index, e.ID, st, country)
	if err != nil {
		return err
	}
	if !bytes.Equal(extra, e.Extra) {
		return fmt.Errorf("the leaf's running tallies (%d bytes) are not those the records give (%d bytes)", len(e.Extra), len(extra))
	}
	if e.MapRoot != nil && *e.MapRoot != x.m.Root() {
		return fmt.Errorf("the leaf's map root %x is not the root of the chains the records give, %x", e.MapRoot[:], x.m.Root())
	}
	if last && e.MapRoot == nil {
		return errors.New("the checkpoint's last leaf carries no map root")
	}
	return nil
}
