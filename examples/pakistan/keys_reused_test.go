package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysDirReused: `pakistan --keys DIR` run twice, each run on a fresh
// embedded server (so its ids take no suffix of their own): the second
// run's parties take a suffix rather than stop part-way on a key file of
// the first, and both runs' keys are kept.
func TestKeysDirReused(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "k")
	for i := range 2 {
		var out bytes.Buffer
		o := options{keys: keys, out: &out, set: map[string]bool{"keys": true}}
		if _, err := play(t.Context(), o); err != nil {
			t.Fatalf("run %d with --keys %s: %v\n%s", i+1, keys, err, out.String())
		}
	}
	ents, err := os.ReadDir(keys)
	if err != nil {
		t.Fatal(err)
	}
	var priv []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".key") {
			priv = append(priv, e.Name())
		}
	}
	if want := 2 * len(partyDefs); len(priv) != want {
		t.Fatalf("%d private keys in %s after two runs, want %d: %v", len(priv), keys, want, priv)
	}
}
