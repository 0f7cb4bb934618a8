package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/testserver"
)

// runCLI runs provctl outside a cli (before a server exists).
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// newTLSCLI starts a server over TLS with a certificate for 127.0.0.1
// and localhost made by provctl tls-init, and returns the CLI and the CA
// file.
func newTLSCLI(t *testing.T) (*cli, string) {
	dir := filepath.Join(t.TempDir(), "tls")
	if code, out, errs := runCLI(t, "tls-init", "--dir", dir, "--host", "127.0.0.1,localhost"); code != exitOK {
		t.Fatalf("tls-init: exit %d\n%s%s", code, out, errs)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	c := newCLIWith(t, ct.New(), testserver.Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	return c, filepath.Join(dir, "ca.pem")
}

// TestTLS: provctl reaches a TLS server with --tls-ca (or PROVCTL_TLS_CA)
// for a whole custody walk, and without the CA says what to pass.
func TestTLS(t *testing.T) {
	c, ca := newTLSCLI(t)
	addr := os.Getenv("PROVCTL_ADDR")
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		phrase string
	}{
		{"plaintext to TLS", []string{"checkpoint"}, exitFailed, "the server speaks TLS: pass --tls-ca FILE"},
		{"plaintext to the TLS REST port", []string{"checkpoint", "--addr", c.http}, exitFailed, "the server speaks TLS: pass --tls-ca FILE"},
		{"REST port with the CA", []string{"checkpoint", "--addr", c.http, "--tls-ca", ca}, exitFailed, "is --addr the REST port?"},
		{"system roots", []string{"checkpoint", "--tls"}, exitFailed, "not signed by a CA provctl trusts: pass --tls-ca FILE"},
		{"another name", []string{"checkpoint", "--tls-ca", ca, "--tls-server-name", "ledger.example"}, exitFailed, "pass --tls-server-name"},
		{"not a CA file", []string{"checkpoint", "--tls-ca", c.path("log.pub")}, exitUsage, "holds no PEM certificate"},
		{"plaintext and TLS", []string{"checkpoint", "--tls-ca", ca, "--insecure"}, exitUsage, "choose one"},
		{"insecure", []string{"checkpoint", "--insecure"}, exitFailed, "the server speaks TLS"},
		{"CA by flag", []string{"checkpoint", "--tls-ca", ca}, exitOK, ""},
		{"CA by flag, before the command", []string{"--tls-ca", ca, "checkpoint"}, exitOK, ""},
		{"by name", []string{"checkpoint", "--tls-ca", ca, "--addr", net.JoinHostPort("localhost", port)}, exitOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := c.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.phrase) {
				t.Errorf("exit %d, want %d; stderr %q should contain %q (stdout %q)", code, tc.code, errs, tc.phrase, out)
			}
		})
	}

	t.Setenv("PROVCTL_TLS_CA", ca)
	c.setup() // register, extract, dispatch, receive: all over TLS
	if out := c.ok("lot", "L1"); !strings.Contains(out, "held by exp-1") {
		t.Errorf("provctl lot L1 over TLS:\n%s", out)
	}
	c.ok("verify", "L1")

	// A flag wins over the environment; both in the environment is a
	// contradiction.
	if code, _, errs := c.run("lot", "L1", "--insecure"); code != exitFailed || !strings.Contains(errs, "the server speaks TLS") {
		t.Errorf("--insecure with PROVCTL_TLS_CA: exit %d, %s", code, errs)
	}
	t.Setenv("PROVCTL_INSECURE", "1")
	if code, _, errs := c.run("lot", "L1"); code != exitUsage || !strings.Contains(errs, "choose one") {
		t.Errorf("PROVCTL_INSECURE with PROVCTL_TLS_CA: exit %d, %s", code, errs)
	}
	t.Setenv("PROVCTL_TLS_CA", "")
	c.ok("lot", "L1", "--tls-ca", ca)

	// The REST port, as curl --cacert sees it.
	pemBytes, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	// With a token from provctl token, as a curl user would.
	req, err := http.NewRequestWithContext(t.Context(), "GET", "https://"+c.http+"/v1/lots/L1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(c.ok("token")))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "exp-1") {
		t.Errorf("GET https://%s/v1/lots/L1: %s %s", c.http, resp.Status, body)
	}
}

// nonLoopbackIP returns an IPv4 address of this machine that is not
// loopback, or skips the test.
func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no IPv4 address other than loopback")
	return ""
}

// firstBytes forwards connections on a listener to target, noting the
// first byte each client sends.
type firstBytes struct {
	mu    sync.Mutex
	bytes []byte
}

func (f *firstBytes) seen() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.bytes...)
}

// await waits (up to 5 s) until n first bytes are noted: the proxy's
// goroutine may note a connection's byte after the client has given up.
func (f *firstBytes) await(n int) []byte {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b := f.seen(); len(b) >= n {
			return b
		}
	}
	return f.seen()
}

