package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/merkle/compact"

	"github.com/antimony-ledger/provenance/tlog"
)

// An ApplyFunc keeps a higher layer's index state in step with the log. It is
// called by the single committer goroutine for each new (non-duplicate)
// entry, in log order, before the entry's commit group is written; e.Index is
// already assigned. value is the [AppendOptions.Value] the entry was appended
// with (nil if none): what the caller already derived from e.Data, so that
// Apply need not derive it again. tx.Get sees every state write of the
// entries before e, including those earlier in the same group, and
// tx.Entry every entry before e; tx.Set stages writes that are committed
// atomically with e.
//
// Returning an error rejects e alone: its staged writes are discarded, it gets
// no index, and [Log.Append] returns the error unchanged. An ApplyFunc MUST
// NOT block on I/O other than tx reads, MUST NOT retain tx, MUST NOT modify
// what tx returns (an entry's Data may be the bytes being committed), MUST
// NOT read the log other than through tx (a read of the [Log] misses the
// entries of the groups in flight), and MUST have no effects other than
// through tx: if a commit group has to be split to fit Badger's transaction
// limits, it is called again for the entries that did not fit, against the
// state then committed (and the writes of the group then in flight).
type ApplyFunc func(tx *StateTx, e Entry, value any) error

// A StateTx is the view of index state given to an [ApplyFunc]. It is valid
// only during that call and is not safe for concurrent use.
type StateTx struct {
	rtx      *badger.Txn       // committed state
	cache    *stateCache       // committed state read or written recently
	inflight map[string][]byte // writes of the group being committed, if any
	pending  map[string][]byte // writes of accepted entries earlier in the group
	staged   map[string][]byte // writes of this entry
	extra    []byte            // this entry's leaf extra (SetExtra)
	done     bool
	// base is the verifiable map before the group (after the group in
	// flight): index values are read from it, in memory, not from Badger.
	base tlog.Map

	inflightEntries map[tlog.RecordID]Entry // entries of the group being committed
	group           map[tlog.RecordID]int   // entries accepted earlier in the group: outs[acc[i]]
	acc             []int
	outs            []outcome
}

// Entry returns the entry with id as of the entry being applied: one
// committed, one of the group being committed, or one accepted earlier in
// the same group. It fails with [ErrNotFound] if there is none.
func (tx *StateTx) Entry(id tlog.RecordID) (Entry, error) {
	tx.check()
	if a, ok := tx.group[id]; ok {
		return tx.outs[tx.acc[a]].e, nil
	}
	if e, ok := tx.inflightEntries[id]; ok {
		return e, nil
	}
	return entryByID(tx.rtx, id)
}

