package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/tlog"
)

// BackupInfo describes the state of the log a backup stream holds.
type BackupInfo struct {
	// Origin, Size and Root are those of the tree the stream holds, and
	// Checkpoint is the signed checkpoint stored with it, which commits
	// them (verify it with the log's key).
	Origin     string
	Size       uint64
	Root       [32]byte
	Checkpoint []byte
	// StoreFormat is the store's format version ([StoreFormat]).
	StoreFormat int
	// Keys and Bytes count the Badger keys and the stream's bytes.
	Keys  uint64
	Bytes int64
}

// backupBatchBytes bounds one KVList of a backup stream.
const backupBatchBytes = 1 << 20

// Backup writes the whole store to w as a Badger backup stream (a series
// of little-endian uint64 lengths each followed by a protobuf pb.KVList,
// the format [badger.DB.Backup] writes and [badger.DB.Load] reads) and
// returns what it holds. Appends go on meanwhile: Backup holds no lock the
// committer takes, only a Badger read transaction (and the log's
// shutdown lock shared, so Close waits for it; cancel ctx to stop it).
//
// Why the stream is consistent: every key of the stream is read in one
// Badger read transaction, so at one read timestamp, and each commit group
// is one Badger transaction that writes its entries, hash index entries,
// tree nodes, state and index values together with the tree state
// (m/tree) and the checkpoint (m/checkpoint) that commit them. A read
// timestamp therefore sees whole groups, and m/tree and m/checkpoint in
// the stream describe exactly the entries in it: the snapshot is the log
// as of one commit. (Badger's own DB.Backup is not used because its
// Stream reads each key range in a transaction of its own, opened by
// several goroutines at their own read timestamps, which outside
// Badger's managed mode cannot be pinned to one: under appends it could
// pair a tree state with entries of another commit.) Only each key's
// latest version is written; a restored store has no history of
// overwritten state values, which nothing reads.
//
// Why acknowledged appends are in it: an append is acknowledged only once
// its group's Badger commit is done (see [Log.committed], which runs from
// Badger's commit callback after the commit timestamp is marked done), and
// a read transaction opened later reads at or past that timestamp (Badger
// waits for every commit below it). So every append acknowledged before
// Backup was called is in the stream.
//
// The journal (journal.go) is not in the stream, and need not be: it
// holds copies of groups on their way into Badger, or already in Badger
// but not yet synced to Badger's files, for a restart after a crash. A
// read transaction sees Badger's memtables, so groups already in Badger
// are in the stream whether or not they reached Badger's files; a group
// whose journal record is durable but whose Badger commit is not done at
// the read timestamp was not acknowledged, and is not in the stream. A
// restored store starts with an empty journal.
//
// Why a damaged store is not backed up: a table block that fails its
// checksum hides its keys from an iteration, without an error (see
// [Log.verifyTables]), so a stream of a damaged store would be short and
// look sound. So Backup fails with [ErrDataLoss], before it writes
// anything, if the log has found damage or a check of every table block
// now finds some; and it fails, once the stream is written, if the stream
// does not hold one entry, one hash index key and every tree node for
// each leaf of the tree it holds, or the verifiable map's values in it do
// not give the root its last leaf commits (damage after the check). The
// Apply state's other keys are committed by nothing the log holds: only
// the check before the stream covers them.
func (l *Log) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	var info BackupInfo
	if err := l.damage(); err != nil {
		return info, fmt.Errorf("backup: no backup was taken: %w", err)
	}
	if err := l.checkTablesNow(ctx); err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	bw := &countWriter{w: w}
	err := l.view(func(txn *badger.Txn) error {
		var err error
		if info, err = readBackupInfo(txn); err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		list := &pb.KVList{}
		size := 0
		var entries, hashes, nodes uint64
		// The verifiable map's values, to check against the root the
		// last leaf commits: 64 bytes a value, not a second map.
		var m tlog.MapRootBuilder
		mapPrefix := stateKey([]byte(indexPrefix))
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v, err := valueCopy(item)
			if err != nil {
				return dataLoss(keyName(item.Key()), err)
			}
			switch k := item.Key(); {
			case bytes.HasPrefix(k, prefixEntry):
				entries++
			case bytes.HasPrefix(k, prefixHash):
				hashes++
			case bytes.HasPrefix(k, prefixNode):
				nodes++
			case bytes.HasPrefix(k, mapPrefix):
				m.Add(k[len(mapPrefix):], v)
			}
			list.Kv = append(list.Kv, &pb.KV{
				Key:       item.KeyCopy(nil),
				Value:     v,
				UserMeta:  []byte{item.UserMeta()},
				Version:   item.Version(),
				ExpiresAt: item.ExpiresAt(),
			})
			info.Keys++
			if size += len(item.Key()) + len(v); size >= backupBatchBytes {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := writeKVList(bw, list); err != nil {
					return err
				}
				list.Kv, size = list.Kv[:0], 0
			}
		}
		if want := treeNodes(info.Size); entries != info.Size || hashes != info.Size || nodes != want {
			return &DamageError{What: "the backup stream", Err: fmt.Errorf("for a tree of %d leaves it read %d entries, %d hash index keys and %d tree nodes (want %d): a damaged table block hides its keys from a read; the backup is incomplete; run `provenanced audit` on a copy of the data directory", info.Size, entries, hashes, nodes, want)}
		}
		if info.Size > 0 {
			last, err := readEntry(txn, info.Size-1)
			if err != nil {
				return dataLoss(fmt.Sprintf("entry %d", info.Size-1), err)
			}
			if last.MapRoot == nil || *last.MapRoot != m.Root() {
				return &DamageError{What: "the backup stream", Err: fmt.Errorf("its %d verifiable map values do not give the root the last leaf commits (index %d): a damaged table block hides its keys from a read; the backup is incomplete; run `provenanced audit` on a copy of the data directory", m.Len(), info.Size-1)}
			}
		}
		if len(list.Kv) > 0 {
			return writeKVList(bw, list)
		}
		return nil
	})
	info.Bytes = bw.n
	if err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	return info, nil
}

