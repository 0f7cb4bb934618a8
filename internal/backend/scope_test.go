package backend_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/internal/scope"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	"github.com/antimony-ledger/provenance/verifier"
)

// flagPages lists every flag under ctx, page by page, and returns the
// flags' keys.
func flagPages(t *testing.T, ctx context.Context, b *backend.Backend, size int32, each func()) []string {
	t.Helper()
	var out []string
	req := &apipb.ListFlagsRequest{PageSize: size}
	for {
		r, err := b.ListFlags(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		each()
		for _, f := range r.GetFlags() {
			out = append(out, verifier.ReplayFlagKey(f))
		}
		if r.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = r.GetNextPageToken()
	}
}

// TestScopedFlagKeysBounded: a flag listing limited to some lots (package
// scope) reads their summaries' flag keys, and lists only their flags;
// but no page reads more than maxScopedFlagKeys of them: past it, the page
// is read from a scan (a review's case: a mine that assayed its lot A 200
// times, each raising ASSAY_MISMATCH, and split 1,999 lots off it, whose
// 2,000 summaries hold 400,000 keys, read for every page of 10; here 120
// assays and 999 lots).
func TestScopedFlagKeysBounded(t *testing.T) {
	x := lottest.New(t)
	b := backend.New(x.S, x.Trust(), verifier.DefaultConfig())
	defer b.Close()
	lottest.AssayedSplit(x, 120, 999)
	// Another mine's lot, off grade: a flag of its own.
	x.Extract(x.Mn2, "B", 10000, 3, 60, lottest.MineSite, 3)
	// Each split's outputs inherit A's 120 flags: slow under the race
	// detector.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if n, _, _ := b.Following(); n == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the follower has not read %d records after 2 minutes", n)
		}
	}

	all := flagPages(t, t.Context(), b, 5000, func() {})
	sumB, _, err := backend.Summary(b, "B")
	if err != nil || len(sumB.Keys) == 0 {
		t.Fatalf("B's summary: %v, %v: want flags", sumB, err)
	}
	// Scoped to A: A's flags, none of B's, from A's summary.
	read := backend.ScopedKeysRead()
	onlyA := flagPages(t, scope.WithLots(t.Context(), []string{"A"}), b, 10, func() {})
	sumA, _, err := backend.Summary(b, "A")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(onlyA, slices.Sorted(slices.Values(sumA.Keys))) || len(onlyA) < 120 {
		t.Errorf("flags scoped to A: %d, want A's %d", len(onlyA), len(sumA.Keys))
	}
	if backend.ScopedKeysRead() == read {
		t.Error("a listing scoped to A read no summary's keys")
	}
	// Scoped to the mine's 1,000 lots (120,000 keys): every flag but B's, each page
	// from a scan once the keys pass the bound.
	lots, err := x.S.LotsAndAncestry(t.Context(), x.Mine.ID, 20000)
	if err != nil || len(lots) != 1000 {
		t.Fatalf("the mine's lots: %d, %v", len(lots), err)
	}
	var most int64
	read = backend.ScopedKeysRead()
	got := flagPages(t, scope.WithLots(t.Context(), lots), b, 10, func() {
		now := backend.ScopedKeysRead()
		most, read = max(most, now-read), now
	})
	// A scan lists every flag: B's too (the read policy takes them out
	// for the mine).
	if !slices.Equal(got, all) {
		t.Errorf("the mine's flags, scoped past the bound: %d flags, want the scan's %d", len(got), len(all))
	}
	if most > backend.MaxScopedFlagKeys+int64(len(sumA.Keys)) {
		t.Errorf("a page read %d flag keys from summaries, past the bound of %d", most, backend.MaxScopedFlagKeys)
	}
}