// Get returns a copy of the value at key as of the entry being applied, or
// [ErrNotFound].
func (tx *StateTx) Get(key []byte) ([]byte, error) {
	tx.check()
	if v, ok := tx.staged[string(key)]; ok {
		return bytes.Clone(v), nil
	}
	if v, ok := tx.pending[string(key)]; ok {
		return bytes.Clone(v), nil
	}
	if v, ok := tx.inflight[string(key)]; ok {
		return bytes.Clone(v), nil
	}
	if c, ok := tx.cache.get(key); ok {
		if !c.found {
			return nil, missingState(key)
		}
		return bytes.Clone(c.v), nil
	}
	v, err := getValue(tx.rtx, stateKey(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		tx.cache.put(key, cachedValue{})
		return nil, missingState(key)
	}
	if err != nil {
		return nil, dataLoss(fmt.Sprintf("state key %q", key), err)
	}
	tx.cache.put(key, cachedValue{v: v, found: true})
	return bytes.Clone(v), nil
}

// SetIndex stages value at key of the log's verifiable map: it is committed
// with the entry, and the map's root after the entry's group is committed
// in the group's last leaf ([Entry.MapRoot]), so that a checkpoint commits
// the map. key and value are copied.
func (tx *StateTx) SetIndex(key, value []byte) {
	tx.Set(append([]byte(indexPrefix), key...), value)
}

// GetIndex returns a copy of key's value in the verifiable map as of the
// entry being applied, or [ErrNotFound].
func (tx *StateTx) GetIndex(key []byte) ([]byte, error) {
	tx.check()
	k := string(append([]byte(indexPrefix), key...))
	for _, m := range []map[string][]byte{tx.staged, tx.pending, tx.inflight} {
		if v, ok := m[k]; ok {
			return bytes.Clone(v), nil
		}
	}
	if v, ok := tx.base.Get(key); ok {
		return bytes.Clone(v), nil
	}
	return nil, missingState([]byte(k))
}

// SetExtra sets the extra data of the entry's leaf (see [tlog.Leaf]),
// replacing any set before. b is copied.
func (tx *StateTx) SetExtra(b []byte) {
	tx.check()
	tx.extra = bytes.Clone(b)
}

// Has reports whether key has a value as of the entry being applied.
func (tx *StateTx) Has(key []byte) (bool, error) {
	_, err := tx.Get(key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Set stages value at key, to be committed with the entry if it is accepted.
// key and value are copied.
func (tx *StateTx) Set(key, value []byte) {
	tx.check()
	if value == nil {
		value = []byte{}
	}
	tx.staged[string(key)] = bytes.Clone(value)
}

func (tx *StateTx) check() {
	if tx.done {
		panic("ledger: StateTx used after its ApplyFunc returned")
	}
}

// A request is one Append waiting for the committer.
type request struct {
	data  []byte
	id    tlog.RecordID
	value any         // AppendOptions.Value, for Apply
	reply chan result // buffered 1; the committer replies exactly once
}

type result struct {
	e   Entry
	dup bool
	err error
}

// Append appends data and returns its entry once it is durable on disk.
// Concurrent appends are committed in groups, one transaction and one fsync
// per group. If the same bytes are already in the log, or earlier in the same
// group, Append returns the existing entry with dup set and writes nothing;
// [Options.Apply] is not called for duplicates.
//
// Empty or oversized data fails with [ErrInvalidInput]; an entry rejected by
// Apply fails with Apply's error; after Close, with [ErrClosed]. If ctx is done
// before the request is queued for the committer, nothing is written and
// ctx's error is returned; once queued, Append waits for the outcome. If the
// commit fails (a disk error), Append returns that error and the log stops
// until reopened; the entry may then be in the log or not, like one whose
// caller crashed before the answer came. The caller must not modify data
// during the call.
func (l *Log) Append(ctx context.Context, data []byte) (e Entry, dup bool, err error) {
	return l.AppendWith(ctx, data, AppendOptions{})
}

// AppendOptions are the options of one [Log.AppendWith].
type AppendOptions struct {
	// Value travels with the entry to [Options.Apply], which receives it
	// as is: what the caller already derived from the data (in this
	// project, the decoded record and the signatures already verified).
	Value any
	// Turn, if not nil, is the append's place in a [Sequence]: the entry
	// reaches the log only after the one appended with the turn before.
	Turn *Turn
}

// AppendWith is [Log.Append] with options: a value for Apply, and a place
// in a sequence of appends.
func (l *Log) AppendWith(ctx context.Context, data []byte, opts AppendOptions) (e Entry, dup bool, err error) {
	var after <-chan struct{}
	if t := opts.Turn; t != nil {
		after = t.after
		defer func() {
			// An append that ends early keeps its place in the sequence
			// all the same: it lets the next one go only after the
			// previous one (Pass is a no-op once the turn is taken).
			t.pass(ctx, l.done)
		}()
	}
	if err := l.damage(); err != nil {
		return Entry{}, false, err
	}
	if len(data) == 0 {
		return Entry{}, false, fmt.Errorf("%w: empty entry", ErrInvalidInput)
	}
	if len(data) > l.maxEntry {
		return Entry{}, false, fmt.Errorf("%w: entry is %d bytes, limit is %d", ErrInvalidInput, len(data), l.maxEntry)
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, false, err
	}
	if err := l.space.refuse(); err != nil {
		return Entry{}, false, err
	}
	// Duplicates are found by the committer, which looks each request's
	// id up in a snapshot it opened while no commit was in flight; a
	// lookup here would wait for the commit in flight.
	req := &request{data: bytes.Clone(data), id: tlog.RecordIDOf(data), value: opts.Value, reply: make(chan result, 1)}
	if after != nil {
		select {
		case <-after:
		case <-ctx.Done():
			return Entry{}, false, ctx.Err()
		case <-l.done:
			return Entry{}, false, ErrClosed
		}
		// The previous append may have given up (its ctx done, or the
		// log closed) before the one before it was taken: then this one
		// must not go ahead of that one either. Appends of a sequence
		// share ctx, so checking it and the log again settles that.
		if err := ctx.Err(); err != nil {
			return Entry{}, false, err
		}
		select {
		case <-l.done:
			return Entry{}, false, ErrClosed
		default:
		}
	}
	select {
	case <-l.done: // the queue may have room, but no committer to take it
		return Entry{}, false, ErrClosed
	default:
	}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		return Entry{}, false, ctx.Err()
	case <-l.done:
		return Entry{}, false, ErrClosed
	}
	if opts.Turn != nil {
		opts.Turn.release() // queued: the next append of the sequence may go
	}
	select {
	case r := <-req.reply:
		return r.e, r.dup, r.err
	case <-l.stopped:
		// The committer replied before it stopped, or never took req.
		select {
		case r := <-req.reply:
			return r.e, r.dup, r.err
		default:
			return Entry{}, false, ErrClosed
		}
	}
}

// run is the committer: it gathers waiting requests into groups and commits
// them one group at a time. It pipelines: while one group's commit is in
// flight (its journal record being synced, then its Badger transaction),
// it gathers and plans the next (running Apply against the committed state
// plus the in-flight group's writes, and staging its transaction) and
// starts writing that group's journal record, but it sends its transaction
// to Badger, and replies to its requests, only once the group in flight is
// committed. If the group in flight fails, the log stops and the appends of
// the one planned on top of it fail too (its journal record, if written
// already, brings it back at the next Open).
func (l *Log) run(ctx context.Context) {
	defer l.wg.Done()
	defer close(l.stopped) // after the deferred settle below
	var (
		carry    []*request
		inflight *group
	)
	// The transactions the next group is planned on and staged in are
	// opened whenever no commit is in flight, so the read one holds the
	// state the group in flight was planned on: Badger makes a
	// transaction opened during a commit wait for that commit, which
	// would stall planning until the group in flight is durable and undo
	// the pipelining.
	var txs planTxns
	resnap := func() { txs.renew(l.db) }
	resnap()
	defer txs.discard() // after the deferred settle below
	// settle waits for the group in flight, if any, and replies to it.
	settle := func() {
		if inflight != nil {
			l.finish(inflight, <-inflight.done)
			inflight = nil
			resnap()
		}
	}
	defer settle()
	for {
		batch := carry
		carry = nil
		if len(batch) == 0 {
			var done chan error
			if inflight != nil {
				done = inflight.done
			}
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			case ack := <-l.resign:
				if inflight == nil { // else its commit brings a fresh checkpoint
					l.resignNow()
				}
				close(ack)
				continue
			case err := <-done:
				l.finish(inflight, err)
				inflight = nil
				resnap()
				continue
			case <-ctx.Done():
				return
			}
		}
		batch = l.gather(batch)
		l.lastBatch.Store(time.Now().UnixNano())
		if err := l.space.check(); err != nil {
			// Nothing of the batch is written, and the log goes on.
			l.replyAll(batch, err)
			continue
		}
		if err := l.damage(); err != nil {
			// Found damaged after these appends were taken (one waiting
			// its turn in a sequence): nothing of them is written. (A
			// group already planned and in the journal when damage is
			// found still commits: one group, a few milliseconds; its
			// journal record would bring it back at the next start.)
			l.replyAll(batch, fmt.Errorf("%w; the append was taken before the damage was found, and is not written", err))
			continue
		}
		g := l.plan(batch, inflight, &txs)
		carry = g.carry
		if l.journal != nil && g.txn != nil && l.commitErr == nil {
			// Make it durable while the group in flight goes into Badger.
			l.writeJournal(g, inflight)
		}
		settle()
		if l.commitErr != nil {
			// The group was planned on top of a failed one.
			g.discard()
			l.replyAll(g.batch[:g.cut], l.commitErr)
		} else if g.txn == nil {
			l.finish(g, g.stageErr)
		} else if len(g.batch) == 1 {
			// A lone request: no other work to overlap with its commit.
			l.commitNow(g)
			l.finish(g, <-g.done)
			resnap()
		} else {
			// Nothing is in flight: open the transaction the next
			// group is staged in now, not while g commits.
			txs.refill(l.db)
			l.start(g)
			inflight = g
		}
		if ctx.Err() != nil {
			settle()
			for _, r := range carry {
				r.reply <- result{err: ErrClosed}
			}
			return
		}
	}
}

// gather adds waiting requests to batch, up to the group limits.
func (l *Log) gather(batch []*request) []*request {
	maxBytes := int(l.db.MaxBatchSize() / 2)
	n := 0
	for _, r := range batch {
		n += len(r.data)
	}
	for len(batch) < maxGroupEntries && n < maxBytes {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
			n += len(r.data)
		default:
			return batch
		}
	}
	return batch
}

