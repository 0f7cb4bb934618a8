package ledger

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/transparency-dev/merkle/compact"
)

// ErrDataLoss means stored data is damaged: a Badger checksum failed, an
// entry the tree commits is missing or unreadable, or its bytes no longer
// hash to its stored leaf. The message names what failed. The store
// should not be served until it is audited (`provenanced audit`) and
// restored; nothing was repaired.
var ErrDataLoss = errors.New("stored data is damaged")

// Is makes every [*AuditError] an [ErrDataLoss].
func (e *AuditError) Is(target error) bool { return target == ErrDataLoss }

// A DamageError is an [ErrDataLoss] met by a read: What names the damaged
// item ("entry 12", "tree node (level 1, index 6)") for clients; Err says
// what failed, for the operator's log.
type DamageError struct {
	What string
	Err  error
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("%v: %s: %v", ErrDataLoss, e.What, e.Err)
}

func (e *DamageError) Unwrap() error { return e.Err }

// Is makes a DamageError an [ErrDataLoss].
func (e *DamageError) Is(target error) bool { return target == ErrDataLoss }

// Damaged returns what a damage error names for clients: the item of a
// [*DamageError], the index of an [*AuditError]; "" if err is neither.
func Damaged(err error) string {
	var de *DamageError
	if errors.As(err, &de) {
		return de.What
	}
	var ae *AuditError
	if errors.As(err, &ae) {
		return fmt.Sprintf("entry %d", ae.Index)
	}
	return ""
}

// DefaultOpenCheck is how many of the newest entries Open checks against
// the tree when [Options.OpenCheck] is zero.
const DefaultOpenCheck = 1000

// errUnreadable is what a read of a key the tree commits finds. Badger
// answers "not found" for a key in a table block that fails its checksum.
var errUnreadable = errors.New("missing from the store, or in a table block that fails its checksum")

// errValueLost is a value Badger could not read from its value log.
var errValueLost = errors.New("Badger could not read the value from its value log (it logged why: a failed checksum or a missing file)")

