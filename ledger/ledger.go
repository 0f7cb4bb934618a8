package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/tlog"
)

// DefaultMaxEntrySize is the largest entry, in bytes, that a log accepts when
// [Options.MaxEntrySize] is zero. Larger entries are rejected with
// [ErrInvalidInput].
const DefaultMaxEntrySize = 1 << 20

const (
	maxGroupEntries = 1024    // entries per commit group
	readChunk       = 256     // entries per Badger read transaction when streaming
	readChunkBytes  = 4 << 20 // bytes per Badger read transaction when streaming
	// Values larger than valueThreshold go to Badger's value log. Its
	// garbage collection is not run: it rewrites live values, and with
	// unsynced commits a crash could lose the rewrite after the old file
	// was deleted. Entries are never overwritten, so the garbage left is
	// small: state values over 4 KiB that change, and journal replays.
	valueThreshold = 4 << 10
	// Badger's memory: each memtable's arena, and the cache of decoded
	// table blocks (see Open).
	memTableSize   = 32 << 20
	blockCacheSize = 64 << 20
)

// Badger's checksum checks (see Open); variables for the read-cost
// benchmark only.
var (
	blockChecksums = options.OnBlockRead
	valueChecksums = true
)

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Options configure [Open].
type Options struct {
	// Origin is the first line of every checkpoint, naming the log, e.g.
	// "antimony.example/log". Required, and equal to Signer.Name(): clients
	// pin the key and take its name as the origin. A store created under
	// one origin cannot be opened under another.
	Origin string
	// Signer signs checkpoints, typically an Ed25519 note signer from
	// [note.NewSigner]. Required.
	Signer note.Signer
	// MaxEntrySize is the largest entry accepted, in bytes; 0 means
	// [DefaultMaxEntrySize].
	MaxEntrySize int
	// Apply, if set, is called for every new entry; see [ApplyFunc].
	Apply ApplyFunc
	// Logger receives warnings and errors (including Badger's); nil means
	// [slog.Default].
	Logger *slog.Logger
	// InMemory keeps everything in memory, without durability. For tests
	// only; the dir argument of Open is then ignored.
	InMemory bool
	// Now is the log's clock, which gives each commit group the time its
	// leaves and checkpoint commit; nil means time.Now. For tests and
	// simulations only: it must not go backwards.
	Now func() time.Time
	// Resign is how old the latest checkpoint may be before a read of it
	// ([Log.Checkpoint], [Log.Snapshot]) signs it again, at the same size,
	// with the current time: so a quiet log's checkpoint still says when
	// the log last vouched for its tree, and a reader can tell a stale one.
	// 0 means [DefaultResign]; negative, never.
	Resign time.Duration
	// MinFreeBytes is the free space, in bytes, that the filesystem of
	// the log's directory must keep for Badger to flush and compact what
	// it holds: under it, appends fail with [ErrNoSpace] (a *SpaceError)
	// and reads go on, and once space is freed appends are taken again.
	// Free space is measured every second, and before every commit
	// group.
	// A log opened with less free space opens Badger read-only (a flush
	// could crash it) and refuses appends until reopened. 0 means
	// [DefaultMinFreeBytes]; negative, no check. Ignored in memory.
	MinFreeBytes int64
	// OpenCheck is how many of the newest entries Open re-hashes and
	// checks against their stored leaves, the stored tree and the stored
	// checkpoint, refusing a store that fails with [ErrDataLoss]: 0 means
	// [DefaultOpenCheck]; negative, none, and no check of every table
	// block in the background either (for an audit: [Log.Audit] checks
	// every entry and every block itself, and must open a damaged store
	// to name the damage).
	OpenCheck int
}

// DefaultResign is the default [Options.Resign].
const DefaultResign = time.Minute

// An Entry is one log entry. Its leaf in the tree ([Entry.Leaf]) commits
// its id (and so its data), its time, its Extra and its MapRoot.
type Entry struct {
	Index uint64        // position in the log, from 0
	ID    tlog.RecordID // SHA-256(0x00 || Data): the record's id
	Data  []byte        // the entry's bytes, exactly as appended
	Time  time.Time     // when the log integrated the entry, UTC
	// Extra is what Apply attached to the entry's leaf (StateTx.SetExtra).
	Extra []byte
	// MapRoot is the root of the log's verifiable map after the entry's
	// commit group, on the group's last entry; nil on the others.
	MapRoot *[32]byte
}

// Leaf returns the entry's leaf: what the tree commits for it.
func (e Entry) Leaf() tlog.Leaf {
	return tlog.Leaf{Time: e.Time, Record: e.ID, Extra: e.Extra, MapRoot: e.MapRoot}
}

// A KV is one state key and its value, as yielded by [Log.StateScan].
type KV struct {
	Key, Value []byte
}

