package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysDirReused: `pakistan --keys DIR` run three times (within a
// second or so), each run on a fresh embedded server (so its ids take no
// suffix of their own): the later runs' parties take a suffix rather than
// stop part-way on a key file of an earlier run, and every run's keys are
// kept.
func TestKeysDirReused(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "k")
	for i := range 3 {
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
	if want := 3 * len(partyDefs); len(priv) != want {
		t.Fatalf("%d private keys in %s after three runs, want %d: %v", len(priv), keys, want, priv)
	}
}
