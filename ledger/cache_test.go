package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// readCount returns the count kept in state by counterApply, 0 if none.
func readCount(tx *StateTx) (uint64, error) {
	v, err := tx.Get([]byte("count"))
	switch {
	case err == nil:
		return binary.BigEndian.Uint64(v), nil
	case errors.Is(err, ErrNotFound):
		return 0, nil
	}
	return 0, err
}

// counterApply keeps a count of entries in state, read and rewritten by
// every entry: any stale read, from the committer's cache or elsewhere,
// loses a count.
func counterApply(tx *StateTx, e Entry, _ any) error {
	n, err := readCount(tx)
	if err != nil {
		return err
	}
	tx.Set([]byte("count"), binary.BigEndian.AppendUint64(nil, n+1))
	// A key per entry, so that a small cache overflows.
	tx.Set(fmt.Appendf(nil, "seen/%d", e.Index), nil)
	if _, err := tx.Get(fmt.Appendf(nil, "seen/%d", e.Index)); err != nil {
		return err
	}
	return nil
}

func TestStateCacheStaysCurrent(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t)
	count := func(l *Log) uint64 {
		v, err := l.StateGet([]byte("count"))
		if err != nil {
			t.Fatal(err)
		}
		return binary.BigEndian.Uint64(v)
	}
	appendMany := func(l *Log, prefix string, n int) {
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := range n / 16 {
					if _, _, err := l.Append(t.Context(), fmt.Appendf(nil, "%s %d %d", prefix, w, i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	for _, limit := range []int{stateCacheEntries, 7} {
		l := openTest(t, dir, k, func(o *Options) { o.Apply = counterApply })
		// Set before any append: the committer reads it only after
		// receiving a request, which orders this write before.
		l.cache.limit = limit
		before := l.Size()
		appendMany(l, fmt.Sprint("limit ", limit), 800)
		if got, want := count(l), l.Size(); got != want || want != before+800 {
			t.Fatalf("cache limit %d: count %d, log size %d (was %d); want both %d", limit, got, want, before, before+800)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDuplicatesAcrossGroups: many writers append the same entries, each
// in its own order, so copies of an entry land in groups planned while
// other groups are in flight and long after. Each entry must be written
// once: every group is planned on a snapshot that holds every group
// committed before it.
func TestDuplicatesAcrossGroups(t *testing.T) {
	l := openTest(t, "", newTestKey(t), nil)
	const writers, entries = 16, 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	index := map[string]uint64{}
	fresh := 0
	for w := range writers {
		wg.Go(func() {
			for i := range entries {
				data := fmt.Sprint("entry ", (i*7+w*31)%entries)
				e, dup, err := l.Append(t.Context(), []byte(data))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if !dup {
					fresh++
				}
				if prev, ok := index[data]; ok && prev != e.Index {
					t.Errorf("%q at indexes %d and %d", data, prev, e.Index)
				}
				index[data] = e.Index
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if fresh != entries || l.Size() != entries {
		t.Fatalf("%d appends reported new and the log holds %d entries; want %d each", fresh, l.Size(), entries)
	}
}

// TestSequence orders appends: each waits for the previous turn to be
// queued for the committer, so they are applied in sequence order even
// though they start in reverse; every turn is over exactly once, also for
// an append that fails before reaching the committer, so the sequence goes
// on.
func TestSequence(t *testing.T) {
	l := openTest(t, "", newTestKey(t), func(o *Options) { o.Apply = applyDeps })
	// Each entry needs the key set by the one before it.
	datas := []string{"set k0", "need k0", "", "set k1", "need k1"}
	var seq Sequence
	turns := make([]*Turn, len(datas))
	for i := range turns {
		turns[i] = seq.Next()
	}
	var wg sync.WaitGroup
	res := make([]error, len(datas))
	entries := make([]Entry, len(datas))
	for i := len(datas) - 1; i >= 0; i-- {
		wg.Go(func() {
			entries[i], _, res[i] = l.AppendWith(t.Context(), []byte(datas[i]), AppendOptions{Turn: turns[i]})
		})
	}
	wg.Wait()
	next := uint64(0)
	for i, err := range res {
		if (err != nil) != (datas[i] == "") {
			t.Errorf("append %d (%q): %v", i, datas[i], err)
		}
		select {
		case <-turns[i].done:
		default:
			t.Errorf("append %d: its turn is not over", i)
		}
		if err == nil {
			if entries[i].Index != next {
				t.Errorf("append %d (%q) at index %d, want %d: out of sequence order", i, datas[i], entries[i].Index, next)
			}
			next++
		}
	}
	// A cancelled wait for the previous turn ends the append, and still
	// passes the turn on.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	never := &Turn{after: make(chan struct{}), done: make(chan struct{})}
	if _, _, err := l.AppendWith(ctx, []byte("set k2"), AppendOptions{Turn: never}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled append: %v", err)
	}
	<-never.done
	// Pass gives a turn up: the next one goes once the previous is over.
	var seq2 Sequence
	t1, t2, t3 := seq2.Next(), seq2.Next(), seq2.Next()
	passed := make(chan struct{})
	go func() { t2.Pass(t.Context()); close(passed) }() // waits for t1
	select {
	case <-passed:
		t.Fatal("a turn was passed before the turn before it was over")
	case <-time.After(20 * time.Millisecond):
	}
	t1.Pass(t.Context())
	<-passed
	if _, _, err := l.AppendWith(t.Context(), []byte("set k3"), AppendOptions{Turn: t3}); err != nil {
		t.Fatalf("append after a passed turn: %v", err)
	}
	var nilTurn *Turn
	nilTurn.Pass(t.Context()) // no-op
}

// TestSequenceGivesUpTogether: when a sequence's ctx is done while its
// first append still waits for its turn, the appends after it give up
// too, even though each is released by the one before: none overtakes.
func TestSequenceGivesUpTogether(t *testing.T) {
	l := openTest(t, "", newTestKey(t), nil)
	for round := range 50 {
		ctx, cancel := context.WithCancel(t.Context())
		// The first append's turn never comes.
		seq := Sequence{last: make(chan struct{})}
		turns := []*Turn{seq.Next(), seq.Next(), seq.Next()}
		errs := make([]error, 3)
		var wg, started sync.WaitGroup
		for i := range 3 {
			started.Add(1)
			wg.Go(func() {
				started.Done()
				_, _, errs[i] = l.AppendWith(ctx, fmt.Appendf(nil, "round %d append %d", round, i), AppendOptions{Turn: turns[i]})
			})
		}
		// Let the appends reach their waits (an append that has not yet
		// is cancelled all the same, so this only makes the test sharper).
		started.Wait()
		time.Sleep(time.Millisecond)
		cancel()
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("round %d: append %d: %v, want context.Canceled", round, i, err)
			}
		}
		if l.Size() != 0 {
			t.Fatalf("round %d: %d entries written after their chain was cancelled", round, l.Size())
		}
	}
}