// keyName names a key of the store for a message: an entry by its index
// (as [Damaged] and `provenanced audit` name it), any other key quoted.
func keyName(k []byte) string {
	if bytes.HasPrefix(k, prefixEntry) && len(k) == len(prefixEntry)+8 {
		return fmt.Sprintf("entry %d", binary.BigEndian.Uint64(k[len(prefixEntry):]))
	}
	return fmt.Sprintf("key %q", k)
}

// treeNodes is how many tree nodes the store holds for a tree of size
// leaves: one for every complete subtree, the leaves included.
func treeNodes(size uint64) uint64 {
	var n uint64
	for ; size > 0; size >>= 1 {
		n += size
	}
	return n
}

// checkTablesNow checks the checksum of every block of every table, at
// full speed, and returns ErrDataLoss naming the first that fails.
func (l *Log) checkTablesNow(ctx context.Context) error {
	l.life.RLock()
	defer l.life.RUnlock()
	if l.closed {
		return ErrClosed
	}
	err := VerifyTables(ctx, l.db)
	var td *TableDamage
	switch {
	case errors.As(err, &td):
		return &DamageError{What: "a table block", Err: fmt.Errorf("it fails its checksum (%v): no backup was taken; run `provenanced audit` on a copy of the data directory", err)}
	case err != nil && ctx.Err() == nil:
		// Not known to be damage: a table that could not be read.
		return fmt.Errorf("checking every table block before the backup (no backup was taken; try again): %w", err)
	}
	return err
}

// readBackupInfo reads the tree state, checkpoint and format in txn.
func readBackupInfo(txn *badger.Txn) (BackupInfo, error) {
	var info BackupInfo
	treeVal, err := getValue(txn, keyTree)
	if err != nil {
		return info, fmt.Errorf("reading the tree state: %w", err)
	}
	size, hashes, err := decodeTree(treeVal)
	if err != nil {
		return info, err
	}
	rng, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return info, fmt.Errorf("tree state: %w", err)
	}
	info.Size, info.Root = size, rangeRoot(rng)
	if info.Checkpoint, err = getValue(txn, keyCkpt); err != nil {
		return info, fmt.Errorf("reading the checkpoint: %w", err)
	}
	body, err := noteBody(info.Checkpoint)
	if err != nil {
		return info, fmt.Errorf("stored checkpoint: %w", err)
	}
	c, err := tlog.ParseCheckpoint(body)
	if err != nil {
		return info, fmt.Errorf("stored checkpoint: %w", err)
	}
	if c.Size != info.Size || c.Root != info.Root {
		return info, fmt.Errorf("the stored checkpoint (size %d) disagrees with the stored tree state (size %d)", c.Size, info.Size)
	}
	info.Origin = c.Origin
	f, err := getValue(txn, keyFormat)
	if err != nil {
		return info, fmt.Errorf("reading the store's format: %w", err)
	}
	if info.StoreFormat, err = strconv.Atoi(string(f)); err != nil {
		return info, fmt.Errorf("the store's format %q: %w", f, err)
	}
	return info, nil
}