func proxy(t *testing.T, lis net.Listener, target string) *firstBytes {
	f := &firstBytes{}
	var wg sync.WaitGroup
	t.Cleanup(func() { lis.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				b := make([]byte, 1)
				if n, _ := io.ReadFull(in, b); n == 1 {
					f.mu.Lock()
					f.bytes = append(f.bytes, b[0])
					f.mu.Unlock()
					out.Write(b)
					io.Copy(out, in)
				}
				out.Close()
			}()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	return f
}

// TestPlaintextNotLoopback: to an address that is not loopback, provctl
// speaks TLS unless told --insecure: against a plaintext server it sends a
// TLS ClientHello, never a byte of plaintext, and says why it failed.
func TestPlaintextNotLoopback(t *testing.T) {
	ip := nonLoopbackIP(t)
	c := newCLI(t)
	lis, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skip(err)
	}
	seen := proxy(t, lis, os.Getenv("PROVCTL_ADDR"))
	remote := lis.Addr().String()

	code, _, errs := c.run("checkpoint", "--addr", remote)
	if code != exitFailed || !strings.Contains(errs, "answered in plaintext, not TLS") || !strings.Contains(errs, "--insecure") {
		t.Errorf("plaintext server at %s without --insecure: exit %d, stderr %q", remote, code, errs)
	}
	for _, b := range seen.await(1) {
		if b != 0x16 { // a TLS handshake record
			t.Errorf("provctl sent %q first to %s without --insecure, not a TLS handshake", b, remote)
		}
	}
	if len(seen.seen()) == 0 {
		t.Error("provctl did not connect")
	}
	n := len(seen.seen())
	c.ok("checkpoint", "--addr", remote, "--insecure")
	t.Setenv("PROVCTL_INSECURE", "1")
	c.ok("checkpoint", "--addr", remote)
	if b := seen.await(n + 2); b[len(b)-1] != 'P' { // "PRI * HTTP/2.0"
		t.Errorf("with --insecure the first byte was %q, want the HTTP/2 preface", b[len(b)-1])
	}
}

// TestTLSInit: tls-init writes a CA and a server certificate for the given
// hosts that verify, an ECDSA P-256 key only its owner may read, and
// refuses to overwrite any of them.
func TestTLSInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	code, out, errs := runCLI(t, "tls-init", "--dir", dir, "--host", "127.0.0.1, localhost,ledger.example")
	if code != exitOK {
		t.Fatalf("tls-init: exit %d\n%s%s", code, out, errs)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	parseCert := func(name string) *x509.Certificate {
		blk, _ := pem.Decode(read(name))
		if blk == nil || blk.Type != "CERTIFICATE" {
			t.Fatalf("%s: no PEM certificate", name)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return c
	}
	ca, leaf := parseCert("ca.pem"), parseCert("server.pem")
	if !ca.IsCA || leaf.IsCA {
		t.Errorf("ca.pem IsCA %v, server.pem IsCA %v", ca.IsCA, leaf.IsCA)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, host := range []string{"127.0.0.1", "localhost", "ledger.example"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("server.pem for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.example"}); err == nil {
		t.Error("server.pem verifies for a host not given")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "localhost"}); err == nil {
		t.Error("server.pem verifies without the CA")
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 300*24*time.Hour || d > 398*24*time.Hour || leaf.NotBefore.After(time.Now()) {
		t.Errorf("server.pem valid %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	pair, err := tls.X509KeyPair(read("server.pem"), read("server.key"))
	if err != nil {
		t.Fatalf("server.pem and server.key: %v", err)
	}
	if k, ok := pair.PrivateKey.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("server key is %T, want ECDSA P-256", pair.PrivateKey)
	}
	for name, want := range map[string]os.FileMode{"server.key": 0o600, "server.pem": 0o644, "ca.pem": 0o644} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", name, fi.Mode().Perm(), err, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("tls-init wrote %d files, want 3 (no CA key)", len(entries))
	}

	// Never overwritten: not all three, not one.
	before := [][]byte{read("ca.pem"), read("server.pem"), read("server.key")}
	if code, _, errs := runCLI(t, "tls-init", "--dir", dir); code != exitFailed || !strings.Contains(errs, "not overwriting") {
		t.Errorf("tls-init again: exit %d, %s", code, errs)
	}
	if after := [][]byte{read("ca.pem"), read("server.pem"), read("server.key")}; !bytes.Equal(bytes.Join(before, nil), bytes.Join(after, nil)) {
		t.Error("tls-init again changed the files")
	}
	partial := t.TempDir()
	if err := os.WriteFile(filepath.Join(partial, "ca.pem"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, "tls-init", "--dir", partial); code != exitFailed || !strings.Contains(errs, "ca.pem exists") {
		t.Errorf("tls-init over an existing ca.pem: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(partial, "server.key")); err == nil {
		t.Error("tls-init over an existing ca.pem wrote server.key")
	}

	for _, tc := range []struct {
		args   []string
		phrase string
	}{
		{[]string{"tls-init"}, "--dir is required"},
		{[]string{"tls-init", "--dir", t.TempDir(), "--host", "bad_host!"}, "neither an IP address nor a DNS name"},
		{[]string{"tls-init", "--dir", t.TempDir(), "--host", " , "}, "--host names no host"},
	} {
		if code, _, errs := runCLI(t, tc.args...); code != exitUsage || !strings.Contains(errs, tc.phrase) {
			t.Errorf("provctl %s: exit %d, %q; want usage error with %q", strings.Join(tc.args, " "), code, errs, tc.phrase)
		}
	}
}
