package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"
)

// The journal makes each commit group durable with one write and one
// fdatasync of its own file, so that Badger need not sync its write-ahead
// log on every commit: a synced Badger commit costs several times a plain
// fdatasync, because Badger syncs a memory-mapped file and the kernel then
// writes back far more than the commit (see BENCHMARKS.md).
//
// The rule that keeps it safe: a group reaches Badger only after its
// journal record is on disk, so Badger never holds a group the journal
// lacks, and a journal record is dropped only after every Badger file
// that could hold its writes has been synced. After a crash, Badger may
// have lost any of the groups written since that sync, not only the
// last ones (its files are written back by the kernel in no set order),
// so Open writes every journal record back into Badger, in order: a
// record's writes are exactly the group's transaction, and writing them
// again leaves keys already there as they were, except keys a later
// group changed, which the later records then set again.
//
// A record is written over zeroes written ahead, a chunk at a time: an
// fdatasync of a file whose size and blocks are unchanged writes its data
// and flushes the disk, while one that grew the file also commits the
// filesystem's journal, and with it (ext4, data=ordered) whatever data
// Badger's memory-mapped files have newly allocated.
//
// Two files take turns. Records go to the active file; once it passes
// journalRotateBytes, the next group's record starts the other one, with a
// higher epoch, and a background goroutine waits until the old file's
// last group is in Badger, syncs Badger's files and then empties the old
// file. Open replays the files that hold records in epoch order. A file
// is never emptied while an older one still holds records: replaying an
// older file alone would set the tree state back below entries that the
// newer one's groups left in Badger.
//
// File layout: a header, then records.
//
//	header: "PLJ1" | epoch u64 | crc32c(previous 12 bytes) u32
//	record: body length u32 | crc32c(body) u32 | body
//	body:   epoch u64 | first index u64 | entries u32 | (key length u32 | value length u32 | key | value)...
//
// A record whose epoch is not its file's is left over from an earlier use
// of the file and ends it, as does a torn or corrupt record.
const (
	journalMagic       = "PLJ1"
	journalHeaderSize  = 16
	journalRotateBytes = 32 << 20
	journalMaxRecord   = 1 << 30
	journalChunk       = 1 << 20
)

// journalZeros fill journal files ahead of their records.
var journalZeros = make([]byte, journalChunk)

var journalNames = [2]string{"journal-a.plj", "journal-b.plj"}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// A journal is the pair of journal files of a log. rotate and append are
// called by one goroutine at a time, one group after another.
type journal struct {
	dir   string
	files [2]*os.File
	epoch [2]uint64 // 0: the file holds no records
	// alloc is how much of each file has been written (with zeroes, at
	// least), so that writing a record there changes no metadata.
	alloc  [2]int64
	active int
	size   int64 // bytes in the active file
	// rotateAt is the size past which the other file takes over:
	// journalRotateBytes, but tests rotate sooner.
	rotateAt int64
	// afterFirstTruncate, set only by tests, runs between emptying the
	// two files; an error stops there, as a crash would.
	afterFirstTruncate func() error
	// sync is the background sync of the inactive file's groups; nil once
	// it has finished and been collected.
	sync chan error
}

// A journalRecord is one commit group's writes, as read back.
type journalRecord struct {
	epoch, first uint64
	entries      uint32
	kvs          []kvw
}

// openJournal opens (creating if need be) the journal files in dir and
// reads the records they hold, oldest first. The caller writes them into
// Badger, makes Badger durable, and then calls start.
func openJournal(dir string) (*journal, []journalRecord, error) {
	j := &journal{dir: dir, rotateAt: journalRotateBytes}
	type held struct {
		i    int
		recs []journalRecord
	}
	var found []held
	for i, name := range journalNames {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			j.close()
			return nil, nil, fmt.Errorf("opening journal: %w", err)
		}
		j.files[i] = f
		if fi, err := f.Stat(); err == nil {
			j.alloc[i] = fi.Size()
		}
		epoch, recs, err := readJournal(f)
		if err != nil {
			j.close()
			return nil, nil, fmt.Errorf("reading journal %s: %w", name, err)
		}
		j.epoch[i] = epoch
		if epoch != 0 {
			found = append(found, held{i, recs})
		}
	}
	if err := syncDir(dir); err != nil {
		j.close()
		return nil, nil, err
	}
	if len(found) == 2 && j.epoch[found[0].i] > j.epoch[found[1].i] {
		found[0], found[1] = found[1], found[0]
	}
	var recs []journalRecord
	for _, h := range found {
		recs = append(recs, h.recs...)
	}
	return j, recs, nil
}