func writeKVList(w io.Writer, list *pb.KVList) error {
	b, err := proto.Marshal(list)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// openRestored opens the store Restore writes; tests see its options.
var openRestored = badger.Open

// restoreOptions are Badger's for the store Restore writes: the log's
// (storeOptions), with Badger's default caches.
func restoreOptions(dir string) badger.Options {
	return storeOptions(badger.DefaultOptions(dir), slog.Default())
}

// Restore makes a new store in dir from a backup stream written by
// [Log.Backup], read from r, and returns what it holds. dir must not
// exist, or be empty. Restore checks that the stream holds a tree state,
// a checkpoint that commits it and a store format this build reads, and
// leaves the store's files synced; it does not check the entries against
// the tree ([Log.Audit] does) nor the checkpoint's signature. On failure
// it removes what it wrote in dir (and dir, if it made it).
func Restore(ctx context.Context, dir string, r io.Reader) (info BackupInfo, err error) {
	made, err := newEmptyDir(dir)
	if err != nil {
		return info, err
	}
	defer func() {
		if err != nil {
			removeWritten(dir, made)
		}
	}()
	db, err := openRestored(restoreOptions(dir))
	if err != nil {
		return info, fmt.Errorf("restore: opening badger: %w", err)
	}
	cr := &countReader{r: bufio.NewReaderSize(r, 1<<20), ctx: ctx}
	if err := db.Load(cr, 16); err != nil {
		db.Close()
		return info, fmt.Errorf("restore: loading the backup stream: %w", err)
	}
	err = db.View(func(txn *badger.Txn) error {
		var err error
		info, err = readBackupInfo(txn)
		if errors.Is(err, badger.ErrKeyNotFound) {
			// Backup writes these keys whatever else the store holds: a
			// stream without them was cut short when it was taken (a
			// damaged store, backed up by a build that did not check).
			return fmt.Errorf("the backup is incomplete (%w): take a new backup of a sound store", err)
		}
		if err != nil {
			return err
		}
		info.Keys, err = countKeys(txn)
		return err
	})
	info.Bytes = cr.n
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing badger: %w", cerr)
	}
	if err == nil && info.StoreFormat != StoreFormat {
		err = fmt.Errorf("%w: the backup holds a store of format %d; this build reads format %d only", ErrFormat, info.StoreFormat, StoreFormat)
	}
	if err == nil {
		err = syncBadgerFiles(dir)
	}
	if err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	return info, nil
}

func countKeys(txn *badger.Txn) (uint64, error) {
	it := txn.NewIterator(badger.IteratorOptions{})
	defer it.Close()
	var n uint64
	for it.Rewind(); it.Valid(); it.Next() {
		n++
	}
	return n, nil
}

// newEmptyDir makes dir (0700) if it does not exist, and reports whether
// it did; an existing dir must be an empty directory.
func newEmptyDir(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("restore: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	if len(ents) > 0 {
		return false, fmt.Errorf("restore: %s is not empty: a store is restored only into a new or empty directory", dir)
	}
	return false, nil
}

// removeWritten removes dir if Restore made it, else what Restore wrote
// in it (all of it: it was empty).
func removeWritten(dir string, made bool) {
	if made {
		os.RemoveAll(dir)
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.RemoveAll(dir + string(os.PathSeparator) + e.Name())
	}
}

// countReader counts what is read through it and stops once ctx is done.
type countReader struct {
	r   io.Reader
	ctx context.Context
	n   int64
}

func (c *countReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