// An outcome is the planned fate of one request of a group.
type outcome struct {
	kind  int   // one of the out* constants
	acc   int   // for outAccepted and outDupInGroup: position in the accepted list
	orig  int   // for outDupInGroup: position in the batch of the accepted original
	e     Entry // for outAccepted and outDupCommitted
	err   error // for outRejected
	state []kvw // for outAccepted: staged state writes
}

const (
	outAccepted = iota
	outDupInGroup
	outDupCommitted
	outRejected
)

type kvw struct{ k, v []byte }

// A group is one planned commit group.
type group struct {
	batch []*request
	outs  []outcome
	cut   int         // batch[:cut] is settled by this group; the rest is carry
	carry []*request  // requests left for the next group
	txn   *badger.Txn // staged writes; nil if there is nothing to commit
	w     written     // the tree state txn commits
	size  uint64      // tree size after the group
	// For planning the next group on top of this one before it commits:
	entries map[tlog.RecordID]Entry // accepted entries
	state   map[string][]byte       // state writes of accepted entries
	// stageErr is a failure to stage accepted entries; it stops the log.
	stageErr error
	done     chan error // the commit's outcome, once started
	replied  bool       // the commit callback replied; set before done
	// With a journal: journaled is closed once the group's record is
	// written (journalErr set before), settled once its Badger commit is
	// over (settleErr set before).
	journaled  chan struct{}
	journalErr error
	settled    chan struct{}
	settleErr  error
}

