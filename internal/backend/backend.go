// Package backend is the server side of verification: it builds lots'
// bundles from the custody store ([BuildBundle]), verifies lots with the
// same code a buyer runs ([verifier.Verify]), and keeps the flags of every
// lot current as records arrive ([Backend]). It is apart from package
// verifier so that a buyer's verifier links no store.
package backend

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/witness"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/tlog"
	"github.com/antimony-ledger/provenance/verifier"
)

// A Backend is the server side of verification: it verifies lots for
// auditors, builds bundles for buyers, and keeps the flags of every lot
// current as records arrive.
//
// A follower replays each record of the log once, in log order
// ([verifier.Replay]: the verifier's own steps, one record at a time),
// updating only the state the record touches (the lots it continues or
// makes, and the lots made from an earlier state it flags), and lists
// every lot's verdict and flags from that state. The state lives in its
// own Badger store (Dir), written one batch of records at a time in one
// transaction with the follower's position, so a restart resumes where
// the follower stopped, in time that does not grow with the log. The
// follower reads the log as any reader does and appends never wait for
// it.
//
// A key revocation or rotation can change how a party's earlier records
// are judged; the backend then verifies that party's lots in full, in
// the background, and adds what that finds to their flags.
type Backend struct {
	store  *custody.Store
	trust  verifier.Trust
	cfg    verifier.Config
	logger *slog.Logger

	db       *badger.DB // the replay's state
	readOnly bool       // opened on a nearly full disk: not followed
	// anyNotFollowed is set once the state holds a correction not
	// followed (staleStates).
	anyNotFollowed atomic.Bool
	// mu serialises the replay's writes: the follower's batches and the
	// full verifications of parties' lots.
	mu     sync.Mutex
	replay *verifier.Replay
	next   atomic.Uint64 // the next log index to replay
	// pendingLots counts the lots of queued parties not verified yet (an
	// estimate while a party is queued again).
	pendingLots atomic.Int64
	// hot are the writes of the follower's last batch (batchStore), for
	// the next to read without Badger; nil after any other write to the
	// state. slowUntil: up to this index, batches are replayed one record
	// at a time (a batch's writes did not fit one transaction).
	hot       map[string]ovVal
	slowUntil uint64
	// firsts: the first window key committed under each prefix, as far
	// as batches have looked (batchStore.firsts); nil after any other
	// write of window keys.
	firsts map[string]string
	// caught is closed and replaced each time the follower commits.
	caughtMu sync.Mutex
	caught   chan struct{}
	// Skipped counts records the replay could not take (logged).
	skipped atomic.Uint64
	flushes atomic.Uint64 // transactions committed because they filled up

	cache  *verifier.Cache // shared by the verifications of lots
	proofs *proofCache     // shared by the bundles of lots

	// witness, if set, gives bundles their witnesses' cosignatures,
	// waiting up to witnessWait for them.
	witness     *witness.Publisher
	witnessWait time.Duration

	// listWait bounds how long a listing waits for the follower to reach
	// the log as it stood when the listing was asked.
	listWait time.Duration

	// maxLag: while appends keep the processors busy (busy), the follower
	// waits, unless the log took the oldest record it has not replayed
	// this long ago (by the log's clock); 0 never waits. deferring is true
	// while it waits.
	maxLag    time.Duration
	busy      func(time.Time) bool
	deferring atomic.Bool
	// pace paces the follower while it reads though the processors are
	// busy (see pacer); paced counts the pauses it made.
	pace  pacer
	paced atomic.Uint64
	// batch is how many records a step replays at most (tests change it).
	batch uint64
	// stepped, if set, runs after each step, as part of it (tests).
	stepped func()

	cancel      context.CancelFunc
	done        chan struct{} // closed when the follower stops, at once if it never runs
	partiesDone chan struct{}
	stopCheck   context.CancelFunc
	tablesDone  chan struct{} // closed when checkTables returns
	damaged     atomic.Pointer[error]
}

// RuleInvalid is the rule of the flag the backend lists for a lot whose
// verification fails (verdict INVALID).
const RuleInvalid = verifier.RuleInvalid

// DefaultListWait bounds how long a listing waits for the follower to
// replay the records appended before it was asked.
const DefaultListWait = 2 * time.Second

// Options are a backend's settings.
type Options struct {
	// Dir is the directory of the replay's Badger store; "" keeps it in
	// memory (tests, the example), so that it starts over on each start.
	Dir    string
	Logger *slog.Logger
	// Paused keeps the follower from replaying the log: listings serve
	// the state as it stands and count the records it has not replayed
	// (a comparison of append throughput without the follower).
	Paused bool
	// MaxLag lets the follower step aside while this process's goroutines
	// queue for a processor (appends at saturation): it waits then, unless
	// the oldest record it has not replayed was appended MaxLag ago or
	// more. Zero keeps flags current at the appends' expense.
	MaxLag time.Duration
	// busy, if set, replaces the reading of the scheduler (tests);
	// paceWindow and batch, if set, the pacer's window and the records a
	// step replays at most; stepped, if set, runs after each step, as
	// part of it.
	busy       func(time.Time) bool
	paceWindow time.Duration
	batch      uint64
	stepped    func()
}

// DefaultMaxLag is provenanced's --flag-max-lag: under a burst of appends
// that keeps the processors busy, flags may trail the log by up to this.
const DefaultMaxLag = 30 * time.Second

// batch is how many records the follower replays in one step at most:
// one transaction, unless its writes pass batchCommitBytes or
// batchCommitEntries first.
const batch = 1024

