package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/datadir"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
)

// TestKeysSavedWithAddr: played against a running server (--addr), the
// example saves every party's key where the user said, or in
// ./pakistan-keys, and says so; the saved keys are the ones the parties
// were registered with, so provctl can go on as them.
func TestKeysSavedWithAddr(t *testing.T) {
	dir := t.TempDir()
	srv, err := startServer(t.Context(), dir, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	addrOpts := func(keys string) options {
		o := options{addr: srv.grpcAddr, registrarKey: filepath.Join(dir, datadir.RegistrarKeyFile),
			logKey: filepath.Join(dir, datadir.LogPubFile), registrarPub: filepath.Join(dir, datadir.RegistrarPubFile),
			keys: keys, set: map[string]bool{"addr": true, "registrar-key": true, "log-key": true, "registrar-pub": true}}
		if keys != "" {
			o.set["keys"] = true
		}
		return o
	}
	c, err := client.Dial(srv.grpcAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	operator, err := c.As(t.Context(), operatorCreds(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	check := func(keys string, out string) {
		t.Helper()
		abs, _ := filepath.Abs(keys)
		if !strings.Contains(out, "The parties' keys are saved in "+abs) || !strings.Contains(out, "export PROVCTL_KEY="+abs+string(filepath.Separator)+"indus-exports-") {
			t.Fatalf("the output does not say where the keys are:\n%s", out)
		}
		files, _ := filepath.Glob(filepath.Join(keys, "*.key"))
		if n := strings.Count(out, "  registered "); len(files) != n || n == 0 {
			t.Fatalf("%d key files in %s, want one for each of the %d parties: %v", len(files), keys, n, files)
		}
		for _, f := range files {
			priv, err := keyfile.ReadPrivate(f) // refuses a file others may read
			if err != nil {
				t.Fatal(err)
			}
			party := strings.TrimSuffix(filepath.Base(f), ".key")
			r, err := operator.Custody.GetParty(t.Context(), &apipb.GetPartyRequest{PartyId: party})
			if err != nil {
				t.Fatalf("%s: %v", party, err)
			}
			if got := r.GetParty().GetKeys(); len(got) != 1 || !bytes.Equal(got[0].GetPublicKey(), priv.Public().(ed25519.PublicKey)) {
				t.Errorf("%s: the saved key is not the one registered", party)
			}
			if pub, err := keyfile.ReadPublic(f + ".pub"); err != nil || !pub.Equal(priv.Public()) {
				t.Errorf("%s.pub: %v", f, err)
			}
		}
	}
	var out bytes.Buffer
	keys := filepath.Join(t.TempDir(), "my-keys")
	o := addrOpts(keys)
	o.out = &out
	if _, err := play(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	check(keys, out.String())
	// The default, in the working directory. (The ids' -HHMMSS suffix
	// must differ from the first run's.)
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	t.Chdir(t.TempDir())
	out.Reset()
	o = addrOpts("")
	o.out = &out
	if _, err := play(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	check(defaultKeysDir, out.String())
}

// TestFlagsThatDoNotApply: flags the run would ignore are refused, not
// dropped without a word.
func TestFlagsThatDoNotApply(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"addr", "registrar-key", "log-key", "registrar-pub", "data"}, "--data: only without --addr"},
		{[]string{"addr", "registrar-key", "log-key", "registrar-pub", "serve"}, "--serve: only without --addr"},
		{[]string{"log-key"}, "--log-key: only with --addr"},
		{[]string{"registrar-key", "registrar-pub"}, "--registrar-key, --registrar-pub: only with --addr"},
	} {
		o := options{out: &bytes.Buffer{}, set: map[string]bool{}}
		for _, f := range tc.set {
			o.set[f] = true
		}
		if o.set["addr"] {
			o.addr = "127.0.0.1:1"
		}
		_, err := play(t.Context(), o)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a usage error with %q", tc.set, err, tc.want)
		}
	}
}

// operatorCreds are the operator's credentials, made with the log key in
// dir: the operator reads every party in full.
func operatorCreds(t *testing.T, dir string) *client.Credentials {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, datadir.LogKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := client.OperatorCredentials(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return creds
}
