package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// crash stops l as a crash would, as far as the ledger's own files go:
// the journal is left as it is (a clean Close empties it), and only the
// groups Badger was given are in Badger.
func crash(t *testing.T, l *Log) {
	t.Helper()
	l.cancel()
	l.wg.Wait()
	l.life.Lock()
	defer l.life.Unlock()
	l.journaling.Wait()
	l.journal.wait() //nolint:errcheck // a crash does not look
	if err := l.db.Close(); err != nil {
		t.Fatal(err)
	}
	l.journal.close()
	l.unlock() // as the process's death would
	l.closed = true
}

// appendRounds appends rounds of concurrent distinct entries, so that
// they commit in many groups, and returns every entry's data by index.
func appendRounds(t *testing.T, l *Log, prefix string, rounds, perRound int) map[uint64][]byte {
	t.Helper()
	got := make(map[uint64][]byte)
	var mu sync.Mutex
	for r := range rounds {
		var wg sync.WaitGroup
		for i := range perRound {
			wg.Go(func() {
				data := fmt.Appendf(nil, "%s round %d entry %d", prefix, r, i)
				e, dup, err := l.Append(t.Context(), data)
				if err != nil || dup {
					t.Errorf("append: dup=%v err=%v", dup, err)
					return
				}
				mu.Lock()
				got[e.Index] = data
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	return got
}

// TestJournalReplay: groups acknowledged from the journal but missing
// from Badger, whether the last ones or one in the middle, are back after
// a reopen, with the state their Apply wrote, and the tree agrees with the
// last checkpoint handed out.
func TestJournalReplay(t *testing.T) {
	k := newTestKey(t)
	for _, tc := range []struct {
		name   string
		rotate int64 // journal rotation size; 0 for the default
		lose   func(first uint64, n int) bool
	}{
		{"nothing lost", 0, nil},
		{"last groups lost", 0, func(first uint64, n int) bool { return first >= 100 }},
		{"a middle group lost", 0, func(first uint64, n int) bool { return first <= 60 && 60 < first+uint64(n) }},
		{"rotating journal", 2 << 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, k, func(o *Options) { o.Apply = counterApply })
			if tc.lose != nil {
				l.beforeBadger = func(g *group, txn *badger.Txn) bool {
					if !tc.lose(g.size-uint64(len(g.entries)), len(g.entries)) {
						return false
					}
					txn.Discard()
					l.committed(g, nil) // as if committed, and lost later
					return true
				}
			}
			if tc.rotate > 0 {
				l.journal.rotateAt = tc.rotate
			}
			want := appendRounds(t, l, "before", 20, 8)
			size, root := l.Root()
			ckpt := l.Checkpoint()
			crash(t, l)

			l2 := openTest(t, dir, k, func(o *Options) { o.Apply = counterApply })
			if s, r := l2.Root(); s != size || r != root {
				t.Fatalf("reopened at size %d root %x; before the crash size %d root %x", s, r, size, root)
			}
			if string(l2.Checkpoint()) != string(ckpt) {
				t.Fatalf("reopened with checkpoint\n%s\nnot the last one handed out\n%s", l2.Checkpoint(), ckpt)
			}
			for i := range size {
				e, err := l2.Get(t.Context(), i)
				if err != nil || string(e.Data) != string(want[i]) {
					t.Fatalf("entry %d: %q, %v; want %q", i, e.Data, err, want[i])
				}
				if _, err := l2.StateGet(fmt.Appendf(nil, "seen/%d", i)); err != nil {
					t.Fatalf("state of entry %d: %v", i, err)
				}
			}
			v, err := l2.StateGet([]byte("count"))
			if err != nil || binary.BigEndian.Uint64(v) != size {
				t.Fatalf("count %x, %v; want %d", v, err, size)
			}
			if got := refRoot(leafHashes(t, l2)); got != root {
				t.Fatalf("root over the stored leaves %x, want %x", got, root)
			}
			// The log goes on from there, and a clean close leaves the
			// journal empty.
			appendRounds(t, l2, "after", 2, 4)
			if err := l2.Close(); err != nil {
				t.Fatal(err)
			}
			for _, name := range journalNames {
				if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() != 0 {
					t.Fatalf("journal %s after a clean close: %v, %v", name, fi, err)
				}
			}
		})
	}
}

// TestJournalFileEnds: reading a journal file stops at a torn record, at
// a corrupt one, and at a record left from an earlier use of the file.
func TestJournalFileEnds(t *testing.T) {
	dir := t.TempDir()
	j, recs, err := openJournal(dir)
	if err != nil || len(recs) != 0 {
		t.Fatalf("new journal: %d records, %v", len(recs), err)
	}
	defer func() { j.close() }()
	if err := j.start(); err != nil {
		t.Fatal(err)
	}
	record := func(first uint64, k, v string) []byte {
		return addJournalWrite(newJournalRecord(first, 1, 0), []byte(k), []byte(v))
	}
	for i := range uint64(3) {
		if err := j.append(record(i, fmt.Sprint("k", i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	end := j.size // where the records end; zeroes follow
	reopen := func() []journalRecord {
		t.Helper()
		j.close()
		var recs []journalRecord
		j, recs, err = openJournal(dir)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	if recs := reopen(); len(recs) != 3 || string(recs[2].kvs[0].k) != "k2" || recs[2].first != 2 || recs[2].entries != 1 {
		t.Fatalf("read back %+v", recs)
	}
	f := filepath.Join(dir, journalNames[0])
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	data = data[:end]
	for _, c := range []struct {
		name string
		data []byte
		want int
	}{
		{"torn last record", data[:end-3], 2},
		{"corrupt second record", corrupt(data, int(end)-2*len(record(0, "k0", "v"))+12), 1},
		{"zeroes after the records", append(append([]byte(nil), data...), make([]byte, 4096)...), 3},
		{"bad header", corrupt(data, 5), 0},
	} {
		if err := os.WriteFile(f, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if recs := reopen(); len(recs) != c.want {
			t.Errorf("%s: read %d records, want %d", c.name, len(recs), c.want)
		}
	}
	// A file started again over older records, its emptying lost: the
	// older records after the new ones are not read.
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	reopen()
	j.epoch[1] = 0
	if err := j.begin(0, j.epoch[0]+1); err != nil {
		t.Fatal(err)
	}
	if err := j.append(record(7, "new", "v")); err != nil {
		t.Fatal(err)
	}
	if recs := reopen(); len(recs) != 1 || recs[0].first != 7 {
		t.Fatalf("after starting over the old records: %+v", recs)
	}
}

func corrupt(data []byte, at int) []byte {
	c := append([]byte(nil), data...)
	c[at] ^= 0xff
	return c
}

// TestJournalEmptiedOlderFirst: when both files hold records, the older
// one is emptied first, so a crash between the two leaves the newer
// records, never the older ones alone (replaying those alone would set the
// tree back below entries the newer groups left in Badger).
func TestJournalEmptiedOlderFirst(t *testing.T) {
	for _, olderFile := range []int{0, 1} {
		dir := t.TempDir()
		j, _, err := openJournal(dir)
		if err != nil {
			t.Fatal(err)
		}
		record := func(first uint64) []byte {
			return addJournalWrite(newJournalRecord(first, 1, 0), []byte("k"), []byte("v"))
		}
		// The older file holds entry 0, the newer one entry 1.
		if err := j.begin(olderFile, 5); err != nil {
			t.Fatal(err)
		}
		if err := j.append(record(0)); err != nil {
			t.Fatal(err)
		}
		if err := j.begin(1-olderFile, 6); err != nil {
			t.Fatal(err)
		}
		if err := j.append(record(1)); err != nil {
			t.Fatal(err)
		}
		j.close()
		j, recs, err := openJournal(dir)
		if err != nil || len(recs) != 2 || recs[0].first != 0 || recs[1].first != 1 {
			t.Fatalf("older file %d: read %+v, %v", olderFile, recs, err)
		}
		// A crash right after the first file is emptied.
		j.afterFirstTruncate = func() error { return errors.New("crash") }
		if err := j.start(); err == nil {
			t.Fatal("start went on past the crash")
		}
		j.close()
		j, recs, err = openJournal(dir)
		if err != nil || len(recs) != 1 || recs[0].first != 1 {
			t.Fatalf("older file %d: after a crash between emptying the files, read %+v, %v; want entry 1 alone", olderFile, recs, err)
		}
		j.close()
	}
}

// TestJournalKeptAfterFailure: after a failed commit, or a failed
// background sync of Badger's files, Close keeps the journal, and the next
// Open replays it.
func TestJournalKeptAfterFailure(t *testing.T) {
	k := newTestKey(t)
	for _, failure := range []string{"commit", "background sync"} {
		t.Run(failure, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, k, nil)
			appendRounds(t, l, "x", 3, 4)
			size, root := l.Root()
			l.cancel()
			l.wg.Wait() // the committer has stopped
			switch failure {
			case "commit":
				l.commitErr = errors.New("injected commit failure")
			case "background sync":
				failed := make(chan error, 1)
				failed <- errors.New("injected sync failure")
				l.journal.sync = failed
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(filepath.Join(dir, journalNames[0]))
			if err != nil || fi.Size() == 0 {
				t.Fatalf("journal after Close following a failed %s: %v, %v", failure, fi, err)
			}
			l2 := openTest(t, dir, k, nil)
			if s, r := l2.Root(); s != size || r != root {
				t.Fatalf("reopened at size %d, want %d", s, size)
			}
		})
	}
}

// TestJournalRotationWithUnsyncedBadger: here Badger keeps nothing until
// its files are synced, as if every commit stayed in the page cache and
// the crash dropped it: each group's writes are held back, and written
// into Badger, in order, only when a journal rotation syncs Badger's
// files. The journal changes files every few groups, the group before each
// change slow to settle. Whether the crash comes while a sync is still to
// run or not, reopening finds every acknowledged entry: a journal file is
// dropped only after the groups in it are durable in Badger.
func TestJournalRotationWithUnsyncedBadger(t *testing.T) {
	k := newTestKey(t)
	for _, mode := range []string{"crash", "crash with a sync pending", "a sync fails"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, k, nil)
			l.journal.rotateAt = 4 << 10
			var (
				mu      sync.Mutex
				held    []journalRecord
				syncs   int
				crashed = make(chan struct{})
			)
			l.beforeBadger = func(g *group, txn *badger.Txn) bool {
				time.Sleep(5 * time.Millisecond) // settles late: a rotation must wait for it
				r, ok := decodeJournalBody(g.w.journal[8:])
				if !ok {
					t.Error("undecodable journal record")
				}
				mu.Lock()
				held = append(held, r)
				mu.Unlock()
				txn.Discard()
				l.committed(g, nil)
				return true
			}
			l.beforeSync = func() error {
				select {
				case <-crashed:
					return errors.New("crashed before the sync")
				default:
				}
				mu.Lock()
				defer mu.Unlock()
				if mode == "a sync fails" && syncs == 1 {
					held, syncs = nil, syncs+1 // lost for good, as after EIO
					return errors.New("injected sync failure")
				}
				if err := replayJournal(l.db, held); err != nil {
					return err
				}
				held, syncs = nil, syncs+1
				return nil
			}
			// Every acknowledged append, by index; after a failed sync the
			// log stops and the rest fail. The appenders do not wait for
			// one another, so a group is planned and journaled while the
			// one before it is in flight.
			want := make(map[uint64][]byte)
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Go(func() {
					for i := range 20 {
						data := fmt.Appendf(nil, "w%d-%d", w, i)
						if e, _, err := l.Append(t.Context(), data); err == nil {
							mu.Lock()
							want[e.Index] = data
							mu.Unlock()
						} else if mode != "a sync fails" {
							t.Errorf("append: %v", err)
						}
					}
				})
			}
			wg.Wait()
			if mode == "crash with a sync pending" {
				close(crashed)
			}
			crash(t, l)
			if syncs < 2 {
				t.Fatalf("only %d journal rotations synced Badger", syncs)
			}

			l2 := openTest(t, dir, k, nil)
			if mode == "a sync fails" && len(want) >= 16*20 {
				t.Fatal("the log went on after a failed sync")
			}
			for i, data := range want {
				if e, err := l2.Get(t.Context(), i); err != nil || string(e.Data) != string(data) {
					t.Fatalf("acknowledged entry %d: %q, %v; want %q (log of %d after reopening)", i, e.Data, err, data, l2.Size())
				}
			}
			_, root := l2.Root()
			if got := refRoot(leafHashes(t, l2)); got != root {
				t.Fatalf("root over the stored leaves %x, want %x", got, root)
			}
		})
	}
}

// TestJournalFailedCommitChain: a group's Badger commit fails while the
// next group, planned on top of it, has its journal record written
// already. Every append gets an error from then on and the log stops;
// Close keeps the journal; reopening brings back every acknowledged entry,
// and entries only from the failed and the discarded group (whose callers
// got errors), in a consistent tree.
func TestJournalFailedCommitChain(t *testing.T) {
	k := newTestKey(t)
	dir := t.TempDir()
	l := openTest(t, dir, k, nil)
	type outcome struct {
		data []byte
		e    Entry
		err  error
	}
	var (
		mu     sync.Mutex
		outs   []outcome
		wg     sync.WaitGroup
		failed atomic.Bool
	)
	add := func(data []byte) {
		e, _, err := l.Append(t.Context(), data)
		mu.Lock()
		outs = append(outs, outcome{data, e, err})
		mu.Unlock()
	}
	l.beforeBadger = func(g *group, txn *badger.Txn) bool {
		if g.size < 40 || !failed.CompareAndSwap(false, true) {
			return false
		}
		// Appends arriving now make the next group, planned on this one
		// and journaled while it is still going into Badger.
		for i := range 6 {
			wg.Go(func() { add(fmt.Appendf(nil, "next-%d", i)) })
		}
		time.Sleep(200 * time.Millisecond)
		txn.Discard()
		l.committed(g, errors.New("injected commit failure"))
		return true
	}
	for w := range 32 {
		wg.Go(func() {
			for i := range 8 {
				add(fmt.Appendf(nil, "w%d-%d", w, i))
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, journalNames[0])); err != nil || fi.Size() == 0 {
		t.Fatalf("journal after a failed commit and Close: %v, %v", fi, err)
	}

	l2 := openTest(t, dir, k, nil)
	stored := make(map[string]uint64)
	for e, err := range l2.Range(t.Context(), 0, l2.Size()) {
		if err != nil {
			t.Fatal(err)
		}
		stored[string(e.Data)] = e.Index
	}
	_, root := l2.Root()
	if got := refRoot(leafHashes(t, l2)); got != root {
		t.Fatalf("root over the stored leaves %x, want %x", got, root)
	}
	var acked, discardedBack int
	for _, o := range outs {
		i, ok := stored[string(o.data)]
		switch {
		case o.err == nil:
			acked++
			if !ok || i != o.e.Index {
				t.Fatalf("acknowledged entry %q (index %d) not in the reopened log", o.data, o.e.Index)
			}
		case ok && strings.Contains(o.err.Error(), "log stopped"):
			discardedBack++ // planned on the failed group, journaled, replayed
		}
	}
	if uint64(acked) >= l2.Size() || discardedBack == 0 {
		t.Fatalf("%d acknowledged, log of %d after reopening, %d entries back from the discarded group: the failure path did not run as meant", acked, l2.Size(), discardedBack)
	}
}

// TestCheckJournal: Open refuses a journal that does not join the stored
// tree, rather than replay it into a log with a hole.
func TestCheckJournal(t *testing.T) {
	l := openTest(t, t.TempDir(), newTestKey(t), nil)
	fill(t, l, "e", 10)
	for _, c := range []struct {
		first, entries uint64
		ok             bool
	}{
		{8, 4, true},   // overlaps the stored tree's end
		{0, 10, true},  // all of it, stored already
		{10, 3, true},  // right after it
		{11, 2, false}, // a gap before the journal
		{5, 2, false},  // ends before the stored tree does
	} {
		recs := []journalRecord{{first: c.first, entries: uint32(c.entries)}}
		if err := checkJournal(l.db, recs); (err == nil) != c.ok {
			t.Errorf("journal of entries %d..%d against a tree of 10: %v", c.first, c.first+c.entries-1, err)
		}
	}
}
