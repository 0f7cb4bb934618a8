package ledger

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lastVlogEntry returns the newest value log of dir and the offset and
// length of its last entry.
func lastVlogEntry(t *testing.T, dir string) (file string, off, n int64) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no value log in %s: %v", dir, err)
	}
	best := ""
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.Size() > badgerLogHeader && f > best {
			best = f
		}
	}
	fh, err := os.Open(best)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fi, _ := fh.Stat()
	size := fi.Size()
	r := bufio.NewReader(io.NewSectionReader(fh, badgerLogHeader, size-badgerLogHeader))
	var buf []byte
	pos := int64(badgerLogHeader)
	off = -1
	for {
		m, ok, err := readBadgerEntry(r, &buf, size-pos)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		off, n = pos, m
		pos += m
	}
	if off < 0 || pos != size {
		t.Fatalf("%s: last whole entry at %d, the entries end at %d of %d", best, off, pos, size)
	}
	return best, off, n
}

func writeByteAt(t *testing.T, file string, off int64, b byte) [32]byte {
	t.Helper()
	fh, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt([]byte{b}, off); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func wantRefused(t *testing.T, dir, file string, sum [32]byte, k testKey) {
	t.Helper()
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, OpenCheck: -1})
	if err == nil {
		l.Close()
		b, _ := os.ReadFile(file)
		t.Fatalf("the store opened; %s is now %d bytes (Badger cut the damaged last entry: the evidence and the record are gone)", filepath.Base(file), len(b))
	}
	t.Logf("Open: %v", err)
	checkKept(t, file, sum)
	if !errors.Is(err, ErrDataLoss) || !strings.Contains(err.Error(), filepath.Base(file)) {
		t.Fatalf("Open: %v; want ErrDataLoss naming %s", err, filepath.Base(file))
	}
}

// TestOpenRefusesLastVlogEntryWithDamagedHeader_review20: f1fc0df
// refuses a cleanly closed value log whose last entry fails its checksum
// only when the entry's header still parses (end > 0): the file must end
// where the entry claims to. One byte of damage in the header's key
// length (here set to 0: "does not parse") makes the entry claim nothing,
// so the check looks for zeros past the longest entry a memtable log
// holds, which is past the file's end, finds none, and lets Badger cut
// the file: the record and the evidence lost, as before f1fc0df.
func TestOpenRefusesLastVlogEntryWithDamagedHeader_review20(t *testing.T) {
	k := newTestKey(t)
	dir, _ := damageStore(t, k, 6, 8<<10) // over the value threshold: in the value log
	file, off, _ := lastVlogEntry(t, dir)
	sum := writeByteAt(t, file, off+2, 0) // meta, user meta, then the key length
	wantRefused(t, dir, file, sum, k)
}

// TestOpenRefusesLastVlogEntryWithLongerLength_review20: the same with
// the value length raised so that the entry claims to run past the
// file's end (n > left): end > 0 but off+end != size, so the zeros are
// looked for from past the file's end, none is found, and Badger cuts.
func TestOpenRefusesLastVlogEntryWithLongerLength_review20(t *testing.T) {
	k := newTestKey(t)
	dir, _ := damageStore(t, k, 6, 8<<10)
	file, off, _ := lastVlogEntry(t, dir)
	// The key is short (one varint byte); the value's length, 8 KiB and
	// more, is a two-byte varint after it: raise its high byte.
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 8)
	if _, err := fh.ReadAt(hdr, off); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if hdr[2] >= 0x80 || hdr[3] < 0x80 {
		t.Fatalf("header % x: want a one-byte key length and a multi-byte value length", hdr)
	}
	sum := writeByteAt(t, file, off+4, hdr[4]+1)
	wantRefused(t, dir, file, sum, k)
}

// TestOpenRefusesLastVlogEntryFlippedThenZeros_review20: a byte of the
// last entry's value flipped, and zeros written past the file's end (a
// crash leaves the preallocated file longer than its entries, so this is
// what the check takes for a crash): the check lets Badger cut the entry.
// Anyone with the files can so erase a cleanly closed store's last
// record and its evidence by appending zeros.
func TestOpenRefusesLastVlogEntryFlippedThenZeros_review20(t *testing.T) {
	k := newTestKey(t)
	dir, _ := damageStore(t, k, 6, 8<<10)
	file, off, n := lastVlogEntry(t, dir)
	writeByteAt(t, file, off+n/2, 0x5a)
	if err := os.Truncate(file, off+n+4096); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, dir, file, sha256.Sum256(data), k)
}

// TestOpenRefusesOlderLastVlogEntryDamaged_review20: the last value-log
// entry need not be the log's last entry: entries under the value
// threshold (4 KiB) are kept in the tables. Six 8 KiB entries, then 1,001
// small ones, closed cleanly; the key length of the value log's last
// entry (entry 5's value) set to 0. The check at open lets Badger cut the
// file there, and the check of the newest 1,000 entries does not reach
// entry 5: the store opens and serves, entry 5's value gone and the
// evidence with it, found only when something reads entry 5.
func TestOpenRefusesOlderLastVlogEntryDamaged_review20(t *testing.T) {
	k := newTestKey(t)
	dir := t.TempDir()
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 + 1001 {
		d := make([]byte, 200)
		if i < 6 {
			d = make([]byte, 8<<10)
		}
		rand.Read(d)
		if _, _, err := l.Append(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	file, off, _ := lastVlogEntry(t, dir)
	sum := writeByteAt(t, file, off+2, 0)
	l, err = Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer})
	if err == nil {
		defer l.Close()
		_, rerr := l.Get(t.Context(), 5)
		b, _ := os.ReadFile(file)
		t.Fatalf("the store opened and serves; %s is now %d bytes (Badger cut its last entry); reading entry 5: %v", filepath.Base(file), len(b), rerr)
	}
	t.Logf("Open: %v", err)
	checkKept(t, file, sum)
}
