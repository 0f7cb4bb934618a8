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
// as reading and checking it took, while appends come in: they share the
// disk with the appends' syncs. With no appends, or unpaced (idle 0, as
// audit checks), they never wait.
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
	appending := false
	if err := VerifyTablesPaced(t.Context(), db, CheckIdle, func() bool { return appending }); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 0 {
		t.Fatalf("with no appends coming in, the paced check waited %d times; want never", len(waits))
	}
	appending = true
	if err := VerifyTablesPaced(t.Context(), db, CheckIdle, func() bool { return appending }); err != nil {
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
	if err := VerifyTablesPaced(t.Context(), db, CheckIdle, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyTablesPaced with its wait cancelled: %v; want context.Canceled", err)
	}
}

// Appending says whether appends came in during the last second: the
// check after a start is paced only then.
func TestAppending(t *testing.T) {
	k := newTestKey(t)
	l := openTest(t, t.TempDir(), k, nil)
	if l.Appending() {
		t.Fatal("a new log reads as appending")
	}
	if _, _, err := l.Append(t.Context(), []byte("one")); err != nil {
		t.Fatal(err)
	}
	if !l.Appending() {
		t.Fatal("just after an append, the log does not read as appending")
	}
	time.Sleep(1100 * time.Millisecond)
	if l.Appending() {
		t.Fatal("a second after the last append, the log still reads as appending")
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
	oldPaced := checkPaced
	t.Cleanup(func() { checkPaced = oldPaced })
	checkPaced = func(*Log) bool { return true } // as if appends came in
	l, err := Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
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