// A Log is an append-only Merkle tree log stored in Badger. All methods are
// safe for concurrent use. Reads see only committed (durable) entries.
type Log struct {
	db       *badger.DB
	opts     Options
	maxEntry int
	logger   *slog.Logger

	// reqs queues requests for the committer in the order sent; once the
	// committer has stopped, stopped is closed and no request in reqs
	// will be taken.
	reqs    chan *request
	done    <-chan struct{}
	stopped chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	commitErr error // set by the committer after a failed commit; committer only

	cache *stateCache // committed state; committer only

	journal    *journal       // nil for an in-memory log
	journaling sync.WaitGroup // journal records being written
	dir        string
	// Set only by tests: beforeBadger runs once a group's journal record
	// is durable, in place of its Badger commit if it returns true (it
	// then settles the group itself, to have Badger lose, hold back or
	// fail it); beforeSync runs before Badger's files are synced.
	beforeBadger func(g *group, txn *badger.Txn) bool
	beforeSync   func() error

	lock *os.File // the directory's lock (lockDir); nil in memory

	space *spaceWatch // free space on dir; nil in memory or unchecked
	// damaged is set, to an ErrDataLoss, once Badger's tables are found
	// damaged (verifyTables), or at Open if an earlier run found them so
	// (DamageMarker in storeDir); appends are then refused.
	damaged  atomic.Pointer[error]
	storeDir string // "" in memory

	lastBatch atomic.Int64 // when the committer last took appends, Unix ns

	// life guards db against use after Close: readers hold it shared.
	life   sync.RWMutex
	closed bool

	mu   sync.RWMutex // guards the committed tree state below
	size uint64
	rng  *compact.Range
	root [32]byte
	ckpt []byte
	// ckptAt is when ckpt was signed; zero if unknown (read from disk).
	// Written only by the committer's goroutine or its commits.
	ckptAt time.Time
	m      tlog.Map // the verifiable map the last leaf commits

	// lastTime is the time of the last group planned (at Open, of the last
	// entry): no later group's time is before it. Committer only.
	lastTime time.Time
	// heldWarned is when groupTime last logged that the log's time is
	// ahead of its clock. Committer only.
	heldWarned time.Time
	// resign asks the committer, when it is idle, to sign the checkpoint
	// again with the current time; it closes the channel sent when done.
	resign chan chan struct{}
}

// resignWait bounds how long a read waits for the committer to sign a
// stale checkpoint again; a busy committer signs new ones anyway.
const resignWait = 100 * time.Millisecond

// Now reads the log's clock (Options.Now): the time a commit group would
// take now, before it is kept from going back past the last group's.
func (l *Log) Now() time.Time { return l.now() }

func (l *Log) now() time.Time {
	if l.opts.Now != nil {
		return l.opts.Now()
	}
	return time.Now()
}

// Appending reports whether appends came in during the last second (by
// the machine's clock, not the log's).
func (l *Log) Appending() bool {
	t := l.lastBatch.Load()
	return t != 0 && time.Since(time.Unix(0, t)) < time.Second
}

