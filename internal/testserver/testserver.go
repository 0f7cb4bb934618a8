// Package testserver starts a real ledger server on loopback for tests:
// a custody store on a temporary directory, gRPC and HTTP listeners on
// 127.0.0.1 port 0, and the verifier backend, all stopped when the test
// ends.
package testserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/server"
	"github.com/antimony-ledger/provenance/verifier"
)

// A Server is a running test server.
type Server struct {
	GRPCAddr string
	HTTPAddr string
	Store    *custody.Store
	Chain    *ct.Chain
	Dir      string

	stop func()
}

// Start starts a server whose registrar and log keys are those of c.
func Start(tb testing.TB, c *ct.Chain) *Server {
	tb.Helper()
	return StartDir(tb, c, tb.TempDir())
}

// StartDir is [Start] on a given data directory, so a test can restart a
// server on the same data.
func StartDir(tb testing.TB, c *ct.Chain, dir string) *Server {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := custody.Open(ctx, dir, custody.Config{Origin: ct.Origin, LogSigner: c.LogSigner, Registrar: c.RegistrarPublic(), Logger: logger})
	if err != nil {
		cancel()
		tb.Fatalf("opening store: %v", err)
	}
	backend := verifier.NewBackend(store, verifier.Trust{Log: c.LogVerifier, Registrar: c.RegistrarPublic()}, verifier.DefaultConfig())
	srv, err := server.New(server.Options{Store: store, Logger: logger, Verifier: backend})
	if err != nil {
		cancel()
		store.Close()
		tb.Fatalf("server: %v", err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, gl, hl) }()
	s := &Server{GRPCAddr: gl.Addr().String(), HTTPAddr: hl.Addr().String(), Store: store, Chain: c, Dir: dir}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
		backend.Close()
		store.Close()
	}
	s.stop = stop
	tb.Cleanup(stop)
	return s
}

// Stop stops the server and closes its store; later calls do nothing.
func (s *Server) Stop() { s.stop() }
