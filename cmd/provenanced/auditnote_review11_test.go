package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/ledger"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
)

// TestAuditNotesUnreadableMarker_review11: the ledger treats a
// data/ledger/DAMAGED it cannot read (here a directory: EISDIR; likewise
// EACCES) as damage recorded, and refuses every append while it is there
// (readDamageMarker). A passing audit notes the marker only if
// os.ReadFile succeeds, so here it passes with no word of it, and the
// operator is not told why the server it restarts refuses every append.
func TestAuditNotesUnreadableMarker_review11(t *testing.T) {
	regArgs, regKey := offlineRegistrar(t)
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, append([]string{"--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-level", "warn"}, regArgs...)...)
	lc := d.ledgerClient(t)
	for i := range 3 {
		if _, err := lc.Submit(t.Context(), &apipb.SubmitRequest{Envelope: registration(t, regKey, fmt.Sprintf("note-party-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	d.stop(t)
	marker := filepath.Join(data, ledgerDir, ledger.DamageMarker)
	if err := os.Mkdir(marker, 0o700); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := auditMain([]string{"--data", data, "--quiet"}, func(string) string { return "" }, &stdout, &stderr)
	if code != auditSound {
		t.Fatalf("audit: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "note: "+marker) {
		t.Fatalf("a passing audit of a store whose %s the server takes as damage (appends refused) says nothing of it:\n%s", marker, stdout.String())
	}
}