// Open opens the log stored in dir, creating it if needed, and restores its
// tree state and latest checkpoint from stored metadata without replaying
// entries. After an unclean stop it first writes back the commit groups
// still in the journal (at most a few tens of MiB of them). ctx owns the
// log's background work (the committer): once ctx is done, Append fails
// with [ErrClosed] while reads keep working until [Log.Close].
func Open(ctx context.Context, dir string, opts Options) (*Log, error) {
	if opts.Origin == "" || strings.ContainsAny(opts.Origin, "\n") {
		return nil, fmt.Errorf("%w: origin must be a non-empty single line", ErrInvalidInput)
	}
	if opts.Signer == nil {
		return nil, fmt.Errorf("%w: a checkpoint signer is required", ErrInvalidInput)
	}
	if opts.Signer.Name() != opts.Origin {
		// Clients pin the key and take its name as the log's origin
		// ([tlog.OpenCheckpoint]), as C2SP tlog-checkpoint logs do.
		return nil, fmt.Errorf("%w: the checkpoint key is named %q, not the origin %q", ErrInvalidInput, opts.Signer.Name(), opts.Origin)
	}
	if opts.MaxEntrySize < 0 {
		return nil, fmt.Errorf("%w: negative MaxEntrySize %d", ErrInvalidInput, opts.MaxEntrySize)
	}
	l := &Log{
		opts:     opts,
		maxEntry: opts.MaxEntrySize,
		logger:   opts.Logger,
		reqs:     make(chan *request, maxGroupEntries),
		stopped:  make(chan struct{}),
		resign:   make(chan chan struct{}),
		cache:    newStateCache(stateCacheEntries),
	}
	if l.maxEntry == 0 {
		l.maxEntry = DefaultMaxEntrySize
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	bo := badger.DefaultOptions(dir)
	if opts.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
	} else {
		lock, err := lockDir(dir)
		if err != nil {
			return nil, err
		}
		l.lock = lock
		if min := opts.MinFreeBytes; min >= 0 {
			if min == 0 {
				min = DefaultMinFreeBytes
			}
			l.space = newSpaceWatch(dir, uint64(min), l.logger)
			if free, err := freeBytes(dir); err == nil && free < uint64(min) {
				// Badger would flush the memtables it finds, and map a
				// new one: on a full disk either can crash the process.
				l.space.free.Store(free)
				l.space.low.Store(true)
				l.space.readOnly = true
				bo = bo.WithReadOnly(true)
			}
		}
	}
	bo = storeOptions(bo, l.logger)
	// Badger's defaults (a 256 MiB block cache, five 64 MiB memtables) take
	// half a GiB of memory that the ledger does not use well: reads are of
	// records just written (in the memtable) or of a lot's few records
	// (a handful of blocks), and the commit groups are small. Smaller
	// memtables and cache keep the server's memory near what its caches
	// hold (BENCHMARKS.md, "Flags that keep up").
	bo = bo.WithMemTableSize(memTableSize).
		WithNumMemtables(3).
		WithBlockCacheSize(blockCacheSize)
	// Badger checks each table block's checksum when it reads the block
	// from disk (and so before a compaction could copy a damaged block
	// into a new table with a fresh checksum), and each value's when it
	// reads it from the value log. Checking whole tables at open instead
	// would read the whole store at every start.
	bo = bo.WithChecksumVerificationMode(blockChecksums).
		WithVerifyValueChecksum(valueChecksums)
	if !opts.InMemory {
		// Badger would cut a damaged log file on open, silently.
		if err := checkBadgerLogs(dir, bo.ValueLogFileSize); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.unlock()
			return nil, err
		}
	}
	db, err := badger.Open(bo)
	if err != nil && l.readOnly() {
		db, err = l.openNearlyFull(bo, err)
	}
	if err != nil {
		l.unlock()
		if !opts.InMemory {
			if derr := openRefusalDamage(dir, bo, err); derr != nil {
				return nil, derr
			}
		}
		return nil, fmt.Errorf("opening badger: %w", err)
	}
	if l.readOnly() {
		l.logger.Error("ledger: the disk is full: the log is open read-only; reads and proofs are served, appends are refused until space is freed and the server restarted",
			"dir", dir, "free_bytes", l.space.free.Load(), "min_free_bytes", l.space.min)
	}
	l.db = db
	if !opts.InMemory && !l.readOnly() {
		if err := l.openJournal(dir); err != nil {
			db.Close()
			l.unlock()
			return nil, err
		}
	}
	if err := l.load(); err != nil {
		l.closeStore()
		return nil, err
	}
	if !opts.InMemory {
		l.storeDir = dir
		l.readDamageMarker()
	}
	cctx, cancel := context.WithCancel(ctx)
	l.cancel, l.done = cancel, cctx.Done()
	l.wg.Add(1)
	go l.run(cctx)
	if l.space != nil && !l.space.readOnly {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.space.run(cctx)
		}()
	}
	if !opts.InMemory && opts.OpenCheck >= 0 {
		go l.verifyTables(cctx)
	}
	return l, nil
}

// readOnly reports whether the log was opened read-only, on a full disk.
func (l *Log) readOnly() bool { return l.space != nil && l.space.readOnly }

// openJournal opens the journal in dir, writes back into Badger the
// commit groups it holds (left by a crash), makes them durable, and starts
// the journal afresh.
func (l *Log) openJournal(dir string) error {
	j, recs, err := openJournal(dir)
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		start := time.Now()
		if err := checkJournal(l.db, recs); err != nil {
			j.close()
			return err
		}
		if err := replayJournal(l.db, recs); err != nil {
			j.close()
			return err
		}
		if err := syncBadgerFiles(dir); err != nil {
			j.close()
			return err
		}
		last := recs[len(recs)-1]
		l.logger.Info("ledger: wrote the journal's commit groups back after an unclean stop",
			"groups", len(recs), "entries", last.first+uint64(last.entries)-recs[0].first,
			"through_index", last.first+uint64(last.entries)-1, "took", time.Since(start).Round(time.Millisecond))
	}
	if err := j.start(); err != nil {
		j.close()
		return err
	}
	l.journal, l.dir = j, dir
	return nil
}

// checkJournal checks that the journal's records join the tree Badger
// holds: they start at or below its size (Badger may have lost groups the
// journal has, but the journal holds every group since Badger was last
// synced) and end at or past it (a group reaches Badger only once its
// record is durable). Anything else means a journal file went missing or
// the store was altered, and replaying would leave a hole in the log.
func checkJournal(db *badger.DB, recs []journalRecord) error {
	var size uint64
	err := db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, keyTree)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil // a new store
		}
		if err != nil {
			return err
		}
		size, _, err = decodeTree(v)
		return err
	})
	if err != nil {
		return fmt.Errorf("reading tree state before the journal: %w", err)
	}
	last := recs[len(recs)-1]
	if first, end := recs[0].first, last.first+uint64(last.entries); first > size || end < size {
		return fmt.Errorf("the journal holds entries %d to %d, which do not join the stored tree of size %d: a journal file is missing or the store was altered", first, end-1, size)
	}
	return nil
}

// unlock releases the directory's lock, if held.
func (l *Log) unlock() {
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
}

