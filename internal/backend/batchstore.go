package backend

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// batchStore is the replay store of a batch of records: the replay's
// writes stay in memory, where later records of the batch read them, and
// go to Badger once per batch, coalesced (a lot's summary, head and
// nodes written once, however many of the batch's records touch them; a
// flag raised and withdrawn within the batch never written), in one
// transaction with the follower's position. Reads of keys the batch has
// not written go to the previous batch's writes (hot), then to the
// transaction.
//
// It commits only at a record's end, so that the state committed is
// always that of a prefix of the log (the position says which). A batch
// whose writes do not fit one transaction fails to commit with
// errBatchTooBig and is replayed again one record at a time
// ([Backend.slowUntil]), with the transactions of a txnStore.
type batchStore struct {
	t     *txnStore
	over  map[string]ovVal
	wkeys []string // keys under "w/" in over, for Last
	size  int      // an estimate of over's size in a transaction
	// hot are the writes the last commit made (committed, so as the
	// store holds them), or nil.
	hot map[string]ovVal
	// misses are keys read and found absent from the store; they join
	// hot, as absent, when the batch commits without writing them.
	misses map[string]bool
	// firsts are, by prefix of window keys ("w/KEY\x00"), the first key
	// under it committed ("" for none), where known: a window that
	// starts before it finds no key without an iterator.
	firsts map[string]string
}

// windowKeySuffix is the length of a window key's log time and index
// after its prefix ([verifier.Replay]: "w/KEY\x00" BE8(time) "\x00" BE8(index)).
const windowKeySuffix = 8 + 1 + 8

// ovVal is a write of the batch: a value, or a deletion.
type ovVal struct {
	v   []byte
	del bool
}

// errBatchTooBig says a batch's writes did not fit one transaction.
var errBatchTooBig = errors.New("the batch's writes do not fit one transaction")

// Bounds past which a batch commits at the end of a record: well inside
// what a Badger transaction of the state's memtables takes (15% of 16
// MiB), so that only a single record of very many writes fills one.
const (
	batchCommitBytes   = 1 << 20
	batchCommitEntries = 8000
)

func newBatchStore(t *txnStore, hot map[string]ovVal, firsts map[string]string) *batchStore {
	return &batchStore{t: t, over: make(map[string]ovVal, 1024), hot: hot, firsts: firsts}
}

// full reports whether the batch should commit now.
func (s *batchStore) full() bool {
	return s.size >= batchCommitBytes || len(s.over) >= batchCommitEntries
}

func (s *batchStore) Get(key []byte) ([]byte, error) {
	if v, ok := s.over[string(key)]; ok {
		return v.value(), nil
	}
	if v, ok := s.hot[string(key)]; ok {
		return v.value(), nil
	}
	if s.misses[string(key)] {
		return nil, nil
	}
	v, err := s.t.Get(key)
	if v == nil && err == nil {
		// Absent before the batch: so it stays for the batch's reads
		// and, unless the batch writes it, the next batch's.
		if s.misses == nil {
			s.misses = map[string]bool{}
		}
		s.misses[string(key)] = true
	}
	return v, err
}

// getUncached reads key as the batch and the store hold it, not from the
// previous batch's writes: for keys others change between batches (the
// queue of parties).
func (s *batchStore) getUncached(key []byte) ([]byte, error) {
	if v, ok := s.over[string(key)]; ok {
		return v.value(), nil
	}
	return s.t.Get(key)
}

func (v ovVal) value() []byte {
	switch {
	case v.del:
		return nil
	case v.v == nil:
		return []byte{} // present, empty
	}
	return v.v
}

func (s *batchStore) Set(key, value []byte) error {
	k := string(key)
	old, had := s.over[k]
	if !had && len(k) > 2 && k[0] == 'w' && k[1] == '/' {
		s.wkeys = append(s.wkeys, k)
	}
	s.size += len(value) - len(old.v)
	if !had {
		s.size += len(k) + 16
	}
	s.over[k] = ovVal{v: value}
	return nil
}

func (s *batchStore) Delete(key []byte) error {
	k := string(key)
	old, had := s.over[k]
	s.size -= len(old.v)
	if !had {
		s.size += len(k) + 16
	}
	s.over[k] = ovVal{del: true}
	return nil
}

// Last serves the replay's window lookups (keys under "w/"): the batch's
// own, and the store's before the batch.
func (s *batchStore) Last(prefix, before []byte) ([]byte, error) {
	var best string
	for _, k := range s.wkeys {
		if len(k) >= len(prefix) && k[:len(prefix)] == string(prefix) && k < string(before) && k > best && !s.over[k].del {
			best = k
		}
	}
	first, known := s.firsts[string(prefix)]
	if !known {
		k, err := s.t.firstCommitted(prefix)
		if err != nil {
			return nil, err
		}
		first = string(k)
		s.firsts[string(prefix)] = first
	}
	if first != "" && first < string(before) {
		key, v, err := s.t.lastCommitted(prefix, before)
		if err != nil {
			return nil, err
		}
		if key != nil && bytes.Compare(key, []byte(best)) > 0 {
			return v, nil
		}
	}
	if best != "" {
		return s.over[best].value(), nil
	}
	return nil, nil
}

// commit writes the batch in one transaction and commits it, and starts
// the next transaction; the batch's writes become hot.
func (s *batchStore) commit() error {
	txn := s.t.txn
	for k, v := range s.over {
		var err error
		if v.del {
			err = txn.Delete([]byte(k))
		} else {
			err = txn.Set([]byte(k), v.v)
		}
		if errors.Is(err, badger.ErrTxnTooBig) {
			return fmt.Errorf("%w (%d entries, ~%d bytes)", errBatchTooBig, len(s.over), s.size)
		}
		if err != nil {
			return s.t.fail(err)
		}
	}
	if err := txn.Commit(); err != nil {
		return s.t.fail(err)
	}
	for _, k := range s.wkeys {
		if len(k) < windowKeySuffix {
			continue
		}
		p := k[:len(k)-windowKeySuffix]
		if f, ok := s.firsts[p]; ok && (f == "" || k < f) {
			s.firsts[p] = k
		}
	}
	s.t.view.Discard()
	s.t.txn, s.t.view, s.t.pending = s.t.db.NewTransaction(true), s.t.db.NewTransaction(false), nil
	for k := range s.misses {
		if _, ok := s.over[k]; !ok {
			s.over[k] = ovVal{del: true} // as committed: absent
		}
	}
	s.hot, s.over, s.wkeys, s.size, s.misses = s.over, make(map[string]ovVal, len(s.over)), nil, 0, nil
	return nil
}