// Replay state keys the backend keeps beside the replay's.
const (
	posKey         = "pos" // BE8(next index) || id of the record before it
	registryPrefix = "g/"  // BE8(index) of each registry record
	queuePrefix    = "q/"  // party id: its lots await a full verification
	// lot id: a correction of it was not followed; its full verifications
	// add every flag they find, not only those left to them.
	notFollowedPrefix = verifier.ReplayNotFollowedPrefix
	formatKey         = "fmt" // the replay's state format
	// formatVersion changes when the state's form does, or what the
	// verifier records in it (4: a merge's two MASS_SURPLUS flags became
	// one; 5: the national ORIGIN_VOLUME message names the country's
	// output; 6: a lot's summary lists the rules of the flags that count,
	// not of those a correction withdrew; 7, a first version of 8; 8: a
	// flag on a correction record, the follower's own (TIMELINE,
	// KEY_RECOVERY) or a full verification's (KEY_MISUSE), reaches the
	// corrected record's state and every lot made from it, a correction
	// withdraws neither its own flags nor judgements of keys, and a flag
	// a lot's head derives is not fixed into a state by a full
	// verification; 9: a correction is followed past an earlier one of a
	// record before its stretch, a flag its replay raises again counts
	// again, and a full verification weighs each correction against the
	// lot as the log held it then), so that a state written before is
	// rebuilt, not mixed.
	formatVersion = "9"
)

// New returns a backend for store, with its replay state in memory, and
// starts following the log. Close stops it.
func New(store *custody.Store, trust verifier.Trust, cfg verifier.Config) *Backend {
	b, err := Open(store, trust, cfg, Options{})
	if err != nil {
		panic(fmt.Sprintf("backend: an in-memory replay store: %v", err)) // only on memory exhaustion
	}
	return b
}

// Open returns a backend for store whose replay state lives in o.Dir, and
// starts following the log from where the state stands. A state that
// does not match the log (behind a restored log, of another log,
// damaged, or of another format) is dropped and rebuilt from the log's
// start, with a warning.
func Open(store *custody.Store, trust verifier.Trust, cfg verifier.Config, o Options) (*Backend, error) {
	b, err := open(store, trust, cfg, o)
	if err != nil {
		return nil, err
	}
	if o.Paused || b.readOnly {
		if o.Paused {
			b.logger.Info("verifier: the flag follower is off: flags and listings are served as they stand, and count the records it has not replayed", "replayed", b.next.Load(), "log", store.Log().Size())
		}
		close(b.done)
		close(b.partiesDone)
		return b, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.follow(ctx)
	go b.verifyParties(ctx)
	return b, nil
}

func open(store *custody.Store, trust verifier.Trust, cfg verifier.Config, o Options) (*Backend, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	b := &Backend{
		store: store, trust: trust, cfg: cfg, logger: logger,
		cache: verifier.NewCache(), proofs: newProofCache(), listWait: DefaultListWait,
		maxLag: o.MaxLag, busy: o.busy, pace: pacer{window: o.paceWindow}, batch: cmp.Or(o.batch, batch), stepped: o.stepped,
		caught: make(chan struct{}), done: make(chan struct{}), partiesDone: make(chan struct{}), tablesDone: make(chan struct{}), cancel: func() {}, stopCheck: func() {},
	}
	if b.busy == nil {
		b.busy = new(contention).Busy
	}
	if _, _, refusing, ok := store.Log().FreeSpace(); ok && refusing && o.Dir != "" {
		// Badger could crash writing its files on a full disk: the state
		// is served as it stands, and followed again after a restart
		// with space.
		b.readOnly = true
		logger.Warn("verifier: the disk is nearly full: flags are served as they stand and not kept current until a restart with free space", "dir", o.Dir)
	}
	if o.Dir != "" && !b.readOnly && markedForRebuild(o.Dir) {
		logger.Warn("verifier: the last run found the flags' state damaged; rebuilding it from the log", "dir", o.Dir)
		if err := os.RemoveAll(o.Dir); err != nil {
			return nil, fmt.Errorf("removing the damaged replay state %s: %w", o.Dir, err)
		}
	}
	db, err := openReplayDB(o.Dir, b.readOnly, logger)
	if err != nil && b.readOnly {
		// Not closed cleanly: Badger cannot open it read-only. Listings
		// count the whole log as not replayed until a restart with space.
		logger.Warn("verifier: the flags' state cannot be opened read-only; listing none until a restart with free space", "dir", o.Dir, "error", err)
		db, err = openReplayDB("", false, logger)
	}
	if err != nil && o.Dir != "" && !b.readOnly {
		// The replay's state is a projection of the log: drop it.
		logger.Warn("verifier: the replay state cannot be opened; rebuilding it from the log", "dir", o.Dir, "error", err)
		if err := os.RemoveAll(o.Dir); err != nil {
			return nil, fmt.Errorf("removing the replay state %s: %w", o.Dir, err)
		}
		db, err = openReplayDB(o.Dir, false, logger)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the replay state: %w", err)
	}
	b.db = db
	if err := b.resume(); err != nil {
		db.Close()
		return nil, err
	}
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(notFollowedPrefix)})
		defer it.Close()
		it.Rewind()
		b.anyNotFollowed.Store(it.Valid())
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	if o.Dir != "" {
		ctx, stop := context.WithCancel(context.Background())
		b.stopCheck = stop
		go b.checkTables(ctx, o.Dir)
	} else {
		close(b.tablesDone)
	}
	return b, nil
}