// closeStore closes Badger and then, once Badger's files are durable,
// empties the journal: a clean stop leaves nothing to replay. After a
// failed commit or background sync the journal is kept, for the next Open
// to replay: a failed sync may have lost Badger writes for good, and a
// failed commit may have left Badger holding part of a group.
func (l *Log) closeStore() error {
	defer l.unlock()
	j := l.journal
	var keep error
	if j != nil {
		l.journaling.Wait()
		keep = j.wait()
		if keep == nil {
			keep = l.commitErr
		}
		defer j.close()
	}
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("closing badger: %w", err)
	}
	if j == nil || keep != nil {
		return nil
	}
	if err := l.syncBadger(); err != nil {
		return err // the journal is kept, and replayed on the next open
	}
	return j.retire()
}

// ErrFormat means the store was written in a layout this build does not
// read; the message names both versions.
var ErrFormat = errors.New("store format")

// checkFormat refuses a store of another format version. A store with no
// entries and no version (made by a build before versions were recorded)
// is taken up as this version.
func (l *Log) checkFormat(size uint64) error {
	var v []byte
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		v, err = getValue(txn, keyFormat)
		return err
	})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound) && size == 0:
		return l.db.Update(func(txn *badger.Txn) error { return txn.Set(keyFormat, []byte(strconv.Itoa(StoreFormat))) })
	case errors.Is(err, badger.ErrKeyNotFound):
		return fmt.Errorf("%w: the store was written in format 1, before the log committed its time and index in each leaf; this build reads format %d only: keep the data with the build that wrote it, or start a new data directory", ErrFormat, StoreFormat)
	case err != nil:
		return fmt.Errorf("reading the store's format: %w", err)
	case string(v) != strconv.Itoa(StoreFormat):
		return fmt.Errorf("%w: the store is format %s; this build reads format %d only", ErrFormat, v, StoreFormat)
	}
	return nil
}

// loadMap rebuilds the verifiable map from its stored values and checks it
// against the root the last leaf commits.
func (l *Log) loadMap() error {
	var entries []tlog.MapEntry
	prefix := stateKey([]byte(indexPrefix))
	err := l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := valueCopy(it.Item())
			if err != nil {
				return dataLoss(fmt.Sprintf("state key %q", it.Item().Key()), err)
			}
			entries = append(entries, tlog.MapEntry{Key: bytes.TrimPrefix(it.Item().KeyCopy(nil), prefix), Value: v})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the verifiable map: %w", err)
	}
	m := tlog.Map{}.SetAll(entries)
	if l.size > 0 {
		var last Entry
		err := l.db.View(func(txn *badger.Txn) error {
			var err error
			last, err = readEntry(txn, l.size-1)
			return err
		})
		if err != nil {
			return fmt.Errorf("refusing to open: reading the last entry: %w; nothing was repaired: run `provenanced audit` on the data directory (or a copy) and restore the store from a backup", err)
		}
		if last.MapRoot == nil || *last.MapRoot != m.Root() {
			return &DamageError{What: "the verifiable map", Err: fmt.Errorf("its %d stored values do not give the root the log committed at index %d (a damaged table block hides the keys it holds); nothing was repaired: run `provenanced audit` on the data directory (or a copy) and restore the store from a backup", m.Len(), l.size-1)}
		}
		l.lastTime = last.Time
	}
	l.m = m
	return nil
}

// load restores the committed tree state, or initialises an empty log with
// a signed size-0 checkpoint.
func (l *Log) load() error {
	var treeVal, ckpt []byte
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		if treeVal, err = getValue(txn, keyTree); err != nil {
			return err
		}
		ckpt, err = getValue(txn, keyCkpt)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) && treeVal == nil {
		l.rng = rangeFactory.NewEmptyRange(0)
		l.root = [32]byte(rfc6962.DefaultHasher.EmptyRoot())
		l.ckptAt = l.now()
		if l.ckpt, err = tlog.SignCheckpoint(tlog.Checkpoint{Origin: l.opts.Origin, Root: l.root, Time: l.ckptAt}, l.opts.Signer); err != nil {
			return err
		}
		err = l.db.Update(func(txn *badger.Txn) error {
			if err := txn.Set(keyFormat, []byte(strconv.Itoa(StoreFormat))); err != nil {
				return err
			}
			if err := txn.Set(keyTree, encodeTree(0, nil)); err != nil {
				return err
			}
			return txn.Set(keyCkpt, l.ckpt)
		})
		if err != nil {
			return fmt.Errorf("initialising log: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading tree state: %w", err)
	}
	size, hashes, err := decodeTree(treeVal)
	if err != nil {
		return err
	}
	if err := l.checkFormat(size); err != nil {
		return err
	}
	if l.rng, err = rangeFactory.NewRange(0, size, hashes); err != nil {
		return fmt.Errorf("restoring tree state: %w", err)
	}
	l.size, l.root = size, rangeRoot(l.rng)
	body, err := noteBody(ckpt)
	if err != nil {
		return fmt.Errorf("stored checkpoint: %w", err)
	}
	c, err := tlog.ParseCheckpoint(body)
	if err != nil {
		return fmt.Errorf("stored checkpoint: %w", err)
	}
	if c.Origin != l.opts.Origin {
		return fmt.Errorf("%w: log origin is %q, not %q", ErrInvalidInput, c.Origin, l.opts.Origin)
	}
	if c.Size != size || c.Root != l.root {
		return fmt.Errorf("stored checkpoint (size %d) disagrees with stored tree state (size %d)", c.Size, size)
	}
	l.ckpt = ckpt
	if n := l.opts.OpenCheck; n >= 0 {
		if n == 0 {
			n = DefaultOpenCheck
		}
		if err := l.checkRecent(uint64(n)); err != nil {
			return err
		}
	}
	if ts, ok := l.opts.Signer.(*tlog.Signer); ok {
		// When it was signed, so that a restart does not sign it again
		// before it is Options.Resign old.
		if c, err := tlog.OpenCheckpoint(ckpt, ts.Verifier()); err == nil {
			l.ckptAt = c.Time
		}
	}
	return l.loadMap()
}

