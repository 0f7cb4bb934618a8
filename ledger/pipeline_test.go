package ledger

import (
	"errors"
	"testing"
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
			reqs[i] = &request{data: []byte(d), leaf: LeafHash([]byte(d)), reply: make(chan result, 1)}
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
