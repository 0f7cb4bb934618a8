package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/antimony-ledger/provenance/client"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/testserver"
	"github.com/antimony-ledger/provenance/internal/tlsinit"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
)

func TestIsLoopback(t *testing.T) {
	for target, want := range map[string]bool{
		"127.0.0.1:8443":                   true,
		"127.0.0.2:8443":                   true,
		"[::1]:8443":                       true,
		"localhost:8443":                   true,
		"LOCALHOST.:8443":                  true,
		"localhost":                        true,
		"dns:///localhost:8443":            true,
		"passthrough:///127.0.0.1:8443":    true,
		"unix:///run/provenanced.sock":     true,
		"192.0.2.1:8443":                   false,
		"[2001:db8::1]:8443":               false,
		"ledger.example:8443":              false,
		"localhost.ledger.example:8443":    false,
		"dns://127.0.0.1/ledger.example:1": false, // the resolver is local, the server is not
		"xds:///ledger":                    false,
		"":                                 false,
	} {
		if got := client.IsLoopback(target); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", target, got, want)
		}
	}
}

// TestTransportPolicy: TLS unless plaintext is asked for or the address
// is loopback and nothing asks for TLS; plaintext and TLS settings
// together are refused.
func TestTransportPolicy(t *testing.T) {
	dir := t.TempDir()
	p, err := tlsinit.Generate([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, notPEM := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "key.pub")
	if err := os.WriteFile(ca, p.CA, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const (
		plain = iota
		withTLS
		refused
	)
	for _, tc := range []struct {
		addr string
		tr   client.Transport
		want int
	}{
		{"127.0.0.1:8443", client.Transport{}, plain},
		{"localhost:8443", client.Transport{}, plain},
		{"192.0.2.1:8443", client.Transport{}, withTLS},
		{"ledger.example:443", client.Transport{}, withTLS},
		{"127.0.0.1:8443", client.Transport{TLS: true}, withTLS},
		{"127.0.0.1:8443", client.Transport{CAFile: ca}, withTLS},
		{"127.0.0.1:8443", client.Transport{ServerName: "localhost"}, withTLS},
		{"192.0.2.1:8443", client.Transport{Insecure: true}, plain},
		{"192.0.2.1:8443", client.Transport{Insecure: true, CAFile: ca}, refused},
		{"127.0.0.1:8443", client.Transport{Insecure: true, TLS: true}, refused},
		{"127.0.0.1:8443", client.Transport{CAFile: filepath.Join(dir, "missing.pem")}, refused},
		{"127.0.0.1:8443", client.Transport{CAFile: notPEM}, refused},
	} {
		cfg, err := tc.tr.TLSConfig(tc.addr)
		got := plain
		switch {
		case err != nil:
			got = refused
		case cfg != nil:
			got = withTLS
			if cfg.MinVersion < tls.VersionTLS12 || cfg.InsecureSkipVerify {
				t.Errorf("%s %+v: weak TLS config %+v", tc.addr, tc.tr, cfg)
			}
			if (tc.tr.CAFile != "") != (cfg.RootCAs != nil) {
				t.Errorf("%s %+v: RootCAs %v", tc.addr, tc.tr, cfg.RootCAs)
			}
		}
		if got != tc.want {
			t.Errorf("%s %+v: got %d (err %v), want %d", tc.addr, tc.tr, got, err, tc.want)
		}
	}
}

// TestDialRefusesPlaintext: Dial with no TLS config refuses an address
// that is not loopback before connecting; DialInsecure and a Transport
// with Insecure say plaintext on purpose.
func TestDialRefusesPlaintext(t *testing.T) {
	for _, addr := range []string{"192.0.2.1:8443", "ledger.example:8443", "dns:///ledger.example:8443"} {
		c, err := client.Dial(addr, nil)
		if !errors.Is(err, client.ErrPlaintext) {
			if c != nil {
				c.Close()
			}
			t.Errorf("Dial(%q, nil) = %v, want ErrPlaintext", addr, err)
		}
	}
	for _, dial := range []func() (*client.Client, error){
		func() (*client.Client, error) { return client.DialInsecure("192.0.2.1:8443") },
		func() (*client.Client, error) { return client.Transport{Insecure: true}.Dial("192.0.2.1:8443") },
		func() (*client.Client, error) { return client.Transport{}.Dial("192.0.2.1:8443") }, // TLS
		func() (*client.Client, error) { return client.Dial("127.0.0.1:8443", nil) },
	} {
		c, err := dial()
		if err != nil {
			t.Errorf("dial: %v", err)
			continue
		}
		c.Close()
	}
}

// tlsServer starts a test server over TLS with a certificate for
// 127.0.0.1 and localhost from a new CA, and returns it with the CA file.
func tlsServer(t *testing.T) (*testserver.Server, string) {
	t.Helper()
	dir := t.TempDir()
	if err := tlsinit.Write(dir, []string{"127.0.0.1", "localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, tlsinit.CertFile), filepath.Join(dir, tlsinit.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := testserver.StartWith(t, ct.New(), t.TempDir(), testserver.Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	return srv, filepath.Join(dir, tlsinit.CAFile)
}

// TestDialTLS: a client reaches a TLS server with its CA, by IP address
// and by name, and does not without it.
func TestDialTLS(t *testing.T) {
	srv, ca := tlsServer(t)
	_, port, _ := net.SplitHostPort(srv.GRPCAddr)
	call := func(tr client.Transport, addr string) error {
		c, err := tr.Dial(addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err = c.Ledger.GetCheckpoint(ctx, &apipb.GetCheckpointRequest{})
		return err
	}
	for _, addr := range []string{srv.GRPCAddr, net.JoinHostPort("localhost", port)} {
		if err := call(client.Transport{CAFile: ca}, addr); err != nil {
			t.Errorf("%s with the CA: %v", addr, err)
		}
	}
	for _, tc := range []struct {
		tr   client.Transport
		want string
	}{
		{client.Transport{}, "server preface"},             // plaintext to loopback
		{client.Transport{TLS: true}, "unknown authority"}, // system roots
		{client.Transport{CAFile: ca, ServerName: "ledger.example"}, "not ledger.example"},
	} {
		err := call(tc.tr, srv.GRPCAddr)
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want Unavailable with %q", tc.tr, err, tc.want)
		}
	}
}

// bigEntries serves GetEntry with 5 MiB of data, more than gRPC's
// default receive limit of 4 MiB.
type bigEntries struct {
	apipb.UnimplementedLedgerServiceServer
}

func (bigEntries) GetEntry(context.Context, *apipb.GetEntryRequest) (*apipb.GetEntryResponse, error) {
	return &apipb.GetEntryResponse{Entry: &apipb.LogEntry{Data: make([]byte, 5<<20)}}, nil
}

// TestReceiveLimit: the client takes messages up to MaxRecvBytes, not
// gRPC's 4 MiB, and a caller's own limit still applies.
func TestReceiveLimit(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	apipb.RegisterLedgerServiceServer(gs, bigEntries{})
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	c, err := client.Dial(lis.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Ledger.GetEntry(t.Context(), &apipb.GetEntryRequest{})
	if err != nil || len(r.GetEntry().GetData()) != 5<<20 {
		t.Fatalf("GetEntry of 5 MiB: %v", err)
	}
	_, err = c.Ledger.GetEntry(t.Context(), &apipb.GetEntryRequest{}, grpc.MaxCallRecvMsgSize(1<<20))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("GetEntry of 5 MiB with a 1 MiB limit: %v, want ResourceExhausted", err)
	}
}
