// Package testserver starts a real ledger server on loopback for tests:
// a custody store on a temporary directory, gRPC, HTTP and admin listeners
// on 127.0.0.1 port 0, and the verifier backend, all stopped when the test
// ends.
package testserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/server"
	"github.com/antimony-ledger/provenance/internal/witness"
	"github.com/antimony-ledger/provenance/tlog"
	"github.com/antimony-ledger/provenance/verifier"
)

// A Server is a running test server.
type Server struct {
	GRPCAddr string
	HTTPAddr string
	// AdminAddr serves the admin surface: /metrics, pprof, reflection.
	AdminAddr string
	Store     *custody.Store
	Chain     *ct.Chain
	Dir       string

	stop func() error
}

// Start starts a server whose registrar and log keys are those of c.
func Start(tb testing.TB, c *ct.Chain) *Server {
	tb.Helper()
	return StartDir(tb, c, tb.TempDir())
}

// Options are what a test server may have besides its chain.
type Options struct {
	// Witnesses get the log's checkpoints (every 50 ms), and bundles
	// carry their cosignatures.
	Witnesses []tlog.Witness
	// TLSConfig, if set, serves both listeners over TLS with it.
	TLSConfig *tls.Config
	// Limits are the server's; the zero value means the defaults.
	Limits server.Limits
	// OpenCheck is custody.Config.OpenCheck: how many of the newest
	// entries the store checks at start (0: the default).
	OpenCheck int
	// NoFlagFollower is provenanced --no-flag-follower: flags are not
	// kept current, and listings count the records not replayed.
	NoFlagFollower bool
}

// StartDir is [Start] on a given data directory, so a test can restart a
// server on the same data.
func StartDir(tb testing.TB, c *ct.Chain, dir string) *Server {
	tb.Helper()
	return StartWith(tb, c, dir, Options{})
}

// StartWith is [StartDir] with options.
func StartWith(tb testing.TB, c *ct.Chain, dir string, o Options) *Server {
	tb.Helper()
	s, err := RunWith(c, dir, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return s
}

// Run starts a server on dir outside a test (for Example functions). The
// caller must call Stop.
func Run(c *ct.Chain, dir string) (*Server, error) { return RunWith(c, dir, Options{}) }

// RunWith is [Run] with options.
func RunWith(c *ct.Chain, dir string, o Options) (*Server, error) {
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := custody.Open(ctx, dir, custody.Config{Origin: ct.Origin, LogSigner: c.LogSigner, Registrar: c.RegistrarPublic(), Logger: logger, Now: c.Clock.Now, OpenCheck: o.OpenCheck})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("opening store: %w", err)
	}
	fail := func(err error) (*Server, error) {
		cancel()
		store.Close()
		return nil, err
	}
	flags, err := backend.Open(store, verifier.Trust{Log: c.LogVerifier, Registrar: c.RegistrarPublic()}, verifier.DefaultConfig(),
		backend.Options{Paused: o.NoFlagFollower, Logger: logger})
	if err != nil {
		return fail(err)
	}
	var pub *witness.Publisher
	pubDone := make(chan struct{})
	if len(o.Witnesses) > 0 {
		pub, err = witness.New(store.Log(), witness.Config{Witnesses: o.Witnesses, Interval: 50 * time.Millisecond, Logger: logger})
		if err != nil {
			flags.Close()
			return fail(err)
		}
		go func() { pub.Run(ctx); close(pubDone) }()
		flags.SetWitness(pub, 20*time.Second)
	} else {
		close(pubDone)
	}
	var ls [3]net.Listener // gRPC, HTTP, admin
	for i := range ls {
		if ls[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			for _, l := range ls[:i] {
				l.Close()
			}
			flags.Close()
			return fail(err)
		}
	}
	srv, err := server.New(server.Options{Store: store, Logger: logger, Verifier: flags, Witness: pub, Limits: o.Limits, AdminListener: ls[2], TLSConfig: o.TLSConfig})
	if err != nil {
		for _, l := range ls {
			l.Close()
		}
		flags.Close()
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ls[0], ls[1]) }()
	s := &Server{GRPCAddr: ls[0].Addr().String(), HTTPAddr: ls[1].Addr().String(), AdminAddr: ls[2].Addr().String(), Store: store, Chain: c, Dir: dir}
	var once sync.Once
	var serveErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
			<-pubDone
			flags.Close()
			store.Close()
		})
		return serveErr
	}
	return s, nil
}

// Stop stops the server and closes its store; later calls do nothing. It
// returns the error that ended serving, if any.
func (s *Server) Stop() error { return s.stop() }

// Operator returns the operator's credentials (a token signed with the
// log key), which read everything: what a test uses when the caller is
// not what it tests.
func (s *Server) Operator() *client.Credentials {
	return &client.Credentials{PartyID: server.OperatorPartyID, Key: s.Chain.LogSigner.PrivateKey(), Origin: ct.Origin}
}