// rangeRoot returns the root hash of a compact range starting at 0.
func rangeRoot(r *compact.Range) [32]byte {
	if r.End() == 0 {
		return [32]byte(rfc6962.DefaultHasher.EmptyRoot())
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic("ledger: root of range starting at 0: " + err.Error()) // cannot happen
	}
	return [32]byte(root)
}

// Close stops the committer, waits for the commit group in flight, and
// closes the store. Appends waiting to be committed fail with [ErrClosed];
// later calls of any method fail with ErrClosed. Close is idempotent.
func (l *Log) Close() error {
	l.cancel()
	l.wg.Wait()
	l.life.Lock()
	defer l.life.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.closeStore()
}

// view runs fn in a Badger read transaction unless the log is closed.
func (l *Log) view(fn func(txn *badger.Txn) error) error {
	l.life.RLock()
	defer l.life.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return l.db.View(fn)
}

// Size returns the number of committed entries.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Root returns the committed tree size and its RFC 6962 root hash.
func (l *Log) Root() (size uint64, root [32]byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size, l.root
}

// Checkpoint returns the latest signed checkpoint: a C2SP tlog-checkpoint
// signed note covering every committed entry. The caller must not modify it.
func (l *Log) Checkpoint() []byte {
	signed, _ := l.current()
	return signed
}

// current returns the latest signed checkpoint and the map its last leaf
// commits, having the committer sign the checkpoint again first if it is
// older than Options.Resign.
func (l *Log) current() ([]byte, tlog.Map) {
	l.mu.RLock()
	signed, m, at := l.ckpt, l.m, l.ckptAt
	l.mu.RUnlock()
	every := l.opts.Resign
	if every == 0 {
		every = DefaultResign
	}
	if every < 0 || l.now().Sub(at) < every {
		return signed, m
	}
	ack := make(chan struct{})
	select {
	case l.resign <- ack:
		<-ack
	case <-l.stopped:
	case <-time.After(resignWait):
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.ckpt, l.m
}

// groupTime is the time of the next group: the clock's, but never before
// the last group's or the latest checkpoint's, so that integration and
// checkpoint times never go backwards even if the clock does. A clock
// that had jumped ahead thus holds the log's time there until it catches
// up, which is logged as an error (at most once a minute): buyers refuse a
// checkpoint more than 10 minutes ahead of their clocks. A clock outside
// the times a leaf can hold (1970 to 2262) is an error. Committer only.
func (l *Log) groupTime() (time.Time, error) {
	clock := l.now().Round(0).UTC()
	if !tlog.ValidLeafTime(clock) {
		return time.Time{}, fmt.Errorf("%w: the log's clock reads %s, outside the times a leaf can hold (1970 to 2262)", ErrClock, clock.Format(time.RFC3339Nano))
	}
	now := clock
	l.mu.RLock()
	at := l.ckptAt
	l.mu.RUnlock()
	for _, t := range []time.Time{l.lastTime, at} {
		if now.Before(t) {
			now = t.UTC()
		}
	}
	if held := now.Sub(clock); held > time.Minute && clock.Sub(l.heldWarned) > time.Minute {
		l.heldWarned = clock
		l.logger.Error("the log's time is ahead of its clock: an earlier group was stamped by a clock that ran ahead, and times never go backwards; checkpoints stay ahead until the clock catches up",
			"clock", clock.Format(time.RFC3339), "log time", now.Format(time.RFC3339), "ahead", held.Round(time.Second))
	}
	l.lastTime = now
	return now, nil
}

// ErrClock is wrapped by appends refused because the log's clock cannot
// stamp them.
var ErrClock = errors.New("log clock")

// resignNow signs the committed checkpoint again, at the same size, with
// the group time. Committer only, with no group in flight.
func (l *Log) resignNow() {
	now, err := l.groupTime()
	if err != nil {
		l.logger.Error("not signing the checkpoint again", "err", err)
		return
	}
	l.mu.RLock()
	c := tlog.Checkpoint{Origin: l.opts.Origin, Size: l.size, Root: l.root, Time: now}
	at := l.ckptAt
	l.mu.RUnlock()
	if !now.After(at) {
		return
	}
	signed, err := tlog.SignCheckpoint(c, l.opts.Signer)
	if err != nil {
		l.logger.Warn("signing the checkpoint again", "err", err)
		return
	}
	l.mu.Lock()
	l.ckpt, l.ckptAt = signed, now
	l.mu.Unlock()
}

// LatestCheckpoint returns the latest signed checkpoint note with its body
// parsed: the same checkpoint, even while appends go on.
func (l *Log) LatestCheckpoint() (tlog.Checkpoint, []byte, error) {
	signed := l.Checkpoint()
	body, err := noteBody(signed)
	if err != nil {
		return tlog.Checkpoint{}, nil, err
	}
	c, err := tlog.ParseCheckpoint(body)
	return c, signed, err
}

// A Snapshot is the log as its latest checkpoint commits it: the signed
// checkpoint, its body, and the verifiable map its last leaf commits.
type Snapshot struct {
	Checkpoint tlog.Checkpoint
	Signed     []byte
	Map        tlog.Map
}

// Snapshot returns the latest checkpoint with the map it commits, taken
// together, even while appends go on. Proofs from its Map are proofs
// against the root its checkpoint's last leaf commits.
func (l *Log) Snapshot() (Snapshot, error) {
	signed, m := l.current()
	body, err := noteBody(signed)
	if err != nil {
		return Snapshot{}, err
	}
	c, err := tlog.ParseCheckpoint(body)
	return Snapshot{Checkpoint: c, Signed: signed, Map: m}, err
}

// Get returns the entry at index. It fails with [ErrInvalidInput] if index
// is not below the committed size.
func (l *Log) Get(ctx context.Context, index uint64) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	if size := l.Size(); index >= size {
		return Entry{}, fmt.Errorf("%w: index %d, log size %d", ErrInvalidInput, index, size)
	}
	var e Entry
	err := l.view(func(txn *badger.Txn) error {
		var err error
		e, err = readEntry(txn, index)
		return err
	})
	return e, err
}

