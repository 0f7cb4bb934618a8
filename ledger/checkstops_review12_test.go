package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4/table"
)

// TestUnreadableTableDoesNotEndCheck_review12: a table that cannot be
// opened or read is no longer damage (review11's fix), but VerifyTables
// still returns at the first such error, so the check after a start stops
// there, and verifyTables logs "the next start checks again". Every table
// after it goes unchecked until then, which for a server is its next
// restart, weeks away: a damaged block in one of them (which alone the
// check finds: a read through it answers "not found") goes unfound, and
// appends go on over it. Here one EMFILE of a moment, as the second
// table of three is opened, hides the damage in the third. Before the
// fix the same error was (wrongly) called damage, which at least failed
// safe.
func TestUnreadableTableDoesNotEndCheck_review12(t *testing.T) {
	k := newTestKey(t)
	dir := t.TempDir()
	datas := map[string][]byte{}
	// Three tables: each Close flushes the memtable into one of its own.
	for range 3 {
		l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, OpenCheck: -1})
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			d := make([]byte, 200)
			rand.Read(d)
			if _, _, err := l.Append(t.Context(), d); err != nil {
				t.Fatal(err)
			}
			datas[string(d)] = d
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	l := openTest(t, dir, k, func(o *Options) { o.OpenCheck = -1 })
	tables := l.db.Tables()
	if len(tables) < 3 {
		t.Fatalf("%d tables, want 3 or more", len(tables))
	}
	// Damage an entry in the last table the check reads.
	last := table.NewFilename(tables[len(tables)-1].ID, l.db.Opts().Dir)
	b, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	flipped := false
	for _, d := range datas {
		probe := d[len(d)/2-8 : len(d)/2+8]
		if i := bytes.Index(b, probe); i >= 0 {
			fh, err := os.OpenFile(last, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.WriteAt([]byte{b[i+8] ^ 0x20}, int64(i+8)); err != nil {
				t.Fatal(err)
			}
			fh.Close()
			flipped = true
			break
		}
	}
	if !flipped {
		t.Fatalf("no entry found in %s", filepath.Base(last))
	}
	// With every table read, the check finds it.
	var td *TableDamage
	if err := VerifyTables(t.Context(), l.db); !errors.As(err, &td) {
		t.Fatalf("VerifyTables of the damaged store: %v; want TableDamage", err)
	}
	// The check after a start, paced (appends come in); after the first
	// table the process is, for a moment, at its file limit.
	oldPaced, oldPause := checkPaced, pause
	t.Cleanup(func() { checkPaced, pause = oldPaced, oldPause })
	checkPaced = func(*Log) bool { return true }
	var restore func()
	tablesDone := 0
	pause = func(ctx context.Context, d time.Duration) error {
		tablesDone++
		switch tablesDone {
		case 1:
			restore = lowFiles(t)
		case 2:
			restore() // the moment passes: the third table can be read
		}
		return nil
	}
	l.verifyTables(context.Background())
	if restore != nil {
		restore()
	}
	if l.Damage() == nil {
		t.Errorf("a check that could not open one table (EMFILE, a moment) stopped there: the damaged table %s after it was never checked, and the store takes appends (%d of %d tables checked)", filepath.Base(last), tablesDone, len(tables))
	}
}
