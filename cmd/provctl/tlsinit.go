package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/antimony-ledger/provenance/internal/tlsinit"
)

func init() {
	register("tls-init", "make a private CA and a server certificate for a TLS quick start", tlsInit)
}

// tlsInit writes a CA certificate and a server certificate and key signed
// by it, for provenanced --tls-cert/--tls-key and provctl --tls-ca.
func tlsInit(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "tls-init", "", &g)
	dir := fs.String("dir", "", "directory to write "+tlsinit.CAFile+", "+tlsinit.CertFile+" and "+tlsinit.KeyFile+" to (made if missing; existing files are never overwritten)")
	hosts := fs.String("host", "localhost,127.0.0.1,::1", "comma-separated IP addresses and DNS names the server certificate is for: every name clients will use in --addr")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *dir == "" {
		return usageErr("--dir is required")
	}
	var hs []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return usageErr("--host names no host")
	}
	now := time.Now()
	if err := tlsinit.Write(*dir, hs, now); errors.Is(err, tlsinit.ErrHost) {
		return usageErr("--host: %v", err)
	} else if err != nil {
		return err
	}
	ca, cert, key := filepath.Join(*dir, tlsinit.CAFile), filepath.Join(*dir, tlsinit.CertFile), filepath.Join(*dir, tlsinit.KeyFile)
	until := now.Add(-time.Hour).Add(tlsinit.ServerValidity).UTC().Format(time.DateOnly)
	if g.json {
		b, err := json.Marshal(map[string]any{"ca_file": ca, "cert_file": cert, "key_file": key, "hosts": hs, "not_after": until})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, string(b))
		return err
	}
	fmt.Fprintf(e.stdout, "CA certificate:     %s (for clients: provctl --tls-ca, curl --cacert)\n", ca)
	fmt.Fprintf(e.stdout, "server certificate: %s (provenanced --tls-cert), for %s, valid until %s\n", cert, strings.Join(hs, ", "), until)
	fmt.Fprintf(e.stdout, "server key:         %s (provenanced --tls-key; mode 0600)\n", key)
	fmt.Fprintln(e.stdout, "The CA's private key was not kept: to add a host or renew, run tls-init again into a new directory and give clients the new ca.pem.")
	return nil
}