// dataLoss returns err as a [*DamageError] naming what if Badger reported
// a checksum failure reading it, or what is missing. Badger formats its
// errors with %v, not %w, so its y.ErrChecksumMismatch is found by its
// text.
func dataLoss(what string, err error) error {
	switch {
	case err == nil || errors.Is(err, ErrDataLoss):
		return err
	case errors.Is(err, badger.ErrKeyNotFound):
		return &DamageError{What: what, Err: errUnreadable}
	case errors.Is(err, errValueLost), strings.Contains(err.Error(), "checksum mismatch"):
		return &DamageError{What: what, Err: err}
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

// checkRecent re-reads the newest n entries (all if fewer), re-hashes
// each, checks it against its stored leaf hash, its hash index and every
// stored tree node it completes (as [Log.Audit] does), and checks that the
// stored nodes of the older part of the tree and the re-hashed entries
// together give the committed root, which the stored checkpoint signs.
func (l *Log) checkRecent(n uint64) error {
	if l.size == 0 || n == 0 {
		return nil
	}
	begin := l.size - min(n, l.size)
	rng := rangeFactory.NewEmptyRange(begin)
	for next := begin; next < l.size; {
		var err error
		if next, err = auditChunk(l.db.View, rng, next, l.size); err != nil {
			return openCheckFailed(begin, l.size, err)
		}
	}
	ids := compact.RangeNodes(0, begin, nil)
	hs := make([][]byte, len(ids))
	err := l.db.View(func(txn *badger.Txn) error {
		for i, id := range ids {
			v, err := getValue(txn, nodeKey(id))
			if err != nil {
				return dataLoss(fmt.Sprintf("tree node (level %d, index %d)", id.Level, id.Index), err)
			}
			hs[i] = v
		}
		return nil
	})
	if err != nil {
		return openCheckFailed(begin, l.size, err)
	}
	full, err := rangeFactory.NewRange(0, begin, hs)
	if err == nil {
		err = full.AppendRange(rng, nil)
	}
	if err != nil {
		return openCheckFailed(begin, l.size, fmt.Errorf("rebuilding the tree: %w", err))
	}
	if root := rangeRoot(full); root != l.root {
		return openCheckFailed(begin, l.size, fmt.Errorf("the stored nodes below index %d and the re-hashed entries give root %x, the stored checkpoint (size %d) signs %x", begin, root, l.size, l.root))
	}
	return nil
}

func openCheckFailed(begin, end uint64, err error) error {
	if !errors.Is(err, ErrDataLoss) {
		err = fmt.Errorf("%w: %w", ErrDataLoss, err)
	}
	return fmt.Errorf("refusing to open: checking the newest entries (%d to %d) against the stored tree and checkpoint: %w; nothing was repaired: run `provenanced audit` on the data directory (or a copy) and restore the store from a backup", begin, end-1, err)
}

// Badger's log files (value log *.vlog and memtable write-ahead logs
// *.mem), as laid out by badger v4: a 20-byte header, then entries of a
// header (meta, user meta, uvarint key length, value length and expiry),
// the key, the value and a big-endian CRC-32C of all of them.
const (
	badgerLogHeader   = 20
	badgerMaxKey      = 1 << 16
	badgerEntryHeader = 22 // the largest entry header
	// badgerLongestEntry bounds an entry of a memtable log: its header,
	// key, a value kept inline (up to the store's value threshold; larger
	// ones are in the value log) and checksum.
	badgerLongestEntry = badgerEntryHeader + badgerMaxKey + valueThreshold + crc32.Size
)

// checkBadgerLogs refuses a store whose Badger logs Badger would cut on
// open, losing data: when it opens read-write, Badger truncates the newest
// value log file, and each memtable log, at the first entry that does not
// read back (a failed checksum), without a word. After a crash the tail
// past that entry is zeros (a sparse file, or a write cut short), and
// cutting it is how Badger recovers; anything else there is data, and
// cutting it would destroy it, evidence of tampering included. So is an
// entry that fails its checksum at the very end of a file: Badger cuts a
// log to its entries when it closes it, so such an entry was written
// whole (a new user's trial: the last record of a store, stopped cleanly,
// then damaged, cut at the next start and lost). Both are refused here,
// before Badger touches the file, naming the file and the offset.
func checkBadgerLogs(dir string, vlogFileSize int64) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var files []string
	newestVlog, maxFid := "", -1
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".mem"):
			files = append(files, name)
		case strings.HasSuffix(name, ".vlog"):
			if fid, err := strconv.Atoi(strings.TrimSuffix(name, ".vlog")); err == nil && fid > maxFid {
				newestVlog, maxFid = name, fid
			}
		}
	}
	if newestVlog != "" {
		files = append(files, newestVlog)
	}
	sort.Strings(files)
	for _, name := range files {
		// Badger makes the value log it writes to twice its file size
		// long, and cuts it to its entries when it closes it.
		open := int64(0)
		if strings.HasSuffix(name, ".vlog") {
			open = 2 * vlogFileSize
		}
		if err := checkBadgerLog(filepath.Join(dir, name), open); err != nil {
			return err
		}
	}
	return nil
}