// GetByID returns the entry whose ID is id. It fails with [ErrNotFound] if
// no committed entry has that ID.
func (l *Log) GetByID(ctx context.Context, id tlog.RecordID) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	var e Entry
	err := l.view(func(txn *badger.Txn) error {
		var err error
		e, err = entryByID(txn, id)
		return err
	})
	if derr := l.damage(); derr != nil && errors.Is(err, ErrNotFound) {
		// A damaged table block hides its keys: not found is not an
		// answer to trust.
		return Entry{}, &DamageError{What: fmt.Sprintf("entry %x", id), Err: fmt.Errorf("not found, and %w", derr)}
	}
	return e, err
}

// entryByID returns the committed entry with the given id, or ErrNotFound.
func entryByID(txn *badger.Txn, id tlog.RecordID) (Entry, error) {
	v, err := getValue(txn, hashKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Entry{}, missingEntry(id)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("reading hash index: %w", err)
	}
	if len(v) != 8 {
		return Entry{}, fmt.Errorf("malformed hash index value for %x", id)
	}
	e, err := readEntry(txn, binary.BigEndian.Uint64(v))
	if err == nil && e.ID != id {
		// Left behind by a failed commit whose index was reused.
		return Entry{}, fmt.Errorf("entry %x: %w", id, ErrNotFound)
	}
	return e, err
}

// readEntry reads the committed entry at index. As the entry is
// committed, a missing key, a failed checksum or a value that does not
// decode is an [ErrDataLoss] naming the index.
func readEntry(txn *badger.Txn, index uint64) (Entry, error) {
	v, err := getValue(txn, entryKey(index))
	if err != nil {
		return Entry{}, dataLoss(fmt.Sprintf("entry %d", index), err)
	}
	return entryFromValue(index, v)
}

func entryFromValue(index uint64, v []byte) (Entry, error) {
	e, err := decodeEntry(index, v)
	if err != nil {
		return Entry{}, &DamageError{What: fmt.Sprintf("entry %d", index), Err: err}
	}
	return e, nil
}

// getValue returns a copy of the value at key.
func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return valueCopy(item)
}

// valueCopy returns a copy of item's value. Badger answers a value it
// cannot read from its value log (a failed checksum, a missing file) with
// an empty value and no error, logging why; that is errValueLost here.
func valueCopy(item *badger.Item) ([]byte, error) {
	v, err := item.ValueCopy(nil)
	if err == nil && len(v) == 0 && item.ValueSize() > 0 {
		return nil, errValueLost
	}
	return v, err
}