// readJournal reads a journal file's epoch and its records. An empty
// file, or one with no valid header, has epoch 0 and no records.
func readJournal(f *os.File) (uint64, []journalRecord, error) {
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return 0, nil, err
	}
	if len(data) < journalHeaderSize || string(data[:4]) != journalMagic ||
		crc32.Checksum(data[:12], castagnoli) != binary.BigEndian.Uint32(data[12:16]) {
		return 0, nil, nil
	}
	epoch := binary.BigEndian.Uint64(data[4:12])
	var recs []journalRecord
	for rest := data[journalHeaderSize:]; len(rest) >= 8; {
		n := binary.BigEndian.Uint32(rest)
		if n < 20 || uint64(n) > uint64(len(rest)-8) {
			break // torn, or the zeroes past the last record
		}
		body := rest[8 : 8+n]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(rest[4:]) {
			break
		}
		r, ok := decodeJournalBody(body)
		if !ok || r.epoch != epoch {
			break
		}
		recs = append(recs, r)
		rest = rest[8+n:]
	}
	return epoch, recs, nil
}

func decodeJournalBody(b []byte) (journalRecord, bool) {
	r := journalRecord{
		epoch:   binary.BigEndian.Uint64(b),
		first:   binary.BigEndian.Uint64(b[8:]),
		entries: binary.BigEndian.Uint32(b[16:]),
	}
	for b = b[20:]; len(b) > 0; {
		if len(b) < 8 {
			return r, false
		}
		kl, vl := uint64(binary.BigEndian.Uint32(b)), uint64(binary.BigEndian.Uint32(b[4:]))
		if kl+vl > uint64(len(b)-8) {
			return r, false
		}
		r.kvs = append(r.kvs, kvw{k: b[8 : 8+kl], v: b[8+kl : 8+kl+vl]})
		b = b[8+kl+vl:]
	}
	return r, true
}

// start empties both files and begins the first of them with an epoch
// above any seen, once the records read by openJournal are safely in
// Badger. (Epochs count up only within one run of the log: a file
// emptied by start or retire holds nothing an old epoch could match.)
func (j *journal) start() error {
	next := max(j.epoch[0], j.epoch[1]) + 1
	if err := j.truncateBoth(); err != nil {
		return err
	}
	return j.begin(0, next)
}

// truncateBoth empties both files, the older one first, so that a crash
// or failure in between leaves only the newer one's records.
func (j *journal) truncateBoth() error {
	order := [2]int{0, 1}
	if j.epoch[1] != 0 && (j.epoch[0] == 0 || j.epoch[1] < j.epoch[0]) {
		order = [2]int{1, 0}
	}
	for n, i := range order {
		if err := j.truncate(i); err != nil {
			return err
		}
		if n == 0 && j.afterFirstTruncate != nil {
			if err := j.afterFirstTruncate(); err != nil {
				return err
			}
		}
	}
	return nil
}

// truncate empties file i and syncs it.
func (j *journal) truncate(i int) error {
	f := j.files[i]
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("emptying journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("emptying journal: %w", err)
	}
	j.epoch[i], j.alloc[i] = 0, 0
	return nil
}

// drop zeroes file i's header and syncs it: its records are no longer
// needed, and the space they filled is kept for the file's next turn,
// where its epoch, lower than the next one's, marks them stale.
func (j *journal) drop(i int) error {
	if _, err := j.files[i].WriteAt(journalZeros[:journalHeaderSize], 0); err != nil {
		return fmt.Errorf("emptying journal: %w", err)
	}
	if err := fdatasync(j.files[i]); err != nil {
		return fmt.Errorf("emptying journal: %w", err)
	}
	j.epoch[i] = 0
	return nil
}

// fill makes sure file i is written, with zeroes at least, up to end.
func (j *journal) fill(i int, end int64) error {
	if end <= j.alloc[i] {
		return nil
	}
	f := j.files[i]
	for j.alloc[i] < end {
		if _, err := f.WriteAt(journalZeros, j.alloc[i]); err != nil {
			return fmt.Errorf("extending journal: %w", err)
		}
		j.alloc[i] += journalChunk
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("extending journal: %w", err)
	}
	return nil
}

// begin writes file i's header with epoch and makes it the active file.
// File i must hold no records of an epoch still to be read: it is empty,
// or was dropped (its records' epoch is below the new one).
func (j *journal) begin(i int, epoch uint64) error {
	if err := j.fill(i, journalHeaderSize); err != nil {
		return err
	}
	h := make([]byte, journalHeaderSize)
	copy(h, journalMagic)
	binary.BigEndian.PutUint64(h[4:], epoch)
	binary.BigEndian.PutUint32(h[12:], crc32.Checksum(h[:12], castagnoli))
	if _, err := j.files[i].WriteAt(h, 0); err != nil {
		return fmt.Errorf("starting journal: %w", err)
	}
	if err := j.files[i].Sync(); err != nil {
		return fmt.Errorf("starting journal: %w", err)
	}
	j.epoch[i], j.active, j.size = epoch, i, journalHeaderSize
	return nil
}

