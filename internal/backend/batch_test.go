package backend_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestDeferredSummaries: a replay that writes the lots' summaries once
// per batch (ApplyDeferred, then Flush) leaves the state a replay that
// writes them after each record (Apply) does, whatever the batches'
// bounds: the in-between summaries, and the flags they derived and
// withdrew, leave nothing behind.
func TestDeferredSummaries(t *testing.T) {
	for _, seed := range []uint64{3, 11, 29} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			x := lottest.New(t)
			lottest.Workload(t, x, seed, 300)
			revokeMine(x, 40)
			lottest.Workload(t, x, seed+1, 100)
			recs := logRecords(t, x)
			each := mapStore{}
			r := verifier.NewReplay(x.C.RegistrarPublic(), verifier.DefaultConfig())
			for _, rec := range recs {
				if _, err := r.Apply(each, rec); err != nil {
					t.Fatal(err)
				}
			}
			for _, every := range []int{1, 2, 7, 64, len(recs)} {
				batched := mapStore{}
				r := verifier.NewReplay(x.C.RegistrarPublic(), verifier.DefaultConfig())
				var touched []string
				for i, rec := range recs {
					res, err := r.ApplyDeferred(batched, rec)
					if err != nil {
						t.Fatal(err)
					}
					touched = append(touched, res.Lots...)
					if (i+1)%every == 0 {
						if err := r.Flush(batched); err != nil {
							t.Fatal(err)
						}
					}
				}
				if err := r.Flush(batched); err != nil {
					t.Fatal(err)
				}
				if d := diff(each, batched); d != "" {
					t.Errorf("summaries every %d records: the state differs from one summarised after each record:\n%s", every, d)
				}
				if len(touched) == 0 {
					t.Fatal("no lot touched: the test replays nothing")
				}
			}
		})
	}
}

// TestBatchesEqualOneByOne: the follower's batches (writes kept in
// memory, coalesced, committed once per batch, read back from the last
// batch's) leave the store as replaying each record on its own through a
// Badger transaction does, key for key, with the listings the same.
func TestBatchesEqualOneByOne(t *testing.T) {
	x := lottest.New(t)
	lottest.Workload(t, x, 5, 400)
	revokeMine(x, 30)
	lottest.Workload(t, x, 6, 200)
	// A capacity window of days, not a year, so that windows start after
	// earlier extractions and their tallies are looked up.
	cfg := verifier.DefaultConfig()
	cfg.CapacityWindow = 4 * 24 * time.Hour
	open := func(dir string) *backend.Backend {
		b, err := backend.NewPaused(x.S, x.Trust(), cfg, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		return b
	}
	batched, single := open(t.TempDir()), open(t.TempDir())
	backend.ReplayOneByOne(single)
	// In steps of uneven size, so that batches start and end mid-lot.
	size := x.S.Log().Size()
	for _, b := range []*backend.Backend{batched, single} {
		for n := uint64(1); b.Replayed() < size; n = n*3 + 1 {
			if err := backend.ReplayN(t.Context(), b, min(size, b.Replayed()+n)); err != nil {
				t.Fatal(err)
			}
		}
		if err := backend.ReplayAll(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := backend.Dump(batched)
	if err != nil {
		t.Fatal(err)
	}
	want, err := backend.Dump(single)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 1000 {
		t.Fatalf("%d keys: the workload no longer fills a state", len(want))
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			t.Errorf("key %q: batched %q, one by one %q", k, got[k], want[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("key %q only in the batched state", k)
		}
	}
	compareAll(t, x, batched)
}