// Range streams the entries with indexes in [start, end), end clamped to the
// committed size, reading a bounded chunk at a time. A bad range or a read
// failure is yielded as the last error.
func (l *Log) Range(ctx context.Context, start, end uint64) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		if size := l.Size(); end > size {
			end = size
		}
		if start > end {
			yield(Entry{}, fmt.Errorf("%w: range [%d, %d) with log size %d", ErrInvalidInput, start, end, l.Size()))
			return
		}
		for next := start; next < end; {
			if err := ctx.Err(); err != nil {
				yield(Entry{}, err)
				return
			}
			var chunk []Entry
			err := l.view(func(txn *badger.Txn) error {
				var err error
				chunk, err = readEntries(txn, next, end)
				return err
			})
			for _, e := range chunk {
				if !yield(e, nil) {
					return
				}
			}
			if err != nil {
				yield(Entry{}, err)
				return
			}
			next += uint64(len(chunk))
		}
	}
}

// readEntries reads a chunk of at least one entry from [start, end). On a
// failure it returns the entries read before it with the error; an entry
// that is missing or cannot be decoded is an [*AuditError] naming it.
func readEntries(txn *badger.Txn, start, end uint64) ([]Entry, error) {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: prefixEntry})
	defer it.Close()
	var chunk []Entry
	n := 0
	next := start
	for it.Seek(entryKey(next)); next < end && len(chunk) < readChunk && n < readChunkBytes; it.Next() {
		if !it.Valid() || !bytes.Equal(it.Item().Key(), entryKey(next)) {
			return chunk, &AuditError{Index: next, Reason: "entry " + errUnreadable.Error()}
		}
		v, err := valueCopy(it.Item())
		if err != nil {
			return chunk, &AuditError{Index: next, Reason: fmt.Sprintf("reading the entry: %v", err)}
		}
		e, err := entryFromValue(next, v)
		if err != nil {
			return chunk, &AuditError{Index: next, Reason: err.Error()}
		}
		chunk = append(chunk, e)
		n += len(v)
		next++
	}
	return chunk, nil
}

// StateGet returns a copy of the committed state value at key, or
// [ErrNotFound].
func (l *Log) StateGet(key []byte) ([]byte, error) {
	var v []byte
	err := l.view(func(txn *badger.Txn) error {
		var err error
		v, err = getValue(txn, stateKey(key))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		if derr := l.damage(); derr != nil {
			// A damaged table block hides its keys: not found is not
			// an answer to trust.
			return nil, &DamageError{What: fmt.Sprintf("state key %q", key), Err: fmt.Errorf("not found, and %w", derr)}
		}
		return nil, fmt.Errorf("state key %q: %w", key, ErrNotFound)
	}
	if errors.Is(err, errValueLost) {
		return nil, dataLoss(fmt.Sprintf("state key %q", key), err)
	}
	return v, err
}

// StateScan streams the committed state entries whose keys start with
// prefix, in key order, a bounded chunk at a time. Keys are as given to
// [StateTx.Set]. Chunks are read in separate transactions, so a scan running
// during appends may mix states of different commit groups.
func (l *Log) StateScan(ctx context.Context, prefix []byte) iter.Seq2[KV, error] {
	return l.StateScanFrom(ctx, prefix, prefix)
}

// StateScanFrom is [Log.StateScan] starting at the first key at or after
// from (which should begin with prefix), for paging through a prefix.
func (l *Log) StateScanFrom(ctx context.Context, prefix, from []byte) iter.Seq2[KV, error] {
	return func(yield func(KV, error) bool) {
		full := stateKey(prefix)
		seek := stateKey(from)
		for {
			if err := ctx.Err(); err != nil {
				yield(KV{}, err)
				return
			}
			var chunk []KV
			err := l.view(func(txn *badger.Txn) error {
				it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: full})
				defer it.Close()
				for it.Seek(seek); it.Valid() && len(chunk) < readChunk; it.Next() {
					v, err := valueCopy(it.Item())
					if err != nil {
						return dataLoss(fmt.Sprintf("state key %q", it.Item().Key()[len(prefixState):]), err)
					}
					k := it.Item().KeyCopy(nil)
					chunk = append(chunk, KV{Key: k[len(prefixState):], Value: v})
				}
				return nil
			})
			if err != nil {
				yield(KV{}, fmt.Errorf("scanning state: %w", err))
				return
			}
			for _, kv := range chunk {
				if !yield(kv, nil) {
					return
				}
			}
			if len(chunk) < readChunk {
				return
			}
			seek = append(stateKey(chunk[len(chunk)-1].Key), 0)
		}
	}
}

