package backend

import (
	"context"
	"errors"
	"time"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/verifier"
	"github.com/dgraph-io/badger/v4"
)

// NewPaused returns a backend that does not follow the log: ReplayAll
// replays it, and listings wait for nothing.
func NewPaused(store *custody.Store, trust verifier.Trust, cfg verifier.Config, dir string) (*Backend, error) {
	b, err := open(store, trust, cfg, Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	close(b.done)
	close(b.partiesDone)
	b.listWait = time.Nanosecond
	return b, nil
}

// ReplayAll replays the log to its end, and verifies queued parties' lots.
func ReplayAll(ctx context.Context, b *Backend) error {
	for {
		n, err := b.step(ctx, batch)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	for {
		did, err := b.verifyQueued(ctx)
		if err != nil || !did {
			return err
		}
	}
}

// ReplayN replays the log up to index n, in batches.
func ReplayN(ctx context.Context, b *Backend, n uint64) error {
	for b.next.Load() < n {
		if _, err := b.step(ctx, min(batch, n-b.next.Load())); err != nil {
			return err
		}
	}
	return nil
}

// OpenBusy is Open with busy telling whether the processors are busy, in
// place of the scheduler's reading.
func OpenBusy(store *custody.Store, trust verifier.Trust, cfg verifier.Config, o Options, busy func(time.Time) bool) (*Backend, error) {
	o.busy = busy
	return Open(store, trust, cfg, o)
}

// OpenPaced opens a backend as OpenBusy does, its pacer weighing the
// follower's progress every window, the follower replaying at most batch
// records a step.
func OpenPaced(store *custody.Store, trust verifier.Trust, cfg verifier.Config, o Options, busy func(time.Time) bool, window time.Duration, batch uint64) (*Backend, error) {
	o.busy, o.paceWindow, o.batch = busy, window, batch
	return Open(store, trust, cfg, o)
}

// OpenSlowStep opens a backend as OpenPaced does, stepped running after
// each of its follower's steps as part of the step (to make one take
// long).
func OpenSlowStep(store *custody.Store, trust verifier.Trust, cfg verifier.Config, o Options, busy func(time.Time) bool, window time.Duration, batch uint64, stepped func()) (*Backend, error) {
	o.stepped = stepped
	return OpenPaced(store, trust, cfg, o, busy, window, batch)
}

// Paced returns how many times b's follower paused while it read past the
// max lag with the processors busy.
func Paced(b *Backend) uint64 { return b.paced.Load() }

// Busy is the scheduler's reading the follower steps aside on.
func Busy() func(time.Time) bool { return new(contention).Busy }

// SetListWait sets how long b's listings wait for its follower.
func SetListWait(b *Backend, d time.Duration) { b.listWait = d }

// Skipped returns how many records b's replay passed over.
func Skipped(b *Backend) uint64 { return b.skipped.Load() }

// Flushes returns how many transactions of b's replay filled up.
func Flushes(b *Backend) uint64 { return b.flushes.Load() }

// Summary returns the replay's summary of lot.
func Summary(b *Backend, lot string) (verifier.ReplayLot, bool, error) {
	var sum verifier.ReplayLot
	var ok bool
	err := b.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(verifier.ReplayLotPrefix + lot))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		return it.Value(func(v []byte) (err error) { sum, err = verifier.DecodeReplayLot(v); return err })
	})
	return sum, ok, err
}

// LockFollower and UnlockFollower hold b's replay lock, as a batch does.
func LockFollower(b *Backend)   { b.mu.Lock() }
func UnlockFollower(b *Backend) { b.mu.Unlock() }

// Step replays one batch; StepLocked one with the lock already held.
func Step(ctx context.Context, b *Backend) (int, error)       { return b.step(ctx, batch) }
func StepLocked(ctx context.Context, b *Backend) (int, error) { return b.stepLocked(ctx, batch) }

// VerifyQueued verifies one queued party's lots in full.
func VerifyQueued(ctx context.Context, b *Backend) error {
	_, err := b.verifyQueued(ctx)
	return err
}

// QueueKeys counts the parties queued for a full verification.
func QueueKeys(b *Backend) (n int) {
	b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(queuePrefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n
}

// SetRaw writes a key of b's replay state as it is.
func SetRaw(b *Backend, k, v []byte) error {
	return b.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) })
}

// TablesChecked is closed once b's background check of its tables is
// done.
func TablesChecked(b *Backend) <-chan struct{} { return b.tablesDone }

// SetBeforeTableCheck sets a function the next checks of the tables of a
// backend's state run first, with the state's directory; nil for none.
func SetBeforeTableCheck(f func(dir string)) { beforeTableCheck = f }

// ReplayOneByOne makes b replay every record on its own, through its
// transaction (as a batch too big for one is), not in batches.
func ReplayOneByOne(b *Backend) { b.slowUntil = ^uint64(0) }

// Dump returns every key and value of b's replay state.
func Dump(b *Backend) (map[string]string, error) {
	out := map[string]string{}
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = string(v)
		}
		return nil
	})
	return out, err
}

// StoreOptions returns the Badger options the flag state's store was
// opened with.
func StoreOptions(b *Backend) badger.Options { return b.db.Opts() }

// ScopedKeysRead returns how many flag keys scoped flag listings read
// from lot summaries.
func ScopedKeysRead() int64 { return scopedKeysRead.Load() }

// MaxScopedFlagKeys is maxScopedFlagKeys.
const MaxScopedFlagKeys = maxScopedFlagKeys

// AddAllFlags adds flags to lot's state as a full verification beside
// the follower does (verifyQueued).
func AddAllFlags(b *Backend, lot string, flags []verifier.FlagAt) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := newTxnStore(b.db)
	defer s.discard()
	if err := b.replay.AddAllFlags(s, lot, flags); err != nil {
		return err
	}
	b.hot = nil
	return s.commit()
}

// NotFollowed reports whether a correction of lot was not followed.
func NotFollowed(b *Backend, lot string) (bool, error) { return b.notFollowed(lot) }
