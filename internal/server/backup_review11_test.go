package server_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backup"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/datadir"
	"github.com/antimony-ledger/provenance/internal/server"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// TestAdminBackupOfDamagedStoreAnswers500_review11: the README promises
// that a backup of a store found damaged is refused "before it sends a
// byte" with `GET /admin/backup: 500 …: backup failed: backup: stored data
// is damaged … no backup was taken`. backup.Write writes the magic and the
// key files to the response before it calls Log.Backup, so the handler's
// countingResponse has counted bytes (cw.n > 0) when Backup refuses, and
// it panics http.ErrAbortHandler instead of answering 500: the client
// sees the connection dropped (EOF) with no status and no reason.
func TestAdminBackupOfDamagedStoreAnswers500_review11(t *testing.T) {
	c := ct.New()
	dir := t.TempDir()
	h := start(t, c, dir, nil)
	for i := range 5 {
		h.submitGRPC(c.Register(c.AddParty(fmt.Sprintf("mine-%d", i), "Mine", "PK", pb.Role_ROLE_MINE)))
	}
	h.stop()
	// What verifyTables writes once it finds a damaged table block.
	if err := os.WriteFile(filepath.Join(dir, ledger.DamageMarker), []byte("2026-12-06T10:00:00Z a check of every table block found the store damaged\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h = start(t, c, dir, func(o *server.Options) {
		o.BackupFiles = func(bool) ([]backup.File, error) {
			return []backup.File{
				{Name: datadir.LogPubFile, Data: []byte(c.LogVerifierKey + "\n")},
				{Name: datadir.RegistrarPubFile, Data: record.MarshalPublicKey(c.RegistrarPublic())},
			}, nil
		}
	})
	if h.store.Log().Damage() == nil {
		t.Fatal("the store with a DAMAGED record is not damaged")
	}
	resp, err := h.http.Get(h.admin + "/admin/backup")
	if err != nil {
		t.Fatalf("GET /admin/backup of a store found damaged: %v; want 500 naming the damage, as README says", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(b), "no backup was taken") {
		t.Fatalf("GET /admin/backup of a store found damaged: %d %q; want 500 naming the damage", resp.StatusCode, b)
	}
}
