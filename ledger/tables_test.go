package ledger

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestSmallTables: the log's store, and the store Restore writes, have
// Badger build tables of its base size at every level below level 0
// (SmallTables). With Badger's default, the builders of the deep levels'
// 8-16 MiB tables took the heap past 1.5 GiB at 3.3M records.
func TestSmallTables(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, filepath.Join(dir, "log"), newTestKey(t), nil)
	if got := l.db.Opts().TableSizeMultiplier; got != 1 {
		t.Errorf("the log's store: TableSizeMultiplier %d, want 1", got)
	}
	fill(t, l, "x", 10)
	var buf bytes.Buffer
	if _, err := l.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	var opened []int // each open's TableSizeMultiplier
	openRestored = func(o badger.Options) (*badger.DB, error) {
		opened = append(opened, o.TableSizeMultiplier)
		return badger.Open(o)
	}
	t.Cleanup(func() { openRestored = badger.Open })
	if _, err := Restore(context.Background(), filepath.Join(dir, "restored"), &buf); err != nil {
		t.Fatal(err)
	}
	if len(opened) != 1 || opened[0] != 1 {
		t.Errorf("a restored store: opened with TableSizeMultiplier %v; want once, with 1", opened)
	}
}