// writeJournal writes the group's journal record, after prev's (the group
// before it, if its record may still be being written), on a goroutine of
// its own: so a group's record is written while the group before it is
// still being committed to Badger. A group planned on one whose record
// failed fails too, unwritten. The committer calls it for each group with
// a transaction, in order.
func (l *Log) writeJournal(g, prev *group) {
	g.journaled = make(chan struct{})
	l.journaling.Add(1)
	go func() {
		defer l.journaling.Done()
		defer close(g.journaled)
		var (
			before    <-chan struct{}
			beforeErr func() error
		)
		if prev != nil {
			<-prev.journaled
			if prev.journalErr != nil {
				g.journalErr = errors.New("the group before it could not be made durable")
				return
			}
			before, beforeErr = prev.settled, func() error { return prev.settleErr }
		}
		// If the record goes to the other file, the old one is emptied
		// only once every group in it is in Badger: the last is prev.
		if err := l.journal.rotate(l.syncBadger, before, beforeErr); err != nil {
			g.journalErr = err
			return
		}
		g.journalErr = l.journal.append(g.w.journal)
	}()
}

// start sends the group's transaction to Badger, off the committer's
// goroutine, once its journal record is durable (writing it now if
// writeJournal was not called). When the commit is done, and its writes
// visible to readers, [Log.committed] runs from Badger's callback
// goroutine. No other commit may be in flight.
func (l *Log) start(g *group) {
	g.done = make(chan error, 1)
	g.settled = make(chan struct{})
	txn := g.txn
	g.txn = nil
	if l.journal == nil {
		txn.CommitWith(func(err error) { l.committed(g, err) })
		return
	}
	if g.journaled == nil {
		l.writeJournal(g, nil)
	}
	go func() {
		<-g.journaled
		if g.journalErr != nil {
			txn.Discard()
			l.committed(g, g.journalErr)
			return
		}
		if l.beforeBadger != nil && l.beforeBadger(g, txn) {
			return
		}
		txn.CommitWith(func(err error) { l.committed(g, err) })
	}()
}