// newJournalRecord starts the record of a group whose entries begin at
// index first; the group's writes are added with addJournalWrite.
func newJournalRecord(first uint64, entries int, sizeHint int) []byte {
	b := make([]byte, 28, 28+sizeHint)
	binary.BigEndian.PutUint64(b[16:], first)
	binary.BigEndian.PutUint32(b[24:], uint32(entries))
	return b
}

func addJournalWrite(rec, k, v []byte) []byte {
	rec = binary.BigEndian.AppendUint32(rec, uint32(len(k)))
	rec = binary.BigEndian.AppendUint32(rec, uint32(len(v)))
	return append(append(rec, k...), v...)
}

// append writes rec, built by newJournalRecord and addJournalWrite, to the
// active file and syncs it: once it returns nil, the group is durable.
func (j *journal) append(rec []byte) error {
	if len(rec)-8 > journalMaxRecord {
		return fmt.Errorf("journal record of %d bytes", len(rec))
	}
	body := rec[8:]
	binary.BigEndian.PutUint64(body, j.epoch[j.active])
	binary.BigEndian.PutUint32(rec, uint32(len(body)))
	binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(body, castagnoli))
	if err := j.fill(j.active, j.size+int64(len(rec))); err != nil {
		return err
	}
	f := j.files[j.active]
	if _, err := f.WriteAt(rec, j.size); err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	if err := fdatasync(f); err != nil {
		return fmt.Errorf("syncing journal: %w", err)
	}
	j.size += int64(len(rec))
	return nil
}

// rotate switches to the other file if the active one is full and the
// other is free, and then, in the background, syncs Badger's files and
// empties the old one. Every group in the active file must be in Badger
// by then: the last one may still be going in, and then before is closed
// once it is, with beforeErr telling how that went (a failure leaves the
// old file as it is). rotate returns the failure of an earlier background
// sync.
func (j *journal) rotate(syncBadger func() error, before <-chan struct{}, beforeErr func() error) error {
	if j.sync != nil {
		select {
		case err := <-j.sync:
			j.sync = nil
			if err != nil {
				return err
			}
		default:
			return nil // the other file is still being freed
		}
	}
	if j.size < j.rotateAt {
		return nil
	}
	old := j.active
	if err := j.begin(1-old, j.epoch[old]+1); err != nil {
		return err
	}
	done := make(chan error, 1)
	j.sync = done
	go func() {
		if before != nil {
			<-before
			if err := beforeErr(); err != nil {
				// The log stops, and keeps both files for the next Open.
				done <- fmt.Errorf("commit before changing journal files: %w", err)
				return
			}
		}
		err := syncBadger()
		if err == nil {
			err = j.drop(old)
		}
		done <- err
	}()
	return nil
}

// retire empties both files, once Badger holds every group durably
// (after it is closed and its files synced).
func (j *journal) retire() error { return j.truncateBoth() }

// wait waits for a background sync, if any, and returns its failure.
func (j *journal) wait() error {
	if j.sync == nil {
		return nil
	}
	err := <-j.sync
	j.sync = nil
	return err
}

func (j *journal) close() {
	for _, f := range j.files {
		if f != nil {
			f.Close()
		}
	}
}

// replayJournal writes the journal's records into db, oldest first, each
// as one transaction, and checks that they follow one another.
func replayJournal(db *badger.DB, recs []journalRecord) error {
	for i, r := range recs {
		if i > 0 && r.first != recs[i-1].first+uint64(recs[i-1].entries) {
			return fmt.Errorf("journal records do not follow one another: entries %d.. after %d..%d",
				r.first, recs[i-1].first, recs[i-1].first+uint64(recs[i-1].entries))
		}
		txn := db.NewTransaction(true)
		for _, kv := range r.kvs {
			if err := txn.Set(kv.k, kv.v); err != nil {
				txn.Discard()
				return fmt.Errorf("replaying journal record of entries %d..: %w", r.first, err)
			}
		}
		if err := txn.Commit(); err != nil {
			return fmt.Errorf("replaying journal record of entries %d..: %w", r.first, err)
		}
	}
	return nil
}

// syncBadgerFiles makes durable everything Badger has written to its
// write-ahead logs (*.mem) and value logs (*.vlog) in dir, and dir itself.
// The contents of its tables and manifest Badger syncs itself (not the
// directory entries of new tables: syncing dir covers those); a log file
// gone meanwhile was flushed to a table first.
func syncBadgerFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("syncing badger files: %w", err)
	}
	var firstErr error
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".mem") && !strings.HasSuffix(name, ".vlog") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("syncing badger file %s: %w", name, err)
		}
	}
	if firstErr != nil {
		return firstErr
	}
	return syncDir(dir) // for log files Badger created since the last sync
}

func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