// checkBadgerLog checks one Badger log file; see checkBadgerLogs. open,
// if not 0, is the size Badger gives the file while it writes to it: a
// file of another size was closed, cut to its entries, so any entry in
// it that does not read back is damage, not a write a crash cut short,
// whatever follows it (a cold review: a damaged header, or zeros
// appended, passed for a crash, and Badger cut the entry).
func checkBadgerLog(path string, open int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size <= badgerLogHeader {
		return nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, badgerLogHeader, size-badgerLogHeader), 1<<20)
	off := int64(badgerLogHeader)
	var buf []byte
	for {
		// end is where the entry at off claims to end, once known.
		end, ok, err := readBadgerEntry(r, &buf, size-off)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if ok {
			off += end
			continue
		}
		if open > 0 && size != open && off < size {
			return fmt.Errorf("%w: refusing to open: Badger's log %s has an entry at offset %d that fails its checksum or does not parse, and the file was closed (it is %d bytes, not the %d Badger gives a log it writes to: a crash leaves it that long), so it is damage, not a write cut short; opening would have Badger truncate the file there and lose the entries from there on, so the file is left as it is, as evidence. Keep a copy of the data directory, run `provenanced audit` on the copy, and restore the store from a backup",
				ErrDataLoss, path, off, size, open)
		}
		if end > 0 && off+end == size {
			// The file ends where the entry does: Badger cuts a log to
			// its entries when it closes it, and a crash leaves the log
			// longer than its entries (zeros past them), so this entry
			// was written whole and the file closed after it.
			return fmt.Errorf("%w: refusing to open: the last entry of Badger's log %s, at offset %d, fails its checksum, and the file ends where that entry does: it was written whole and the file closed after it (a crash leaves a log longer than its entries), so it is damage, not a write cut short; opening would have Badger truncate the file there and lose the entry, so the file is left as it is, as evidence. Keep a copy of the data directory, run `provenanced audit` on the copy, and restore the store from a backup",
				ErrDataLoss, path, off)
		}
		// The entry at off does not read back. Past what it claims to
		// cover, a crash leaves only zeros. An entry whose header does
		// not parse claims nothing: a kill in the middle of copying it
		// can leave its later bytes written and its header not (a large
		// copy is not done front to back), so the zeros are looked for
		// past the longest entry a memtable log holds.
		tail := off + max(end, badgerEntryHeader)
		if end == 0 {
			tail = off + badgerLongestEntry
		}
		nz, err := nonZeroFrom(f, tail, size)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if nz < 0 {
			return nil
		}
		return fmt.Errorf("%w: refusing to open: Badger's log %s has an entry at offset %d that fails its checksum or does not parse, and data follows it (a non-zero byte at offset %d of %d); opening would have Badger truncate the file there and lose that data, so the file is left as it is, as evidence. Keep a copy of the data directory and restore from a backup; or, to accept the loss, truncate the file to %d bytes (truncate -s %d %s) and start again: the journal writes back the commit groups it holds, and `provenanced audit` shows what is sound",
			ErrDataLoss, path, off, nz, size, off, off, path)
	}
}

// readBadgerEntry reads the entry at the reader's position, with left
// bytes left in the file. It returns the entry's length and ok if it reads
// back whole with a matching checksum and a non-empty key; otherwise ok is
// false and n is how far the entry claims to extend (0 if unknown).
func readBadgerEntry(r *bufio.Reader, buf *[]byte, left int64) (n int64, ok bool, err error) {
	h := crc32.New(castagnoli)
	var hdr []byte
	readByte := func() (byte, error) {
		b, err := r.ReadByte()
		if err == nil {
			hdr = append(hdr, b)
		}
		return b, err
	}
	if _, err := readByte(); err != nil { // meta
		return 0, false, nil
	}
	if _, err := readByte(); err != nil { // user meta
		return 0, false, nil
	}
	var lens [3]uint64
	for i := range lens {
		v, err := binary.ReadUvarint(byteReader(readByte))
		if err != nil {
			return 0, false, nil
		}
		lens[i] = v
	}
	klen, vlen := lens[0], lens[1]
	if klen == 0 || klen > badgerMaxKey || vlen > uint64(left) {
		return 0, false, nil
	}
	n = int64(len(hdr)) + int64(klen+vlen) + crc32.Size
	if n > left {
		return n, false, nil
	}
	if cap(*buf) < int(klen+vlen)+crc32.Size {
		*buf = make([]byte, int(klen+vlen)+crc32.Size)
	}
	b := (*buf)[:int(klen+vlen)+crc32.Size]
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, false, nil
		}
		return 0, false, err
	}
	h.Write(hdr)
	h.Write(b[:klen+vlen])
	return n, h.Sum32() == binary.BigEndian.Uint32(b[klen+vlen:]), nil
}

type byteReader func() (byte, error)

func (f byteReader) ReadByte() (byte, error) { return f() }

// seekData is lseek's SEEK_DATA: the next offset holding data, skipping
// the holes of a sparse file.
const seekData = 3

