package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/internal/server"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestAdminHealthNamesFlagsDamage: a damaged table of the flags' state
// (found by the check after a start; listings then answer DataLoss) is
// named by the admin /healthz in flags_error, with its status still ok:
// appends, reads and verification go on (a new user's trial: every
// listing answered 500 while /healthz said nothing).
func TestAdminHealthNamesFlagsDamage(t *testing.T) {
	x := lottest.New(t)
	lottest.Workload(t, x, 3, 100)
	dir := t.TempDir()
	b, err := backend.Open(x.S, x.Trust(), verifier.DefaultConfig(), backend.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); b.Replayed() < x.S.Log().Size(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the follower read %d of %d records", b.Replayed(), x.S.Log().Size())
		}
	}
	b.Close() // Badger writes its memtable out as a table
	lottest.DamageTable(t, dir)
	b, err = backend.Open(x.S, x.Trust(), verifier.DefaultConfig(), backend.Options{Dir: dir, Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	for deadline := time.Now().Add(time.Minute); b.Damage() == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the check of the flags' state found no damage")
		}
	}
	h := start(t, x.C, t.TempDir(), func(o *server.Options) {
		o.Store = x.S
		o.Verifier = b
	})
	code, body := h.getAdmin("/healthz")
	if code != 200 || !strings.Contains(string(body), `"flags_error":`) || !strings.Contains(string(body), `"status":"ok"`) {
		t.Fatalf("admin /healthz with the flags' state damaged: %d %s; want 200, ok, naming it in flags_error", code, body)
	}
	t.Logf("%s", body)
}
