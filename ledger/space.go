package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// DefaultMinFreeBytes is the default [Options.MinFreeBytes]: 256 MiB, four
// times Badger's memtable size as Open configures it (Badger's default,
// 64 MiB). Badger writes through memory-mapped files and does not check
// for space: a write into a page the filesystem cannot back kills the
// process with SIGBUS. Once appends stop, Badger may still need room for
// the active memtable's flush to a level-0 table (up to one memtable's
// size, also done by Close), an immutable memtable being flushed (another
// one), and a compaction's output tables, written before its inputs are
// deleted (two more); the journal (journal.go) stays within the margin's
// slack too. Values over 4 KiB also go to the value log, but only while
// appends are admitted.
const DefaultMinFreeBytes = 4 * badgerMemTableSize

// badgerMemTableSize is Badger's MemTableSize as Open leaves it (Badger's
// default); the .mem file of each memtable is mapped at twice this size
// but filled only as the memtable grows.
const badgerMemTableSize = 64 << 20

// spacePoll is how often the watcher measures free space.
const spacePoll = time.Second

// ErrNoSpace means the filesystem of the log's directory has less free
// space than [Options.MinFreeBytes]: the append was refused, and nothing
// was written. Reads and proofs keep working. Appends are taken again once
// space is freed (at once, no restart needed), unless the log was opened
// on a full disk: it is then read-only until reopened. The error is a
// [*SpaceError] naming the directory and the space left.
var ErrNoSpace = errors.New("insufficient storage")

// A SpaceError is [ErrNoSpace] with the directory, the free space measured
// and the threshold.
type SpaceError struct {
	Dir      string
	Free     uint64 // bytes available to the server's user
	Min      uint64 // Options.MinFreeBytes
	ReadOnly bool   // the log was opened read-only on a full disk
}

func (e *SpaceError) Error() string {
	if e.ReadOnly {
		return fmt.Sprintf("%v: the log was opened read-only because its directory %s had %s free, under the %s kept for the store (MinFreeBytes, provenanced --min-free-bytes): appends are refused until space is freed and the server restarted; reads and proofs are served",
			ErrNoSpace, e.Dir, FormatBytes(e.Free), FormatBytes(e.Min))
	}
	return fmt.Sprintf("%v: the log's directory %s has %s free, under the %s kept for the store to flush (MinFreeBytes, provenanced --min-free-bytes): appends are refused until space is freed; reads and proofs are served",
		ErrNoSpace, e.Dir, FormatBytes(e.Free), FormatBytes(e.Min))
}

// Unwrap returns [ErrNoSpace].
func (e *SpaceError) Unwrap() error { return ErrNoSpace }

// FormatBytes formats n in bytes, KiB, MiB or GiB, to two decimals.
func FormatBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// freeBytes returns the space available in dir's filesystem to
// unprivileged users (statfs f_bavail).
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("measuring free space in %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// A spaceWatch refuses appends while the directory's free space is under
// min. A nil *spaceWatch refuses nothing (in memory, or MinFreeBytes < 0).
type spaceWatch struct {
	dir      string
	min      uint64
	readOnly bool // opened on a full disk: refuses every append
	logger   *slog.Logger
	free     atomic.Uint64 // last measured
	low      atomic.Bool   // free < min at the last measure
	failed   atomic.Bool   // the last measure failed (logged once)
}

func newSpaceWatch(dir string, min uint64, logger *slog.Logger) *spaceWatch {
	return &spaceWatch{dir: dir, min: min, logger: logger}
}

// measure measures free space, records it and logs a change of state. A
// failed measure changes nothing: it is logged once, and appends go on.
func (w *spaceWatch) measure() {
	free, err := freeBytes(w.dir)
	if err != nil {
		if !w.failed.Swap(true) {
			w.logger.Warn("ledger: cannot measure free space; appends are not held back", "err", err)
		}
		return
	}
	w.failed.Store(false)
	w.free.Store(free)
	low := free < w.min
	if w.low.Swap(low) == low || w.readOnly {
		return
	}
	if low {
		w.logger.Error("ledger: refusing appends: free space is under the minimum kept for the store",
			"dir", w.dir, "free_bytes", free, "min_free_bytes", w.min)
	} else {
		w.logger.Info("ledger: taking appends again: free space is back over the minimum",
			"dir", w.dir, "free_bytes", free, "min_free_bytes", w.min)
	}
}

// refuse returns a *SpaceError if appends are refused, reading only the
// last measure unless it was low: then it measures again, so freeing space
// is seen at once.
func (w *spaceWatch) refuse() error {
	if w == nil {
		return nil
	}
	if w.readOnly {
		return w.err()
	}
	if !w.low.Load() {
		return nil
	}
	w.measure()
	if w.low.Load() {
		return w.err()
	}
	return nil
}

// check returns a *SpaceError if appends are refused: the committer's
// check before it writes a group. It measures free space every time (a
// statfs, about 9 µs, once per commit group, not per record): a measure
// kept from before would miss space another process took since, and the
// group could then fill the disk.
func (w *spaceWatch) check() error {
	if w == nil {
		return nil
	}
	if w.readOnly {
		return w.err()
	}
	w.measure()
	if w.low.Load() {
		return w.err()
	}
	return nil
}

func (w *spaceWatch) err() error {
	return &SpaceError{Dir: w.dir, Free: w.free.Load(), Min: w.min, ReadOnly: w.readOnly}
}

// run measures every spacePoll until ctx is done.
func (w *spaceWatch) run(ctx context.Context) {
	t := time.NewTicker(spacePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.measure()
		}
	}
}

