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

// TestAuditVerdictOnDamage: `provenanced audit` on a store whose memtable
// log is damaged, which the server refuses to open and tells to audit,
// reports the damage as its verdict (exit 1, FAILED, the file named), not
// as an audit that could not run (a new user's trial: exit 2, and the
// same refusal the server gave, which sent them in a loop). On a sound
// store that an earlier check recorded damaged (data/ledger/DAMAGED), a
// passing audit says the record is there and what removing it does.
func TestAuditVerdictOnDamage(t *testing.T) {
	tmp := t.TempDir()
	regArgs, regKey := offlineRegistrar(t)
	// run starts a server on a new data directory, submits 30
	// registrations and stops it, cleanly or (kill) not.
	run := func(name string, kill bool) string {
		data := filepath.Join(tmp, name)
		d := startDaemon(t, append([]string{"--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-level", "warn"}, regArgs...)...)
		lc := d.ledgerClient(t)
		for i := range 30 {
			if _, err := lc.Submit(t.Context(), &apipb.SubmitRequest{Envelope: registration(t, regKey, fmt.Sprintf("audit-party-%d", i))}); err != nil {
				t.Fatal(err)
			}
		}
		if kill {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		} else {
			d.stop(t)
		}
		return data
	}

	sound := run("sound", false)
	marker := filepath.Join(sound, ledgerDir, ledger.DamageMarker)
	if err := os.WriteFile(marker, []byte("2026-12-06T10:00:00Z a check of every table block found the store damaged: …\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runBinary(t, "audit", "--data", sound, "--quiet")
	if code != 0 || !strings.Contains(out, "audit passed") || !strings.Contains(out, "note: "+marker) || !strings.Contains(out, "remove it to take appends again") {
		t.Fatalf("audit of a sound store recorded damaged: exit %d\n%s%s", code, out, errs)
	}

	// Killed: the memtable log keeps the records (a clean stop would
	// write them to a table).
	data := run("killed", true)
	mems, _ := filepath.Glob(filepath.Join(data, ledgerDir, "*.mem"))
	damaged := ""
	for _, f := range mems {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The 20th party's registration, in the middle of the log.
		if i := bytes.Index(b, []byte("audit-party-20")); i >= 0 {
			fh, err := os.OpenFile(f, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.WriteAt([]byte{b[i] ^ 0x20}, int64(i)); err != nil {
				t.Fatal(err)
			}
			if err := fh.Close(); err != nil {
				t.Fatal(err)
			}
			damaged = f
			break
		}
	}
	if damaged == "" {
		t.Fatalf("no memtable log holds the records (%v)", mems)
	}
	code, out, errs = runBinary(t, "audit", "--data", data, "--quiet")
	if code != auditUnsound || !strings.Contains(out, "audit FAILED") || !strings.Contains(out, filepath.Base(damaged)) {
		t.Fatalf("audit of a store with a damaged memtable log: exit %d, want %d with the file named\nstdout: %s\nstderr: %s", code, auditUnsound, out, errs)
	}
	t.Logf("audit: %s", out)
}
