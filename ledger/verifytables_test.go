package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

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

// The checks after a start wait, after each table, CheckIdle times as long
// as reading and checking it took: they share the disk with the appends'
// syncs. Unpaced (idle 0), as audit checks, they never wait.
func TestVerifyTablesPaced(t *testing.T) {
	k := newTestKey(t)
	dir, _ := damageStore(t, k, 300, 200)
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithReadOnly(true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables := len(db.Tables())
	if tables == 0 {
		t.Fatal("the store has no tables to check")
	}
	var waits []time.Duration
	old := pause
	t.Cleanup(func() { pause = old })
	pause = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	if err := VerifyTables(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 0 {
		t.Fatalf("VerifyTables waited %d times; want never", len(waits))
	}
	if err := VerifyTablesPaced(t.Context(), db, CheckIdle); err != nil {
		t.Fatal(err)
	}
	if len(waits) != tables {
		t.Fatalf("waited %d times for %d tables; want once after each", len(waits), tables)
	}
	for i, d := range waits {
		if d <= 0 {
			t.Errorf("wait %d: %v; want CheckIdle times the time the table took", i, d)
		}
	}
	// A wait cut short by the context ends the check with its error.
	pause = func(ctx context.Context, d time.Duration) error { return context.Canceled }
	if err := VerifyTablesPaced(t.Context(), db, CheckIdle); !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyTablesPaced with its wait cancelled: %v; want context.Canceled", err)
	}
}

// Close stops the check that follows a start: paced, it may run for a
// minute on a large store, and a server stopping has 10 s.
func TestCloseStopsTableCheck(t *testing.T) {
	k := newTestKey(t)
	dir, _ := damageStore(t, k, 300, 200)
	waiting := make(chan struct{}, 1)
	old := pause
	t.Cleanup(func() { pause = old })
	pause = func(ctx context.Context, d time.Duration) error {
		select {
		case waiting <- struct{}{}:
		default:
		}
		<-ctx.Done() // a wait as long as the check could take
		return ctx.Err()
	}
	l, err := Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the check after Open never waited")
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the table check to finish")
	}
	if p := l.damaged.Load(); p != nil {
		t.Fatalf("a check stopped by Close marked the store damaged: %v", *p)
	}
}