func openReplayDB(dir string, readOnly bool, logger *slog.Logger) (*badger.DB, error) {
	bo := badger.DefaultOptions(dir).WithValueThreshold(1 << 10).WithReadOnly(readOnly)
	if dir == "" {
		// In memory every value stays in the tree.
		bo = badger.DefaultOptions("").WithInMemory(true).WithValueThreshold(1 << 20)
	}
	// A projection of the log: nothing is lost that the log cannot give
	// again, so it is not synced. Small tables and caches keep its memory
	// well below the log's.
	bo = bo.WithSyncWrites(false).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithNumCompactors(2).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		// Checked as each block is read (a damaged one then reads as
		// holding no keys, without an error), and every table once after
		// start, in the background (checkTables), which finds the damage:
		// checking them at open read the whole store (25 s and 900 MB
		// resident at 1M records).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithLogger(ledger.BadgerLogger(logger, "verifier store: "))
	// Compactions' memory (ledger.SmallTables).
	return badger.Open(ledger.SmallTables(bo))
}

// resume reads the follower's position and the registry records behind
// it, or, for state that does not match the log, starts over.
func (b *Backend) resume() error {
	b.replay = verifier.NewReplay(b.trust.Registrar, b.cfg)
	b.hot, b.firsts = nil, nil
	// The position is stored once known: listings read it meanwhile.
	var resumed uint64
	var pos []byte
	var format string
	err := b.db.View(func(txn *badger.Txn) error {
		if it, err := txn.Get([]byte(posKey)); err == nil {
			pos, _ = it.ValueCopy(nil)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if it, err := txn.Get([]byte(formatKey)); err == nil {
			v, _ := it.ValueCopy(nil)
			format = string(v)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the replay state: %w", err)
	}
	ctx := context.Background()
	if pos != nil {
		reason := ""
		next := binary.BigEndian.Uint64(pos[:8])
		switch {
		case format != formatVersion:
			reason = fmt.Sprintf("state format %q, this server writes %q", format, formatVersion)
		case next > b.store.Log().Size():
			reason = fmt.Sprintf("it has replayed %d records, the log holds %d (a log restored from a backup?)", next, b.store.Log().Size())
		case next > 0:
			e, err := b.store.Log().Get(ctx, next-1)
			if err != nil {
				return fmt.Errorf("reading log entry %d: %w", next-1, err)
			}
			if string(e.ID[:]) != string(pos[8:]) {
				reason = fmt.Sprintf("entry %d of the log is not the one it replayed (another log?)", next-1)
			}
		}
		if reason != "" && b.readOnly {
			return fmt.Errorf("the replay state does not match the log (%s), and the disk is too full to rebuild it", reason)
		}
		if reason != "" {
			b.logger.Warn("verifier: the replay state does not match the log; rebuilding it from the log's start", "reason", reason)
			if err := b.db.DropAll(); err != nil {
				return fmt.Errorf("dropping the replay state: %w", err)
			}
			pos = nil
		} else {
			resumed = next
		}
	}
	if pos == nil {
		b.next.Store(0)
		if b.readOnly {
			return nil
		}
		return b.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(formatKey), []byte(formatVersion)) })
	}
	// The registry as of the position: its records, which are few.
	var idxs []uint64
	var queued []string
	err = b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(registryPrefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			// One the replay took in a transaction that filled up is
			// stored before the position moves past it.
			if idx := binary.BigEndian.Uint64(it.Item().Key()[len(registryPrefix):]); idx < resumed {
				idxs = append(idxs, idx)
			}
		}
		qt := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(queuePrefix)})
		defer qt.Close()
		for qt.Rewind(); qt.Valid(); qt.Next() {
			queued = append(queued, strings.TrimPrefix(string(qt.Item().Key()), queuePrefix))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the replay state: %w", err)
	}
	for _, idx := range idxs {
		rec, err := b.record(ctx, idx)
		if err != nil {
			return err
		}
		if err := b.replay.ApplyRegistry(rec); err != nil {
			b.logger.Warn("verifier: replaying a registry record", "index", idx, "error", err)
		}
	}
	pending := 0
	for _, p := range queued {
		pending += b.countLots(p)
	}
	b.pendingLots.Store(int64(pending))
	b.next.Store(resumed)
	b.logger.Info("verifier: flags resume from their stored state", "replayed", resumed, "log", b.store.Log().Size(), "registry_records", len(idxs))
	return nil
}

// record reads and decodes log entry idx.
func (b *Backend) record(ctx context.Context, idx uint64) (verifier.ReplayRecord, error) {
	e, err := b.store.Log().Get(ctx, idx)
	if err != nil {
		return verifier.ReplayRecord{}, fmt.Errorf("reading log entry %d: %w", idx, err)
	}
	return decode(e)
}

// corrected reads the record correction c of rec corrects, and the
// records of its lot between the two, which the replay needs beside it.
func (b *Backend) corrected(ctx context.Context, rec *verifier.ReplayRecord, c *pb.Correction) error {
	id, err := tlog.ParseRecordID(c.GetCorrects())
	if err != nil {
		return fmt.Errorf("log entry %d: correction.corrects: %w", rec.Index, err)
	}
	e, err := b.store.Log().GetByID(ctx, id)
	if err != nil {
		return fmt.Errorf("reading record %s, which log entry %d corrects: %w", id, rec.Index, err)
	}
	orig, err := b.decode(e)
	if err != nil {
		return err
	}
	rec.Corrects = &orig
	// The lot's records between the two, which the replay takes again.
	_, hist, err := b.store.Lot(ctx, c.GetLotId())
	if err != nil {
		return fmt.Errorf("reading lot %q, which log entry %d corrects: %w", c.GetLotId(), rec.Index, err)
	}
	for _, h := range hist {
		if h.Index <= orig.Index || h.Index >= rec.Index {
			continue
		}
		later, err := b.decode(h)
		if err != nil {
			return err
		}
		rec.Later = append(rec.Later, later)
	}
	return nil
}

