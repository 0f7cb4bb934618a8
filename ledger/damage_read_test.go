package ledger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// TestDamagedBlockReadsAsAbsent: with the ledger's options, a read
// through a damaged table block finds nothing wrong: an iteration skips
// the block's keys and a Get of one answers ErrKeyNotFound. Only the table
// check finds the damage, which is why the log refuses appends once it
// has (a cold review's test: an earlier BENCHMARKS.md said blocks read
// were checked, so that pacing the check only delayed finding damage in
// tables nobody reads).
func TestDamagedBlockReadsAsAbsent(t *testing.T) {
	dir := t.TempDir()
	bo := badger.DefaultOptions(dir).WithLogger(nil).WithValueThreshold(1 << 10).
		WithChecksumVerificationMode(blockChecksums).WithVerifyValueChecksum(valueChecksums)
	if blockChecksums != options.OnBlockRead {
		t.Fatalf("blockChecksums is %v; the test assumes OnBlockRead", blockChecksums)
	}
	db, err := badger.Open(bo)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	wb := db.NewWriteBatch()
	for i := range n {
		if err := wb.Set(fmt.Appendf(nil, "key-%06d", i), fmt.Appendf(nil, "value %d %0200d", i, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no table")
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	data[200] ^= 0x40 // in the first block
	if err := os.WriteFile(files[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = badger.Open(bo)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := 0
	var getErr error
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			count++
		}
		_, getErr = txn.Get([]byte("key-000000"))
		return nil
	})
	t.Logf("iteration: %d of %d keys, view error %v; Get of the first key: %v", count, n, err, getErr)
	verr := VerifyTables(t.Context(), db)
	t.Logf("VerifyTables: %v", verr)
	if verr == nil {
		t.Fatal("the table check did not find the damage")
	}
	// What the review found, asserted so that a Badger that starts
	// reporting the damage on read fails here and the doc can be revised.
	if err != nil || count == n || !errors.Is(getErr, badger.ErrKeyNotFound) {
		t.Fatalf("reads now see the damage (view %v, %d keys, Get %v): revise ledger.CheckIdle's doc and BENCHMARKS.md", err, count, getErr)
	}
}