// commitNow commits the group on the committer's goroutine: for a group
// with nothing to overlap, it saves the hop to Badger's callback. No other
// commit may be in flight, nor any journal record but the group's own
// being written.
func (l *Log) commitNow(g *group) {
	g.done = make(chan error, 1)
	g.settled = make(chan struct{})
	txn := g.txn
	g.txn = nil
	if l.journal != nil {
		if g.journaled == nil {
			l.writeJournal(g, nil)
		}
		<-g.journaled
		if err := g.journalErr; err != nil {
			txn.Discard()
			l.committed(g, err)
			return
		}
		if l.beforeBadger != nil && l.beforeBadger(g, txn) {
			return
		}
	}
	l.committed(g, txn.Commit())
}

// syncBadger makes Badger's own logs durable, so that the journal records
// of groups already committed to Badger can be dropped.
func (l *Log) syncBadger() error {
	if l.beforeSync != nil {
		if err := l.beforeSync(); err != nil {
			return err
		}
	}
	return syncBadgerFiles(l.dir)
}

// committed publishes a committed group's tree state at once, so that
// readers never see state (say, an index naming an entry) ahead of the
// published size for longer than that; it replies to the group's requests
// itself, sparing the committer, and then hands the outcome to the
// committer. A failed commit is answered by the committer, in finish.
func (l *Log) committed(g *group, err error) {
	if err != nil {
		g.settleErr = err
		close(g.settled)
		g.done <- fmt.Errorf("committing: %w", err)
		return
	}
	l.mu.Lock()
	l.size, l.rng, l.root, l.ckpt, l.ckptAt, l.m = g.size, g.w.rng, g.w.root, g.w.ckpt, g.w.ckptAt, g.w.m
	l.mu.Unlock()
	close(g.settled)
	l.reply(g.batch, g.outs, 0, g.cut, nil)
	g.replied = true
	g.done <- nil
}

func (g *group) discard() {
	if g.txn != nil {
		g.txn.Discard()
		g.txn = nil
	}
}

// commitGroup plans, writes and commits one group synchronously, replies to
// every request it settles, and returns the requests left for the next
// group (when the group had to be split). It is for tests, and the
// committer must be stopped: its snapshot would not hold this commit.
func (l *Log) commitGroup(batch []*request) (carry []*request) {
	var txs planTxns
	txs.renew(l.db)
	g := l.plan(batch, nil, &txs)
	txs.discard()
	if g.txn == nil || l.commitErr != nil {
		g.discard()
		l.finish(g, g.stageErr)
		return g.carry
	}
	l.start(g)
	l.finish(g, <-g.done)
	return g.carry
}

// finish stops the log if err is not nil, and replies to the requests the
// group settles. (A committed group's tree state is published by start.)
func (l *Log) finish(g *group, err error) {
	if err == nil && l.commitErr == nil {
		for k, v := range g.state {
			l.cache.update(k, v)
		}
	} else if err != nil {
		l.cache.clear()
	}
	if g.replied {
		return
	}
	if l.commitErr != nil {
		l.replyAll(g.batch[:g.cut], l.commitErr)
		return
	}
	if err != nil {
		// The store may or may not hold the group now; only reopening,
		// which reads the stored tree state, is sure to agree with it.
		l.commitErr = fmt.Errorf("log stopped after a failed commit, reopen it: %w", err)
		l.logger.Error("ledger commit failed", "entries", len(g.entries), "err", err)
	}
	l.reply(g.batch, g.outs, 0, g.cut, err)
}

// replyAll fails every request of reqs with err.
func (l *Log) replyAll(reqs []*request, err error) {
	for _, r := range reqs {
		r.reply <- result{err: err}
	}
}

