package keyfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/keyfile"
	"github.com/antimony-ledger/provenance/record"
)

// TestReadPrivateMode: like ssh, a private key file its group or others
// may read or write is refused, with the command that fixes it.
func TestReadPrivateMode(t *testing.T) {
	_, priv, err := record.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "party.key")
	if err := keyfile.WritePrivate(path, priv); err != nil {
		t.Fatal(err)
	}
	if _, err := keyfile.ReadPrivate(path); err != nil {
		t.Fatalf("mode 0600: %v", err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o644, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := keyfile.ReadPrivate(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: %v, want a refusal naming chmod 600", mode, err)
		}
	}
	os.Chmod(path, 0o400)
	if _, err := keyfile.ReadPrivate(path); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}
