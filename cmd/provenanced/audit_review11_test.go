package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
)

// TestAuditMapDamageIsUnsound_review11: `provenanced audit` is to report
// damage that keeps the store from opening as an unsound verdict (exit
// 1), not as an audit that could not run (exit 2). One flipped byte in the
// table that holds the verifiable map's values (s/\xffx/..., the largest
// keys, so in the table's last block, which Badger reads at open for the
// table's biggest key) makes badger.Open fail "checksum mismatch"; the
// ledger wraps that as "opening badger: %w", not ErrDataLoss, so audit
// answers exit 2 "provenanced audit: opening store: ...": the loop the
// commit claimed to end (the server refuses to start; audit cannot run).
func TestAuditMapDamageIsUnsound_review11(t *testing.T) {
	regArgs, regKey := offlineRegistrar(t)
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, append([]string{"--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-level", "warn"}, regArgs...)...)
	lc := d.ledgerClient(t)
	for i := range 30 {
		if _, err := lc.Submit(t.Context(), &apipb.SubmitRequest{Envelope: registration(t, regKey, fmt.Sprintf("map-party-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	d.stop(t)

	ssts, _ := filepath.Glob(filepath.Join(data, ledgerDir, "*.sst"))
	flipped := ""
	for _, f := range ssts {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, []byte("s/\xffx/"))
		if i < 0 {
			continue
		}
		// A byte of the first map key stored (inside a data block).
		fh, err := os.OpenFile(f, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteAt([]byte{b[i+6] ^ 0x01}, int64(i+6)); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		flipped = f
		break
	}
	if flipped == "" {
		t.Fatalf("no table of %s holds a map value", data)
	}
	var stdout, stderr bytes.Buffer
	code := auditMain([]string{"--data", data, "--quiet"}, func(string) string { return "" }, &stdout, &stderr)
	if code != auditUnsound {
		t.Fatalf("audit of a store whose map values' table block is damaged: exit %d, want %d (unsound)\nstdout: %s\nstderr: %s", code, auditUnsound, stdout.String(), stderr.String())
	}
	t.Logf("audit: %s%s", stdout.String(), stderr.String())
}