// plan assigns indexes to a group's new entries, runs Apply for them in
// request order and stages the group's transaction, on top of the
// committed state before prev (txs.read) and of prev, the group in flight
// (nil for none). A group with nothing to commit has a nil txn.
func (l *Log) plan(batch []*request, prev *group, txs *planTxns) *group {
	rtx := txs.read
	g := &group{batch: batch, cut: len(batch), outs: make([]outcome, len(batch))}
	if l.commitErr != nil {
		l.replyAll(batch, l.commitErr)
		g.batch, g.cut = nil, 0
		return g
	}
	var (
		size   uint64
		hashes [][]byte
		base   tlog.Map // the verifiable map before the group
	)
	if prev != nil {
		size, hashes, base = prev.size, prev.w.rng.Hashes(), prev.w.m
	} else {
		l.mu.RLock()
		size, hashes, base = l.size, l.rng.Hashes(), l.m
		l.mu.RUnlock()
	}
	g.size = size

	// Plan: assign indexes and run Apply, in request order.
	now, err := l.groupTime()
	if err != nil {
		l.replyAll(batch, err)
		g.batch, g.cut = nil, 0
		return g
	}
	outs := g.outs
	var acc []int // positions in batch of accepted requests
	inGroup := make(map[tlog.RecordID]int, len(batch))
	pending := make(map[string][]byte, 8*len(batch))
	var (
		prevEntries map[tlog.RecordID]Entry
		prevState   map[string][]byte
	)
	if prev != nil {
		prevEntries, prevState = prev.entries, prev.state
	}
	for i, r := range batch {
		if a, ok := inGroup[r.id]; ok {
			outs[i] = outcome{kind: outDupInGroup, acc: a, orig: acc[a]}
			continue
		}
		if e, ok := prevEntries[r.id]; ok {
			outs[i] = outcome{kind: outDupCommitted, e: e}
			continue
		}
		if e, err := entryByID(rtx, r.id); err == nil {
			outs[i] = outcome{kind: outDupCommitted, e: e}
			continue
		} else if !errors.Is(err, ErrNotFound) {
			outs[i] = outcome{kind: outRejected, err: err}
			continue
		}
		e := Entry{Index: size + uint64(len(acc)), ID: r.id, Data: r.data, Time: now}
		var state []kvw
		if l.opts.Apply != nil {
			tx := &StateTx{
				rtx: rtx, cache: l.cache, inflight: prevState, pending: pending, staged: make(map[string][]byte), base: base,
				inflightEntries: prevEntries, group: inGroup, acc: acc, outs: outs,
			}
			err := l.opts.Apply(tx, e, r.value)
			tx.done = true
			if err != nil {
				outs[i] = outcome{kind: outRejected, err: err}
				continue
			}
			if len(tx.extra) > tlog.MaxLeafExtra {
				outs[i] = outcome{kind: outRejected, err: fmt.Errorf("%w: leaf extra of %d bytes, limit %d", ErrInvalidInput, len(tx.extra), tlog.MaxLeafExtra)}
				continue
			}
			e.Extra = tx.extra
			for k, v := range tx.staged {
				pending[k] = v
				state = append(state, kvw{stateKey([]byte(k)), v})
			}
		}
		outs[i] = outcome{kind: outAccepted, acc: len(acc), e: e, state: state}
		inGroup[r.id] = len(acc)
		acc = append(acc, i)
	}

	if len(acc) == 0 {
		return g
	}

	// Write: shrink the accepted prefix until it fits one transaction.
	k := len(acc)
	var (
		txn  *badger.Txn
		w    written
		fits int
	)
	for {
		txn, w, fits, err = l.writeGroup(txs.take(l.db), batch, outs, acc[:k], size, hashes, base)
		if !errors.Is(err, badger.ErrTxnTooBig) {
			break
		}
		if fits == 0 {
			// The first entry alone is too big: reject it, retry the rest.
			// Nothing was staged: the group settles batch[:i+1] alone.
			i := acc[0]
			outs[i] = outcome{kind: outRejected, err: fmt.Errorf(
				"%w: entry of %d bytes with its state writes exceeds the store's transaction limit", ErrInvalidInput, len(batch[i].data))}
			g.cut, g.carry = i+1, batch[i+1:]
			return g
		}
		k = fits
	}
	// Requests from the first accepted entry that did not fit are retried,
	// except duplicates of entries that did fit.
	if k < len(acc) {
		g.cut = acc[k]
		var keep []*request
		var keepOuts []outcome
		for i := g.cut; i < len(batch); i++ {
			if o := outs[i]; o.kind == outDupInGroup && o.acc < k {
				keep, keepOuts = append(keep, batch[i]), append(keepOuts, o)
			} else {
				g.carry = append(g.carry, batch[i])
			}
		}
		// Settle the kept duplicates with the group: move them into
		// the settled prefix.
		g.batch = append(append([]*request(nil), batch[:g.cut]...), keep...)
		g.outs = append(append([]outcome(nil), outs[:g.cut]...), keepOuts...)
		g.cut = len(g.batch)
	}
	if err != nil {
		g.stageErr = err
		return g
	}
	g.txn, g.w, g.size = txn, w, size+uint64(k)
	g.entries = make(map[tlog.RecordID]Entry, k)
	g.state = make(map[string][]byte, 8*k)
	for _, i := range acc[:k] {
		o := outs[i]
		g.entries[o.e.ID] = o.e
		for _, kv := range o.state {
			g.state[string(kv.k[len(prefixState):])] = kv.v
		}
	}
	return g
}

