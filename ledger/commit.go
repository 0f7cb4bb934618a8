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
)

// An ApplyFunc keeps a higher layer's index state in step with the log. It is
// called by the single committer goroutine for each new (non-duplicate)
// entry, in log order, before the entry's commit group is written; e.Index is
// already assigned. tx.Get sees every state write of the entries before e,
// including those earlier in the same group; tx.Set stages writes that are
// committed atomically with e.
//
// Returning an error rejects e alone: its staged writes are discarded, it gets
// no index, and [Log.Append] returns the error unchanged. An ApplyFunc MUST NOT
// block on I/O other than tx reads, MUST NOT retain tx, and MUST have no
// effects other than through tx: if a commit group has to be split to fit
// Badger's transaction limits, it is called again for the entries that did
// not fit, against the state then committed.
type ApplyFunc func(tx *StateTx, e Entry) error

// A StateTx is the view of index state given to an [ApplyFunc]. It is valid
// only during that call and is not safe for concurrent use.
type StateTx struct {
	rtx     *badger.Txn       // committed state
	pending map[string][]byte // writes of accepted entries earlier in the group
	staged  map[string][]byte // writes of this entry
	done    bool
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
	v, err := getValue(tx.rtx, stateKey(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("state key %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading state key %q: %w", key, err)
	}
	return v, nil
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
	leaf  [32]byte
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
// before the committer takes the request, nothing is written and ctx's error is
// returned; once taken, Append waits for the outcome. The caller must not
// modify data during the call.
func (l *Log) Append(ctx context.Context, data []byte) (e Entry, dup bool, err error) {
	if len(data) == 0 {
		return Entry{}, false, fmt.Errorf("%w: empty entry", ErrInvalidInput)
	}
	if len(data) > l.maxEntry {
		return Entry{}, false, fmt.Errorf("%w: entry is %d bytes, limit is %d", ErrInvalidInput, len(data), l.maxEntry)
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, false, err
	}
	leaf := LeafHash(data)
	// Duplicates already committed need not wait for a commit group.
	if e, err := l.getByLeaf(leaf); err == nil {
		return e, true, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Entry{}, false, err
	}
	req := &request{data: bytes.Clone(data), leaf: leaf, reply: make(chan result, 1)}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		return Entry{}, false, ctx.Err()
	case <-l.done:
		return Entry{}, false, ErrClosed
	}
	r := <-req.reply
	return r.e, r.dup, r.err
}

// run is the committer: it gathers waiting requests into groups and commits
// them one group at a time.
func (l *Log) run(ctx context.Context) {
	defer l.wg.Done()
	maxBytes := int(l.db.MaxBatchSize() / 2)
	var carry []*request
	for {
		batch := carry
		carry = nil
		if len(batch) == 0 {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			case <-ctx.Done():
				return
			}
		}
		n := 0
		for _, r := range batch {
			n += len(r.data)
		}
	drain:
		for len(batch) < maxGroupEntries && n < maxBytes {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
				n += len(r.data)
			default:
				break drain
			}
		}
		carry = l.commitGroup(batch)
		if ctx.Err() != nil {
			for _, r := range carry {
				r.reply <- result{err: ErrClosed}
			}
			return
		}
	}
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