// nonZeroFrom returns the offset of the first non-zero byte of f in
// [from, size), or -1. Holes of a sparse file are skipped where the system
// can seek to data.
func nonZeroFrom(f *os.File, from, size int64) (int64, error) {
	buf := make([]byte, 1<<20)
	for off := from; off < size; {
		d, err := f.Seek(off, seekData)
		switch {
		case errors.Is(err, syscall.ENXIO):
			return -1, nil // no data past off
		case err == nil:
			off = d
		}
		if off >= size {
			return -1, nil
		}
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		for j, b := range buf[:n] {
			if b != 0 {
				return off + int64(j), nil
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if n == 0 {
			return -1, nil
		}
		off += int64(n)
	}
	return -1, nil
}

// verifyTables checks the checksum of every block of Badger's tables once
// after Open, in the background, as checking them at open would make start
// time grow with the store. A table block that fails its checksum hides
// the keys it holds: Badger answers "not found" for them, so the committer
// would take a record's lot or party, hidden there, for new. So once one
// is found, appends are refused with [ErrDataLoss] (reads go on, and
// answer ErrDataLoss where they meet the damage), and the log says so.
// While appends come in, the check is paced ([CheckIdle]); Close stops it.
func (l *Log) verifyTables(ctx context.Context) {
	l.life.RLock()
	defer l.life.RUnlock()
	if l.closed {
		return
	}
	start := time.Now()
	err := VerifyTablesPaced(ctx, l.db, CheckIdle, func() bool { return checkPaced(l) })
	var td *TableDamage
	switch {
	case errors.As(err, &td):
		// Damage found is recorded, even if the log is closing.
	case ctx.Err() != nil:
		return // closed: the next start checks again
	case err != nil:
		// A table that could not be read (no file descriptor left, an
		// I/O error of a moment) is not known to be damaged: refusing
		// appends for it, and recording it for every later start, would
		// take a sound store out of service.
		l.logger.Error("ledger: could not check every table block; the store is not known to be damaged, and the next start checks again", "err", err)
		return
	default:
		l.logger.Debug("ledger: every table block's checksum verified", "took", time.Since(start).Round(time.Millisecond))
		return
	}
	err = &DamageError{What: "a table block", Err: fmt.Errorf("it fails its checksum (%v): appends are refused; run `provenanced audit` on a copy of the data directory and restore the store from a backup", err)}
	l.damaged.Store(&err)
	l.logger.Error("ledger: the store is damaged", "err", err)
	if werr := writeDamageMarker(l.storeDir, time.Now(), err); werr != nil {
		l.logger.Error("ledger: recording the damage for the next start", "err", werr)
	}
}

// DamageMarker is the file in the log's directory recording that a check of
// every table block found damage, and what it was. The check runs in the
// background after a start, so without it the next start would take
// appends until the check found the damage again (seconds to a minute on
// a large store), and not at all if a compaction had meanwhile copied
// what it could read of the damaged table and dropped the rest, which
// Badger does without an error. With it, Open refuses appends from the
// start. Nothing removes it but the operator, once `provenanced audit`
// passes (a store restored from a backup is a new directory, without it).
const DamageMarker = "DAMAGED"

// writeDamageMarker records err, found at, in dir's DamageMarker,
// durably (a new file, renamed into place, the directory synced).
func writeDamageMarker(dir string, at time.Time, err error) error {
	if dir == "" {
		return nil
	}
	text := fmt.Sprintf("%s a check of every table block found the store damaged: %v\n"+
		"Appends are refused while this file exists. Run `provenanced audit` on a copy of the data directory, restore the store from a backup, and remove this file only once the audit passes.\n",
		at.UTC().Format(time.RFC3339), err)
	tmp := filepath.Join(dir, DamageMarker+".tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	serr := f.Sync()
	f.Close()
	if serr != nil {
		return serr
	}
	if err := os.Rename(tmp, filepath.Join(dir, DamageMarker)); err != nil {
		return err
	}
	return syncDir(dir)
}

// DamageRecord reports whether the log in dir has a record of damage an
// earlier check found (DamageMarker), readable or not, and its first line:
// when, and what (or why it cannot be read).
func DamageRecord(dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, DamageMarker))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", false
	case err != nil:
		return "it cannot be read: " + err.Error(), true
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return first, true
}

// readDamageMarker sets the log damaged, refusing appends, if an earlier
// run recorded damage in its directory (DamageMarker).
func (l *Log) readDamageMarker() {
	first, ok := DamageRecord(l.storeDir)
	if !ok {
		return
	}
	name := filepath.Join(l.storeDir, DamageMarker)
	derr := error(&DamageError{What: "a table block", Err: fmt.Errorf("an earlier check found the store damaged (%s: %s): appends are refused; run `provenanced audit` on a copy of the data directory and restore the store from a backup; remove %s only once the audit passes", name, first, name)})
	l.damaged.Store(&derr)
	l.logger.Error("ledger: the store was found damaged before; appends are refused", "marker", name, "err", derr)
}

// damage returns the error set by verifyTables, or nil.
func (l *Log) damage() error {
	if p := l.damaged.Load(); p != nil {
		return *p
	}
	return nil
}

// Damage returns the damage a check of every table block found in the
// store, this run or an earlier one (appends are refused meanwhile), or
// nil.
func (l *Log) Damage() error { return l.damage() }

// VerifyTables checks the checksum of every block of every table in db's
// directory (a store opened on disk), and returns the first failure, or
// ctx's error once it is done. Damage found is a [*TableDamage]; any
// other error (a table file that could not be opened or read) says
// nothing of the store's soundness.
//
// It reads each table file into memory, one at a time, rather than call
// db.VerifyChecksum, which reads through the mappings the store keeps open
// and so left every page of every table in the process's resident memory
// (1.2 GiB on a 1M-record store, BENCHMARKS.md "Flags that keep up"). It
// must not map the files itself: Badger truncates a table it compacts
// away before removing it, and a read of a mapping past a file's end is a
// SIGBUS that kills the process. A table compacted away while it is read
// is passed over. That leaves a gap Badger makes: its compaction stops
// reading a table at the first block that fails its checksum and writes
// what it read, without an error, so damage a compaction meets before this
// check does is lost from the tables (a cold review's test). The log's
// own checks still see it: an entry the tree commits that cannot be read
// answers ErrDataLoss, and `provenanced audit` reads every entry.
func VerifyTables(ctx context.Context, db *badger.DB) error {
	return VerifyTablesPaced(ctx, db, 0, nil)
}

// CheckIdle paces the checks of every table that follow a start, the
// ledger's and the flag state's, while appends come in ([Log.Appending]):
// for each second spent reading and checking a table, they then wait this
// many. They read the whole store, and share its one disk with the syncs
// every append waits for: unpaced, on a 3.2M-record store, they took the
// first 7-18 s after a start and held appends near 700 records/s
// meanwhile, against 2,700 paced (BENCHMARKS.md, "The checks after a
// start are paced"). The price: a read through a damaged block does not
// fail (Badger answers "not found" for its keys), so under appends the
// check, which alone finds such damage, takes four times as long to (48 s
// for the ledger there); with no appends it runs at full speed.
const CheckIdle = 3

// VerifyTablesPaced is [VerifyTables] that, after each table, waits idle
// times as long as reading and checking it took, if paced is nil or says
// so then.
func VerifyTablesPaced(ctx context.Context, db *badger.DB, idle float64, paced func() bool) error {
	o := db.Opts()
	topts := checkOptions(o)
	// The tables of the store's levels, not every file named *.sst: a
	// table being written has its full size before its contents. One
	// buffer, as large as the largest table, is read into for all: a new
	// one per table (up to 16 MiB each in a store written before
	// SmallTables) cost 2 % of the server's CPU to allocate and clear
	// after a start at 4.3M records, and as much garbage to collect.
	var buf []byte
	// A table that could not be read is passed over, the check going on
	// to the others (it would otherwise leave them unchecked until the
	// next start): damage found anywhere is returned, else the first
	// such error.
	var unread error
	for _, ti := range db.Tables() {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		err := verifyTable(table.NewFilename(ti.ID, o.Dir), topts, &buf)
		var td *TableDamage
		if errors.As(err, &td) {
			return err
		}
		if err != nil && unread == nil {
			unread = err
		}
		if idle > 0 && (paced == nil || paced()) {
			if err := pause(ctx, time.Duration(idle*float64(time.Since(start)))); err != nil {
				return err
			}
		}
	}
	return unread
}

// checkPaced says whether the log's check after a start is paced now
// (tests replace it).
var checkPaced = (*Log).Appending

// pause waits d, or until ctx is done (tests replace it).
var pause = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openRefusalDamage returns Badger's refusal err to open the store in
// dir (options bo) as an ErrDataLoss if it is damage, else nil. Badger
// reads each table's index as it opens the store, and refuses one that is
// missing, fails its checksum or does not parse, in words of its own
// (formatted with %v). Only such a refusal is looked into (not one for
// space, or its lock: a table file a crash left half written, which
// Badger removes at its next open, lies there then and is no damage), and
// whether a table that is there is damaged is decided as the check of
// every table decides it.
func openRefusalDamage(dir string, bo badger.Options, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "file does not exist for table") {
		// The MANIFEST lists a table whose file is gone.
		return &DamageError{What: "a table", Err: fmt.Errorf("Badger refused to open the store: %v: a table the store lists is missing; nothing was repaired: run `provenanced audit` on a copy of the data directory and restore the store from a backup", err)}
	}
	if !strings.Contains(msg, "checksum mismatch") && !strings.Contains(msg, "failed to read index") && !strings.Contains(msg, "cannot parse") {
		return nil
	}
	names, gerr := filepath.Glob(filepath.Join(dir, "*.sst"))
	if gerr != nil {
		return nil
	}
	topts := checkOptions(bo)
	var buf []byte
	for _, name := range names {
		derr := verifyTable(name, topts, &buf)
		var td *TableDamage
		if errors.As(derr, &td) {
			return &DamageError{What: "a table", Err: fmt.Errorf("Badger refused to open the store (%v): %v; nothing was repaired: run `provenanced audit` on a copy of the data directory and restore the store from a backup", err, derr)}
		}
	}
	return nil
}

