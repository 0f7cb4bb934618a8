package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// stopCommitter stops l's committer goroutine, so that a test can drive
// commit groups itself (with commitGroup) and read the committer's fields.
func stopCommitter(l *Log) {
	l.cancel()
	l.wg.Wait()
}

func commitOne(t *testing.T, l *Log, r *request) result {
	t.Helper()
	if carry := l.commitGroup([]*request{r}); len(carry) != 0 {
		t.Fatal("group split")
	}
	return <-r.reply
}

// looked returns data's request as Append leaves it after a lookup in the
// store that found nothing.
func looked(l *Log, data []byte) *request {
	return &request{data: data, leaf: LeafHash(data), looked: true, seen: l.publishedGroup(), reply: make(chan result, 1)}
}

// TestDuplicateCommittedAfterLookup covers the window between Append's
// lookup of a leaf and the committer planning it: another copy may commit
// in between. The committer must still find it, from the groups it keeps
// in memory when few have committed since, and from the store when more
// than recentGroups have.
func TestDuplicateCommittedAfterLookup(t *testing.T) {
	l := openTest(t, "", newTestKey(t), nil)
	stopCommitter(l)
	for _, between := range []int{0, 3, recentGroups + 5} {
		t.Run(fmt.Sprint("groups between=", between), func(t *testing.T) {
			data := fmt.Appendf(nil, "raced %d", between)
			r := looked(l, data)
			first := commitOne(t, l, looked(l, data)) // the other copy wins
			if first.err != nil || first.dup {
				t.Fatalf("first copy: dup=%v err=%v", first.dup, first.err)
			}
			for i := range between {
				if res := commitOne(t, l, looked(l, fmt.Appendf(nil, "filler %d %d", between, i))); res.err != nil {
					t.Fatal(res.err)
				}
			}
			size := l.Size()
			res := commitOne(t, l, r)
			if res.err != nil || !res.dup || res.e.Index != first.e.Index {
				t.Fatalf("late copy: index %d dup=%v err=%v, want the first copy's index %d, dup", res.e.Index, res.dup, res.err, first.e.Index)
			}
			if l.Size() != size {
				t.Fatalf("late copy was appended again: size %d, want %d", l.Size(), size)
			}
		})
	}
	// A lookup that found nothing, with nothing committed since, is
	// believed; and the groups kept in memory answer for the last ones.
	if res := commitOne(t, l, looked(l, []byte("new"))); res.err != nil || res.dup {
		t.Fatalf("new entry: dup=%v err=%v", res.dup, res.err)
	}
	if _, found, known := l.leafSince(l.committedSeq-1, LeafHash([]byte("new"))); !known || !found {
		t.Fatalf("leafSince(last group - 1) = found %v, known %v; want found in the last group", found, known)
	}
	if _, _, known := l.leafSince(l.committedSeq-recentGroups-1, LeafHash([]byte("new"))); known {
		t.Fatal("leafSince claims to know more groups than it keeps")
	}
}

// counterApply keeps a count of entries in state, read and rewritten by
// every entry: any stale read, from the committer's cache or elsewhere,
// loses a count.
func counterApply(tx *StateTx, e Entry) error {
	var n uint64
	v, err := tx.Get([]byte("count"))
	switch {
	case err == nil:
		n = binary.BigEndian.Uint64(v)
	case !errors.Is(err, ErrNotFound):
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
