package lottest

import (
	"os"
	"path/filepath"
	"testing"
)

// DamageTable flips a byte inside the first block of the first table of
// the closed Badger store in dir, and fails the test if it has none.
func DamageTable(t testing.TB, dir string) {
	t.Helper()
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table written")
	}
	data, err := os.ReadFile(tables[0])
	if err != nil {
		t.Fatal(err)
	}
	data[100] ^= 0x40 // inside the first block
	if err := os.WriteFile(tables[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
}
