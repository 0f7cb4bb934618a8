package ledger

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/antimony-ledger/provenance/tlog"
)

// TestPlanOnInflightGroup plans a group on top of one whose commit has not
// started, as the committer does while a commit is in flight: the second
// group sees the first's state writes and entries, and its replies wait
// for the first to be durable.
func TestPlanOnInflightGroup(t *testing.T) {
	l := openTest(t, t.TempDir(), newTestKey(t), func(o *Options) { o.Apply = applyDeps })
	stopCommitter(l) // this test is the committer
	mk := func(datas ...string) []*request {
		reqs := make([]*request, len(datas))
		for i, d := range datas {
			reqs[i] = &request{data: []byte(d), id: tlog.RecordIDOf([]byte(d)), reply: make(chan result, 1)}
		}
		return reqs
	}
	r1 := mk("set a", "set b")
	var txs planTxns
	txs.renew(l.db)
	defer txs.discard()
	g1 := l.plan(r1, nil, &txs)
	r2 := mk("need a", "set a", "need c", "set c")
	g2 := l.plan(r2, g1, &txs)
	if g1.txn == nil || g2.txn == nil {
		t.Fatal("groups have nothing to commit")
	}
	l.start(g1)
	for _, r := range r1 {
		select {
		case <-r.reply:
			t.Fatal("a request was answered before its group was durable")
		default:
		}
	}
	l.finish(g1, <-g1.done)
	l.start(g2)
	l.finish(g2, <-g2.done)
	for i, r := range r1 {
		if res := <-r.reply; res.err != nil || res.e.Index != uint64(i) {
			t.Errorf("group 1 request %d: %+v", i, res)
		}
	}
	want := []struct {
		index uint64
		dup   bool
		err   error
	}{{2, false, nil}, {0, true, nil}, {0, false, errMissing}, {3, false, nil}}
	for i, w := range want {
		res := <-r2[i].reply
		if w.err != nil {
			if !errors.Is(res.err, w.err) {
				t.Errorf("group 2 request %d: err %v, want %v", i, res.err, w.err)
			}
			continue
		}
		if res.err != nil || res.e.Index != w.index || res.dup != w.dup {
			t.Errorf("group 2 request %d: index %d dup %v err %v, want index %d dup %v", i, res.e.Index, res.dup, res.err, w.index, w.dup)
		}
	}
	if l.Size() != 4 {
		t.Fatalf("size %d, want 4", l.Size())
	}
	// The published root agrees with the stored tree nodes.
	size, root := l.Root()
	if got, err := l.RootAt(t.Context(), size); err != nil || got != root {
		t.Fatalf("RootAt(%d) = %x, %v; published root %x", size, got, err, root)
	}
	for _, k := range []string{"key/a", "key/b", "key/c", "touched/need a"} {
		if _, err := l.StateGet([]byte(k)); err != nil {
			t.Errorf("StateGet(%q): %v", k, err)
		}
	}
}

// TestApplyReadsEntries: StateTx.Entry finds, as the ApplyFunc contract
// says, every entry before the one being applied: committed, in the group
// in flight, and earlier in the same group; and the value given to
// AppendWith reaches Apply with its entry.
func TestApplyReadsEntries(t *testing.T) {
	l := openTest(t, t.TempDir(), newTestKey(t), func(o *Options) { o.Apply = applyDeps })
	if _, _, err := l.Append(t.Context(), []byte("set committed")); err != nil {
		t.Fatal(err)
	}
	stopCommitter(l) // this test is the committer
	mk := func(datas ...string) []*request {
		reqs := make([]*request, len(datas))
		for i, d := range datas {
			reqs[i] = &request{data: []byte(d), id: tlog.RecordIDOf([]byte(d)), value: strings.TrimPrefix(d, "value "), reply: make(chan result, 1)}
		}
		return reqs
	}
	var txs planTxns
	txs.renew(l.db)
	defer txs.discard()
	g1 := l.plan(mk("set inflight"), nil, &txs)
	r2 := mk("after set committed", "after set inflight", "set same", "after set same", "after set nowhere", "value same")
	g2 := l.plan(r2, g1, &txs)
	l.start(g1)
	l.finish(g1, <-g1.done)
	l.start(g2)
	l.finish(g2, <-g2.done)
	for i, wantErr := range []error{nil, nil, nil, nil, errMissing, nil} {
		res := <-r2[i].reply
		if !errors.Is(res.err, wantErr) {
			t.Errorf("%q: err %v, want %v", r2[i].data, res.err, wantErr)
		}
	}
	restartCommitter(l)
	if _, _, err := l.AppendWith(t.Context(), []byte("value 42"), AppendOptions{Value: 42}); err != nil {
		t.Errorf("AppendWith(value 42): %v", err)
	}
	if _, _, err := l.AppendWith(t.Context(), []byte("value 43"), AppendOptions{Value: 42}); !errors.Is(err, errMissing) {
		t.Errorf("AppendWith(value 43) with value 42: %v, want errMissing", err)
	}
}