// decode decodes a log entry, or recalls it from the store's decoding.
func (b *Backend) decode(e ledger.Entry) (verifier.ReplayRecord, error) {
	if env, st, ok := b.store.Decoded(e.ID); ok {
		return verifier.ReplayRecord{Index: e.Index, ID: e.ID, Env: env, St: st, LogTime: e.Time, Extra: e.Extra}, nil
	}
	return decode(e)
}

func decode(e ledger.Entry) (verifier.ReplayRecord, error) {
	env, st, err := custody.DecodeEntry(e)
	if err != nil {
		return verifier.ReplayRecord{}, fmt.Errorf("decoding log entry %d: %w", e.Index, err)
	}
	return verifier.ReplayRecord{Index: e.Index, ID: e.ID, Env: env, St: st, LogTime: e.Time, Extra: e.Extra}, nil
}

// Close stops following the log and closes the replay's state.
func (b *Backend) Close() {
	b.cancel()
	b.stopCheck()
	<-b.done
	<-b.partiesDone
	<-b.tablesDone
	b.db.Close()
}

// Replayed returns how many records of the log the follower has replayed.
func (b *Backend) Replayed() uint64 { return b.next.Load() }

// follow replays the log as it grows, a batch at a time, polling for new
// records every pollEvery while it is caught up, and verifies the lots of
// parties whose key changes call for it when it is.
func (b *Backend) follow(ctx context.Context) {
	defer close(b.done)
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for ctx.Err() == nil {
		if b.stepAside(ctx, time.Now()) {
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			continue
		}
		began := time.Now()
		n, err := b.step(ctx, b.batch)
		if b.stepped != nil {
			b.stepped()
		}
		if n > 0 && err == nil {
			if pause := b.pause(ctx, began); pause > 0 {
				b.paced.Add(1)
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, ledger.ErrClosed) {
			b.logger.Warn("verifier: following the log", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// pollEvery is how often a caught-up follower looks for new records: well
// inside the second in which flags must follow an append.
const pollEvery = 50 * time.Millisecond

// stepAside reports whether the follower should wait rather than replay
// what the log holds now: while appends keep the processors busy, until
// the oldest record not replayed was appended maxLag ago (see contention).
func (b *Backend) stepAside(ctx context.Context, now time.Time) bool {
	next, size := b.next.Load(), b.store.Log().Size()
	busy := b.busy(now) // read each time, so that a window is never stale
	aside := false
	if busy && next < size && b.maxLag > 0 {
		// A record time ahead of the log's clock (the clock stepped
		// back) would stretch the bound: the follower reads then.
		age, ok := b.unreadFor(ctx, next)
		aside = ok && age >= 0 && age < b.maxLag
	}
	if b.deferring.Swap(aside) != aside {
		b.logger.Debug("verifier: the follower steps aside while appends keep the processors busy", "aside", aside, "unread", size-next)
	}
	return aside
}

// A pacer paces the follower while it reads a backlog past the max lag
// with the processors busy: reading it at full speed took most of the
// CPU, and appends then ran at a third of their rate, or less on a large
// log (BENCHMARKS.md, "The follower paced past the max lag"). Once a
// second (by the machine's monotonic clock) it weighs how far the
// follower caught up: how much further in the log's time the oldest
// record it has not read is (the log's times never go back, so a step of
// the log's clock is not taken for progress), less the time the window
// took. Reading at full speed, if that was a second and a half a second
// or more (so that at half the speed it would still gain a quarter
// second), it starts pausing after each batch for as long as the batch
// took; pausing, it goes on while it gains a quarter second a second or
// more, and reads at full speed again otherwise. So every window it
// pauses through follows one in which it gained that much, the backlog
// past the bound shrinking meanwhile, if more slowly than at full speed;
// a backlog it reads little faster than it was written (one written at
// saturation) is read at full speed, as before.
type pacer struct {
	window time.Duration // paceWindow, or a test's
	at     time.Time     // the start of the window weighed, by the machine's clock
	rec    time.Time     // the oldest unread record's time in the log then
	on     bool
}

const paceWindow = time.Second

// next returns how long to pause after a batch that took took, the
// oldest unread record having been taken by the log at rec.
func (p *pacer) next(now time.Time, took time.Duration, rec time.Time) time.Duration {
	if p.window == 0 {
		p.window = paceWindow
	}
	if p.at.IsZero() || now.Sub(p.at) >= p.window {
		if !p.at.IsZero() {
			d := now.Sub(p.at)
			need := d / 4 // pausing: a quarter second a second
			if !p.on {
				need = d * 3 / 2 // at full speed: enough for half the speed to gain that
			}
			p.on = rec.Sub(p.rec)-d >= need
		}
		p.at, p.rec = now, rec
	}
	if !p.on {
		return 0
	}
	return took
}

// pause returns how long the follower pauses after a batch it began at
// began: while it reads past the max lag with the processors busy, as its
// pacer says; else none, and the pacer starts over.
func (b *Backend) pause(ctx context.Context, began time.Time) time.Duration {
	now := time.Now()
	if b.maxLag > 0 && b.busy(now) {
		// Only past the max lag: not for a record dated after the log's
		// clock, which is read at once.
		if next := b.next.Load(); next < b.store.Log().Size() {
			if rec, ok := b.unreadAt(ctx, next); ok && b.store.Log().Now().Sub(rec) >= b.maxLag {
				return b.pace.next(now, now.Sub(began), rec)
			}
		}
	}
	b.pace = pacer{window: b.pace.window} // starts over
	return 0
}

// unreadFor is how long ago the log took the record at index next, by the
// log's clock and the time it gave the record (Entry.Time), so that it
// counts across restarts; false if the record cannot be read (the
// follower then reads, for the replay to meet the error itself).
func (b *Backend) unreadFor(ctx context.Context, next uint64) (time.Duration, bool) {
	rec, ok := b.unreadAt(ctx, next)
	if !ok {
		return 0, false
	}
	return b.store.Log().Now().Sub(rec), true
}

// unreadAt is when the log took the record at index next (Entry.Time);
// false if it cannot be read.
func (b *Backend) unreadAt(ctx context.Context, next uint64) (time.Time, bool) {
	e, err := b.store.Log().Get(ctx, next)
	return e.Time, err == nil
}

// Following reports the records appended that the follower has not
// replayed yet, how long ago the log took the oldest of them (by its
// clock), and whether the follower is stepping aside for appends now.
func (b *Backend) Following() (unread uint64, age time.Duration, aside bool) {
	next, size := b.next.Load(), b.store.Log().Size()
	if size > next {
		unread = size - next
		age, _ = b.unreadFor(context.Background(), next)
		age = max(0, age)
	}
	return unread, age, b.deferring.Load()
}

// FollowerRunning reports whether the follower runs (behind or not): not
// when it was paused (--no-flag-follower), when the state was opened
// read-only on a nearly full disk, or once the backend is closed.
func (b *Backend) FollowerRunning() bool {
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// step replays up to max records in one transaction (or more, if they
// do not fit in one) and returns how many it replayed.
func (b *Backend) step(ctx context.Context, max uint64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stepLocked(ctx, max)
}

func (b *Backend) stepLocked(ctx context.Context, max uint64) (int, error) {
	start, size := b.next.Load(), b.store.Log().Size()
	if start >= size {
		return 0, nil
	}
	if _, _, refusing, ok := b.store.Log().FreeSpace(); ok && refusing {
		return 0, nil // the log takes no appends either; resumes with space
	}
	end := min(size, start+max)
	s := newTxnStore(b.db)
	s.flushes = &b.flushes
	defer s.discard()
	// A batch's writes stay in memory until it commits (batchStore),
	// unless the last one did not fit a transaction: then the records
	// are replayed one at a time, through the transaction itself.
	var bs *batchStore
	var store verifier.ReplayStore = s
	if start >= b.slowUntil {
		if b.firsts == nil {
			b.firsts = map[string]string{}
		}
		bs = newBatchStore(s, b.hot, b.firsts)
		store = bs
	}
	next, last := start, tlog.RecordID{}
	for e, err := range b.store.Log().Range(ctx, start, end) {
		if err != nil {
			// What the batch applied so far may be in memory (the
			// registry) and, past a filled-up transaction, stored.
			return 0, b.restart(err)
		}
		if next > start && bs == nil {
			// A transaction that fills up is committed with the records
			// replayed so far; a crash then replays again only the record
			// in flight, which the replay takes twice as once.
			if err := s.setPos(next, last); err != nil {
				return 0, b.restart(err)
			}
		}
		if next > start && bs != nil && bs.full() {
			if err := b.commitBatch(bs, next, last); err != nil {
				return b.batchFailed(ctx, s, next, max, err)
			}
		}
		rec, err := b.decode(e)
		if c := rec.St.GetCorrection(); err == nil && c != nil {
			err = b.corrected(ctx, &rec, c)
		}
		stale := false
		if err == nil {
			stale, err = b.staleStates(ctx, store, rec.St)
		}
		if err == nil {
			var res verifier.ReplayResult
			if bs != nil {
				res, err = b.replay.ApplyDeferred(bs, rec)
			} else {
				res, err = b.replay.Apply(s, rec)
			}
			if err == nil && stale {
				res.Parties = append(res.Parties, rec.St.GetPartyId())
			}
			if err == nil {
				err = b.note(store, bs, &s.queued, e.Index, res, rec.St.GetPartyId())
			}
		}
		if err != nil {
			if ctx.Err() != nil || s.failed != nil {
				// The store failed, or the server is stopping: not the
				// record's fault. Try again from the stored state.
				return 0, b.restart(err)
			}
			return b.skip(ctx, s, e, err)
		}
		next, last = e.Index+1, e.ID
	}
	if bs != nil {
		if err := b.commitBatch(bs, next, last); err != nil {
			return b.batchFailed(ctx, s, next, max, err)
		}
		b.hot = bs.hot
	} else {
		if err := s.setPos(next, last); err != nil {
			return 0, b.restart(err)
		}
		if err := s.commit(); err != nil {
			return 0, b.restart(err)
		}
		b.hot, b.firsts = nil, nil
	}
	b.advanced(next)
	for _, p := range s.queued {
		b.pendingLots.Add(int64(b.countLots(p)))
	}
	return int(next - start), nil
}

// commitBatch writes the summaries the batch's records left pending and
// the position past them, and commits the batch.
func (b *Backend) commitBatch(bs *batchStore, next uint64, last tlog.RecordID) error {
	if err := b.replay.Flush(bs); err != nil {
		return err
	}
	if err := bs.t.setPos(next, last); err != nil { // straight to the transaction: not hot
		return err
	}
	if err := bs.commit(); err != nil {
		return err
	}
	b.hot = bs.hot
	b.advanced(next)
	return nil
}

// batchFailed handles a batch that did not commit: one too big for a
// transaction is replayed again one record at a time, from the stored
// position; other failures start again from the stored state.
func (b *Backend) batchFailed(ctx context.Context, s *txnStore, next, max uint64, err error) (int, error) {
	s.discard()
	if !errors.Is(err, errBatchTooBig) {
		return 0, b.restart(err)
	}
	b.logger.Info("verifier: a batch's writes do not fit one transaction; replaying it one record at a time", "until", next, "error", err)
	b.slowUntil = next
	if err := b.resume(); err != nil {
		return 0, err
	}
	return b.stepLocked(ctx, max)
}

// skip drops what the replay of e wrote, replays the records before it
// again, and passes over e, logging why: a record the server took that
// the replay cannot (which would be a bug), so that one record does not
// stop the flags of every later one.
func (b *Backend) skip(ctx context.Context, s *txnStore, e ledger.Entry, cause error) (int, error) {
	s.discard()
	if err := b.resume(); err != nil {
		return 0, err
	}
	n := 0
	if from := b.next.Load(); from < e.Index {
		var err error
		if n, err = b.stepLocked(ctx, e.Index-from); err != nil {
			return 0, err
		}
	}
	if b.next.Load() != e.Index {
		return n, fmt.Errorf("replaying up to index %d: stopped at %d", e.Index, b.next.Load())
	}
	// What the record wrote before it failed is dropped, unless a
	// transaction that filled up committed part of it first.
	if err := b.db.Update(func(txn *badger.Txn) error { return setPos(txn, e.Index+1, e.ID) }); err != nil {
		return n, err
	}
	b.skipped.Add(1)
	b.logger.Error("verifier: the replay passes over a record it cannot take: its flags are missing", "index", e.Index, "error", cause)
	b.advanced(e.Index + 1)
	return n + 1, nil
}

// advanced records that the first next records are replayed.
func (b *Backend) advanced(next uint64) {
	b.next.Store(next)
	b.caughtMu.Lock()
	close(b.caught)
	b.caught = make(chan struct{})
	b.caughtMu.Unlock()
}

// restart rebuilds the replay's memory from its stored state after a
// transaction that did not commit, and returns err.
func (b *Backend) restart(err error) error {
	if rerr := b.resume(); rerr != nil {
		return fmt.Errorf("%w; resuming: %v", err, rerr)
	}
	return err
}

func setPos(txn *badger.Txn, next uint64, last tlog.RecordID) error {
	return txn.Set([]byte(posKey), append(binary.BigEndian.AppendUint64(nil, next), last[:]...))
}

// staleStates reports whether st is a record of a lot that had, or was
// made from one that had, a correction the follower did not follow: the
// states it is replayed from keep values as first signed, so its flags
// may be fewer than a full verification's (a cold review: a lot split
// off before its source's extraction was corrected down, then handed on
// with a gain the corrected values make too much). The caller queues its
// signer for a full verification, which adds every flag it finds
// (correctionNotFollowed). For a correction, it also marks the corrected
// lot not followed first, so that the replay does not follow it from
// those states. Cheap while no correction was left unfollowed.
func (b *Backend) staleStates(ctx context.Context, s verifier.ReplayStore, st *pb.Statement) (bool, error) {
	if !b.anyNotFollowed.Load() {
		return false, nil
	}
	stale := false
	err := b.store.WalkAncestry(ctx, verifier.RecordLots(st), maxStaleWalk, func(l string) (bool, error) {
		v, err := s.Get([]byte(notFollowedPrefix + l))
		stale = v != nil
		return stale, err
	})
	if errors.Is(err, custody.ErrTooManyLots) {
		err = nil // read no further: not known to be stale
	}
	if err != nil || !stale {
		return false, err
	}
	if c := st.GetCorrection(); c != nil {
		if err := s.Set([]byte(notFollowedPrefix+c.GetLotId()), nil); err != nil {
			return false, err
		}
	}
	return true, nil
}

// maxStaleWalk bounds the lots staleStates reads of one record's
// ancestry.
const maxStaleWalk = 4096

// note keeps what the backend needs of a record beside the replay's
// state: registry records (to resume the registry), and parties whose
// lots need a full verification.
func (b *Backend) note(s verifier.ReplayStore, bs *batchStore, queued *[]string, idx uint64, res verifier.ReplayResult, signer string) error {
	if res.Registry {
		if err := s.Set(append([]byte(registryPrefix), binary.BigEndian.AppendUint64(nil, idx)...), nil); err != nil {
			return err
		}
	}
	parties := res.Parties
	for _, lot := range res.Corrected {
		// Its state keeps the flags of its records as first signed; a
		// full verification of the signer's lots adds every flag the
		// corrected values raise, so the listing is never laxer.
		b.logger.Warn("verifier: a correction the follower does not replay (past a transformation, or past a correction of a record it would replay): the lot's flags are those of its records as first signed, plus those of a full verification", "lot", lot, "index", idx)
		if err := s.Set([]byte(notFollowedPrefix+lot), nil); err != nil {
			return err
		}
		b.anyNotFollowed.Store(true)
		parties = append(parties, signer)
	}
	for _, p := range parties {
		// The value is the record that queued the party: a party queued
		// again while its lots are being verified stays queued.
		key := []byte(queuePrefix + p)
		get := s.Get
		if bs != nil {
			get = bs.getUncached // verifyQueued deletes queue keys between batches
		}
		had, err := get(key)
		if err != nil {
			return err
		}
		if err := s.Set(key, binary.BigEndian.AppendUint64(nil, idx)); err != nil {
			return err
		}
		if had == nil {
			*queued = append(*queued, p) // counted once committed
		}
	}
	return nil
}

// countLots returns how many lots party holds, held or was sent.
func (b *Backend) countLots(party string) int {
	n := 0
	for _, err := range b.store.PartyLotIDs(context.Background(), party) {
		if err != nil {
			break
		}
		n++
	}
	return n
}

// verifyQueued verifies the lots of one queued party in full and adds
// the flags of the rules the replay leaves to a full verification to
// the states of the records they are about, and so to every lot made
// from them.
func (b *Backend) verifyQueued(ctx context.Context) (bool, error) {
	var party string
	var queuedBy []byte
	var parties []string
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(queuePrefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			parties = append(parties, strings.TrimPrefix(string(it.Item().Key()), queuePrefix))
			if party == "" {
				party = parties[0]
				queuedBy, _ = it.Item().ValueCopy(nil)
			}
		}
		return nil
	})
	if err != nil || party == "" {
		b.pendingLots.Store(0)
		return false, err
	}
	total := 0
	for _, p := range parties {
		total += b.countLots(p)
	}
	b.pendingLots.Store(int64(total))
	for lot, err := range b.store.PartyLotIDs(ctx, party) {
		if err != nil {
			return false, err
		}
		rep, err := b.VerifyLot(ctx, lot)
		if err != nil {
			return false, err
		}
		all, err := b.correctionNotFollowed(ctx, lot, rep)
		if err != nil {
			return false, err
		}
		var flags []verifier.FlagAt
		for _, f := range rep.GetFlags() {
			if !verifier.ReplayedElsewhere(f.GetRule()) && (!all || len(f.GetCorrectedBy()) > 0) {
				continue
			}
			rec, err := b.record(ctx, f.GetIndex())
			if err != nil {
				return false, err
			}
			flags = append(flags, verifier.FlagAt{Flag: f, Rec: rec.ID.String(), St: rec.St})
		}
		if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
			flags = append(flags, verifier.FlagAt{Flag: &pb.Flag{Rule: RuleInvalid, Severity: pb.Severity_SEVERITY_CRITICAL, LotId: lot,
				Message: fmt.Sprintf("lot %s does not verify: %v", lot, rep.GetErrors())}})
		}
		if len(flags) == 0 {
			b.pendingLots.Add(-1)
			continue
		}
		b.mu.Lock()
		s := newTxnStore(b.db)
		s.flushes = &b.flushes
		if all {
			err = b.replay.AddAllFlags(s, lot, flags)
		} else {
			err = b.replay.AddFlags(s, lot, flags)
		}
		if err == nil {
			err = s.commit()
		}
		s.discard()
		b.hot = nil // the follower's last writes are not all current now
		b.mu.Unlock()
		if err != nil {
			return false, err
		}
		b.pendingLots.Add(-1)
	}
	// Done, unless a later record queued the party again meanwhile: then
	// it stays for the next round.
	err = b.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(queuePrefix + party))
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err != nil || !bytes.Equal(v, queuedBy) {
			return err
		}
		return txn.Delete([]byte(queuePrefix + party))
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

// correctionNotFollowed reports whether a correction of lot, or of a lot
// it was made from (among those its verification rep applied), was not
// followed: then the lot's states, made from states as first signed, keep
// their flags, and its full verification adds every flag it finds, not
// only those left to it (a differential test's case: a smelt's output of
// a lot whose extraction was corrected down after the smelt missed the
// smelt's DOUBLE_SPEND).
func (b *Backend) correctionNotFollowed(ctx context.Context, lot string, rep *pb.VerificationReport) (bool, error) {
	if nf, err := b.notFollowed(lot); err != nil || nf {
		return nf, err
	}
	for _, c := range rep.GetCorrections() {
		rec, err := b.record(ctx, c.GetCorrectsIndex())
		if err != nil {
			return false, err
		}
		for _, l := range verifier.RecordLots(rec.St) {
			if nf, err := b.notFollowed(l); err != nil || nf {
				return nf, err
			}
		}
	}
	return false, nil
}

// notFollowed reports whether a correction of lot was not followed.
func (b *Backend) notFollowed(lot string) (bool, error) {
	err := b.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(notFollowedPrefix + lot))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// verifyParties verifies queued parties' lots as they come, beside the
// follower.
func (b *Backend) verifyParties(ctx context.Context) {
	defer close(b.partiesDone)
	for ctx.Err() == nil {
		did, err := b.verifyQueued(ctx)
		if err != nil && ctx.Err() == nil && !errors.Is(err, ledger.ErrClosed) {
			b.logger.Warn("verifier: verifying a party's lots in full", "error", err)
		} else if did {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// wait waits, up to the listing wait, until the follower has replayed
// the first size records of the log.
func (b *Backend) wait(ctx context.Context, size uint64) {
	deadline := time.NewTimer(b.listWait)
	defer deadline.Stop()
	for b.next.Load() < size {
		if b.deferring.Load() || !b.FollowerRunning() {
			// Stepping aside for appends, or not running (off, read-only,
			// closed): the listing counts what it has not read.
			return
		}
		if _, _, refusing, ok := b.store.Log().FreeSpace(); ok && refusing {
			// Paused while the disk is short of space (stepLocked):
			// waiting would only delay the answer (a new user's trial:
			// every listing took its 2 s).
			return
		}
		b.caughtMu.Lock()
		ch := b.caught
		b.caughtMu.Unlock()
		if b.next.Load() >= size {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		case <-time.After(pollEvery): // to see the follower step aside
		}
	}
}

// txnStore is a replay store over a Badger transaction, committed and
// replaced when it fills up. Last reads through view, a read-only
// transaction of the state before the current one, and the keys set
// under the prefixes it was asked about: Badger would sort every pending
// write of the transaction for each iterator.
type txnStore struct {
	db        *badger.DB
	flushes   *atomic.Uint64 // counts flush, if set
	txn, view *badger.Txn
	pending   [][]byte // keys set through this store, for Last
	// failed is the first error of the store itself: a record whose
	// replay failed for it is not at fault.
	failed error
	// queued are the parties queued for a full verification.
	queued []string
}

// fail notes a store error and returns it.
func (s *txnStore) fail(err error) error {
	if err != nil && s.failed == nil {
		s.failed = err
	}
	return err
}

func newTxnStore(db *badger.DB) *txnStore {
	return &txnStore{db: db, txn: db.NewTransaction(true), view: db.NewTransaction(false)}
}

func (s *txnStore) discard() {
	s.txn.Discard()
	s.view.Discard()
}

func (s *txnStore) commit() error { return s.txn.Commit() }

// flush commits the transaction and starts another.
func (s *txnStore) flush() error {
	if err := s.txn.Commit(); err != nil {
		return s.fail(err)
	}
	s.view.Discard()
	s.txn, s.view, s.pending = s.db.NewTransaction(true), s.db.NewTransaction(false), nil
	if s.flushes != nil {
		s.flushes.Add(1)
	}
	return nil
}

func (s *txnStore) setPos(next uint64, last tlog.RecordID) error {
	return s.Set([]byte(posKey), append(binary.BigEndian.AppendUint64(nil, next), last[:]...))
}

func (s *txnStore) Get(key []byte) ([]byte, error) {
	it, err := s.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(err)
	}
	v, err := it.ValueCopy(nil)
	if v == nil && err == nil {
		v = []byte{}
	}
	return v, s.fail(err)
}

func (s *txnStore) Set(key, value []byte) error {
	err := s.txn.Set(key, value)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err := s.flush(); err != nil {
			return err
		}
		err = s.txn.Set(key, value)
	}
	if err == nil && len(key) > 2 && key[0] == 'w' && key[1] == '/' {
		s.pending = append(s.pending, key)
	}
	return s.fail(err)
}

func (s *txnStore) Delete(key []byte) error {
	err := s.txn.Delete(key)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err := s.flush(); err != nil {
			return err
		}
		err = s.txn.Delete(key)
	}
	return s.fail(err)
}

// Last serves the replay's window lookups (keys under "w/"), the only
// ones it makes.
func (s *txnStore) Last(prefix, before []byte) ([]byte, error) {
	var best []byte
	for _, k := range s.pending {
		if bytes.HasPrefix(k, prefix) && bytes.Compare(k, before) < 0 && bytes.Compare(k, best) > 0 {
			best = k
		}
	}
	key, v, err := s.lastCommitted(prefix, before)
	if err != nil {
		return nil, err
	}
	if key != nil && bytes.Compare(key, best) > 0 {
		return v, nil
	}
	if best != nil {
		return s.Get(best)
	}
	return nil, nil
}

// firstCommitted returns the first key with prefix in the state before
// the current transaction, or nil.
func (s *txnStore) firstCommitted(prefix []byte) ([]byte, error) {
	view := s.view
	if view == nil {
		view = s.txn
	}
	it := view.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	if it.Rewind(); !it.Valid() {
		return nil, nil
	}
	return it.Item().KeyCopy(nil), nil
}

// lastCommitted returns the last key with prefix before before, and its
// value, in the state before the current transaction, or nil.
func (s *txnStore) lastCommitted(prefix, before []byte) (key, value []byte, err error) {
	view := s.view
	if view == nil {
		view = s.txn
	}
	it := view.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
	defer it.Close()
	// In reverse, Seek finds the last key at or before its argument.
	it.Seek(before)
	if it.Valid() && bytes.Equal(it.Item().Key(), before) {
		it.Next()
	}
	if !it.Valid() {
		return nil, nil, nil
	}
	v, err := it.Item().ValueCopy(nil)
	if err != nil {
		return nil, nil, s.fail(err)
	}
	return it.Item().KeyCopy(nil), v, nil
}

// VerifyLot builds the lot's bundle from the store and verifies it with
// the same code a buyer runs on their own machine.
func (b *Backend) VerifyLot(ctx context.Context, lotID string) (*pb.VerificationReport, error) {
	bundle, err := b.buildBundle(ctx, lotID)
	if err != nil {
		return nil, err
	}
	return verifier.VerifyCached(bundle, b.trust, b.cfg, b.cache), nil
}

// Bundle returns the lot's offline provenance bundle, with its witnesses'
// cosignatures if the backend has witnesses (SetWitness).
func (b *Backend) Bundle(ctx context.Context, lotID string) (*pb.Bundle, error) {
	if b.witness != nil {
		return b.witnessedBundle(ctx, lotID)
	}
	return BuildBundle(ctx, b.store, lotID, b.cfg)
}

// SetWitness makes bundles carry the cosignatures p keeps, waiting up to
// wait (zero: WitnessWait) for a cosigned checkpoint that covers the
// bundle. Call it before serving.
func (b *Backend) SetWitness(p *witness.Publisher, wait time.Duration) {
	if wait <= 0 {
		wait = WitnessWait
	}
	b.witness, b.witnessWait = p, wait
}