// checkOptions are the options a table of a store of options bo is read
// with to check it: read-only, every block's checksum checked.
func checkOptions(bo badger.Options) table.Options {
	return table.Options{ReadOnly: true, BlockSize: bo.BlockSize, Compression: bo.Compression, ChkMode: options.OnBlockRead}
}

// A TableDamage is a table that [VerifyTables] found damaged: a block
// that fails its checksum, or a table that does not parse. Other errors
// of VerifyTables (a file that could not be opened or read) are not
// damage. It is an [ErrDataLoss].
type TableDamage struct {
	Table string // the file's name
	Err   error
}

func (e *TableDamage) Error() string { return e.Err.Error() }

func (e *TableDamage) Unwrap() error { return e.Err }

// Is makes a TableDamage an [ErrDataLoss].
func (e *TableDamage) Is(target error) bool { return target == ErrDataLoss }

// verifyTable checks every block of one table file, read into *buf
// (grown if it is too small). A failure counts only if the file is still
// the one that was read, whole: Badger truncates a table it compacted
// away, then removes it.
func verifyTable(name string, o table.Options, buf *[]byte) error {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return err
	}
	if before.Size() == 0 {
		return nil // truncated: being removed
	}
	if int64(cap(*buf)) < before.Size() {
		*buf = make([]byte, before.Size())
	}
	data := (*buf)[:before.Size()]
	_, rerr := io.ReadFull(f, data)
	if rerr == nil {
		if cerr := checkTable(name, data, o); cerr != nil {
			rerr = &TableDamage{Table: filepath.Base(name), Err: cerr}
		}
	}
	if rerr == nil {
		return nil
	}
	if after, err := os.Stat(name); err != nil || !os.SameFile(before, after) || after.Size() != before.Size() {
		return nil // compacted away meanwhile
	}
	return rerr
}

// checkTable checks the blocks of a table read into data. With block
// checksums checked on read, Badger v4.9.6's Table.VerifyChecksum
// dereferences the nil block its read of a damaged block returns, and
// panics; that panic is the damage found.
func checkTable(name string, data []byte, o table.Options) (err error) {
	defer func() {
		if p := recover(); p != nil {
			// The panic's own text (a nil pointer) says nothing to an
			// operator: the block is what failed.
			err = fmt.Errorf("a block of table %s fails its checksum: it does not read back", filepath.Base(name))
		}
	}()
	id, ok := table.ParseFileID(filepath.Base(name))
	if !ok {
		return fmt.Errorf("table %s: not a table file name", filepath.Base(name))
	}
	t, err := table.OpenInMemoryTable(data, id, &o)
	if err != nil {
		return fmt.Errorf("table %s: %w", filepath.Base(name), err)
	}
	return t.VerifyChecksum()
}
