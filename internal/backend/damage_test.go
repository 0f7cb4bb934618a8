package backend_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/ledger"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	"github.com/antimony-ledger/provenance/verifier"
)

// replayedIn opens a paused backend whose state is stored in dir and
// replays x's log into it.
func replayedIn(t *testing.T, x *lottest.H, dir string) *backend.Backend {
	t.Helper()
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

// A table of the flags' state damaged on disk: the server starts (the
// tables are checked in the background, not at open), listings refuse
// with ErrDataLoss once the check finds it, rather than list what the
// damaged block no longer shows, and the next start rebuilds the state
// from the log.
func TestDamagedStateRebuilt(t *testing.T) {
	x := lottest.New(t)
	lottest.Workload(t, x, 3, 200)
	dir := t.TempDir()
	b := replayedIn(t, x, dir)
	want, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{PageSize: 1000})
	if err != nil || len(want.GetFlags()) == 0 {
		t.Fatalf("listing %d flags before the damage: %v", len(want.GetFlags()), err)
	}
	b.Close() // Badger writes its memtable out as a table

	lottest.DamageTable(t, dir)

	b, err = backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatalf("the state with a damaged table did not open: %v", err)
	}
	<-backend.TablesChecked(b)
	_, err = b.ListFlags(t.Context(), &apipb.ListFlagsRequest{})
	if !errors.Is(err, ledger.ErrDataLoss) {
		t.Fatalf("listing flags from a damaged state: %v, want a data-loss error", err)
	}
	if _, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{}); !errors.Is(err, ledger.ErrDataLoss) {
		t.Fatalf("listing lots from a damaged state: %v, want a data-loss error", err)
	}
	t.Logf("refused: %v", err)
	// What a client is told (the server's errors.go): the flags' state,
	// mended by a restart; not the ledger, not an audit.
	var own interface{ ClientMessage() string }
	if !errors.As(err, &own) || !strings.Contains(own.ClientMessage(), "flags' state (data/") ||
		!strings.Contains(own.ClientMessage(), "restarts the server") || strings.Contains(own.ClientMessage(), "audit") {
		t.Fatalf("the damaged flags' state tells clients %v; want the flags' state named, mended by a restart", own)
	}
	b.Close()

	b, err = backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Replayed(); got != 0 {
		t.Fatalf("the damaged state was resumed at %d, not rebuilt", got)
	}
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	<-backend.TablesChecked(b)
	got, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{PageSize: 1000})
	if err != nil {
		t.Fatalf("listing after the rebuild: %v", err)
	}
	if len(got.GetFlags()) != len(want.GetFlags()) {
		t.Fatalf("after the rebuild %d flags, before the damage %d", len(got.GetFlags()), len(want.GetFlags()))
	}
}

// A check of the flags' state stopped by Close: the state is
// not marked for a rebuild, and the next start resumes it. Close comes at
// once after the open, so that the check is cut short.
func TestCloseStopsStateCheckNoRebuild(t *testing.T) {
	x := lottest.New(t)
	lottest.Workload(t, x, 3, 50)
	dir := t.TempDir()
	b := replayedIn(t, x, dir)
	replayed := b.Replayed()
	b.Close() // a table to check
	for i := range 20 {
		b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		if _, err := os.Stat(filepath.Join(dir, "REBUILD")); err == nil {
			m, _ := os.ReadFile(filepath.Join(dir, "REBUILD"))
			t.Fatalf("start %d: a check stopped by Close marked the state for a rebuild: %s", i, m)
		}
	}
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Replayed(); got != replayed {
		t.Fatalf("resumed at %d, want %d", got, replayed)
	}
}

// A table of the flags' state that cannot be read (here its path made a
// directory once the store has the table open, so that the check's read
// fails while Badger's own reads do not) is not known to be damaged: the
// check says so in the log, listings are served, and the state is not
// marked for a rebuild (minutes on a large log, for an error of a
// moment): the next start resumes it.
func TestUnreadableStateTableIsNotDamage(t *testing.T) {
	x := lottest.New(t)
	lottest.Workload(t, x, 3, 50)
	dir := t.TempDir()
	b := replayedIn(t, x, dir)
	replayed := b.Replayed()
	b.Close() // a table to check
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table written")
	}
	var restore []func()
	backend.SetBeforeTableCheck(func(string) {
		for _, tbl := range tables {
			if err := os.Rename(tbl, tbl+".aside"); err != nil {
				t.Error(err)
				return
			}
			if err := os.Mkdir(tbl, 0o700); err != nil {
				t.Error(err)
				return
			}
			restore = append(restore, func() {
				os.Remove(tbl)
				os.Rename(tbl+".aside", tbl)
			})
		}
	})
	t.Cleanup(func() { backend.SetBeforeTableCheck(nil) })
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	<-backend.TablesChecked(b)
	backend.SetBeforeTableCheck(nil)
	for _, f := range restore {
		f()
	}
	if len(restore) != len(tables) {
		t.Fatalf("made %d of %d tables unreadable", len(restore), len(tables))
	}
	if _, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{}); err != nil {
		t.Fatalf("listing flags after a table could not be checked: %v; want them served", err)
	}
	if _, err := b.ListLots(t.Context(), &apipb.ListLotsRequest{}); err != nil {
		t.Fatalf("listing lots after a table could not be checked: %v; want them served", err)
	}
	b.Close()
	if m, err := os.ReadFile(filepath.Join(dir, "REBUILD")); err == nil {
		t.Fatalf("a table that could not be read marked the state for a rebuild: %s", m)
	}
	b, err = backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Replayed(); got != replayed {
		t.Fatalf("resumed at %d, want %d", got, replayed)
	}
}