// TestSequenceFillsGroups: a sequence of appends (each after the previous
// one's turn) is queued for the committer without waiting for it to be
// free, so while one group commits, the rest of the sequence gathers into
// the next group instead of going in groups of one or two: one client's
// stream can fill commit groups.
func TestSequenceFillsGroups(t *testing.T) {
	l := openTest(t, t.TempDir(), newTestKey(t), nil)
	const n = 200
	var mu sync.Mutex
	var groups []int
	blocked, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseAll) // before the log's Close, which waits for the committer
	l.beforeBadger = func(g *group, txn *badger.Txn) bool {
		mu.Lock()
		groups = append(groups, len(g.entries))
		first := len(groups) == 1
		mu.Unlock()
		if first {
			close(blocked)
			<-release // hold the committer in the first group's commit
		}
		return false
	}
	var seq Sequence
	turns := make([]*Turn, n)
	for i := range turns {
		turns[i] = seq.Next()
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = l.AppendWith(t.Context(), fmt.Appendf(nil, "chain %d", i), AppendOptions{Turn: turns[i]})
		})
		if i == 0 {
			<-blocked
		}
	}
	// Every append of the sequence is queued while the committer is busy.
	select {
	case <-turns[n-1].done:
	case <-time.After(30 * time.Second):
		t.Fatal("the sequence's appends were not queued while the committer was busy")
	}
	releaseAll()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(groups) != 2 || groups[0] != 1 || groups[1] != n-1 {
		t.Fatalf("commit groups of %v entries; want [1 %d]", groups, n-1)
	}
	if l.Size() != n {
		t.Fatalf("size %d, want %d", l.Size(), n)
	}
}

// TestCloseFailsQueuedAppends: appends queued for the committer when the
// log closes, and never taken, fail with ErrClosed instead of waiting for
// an answer that cannot come.
func TestCloseFailsQueuedAppends(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, newTestKey(t), nil)
	blocked, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseAll)
	var once sync.Once
	l.beforeBadger = func(g *group, txn *badger.Txn) bool {
		once.Do(func() {
			close(blocked)
			<-release // hold the committer in the first group's commit
		})
		return false
	}
	const queued = 10
	errs := make([]error, queued+1)
	var wg sync.WaitGroup
	wg.Go(func() { _, _, errs[0] = l.Append(t.Context(), []byte("first")) })
	<-blocked
	for i := 1; i <= queued; i++ {
		wg.Go(func() { _, _, errs[i] = l.Append(t.Context(), fmt.Appendf(nil, "queued %d", i)) })
	}
	for deadline := time.Now().Add(30 * time.Second); len(l.reqs) < queued; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", len(l.reqs), queued)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	<-l.done // Close has stopped the committer's loop; it still holds the first group
	releaseAll()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	answered := make(chan struct{})
	go func() { wg.Wait(); close(answered) }()
	select {
	case <-answered:
	case <-time.After(30 * time.Second):
		t.Fatal("appends queued when the log closed are still waiting for an answer")
	}
	if errs[0] != nil {
		t.Fatalf("the append in flight at Close: %v", errs[0])
	}
	for i, err := range errs[1:] {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("queued append %d: %v, want ErrClosed", i+1, err)
		}
	}
	l2 := openTest(t, dir, newTestKey(t), nil)
	if l2.Size() != 1 {
		t.Fatalf("reopened log has %d entries, want 1", l2.Size())
	}
}

// TestNoQueueWithoutCommitter: once the committer has stopped, appends
// fail with ErrClosed without queuing their data, even while the queue
// has room.
func TestNoQueueWithoutCommitter(t *testing.T) {
	l := openTest(t, t.TempDir(), newTestKey(t), nil)
	stopCommitter(l)
	for i := range 100 {
		if _, _, err := l.Append(t.Context(), fmt.Appendf(nil, "late %d", i)); !errors.Is(err, ErrClosed) {
			t.Fatalf("append %d after the committer stopped: %v, want ErrClosed", i, err)
		}
	}
	if n := len(l.reqs); n != 0 {
		t.Fatalf("%d appends left in the queue with no committer to take them", n)
	}
}
