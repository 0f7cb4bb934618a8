package backend_test

import (
	"fmt"
	"testing"

	"github.com/antimony-ledger/provenance/custody"
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
			workload(t, x, seed, 300)
			revokeMine(x, 40)
			workload(t, x, seed+1, 100)
			var recs []verifier.ReplayRecord
			for e, err := range x.S.Log().Range(t.Context(), 0, x.S.Log().Size()) {
				if err != nil {
					t.Fatal(err)
				}
				env, st, err := custody.DecodeEntry(e)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, verifier.ReplayRecord{Index: e.Index, ID: e.ID, Env: env, St: st, LogTime: e.Time, Extra: e.Extra})
			}
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
