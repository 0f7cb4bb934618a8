package ledger

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestDamageRefusesGroupPlannedBehindInFlight_review12: the committer's
// check for damage (commit.go run, "Found damaged after these appends
// were taken") runs once, when it takes a batch. While a group is in
// flight, the committer takes the next batch, checks, plans it, writes its
// journal record and then waits (settle) for the group in flight, which
// is where a pipelined committer under load spends its time. Damage found
// during that wait does not stop the planned group: once the group in
// flight is done it is committed to Badger, and acknowledged, on a store
// known damaged, which the fix claims cannot happen ("an append that
// passed the entry check and waited its turn cannot be written on a store
// known damaged"). (Its journal record is written by then, so refusing it
// after settle would need the record not to be replayed either.)
func TestDamageRefusesGroupPlannedBehindInFlight_review12(t *testing.T) {
	k := newTestKey(t)
	l := openTest(t, t.TempDir(), k, func(o *Options) { o.OpenCheck = -1 })
	hold0, rel0 := make(chan struct{}), make(chan struct{})
	hold1, rel1 := make(chan struct{}), make(chan struct{})
	var once0, once1 sync.Once
	t.Cleanup(func() { once0.Do(func() { close(rel0) }); once1.Do(func() { close(rel1) }) })
	var n atomic.Int32
	l.beforeBadger = func(g *group, txn *badger.Txn) bool {
		switch n.Add(1) {
		case 1: // a lone append, committed on the committer's goroutine
			close(hold0)
			<-rel0
		case 2: // the group of two after it, in flight
			close(hold1)
			<-rel1
		}
		return false
	}
	errs := make([]error, 4)
	var wg sync.WaitGroup
	wg.Go(func() { _, _, errs[0] = l.Append(t.Context(), []byte("a0")) })
	<-hold0
	wg.Go(func() { _, _, errs[1] = l.Append(t.Context(), []byte("a1")) })
	wg.Go(func() { _, _, errs[2] = l.Append(t.Context(), []byte("a2")) })
	for deadline := time.Now().Add(30 * time.Second); len(l.reqs) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a1 and a2 were not queued")
		}
	}
	once0.Do(func() { close(rel0) })
	<-hold1 // a1 and a2 in flight, one group
	before := l.lastBatch.Load()
	wg.Go(func() { _, _, errs[3] = l.Append(t.Context(), []byte("a3")) })
	for deadline := time.Now().Add(30 * time.Second); l.lastBatch.Load() == before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a3 was not taken")
		}
	}
	// a3 taken, checked, planned and journaled; the committer now waits
	// for the group in flight.
	time.Sleep(100 * time.Millisecond)
	derr := error(&DamageError{What: "a table block", Err: errors.New("found while a3's group waited for the one in flight")})
	l.damaged.Store(&derr)
	once1.Do(func() { close(rel1) })
	wg.Wait()
	for i, err := range errs[:3] {
		if err != nil {
			t.Fatalf("a%d (taken and in flight before the damage was found): %v", i, err)
		}
	}
	if !errors.Is(errs[3], ErrDataLoss) {
		t.Errorf("a3, committed after the damage was found: %v; want ErrDataLoss", errs[3])
	}
	if s := l.Size(); s != 3 {
		t.Errorf("the log holds %d entries after the damage was found with 3 committed or in flight; want 3", s)
	}
}