// reply settles requests batch[from:to]; commitErr fails those whose fate
// depended on the commit.
func (l *Log) reply(batch []*request, outs []outcome, from, to int, commitErr error) {
	for i := from; i < to; i++ {
		o := outs[i]
		var res result
		switch o.kind {
		case outAccepted, outDupInGroup:
			if commitErr != nil {
				res.err = commitErr
				break
			}
			if o.kind == outDupInGroup {
				res = result{e: outs[o.orig].e, dup: true}
			} else {
				res = result{e: o.e}
			}
		case outDupCommitted:
			res = result{e: o.e, dup: true}
		case outRejected:
			res.err = o.err
		}
		batch[i].reply <- res
	}
}

// written is the tree state a group's transaction commits.
type written struct {
	rng     *compact.Range
	root    [32]byte
	m       tlog.Map // the verifiable map after the group
	ckpt    []byte
	ckptAt  time.Time
	journal []byte // the group's journal record, if the log has a journal
}

// writeGroup stages the accepted entries batch[acc...] into txn, a new
// update transaction, and discards txn if that fails. On
// badger.ErrTxnTooBig it reports how many entries fit.
//
// It also works out the verifiable map after the entries, from base and
// their index writes, and commits its root in the last entry's leaf.
func (l *Log) writeGroup(txn *badger.Txn, batch []*request, outs []outcome, acc []int, size uint64, hashes [][]byte, base tlog.Map) (*badger.Txn, written, int, error) {
	fail := func(fits int, err error) (*badger.Txn, written, int, error) {
		txn.Discard()
		return nil, written{}, fits, err
	}
	rng, err := rangeFactory.NewRange(0, size, cloneHashes(hashes))
	if err != nil {
		return fail(0, fmt.Errorf("restoring tree state: %w", err))
	}
	var nodes []kvw
	visit := func(id compact.NodeID, h []byte) { nodes = append(nodes, kvw{nodeKey(id), h}) }
	var rec []byte
	set := func(k, v []byte) error {
		if l.journal != nil {
			rec = addJournalWrite(rec, k, v)
		}
		return txn.Set(k, v)
	}
	if l.journal != nil {
		n := 0
		for _, i := range acc {
			n += 256 + len(batch[i].data)
		}
		rec = newJournalRecord(size, len(acc), n)
	}
	var index []tlog.MapEntry
	for _, i := range acc {
		for _, kv := range outs[i].state {
			if k, ok := bytes.CutPrefix(kv.k[len(prefixState):], []byte(indexPrefix)); ok {
				index = append(index, tlog.MapEntry{Key: k, Value: kv.v})
			}
		}
		outs[i].e.MapRoot = nil // from an attempt with more entries
	}
	m := base.SetAll(index)
	root := m.Root()
	outs[acc[len(acc)-1]].e.MapRoot = &root
	for n, i := range acc {
		r := batch[i]
		index := size + uint64(n)
		nodes = nodes[:0]
		leaf := outs[i].e.Leaf().Hash()
		if err := rng.Append(leaf[:], visit); err != nil {
			return fail(0, fmt.Errorf("extending tree: %w", err))
		}
		writes := append([]kvw{
			{entryKey(index), encodeEntry(outs[i].e)},
			{hashKey(r.id), binary.BigEndian.AppendUint64(nil, index)},
		}, outs[i].state...)
		for _, w := range append(writes, nodes...) {
			if err := set(w.k, w.v); err != nil {
				return fail(n, fmt.Errorf("staging entry %d: %w", index, err))
			}
		}
	}
	var w written
	w.rng, w.root, w.m = rng, rangeRoot(rng), m
	c := tlog.Checkpoint{Origin: l.opts.Origin, Size: size + uint64(len(acc)), Root: w.root, Time: outs[acc[0]].e.Time}
	if w.ckpt, err = tlog.SignCheckpoint(c, l.opts.Signer); err != nil {
		return fail(0, err)
	}
	w.ckptAt = c.Time
	if err := set(keyTree, encodeTree(c.Size, rng.Hashes())); err != nil {
		return fail(len(acc)-1, fmt.Errorf("staging tree state: %w", err))
	}
	if err := set(keyCkpt, w.ckpt); err != nil {
		return fail(len(acc)-1, fmt.Errorf("staging checkpoint: %w", err))
	}
	w.journal = rec
	return txn, w, len(acc), nil
}

