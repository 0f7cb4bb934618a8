package ledger

import "testing"

// TestSmallTables: the log's store, and the store Restore writes, have
// Badger build tables of its base size at every level (SmallTables). With
// Badger's default, the builders of the deep levels' 8-16 MiB tables took
// the heap past 1.5 GiB at 3.3M records.
func TestSmallTables(t *testing.T) {
	l := openTest(t, t.TempDir(), newTestKey(t), nil)
	if got := l.db.Opts().TableSizeMultiplier; got != 1 {
		t.Errorf("the log's store: TableSizeMultiplier %d, want 1", got)
	}
	if got := restoreOptions(t.TempDir()).TableSizeMultiplier; got != 1 {
		t.Errorf("a restored store: TableSizeMultiplier %d, want 1", got)
	}
}