// openNearlyFull follows a read-only open of Badger, on a disk under
// MinFreeBytes, that failed with roErr. Badger opens read-only only a store
// closed cleanly: after an unclean stop it must truncate its memtable
// files, then flush them, and the journal's groups are written back. If
// the disk has room for that (twice what the memtable and journal files
// hold, plus 8 MiB), the store is opened read-write, with appends refused
// until space is freed; otherwise Open fails saying how much to free.
func (l *Log) openNearlyFull(bo badger.Options, roErr error) (*badger.DB, error) {
	if _, err := os.Stat(filepath.Join(l.space.dir, "MANIFEST")); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: the log's directory %s has %s free, under the %s kept for the store (MinFreeBytes, provenanced --min-free-bytes): a new store needs at least that; free space or lower the threshold",
			ErrNoSpace, l.space.dir, FormatBytes(l.space.free.Load()), FormatBytes(l.space.min))
	}
	if !strings.Contains(roErr.Error(), badger.ErrTruncateNeeded.Error()) {
		return nil, fmt.Errorf("opening read-only (%v): %w", l.space.err(), roErr)
	}
	held := unflushedBytes(l.space.dir)
	need := 2*held + 8<<20
	free := l.space.free.Load()
	if free < need {
		return nil, fmt.Errorf("%w: the log's directory %s has %s free, and the store, not closed cleanly, needs about %s to write back the %s its memtable and journal files hold: free at least %s there and start again",
			ErrNoSpace, l.space.dir, FormatBytes(free), FormatBytes(need), FormatBytes(held), FormatBytes(need-free))
	}
	l.logger.Error("ledger: the disk is nearly full and the store was not closed cleanly: opening it to write back what its memtable and journal files hold; reads and proofs are served, appends are refused until space is freed",
		"dir", l.space.dir, "free_bytes", free, "min_free_bytes", l.space.min, "held_bytes", held)
	l.space.readOnly = false
	return badger.Open(bo.WithReadOnly(false))
}

// unflushedBytes returns the space taken by dir's Badger memtable files and
// journal files: what a flush and a journal write-back may write again.
func unflushedBytes(dir string) uint64 {
	var n uint64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".mem") && name != journalNames[0] && name != journalNames[1] {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(dir, name), &st) == nil {
			n += uint64(st.Blocks) * 512
		}
	}
	return n
}

// FreeSpace returns the free space last measured on the log's directory,
// the threshold ([Options.MinFreeBytes]), and whether appends are refused
// for want of space; ok is false where space is not watched (in memory,
// or MinFreeBytes < 0).
func (l *Log) FreeSpace() (free, min uint64, refusing, ok bool) {
	w := l.space
	if w == nil {
		return 0, 0, false, false
	}
	return w.free.Load(), w.min, w.readOnly || w.low.Load(), true
}