// commitGroup plans, writes and commits one group, replies to every request
// it settles, and returns the requests left for the next group (when the
// group had to be split).
func (l *Log) commitGroup(batch []*request) (carry []*request) {
	if l.commitErr != nil {
		for _, r := range batch {
			r.reply <- result{err: l.commitErr}
		}
		return nil
	}
	rtx := l.db.NewTransaction(false)
	defer rtx.Discard()
	l.mu.RLock()
	size, hashes := l.size, l.rng.Hashes()
	l.mu.RUnlock()

	// Plan: assign indexes and run Apply, in request order.
	now := time.Now().Round(0)
	outs := make([]outcome, len(batch))
	var acc []int // positions in batch of accepted requests
	inGroup := make(map[[32]byte]int)
	pending := make(map[string][]byte)
	for i, r := range batch {
		if a, ok := inGroup[r.leaf]; ok {
			outs[i] = outcome{kind: outDupInGroup, acc: a, orig: acc[a]}
			continue
		}
		if e, err := entryByLeaf(rtx, r.leaf); err == nil {
			outs[i] = outcome{kind: outDupCommitted, e: e}
			continue
		} else if !errors.Is(err, ErrNotFound) {
			outs[i] = outcome{kind: outRejected, err: err}
			continue
		}
		e := Entry{Index: size + uint64(len(acc)), LeafHash: r.leaf, Data: r.data, Time: now}
		var state []kvw
		if l.opts.Apply != nil {
			tx := &StateTx{rtx: rtx, pending: pending, staged: make(map[string][]byte)}
			err := l.opts.Apply(tx, e)
			tx.done = true
			if err != nil {
				outs[i] = outcome{kind: outRejected, err: err}
				continue
			}
			for k, v := range tx.staged {
				pending[k] = v
				state = append(state, kvw{stateKey([]byte(k)), v})
			}
		}
		outs[i] = outcome{kind: outAccepted, acc: len(acc), e: e, state: state}
		inGroup[r.leaf] = len(acc)
		acc = append(acc, i)
	}

	if len(acc) == 0 {
		l.reply(batch, outs, 0, len(batch), nil)
		return nil
	}

	// Write: shrink the accepted prefix until it fits one transaction.
	k := len(acc)
	var (
		txn  *badger.Txn
		w    written
		err  error
		fits int
	)
	for {
		txn, w, fits, err = l.writeGroup(batch, outs, acc[:k], size, hashes)
		if !errors.Is(err, badger.ErrTxnTooBig) {
			break
		}
		if fits == 0 {
			// The first entry alone is too big: reject it, retry the rest.
			i := acc[0]
			outs[i] = outcome{kind: outRejected, err: fmt.Errorf(
				"%w: entry of %d bytes with its state writes exceeds the store's transaction limit", ErrInvalidInput, len(batch[i].data))}
			l.reply(batch, outs, 0, i+1, nil)
			return batch[i+1:]
		}
		k = fits
	}
	// Requests from the first accepted entry that did not fit are retried,
	// except duplicates of entries that did fit.
	cut := len(batch)
	if k < len(acc) {
		cut = acc[k]
		for i := cut; i < len(batch); i++ {
			if o := outs[i]; o.kind == outDupInGroup && o.acc < k {
				l.reply(batch, outs, i, i+1, nil)
			} else {
				carry = append(carry, batch[i])
			}
		}
	}
	if err == nil {
		err = txn.Commit()
		if err != nil {
			err = fmt.Errorf("committing: %w", err)
		}
	} else if txn != nil {
		txn.Discard()
	}
	if err != nil {
		// The store may or may not hold the group now; only reopening,
		// which reads the stored tree state, is sure to agree with it.
		l.commitErr = fmt.Errorf("log stopped after a failed commit, reopen it: %w", err)
		l.logger.Error("ledger commit failed", "entries", k, "err", err)
	} else {
		l.mu.Lock()
		l.size, l.rng, l.root, l.ckpt = size+uint64(k), w.rng, w.root, w.ckpt
		l.mu.Unlock()
	}
	l.reply(batch, outs, 0, cut, err)
	return carry
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
	rng  *compact.Range
	root [32]byte
	ckpt []byte
}

// writeGroup stages the accepted entries batch[acc...] into a new update
// transaction. On badger.ErrTxnTooBig it reports how many entries fit.
func (l *Log) writeGroup(batch []*request, outs []outcome, acc []int, size uint64, hashes [][]byte) (*badger.Txn, written, int, error) {
	txn := l.db.NewTransaction(true)
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
	for n, i := range acc {
		r := batch[i]
		index := size + uint64(n)
		nodes = nodes[:0]
		if err := rng.Append(bytes.Clone(r.leaf[:]), visit); err != nil {
			return fail(0, fmt.Errorf("extending tree: %w", err))
		}
		writes := append([]kvw{
			{entryKey(index), encodeEntry(r.data, outs[i].e.Time)},
			{hashKey(r.leaf), binary.BigEndian.AppendUint64(nil, index)},
		}, outs[i].state...)
		for _, w := range append(writes, nodes...) {
			if err := txn.Set(w.k, w.v); err != nil {
				return fail(n, fmt.Errorf("staging entry %d: %w", index, err))
			}
		}
	}
	var w written
	w.rng, w.root = rng, rangeRoot(rng)
	c := Checkpoint{Origin: l.opts.Origin, Size: size + uint64(len(acc)), Root: w.root}
	if w.ckpt, err = signCheckpoint(c, l.opts.Signer); err != nil {
		return fail(0, err)
	}
	if err := txn.Set(keyTree, encodeTree(c.Size, rng.Hashes())); err != nil {
		return fail(len(acc)-1, fmt.Errorf("staging tree state: %w", err))
	}
	if err := txn.Set(keyCkpt, w.ckpt); err != nil {
		return fail(len(acc)-1, fmt.Errorf("staging checkpoint: %w", err))
	}
	return txn, w, len(acc), nil
}

func cloneHashes(hs [][]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = bytes.Clone(h)
	}
	return out
}
