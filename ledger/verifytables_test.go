package ledger

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// VerifyTables runs beside compactions that remove the tables it reads
// (Badger truncates a table it compacts away, then removes it): it must
// neither crash (a mapping read past a truncated file's end is a SIGBUS)
// nor report sound tables as damaged.
func TestVerifyTablesDuringCompaction(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).
		WithLogger(nil).WithMemTableSize(1 << 20).WithBaseTableSize(64 << 10).
		WithNumLevelZeroTables(2).WithNumLevelZeroTablesStall(4).WithValueThreshold(1 << 10))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	write := func(round int) {
		wb := db.NewWriteBatch()
		defer wb.Cancel()
		for i := range 10000 {
			// Each round overwrites the keys of the one before, so
			// compactions rewrite and drop tables.
			if err := wb.Set(fmt.Appendf(nil, "key-%06d", i), fmt.Appendf(nil, "value %d of round %d %0200d", i, round, 0)); err != nil {
				t.Error(err)
				return
			}
		}
		if err := wb.Flush(); err != nil {
			t.Error(err)
		}
	}
	write(0)
	var wg sync.WaitGroup
	wg.Add(1)
	stop := make(chan struct{})
	go func() {
		defer wg.Done()
		for round := 1; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			write(round)
		}
	}()
	checks := 0
	for checks < 100 {
		if err := VerifyTables(context.Background(), db); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("check %d: %v", checks, err)
		}
		checks++
	}
	close(stop)
	wg.Wait()
	if err := db.Flatten(2); err != nil {
		t.Fatal(err)
	}
	if err := VerifyTables(context.Background(), db); err != nil {
		t.Fatalf("after the compactions: %v", err)
	}
}