func cloneHashes(hs [][]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = bytes.Clone(h)
	}
	return out
}

// stateCacheEntries bounds the committer's state cache. Party records and
// the state of lots in motion are read again and again; the cache spares
// those reads the trip through Badger's memtables and tables.
const stateCacheEntries = 1 << 16

// A cachedValue is a state key's committed value; found is false for a
// key known to have none.
type cachedValue struct {
	v     []byte
	found bool
}

// A stateCache holds committed state the committer has read or written.
// Only the committer uses it, so it has no lock. It stays correct because
// the committer is the only writer of state: a value read from the store
// while planning a group is still the committed one when the group in
// flight lands, unless that group wrote it, and then [StateTx.Get] finds
// the group's write first and never reads the store for it; each group's
// writes to keys it holds are applied once the group is durable (in finish).
type stateCache struct {
	m     map[string]cachedValue
	limit int
}

func newStateCache(limit int) *stateCache {
	return &stateCache{m: make(map[string]cachedValue), limit: limit}
}

func (c *stateCache) get(key []byte) (cachedValue, bool) {
	v, ok := c.m[string(key)]
	return v, ok
}

func (c *stateCache) put(key []byte, v cachedValue) {
	if len(c.m) >= c.limit {
		// Dropping everything is crude but cheap, and rare: hot keys
		// come back on their next read.
		clear(c.m)
	}
	c.m[string(key)] = v
}

// update sets key's committed value if the cache holds key. A key it
// does not hold is read from the store when it is next needed; most state
// written (history and search indexes) is never read by the committer.
func (c *stateCache) update(key string, v []byte) {
	if _, ok := c.m[key]; ok {
		c.m[key] = cachedValue{v: v, found: true}
	}
}

func (c *stateCache) clear() { clear(c.m) }

// planTxns are the Badger transactions a group is planned on: read holds
// the committed state, and write, once taken, receives the group's writes.
type planTxns struct {
	read, write *badger.Txn
}

// renew opens a new read transaction, and a write transaction if the last
// one was taken. The committer calls it only when no commit is in flight.
func (t *planTxns) renew(db *badger.DB) {
	if t.read != nil {
		t.read.Discard()
	}
	t.read = db.NewTransaction(false)
	if t.write == nil {
		t.write = db.NewTransaction(true)
	}
}

// refill opens a write transaction if the last one was taken, leaving the
// read transaction as it is. The committer calls it only when no commit is
// in flight.
func (t *planTxns) refill(db *badger.DB) {
	if t.write == nil {
		t.write = db.NewTransaction(true)
	}
}

// take returns the write transaction opened by renew or refill, or a new
// one if it was taken already: when a group is retried smaller, or (in
// tests) planned without the committer.
func (t *planTxns) take(db *badger.DB) *badger.Txn {
	if w := t.write; w != nil {
		t.write = nil
		return w
	}
	return db.NewTransaction(true)
}

func (t *planTxns) discard() {
	for _, x := range []*badger.Txn{t.read, t.write} {
		if x != nil {
			x.Discard()
		}
	}
	*t = planTxns{}
}