// InclusionProof returns the RFC 6962 inclusion proof of the entry at index
// in the tree of the given size, which must not exceed the committed size.
// Verify it with [tlog.VerifyInclusion].
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][32]byte, error) {
	if cur := l.Size(); size > cur || index >= size {
		return nil, fmt.Errorf("%w: inclusion of index %d in size %d, log size %d", ErrInvalidInput, index, size, cur)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	return l.proofHashes(ctx, nodes)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees
// of size1 and size2, with size1 <= size2 <= the committed size. Verify it
// with [tlog.VerifyConsistency].
func (l *Log) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][32]byte, error) {
	if cur := l.Size(); size1 > size2 || size2 > cur {
		return nil, fmt.Errorf("%w: consistency from size %d to %d, log size %d", ErrInvalidInput, size1, size2, cur)
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	return l.proofHashes(ctx, nodes)
}

func (l *Log) proofHashes(ctx context.Context, nodes proof.Nodes) ([][32]byte, error) {
	hs, err := l.fetchNodes(ctx, nodes.IDs)
	if err != nil {
		return nil, err
	}
	hs, err = nodes.Rehash(hs, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("building proof: %w", err)
	}
	out := make([][32]byte, len(hs))
	for i, h := range hs {
		out[i] = [32]byte(h)
	}
	return out, nil
}

// fetchNodes reads stored tree nodes. Every node of a complete subtree of
// the committed tree is stored, so a missing one means corruption.
func (l *Log) fetchNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hs := make([][]byte, len(ids))
	err := l.view(func(txn *badger.Txn) error {
		for i, id := range ids {
			v, err := getValue(txn, nodeKey(id))
			if err != nil {
				return dataLoss(fmt.Sprintf("tree node (level %d, index %d)", id.Level, id.Index), err)
			}
			if len(v) != 32 {
				return &DamageError{What: fmt.Sprintf("tree node (level %d, index %d)", id.Level, id.Index), Err: fmt.Errorf("%d bytes, not 32", len(v))}
			}
			hs[i] = v
		}
		return nil
	})
	return hs, err
}

// RootAt returns the root hash of the tree at an earlier size, which must
// not exceed the committed size.
func (l *Log) RootAt(ctx context.Context, size uint64) ([32]byte, error) {
	if cur := l.Size(); size > cur {
		return [32]byte{}, fmt.Errorf("%w: root at size %d, log size %d", ErrInvalidInput, size, cur)
	}
	hs, err := l.fetchNodes(ctx, compact.RangeNodes(0, size, nil))
	if err != nil {
		return [32]byte{}, err
	}
	r, err := rangeFactory.NewRange(0, size, hs)
	if err != nil {
		return [32]byte{}, fmt.Errorf("building range: %w", err)
	}
	return rangeRoot(r), nil
}

// BadgerLogger returns a Badger logger that routes Badger's warnings and
// errors to l, and its information messages to l's debug level, each
// message after prefix; it drops Badger's debug messages.
func BadgerLogger(l *slog.Logger, prefix string) badger.Logger {
	return badgerLogger{l, prefix}
}

type badgerLogger struct {
	l      *slog.Logger
	prefix string
}

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(b.prefix + strings.TrimSpace(fmt.Sprintf(f, a...)))
}

func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(b.prefix + strings.TrimSpace(fmt.Sprintf(f, a...)))
}

// Infof goes to the debug level: Badger reports there its compactions
// that took over 2 s, stalls of writes behind them, and its levels at
// close.
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(b.prefix + strings.TrimSpace(fmt.Sprintf(f, a...)))
}

func (badgerLogger) Debugf(string, ...any) {}

// SmallTables makes Badger build tables of its base size (2 MiB) at every
// level below level 0, where it would double the size at each level below
// its base level: 16 MiB at the deepest level of a 2 GB store. (A level-0
// table is a whole memtable; this does not change it.) Badger's table
// builder holds a whole table in memory: each block as written, and beside
// it a buffer at least as large to compress it into, while the table's
// size counts compressed bytes. It grows its buffers by doubling, a
// compaction holds up to eight builders being written plus one being
// filled for each of its (up to about six) key ranges, and each store
// keeps up to eight builders' buffers in a pool for reuse, at the largest
// size they grew to, a memtable flush's included. At 3.3M records (two
// stores of 2 GB) builders' buffers reached 64 MiB each, and the heap
// grew past 1.5 GiB while the flag state caught up: a server in a 1 GiB
// memory cgroup was killed. With small tables the heap was about half,
// and the appends' rate the same: a level's size, so how much compactions
// rewrite, does not depend on its tables' size (BENCHMARKS.md, "Badger's
// table builders").
func SmallTables(bo badger.Options) badger.Options {
	bo.TableSizeMultiplier = 1
	return bo
}

// storeOptions are the Badger options of every store of the log, the one
// Open opens and the one Restore writes. The committer is the only writer
// and never reads through its update transactions, so Badger's conflict
// detection has nothing to find; its metrics are not exported. Two
// compactors suit a small machine. Badger does not sync its write-ahead
// log on each commit: the journal (journal.go) makes each commit group
// durable first, and Restore syncs the files at its end. Small tables
// keep compactions' memory small (SmallTables).
func storeOptions(bo badger.Options, logger *slog.Logger) badger.Options {
	return SmallTables(bo.WithSyncWrites(false).
		WithValueThreshold(valueThreshold).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithNumCompactors(2).
		WithLogger(badgerLogger{logger, "badger: "}))
}

// SignerKey returns the Ed25519 public key that signs the log's
// checkpoints, or nil if the signer is not a [tlog.Signer].
func (l *Log) SignerKey() ed25519.PublicKey {
	if ts, ok := l.opts.Signer.(*tlog.Signer); ok {
		return ts.Verifier().PublicKey()
	}
	return nil
}
