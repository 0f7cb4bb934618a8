// Package server is the transport layer of the provenance ledger: the gRPC
// services of proto/provenance/v1 over a [custody.Store], and the REST
// gateway, OpenAPI document and health check over HTTP, and the operator's
// admin surface (metrics, pprof, reflection, health details) on a listener
// of its own.
//
// # Wiring
//
// [Server.Serve] serves gRPC on one listener and HTTP on another. The gRPC
// server chains interceptors for logging, metrics, panic recovery, the
// read policy (policy.go: who may call what, and what they get) and call
// limits (in that order, limits innermost), registers the standard health
// service, and limits received messages to [Options.MaxRecvBytes];
// [Options.Limits] bounds connections, streams, heavy calls and each
// party's submission rate. It accepts gzip-compressed requests. The REST
// gateway (grpc-gateway) does not call the
// service implementations directly: it is a gRPC client of the same
// grpc.Server over an in-process bufconn listener, so every REST call goes
// through the same interceptors, limits, metrics and error mapping as a
// native gRPC call, and works unchanged when the external listeners use TLS.
// That connection is served by a second grpc.Server with the same services
// and interceptors but without the per-connection limits, which would
// otherwise bound all REST clients together.
//
// # Errors
//
// Domain packages return sentinel errors; they become gRPC codes in one
// place, [codeOf]. REST statuses follow from runtime.HTTPStatusFromCode and
// the error body is the JSON form of google.rpc.Status. Anything unexpected
// is logged and returned as a bare Internal "internal error".
//
// # HTTP routes
//
//	/v1/...        the REST gateway (rules in proto/provenance/v1/http.yaml)
//	/openapi.json  the generated OpenAPI 2.0 document
//	/healthz       200 "ok" while the store is open, not found damaged, and the server is not
//	               draining, else 503 "unavailable"
//
// The admin listener's routes are in admin.go.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	// Clients may compress requests with gzip (grpc-encoding: gzip).
	_ "google.golang.org/grpc/encoding/gzip"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/backup"
	"github.com/antimony-ledger/provenance/internal/witness"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
)

// Defaults for the zero values of [Options].
const (
	DefaultMaxRecvBytes     = 1 << 20
	DefaultShutdownTimeout  = 10 * time.Second
	DefaultHTTPWriteTimeout = 60 * time.Second
	DefaultStreamTimeout    = time.Hour
)

// Options configure a [Server].
type Options struct {
	// Store is the custody ledger to serve. Required. The caller owns it:
	// Serve never closes it.
	Store *custody.Store
	// Logger receives request and error logs; nil means slog.Default().
	Logger *slog.Logger
	// Verifier backs VerifierService. Nil means the service answers every
	// call with Unavailable "verifier not configured".
	Verifier VerifierBackend
	// Witness, if set, keeps the witnesses' cosignatures, which
	// GetCheckpoint serves with their status.
	Witness *witness.Publisher
	// TLSConfig, if set, is used on both listeners. It must hold a
	// certificate (Certificates or GetCertificate). Nil means plaintext.
	TLSConfig *tls.Config
	// MaxRecvBytes limits a received gRPC message and an HTTP request body;
	// 0 means DefaultMaxRecvBytes (1 MiB).
	MaxRecvBytes int
	// Registry receives the server's metrics and is served on the admin
	// listener's /metrics; nil means a new registry with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds the graceful drain once Serve's context is
	// done; in-flight calls still running after it are cut off. 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// HTTPWriteTimeout bounds writing an HTTP response; 0 means
	// DefaultHTTPWriteTimeout.
	HTTPWriteTimeout time.Duration
	// StreamTimeout replaces HTTPWriteTimeout for the streaming route
	// GET /v1/entries, which may serve a whole log to a mirror; 0 means
	// DefaultStreamTimeout.
	StreamTimeout time.Duration
	// Limits bound connections, streams, heavy calls and submissions;
	// the zero value means the documented defaults.
	Limits Limits
	// AdminListener, if set, serves the operator's admin surface
	// (metrics, pprof, reflection, health details; see admin.go), in
	// plaintext whatever TLSConfig says. Serve closes it. Nil means no
	// admin surface.
	AdminListener net.Listener
	// BackupFiles, if set, returns the data directory's key files for a
	// backup served on the admin listener (GET /admin/backup, see
	// admin.go): the public ones, and the private ones too if private is
	// set. Nil means the admin listener serves no backups.
	BackupFiles func(private bool) ([]backup.File, error)
}

// A Server serves the ledger over gRPC and HTTP. Create it with [New] and
// run it once with [Server.Serve].
type Server struct {
	opts    Options
	store   *custody.Store
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *metrics
	policy  *policy
	limits  Limits
	heavy   *heavy        // nil for no limit
	parties *partyLimiter // nil for no limit

	started   atomic.Bool
	draining  atomic.Bool
	backingUp atomic.Bool   // a backup is being served (one at a time)
	drain     chan struct{} // closed when draining starts
}

// New returns a server for opts. It registers the server's metrics in
// opts.Registry.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server: a store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxRecvBytes <= 0 {
		opts.MaxRecvBytes = DefaultMaxRecvBytes
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.HTTPWriteTimeout <= 0 {
		opts.HTTPWriteTimeout = DefaultHTTPWriteTimeout
	}
	if opts.StreamTimeout <= 0 {
		opts.StreamTimeout = DefaultStreamTimeout
	}
	if opts.TLSConfig != nil && len(opts.TLSConfig.Certificates) == 0 && opts.TLSConfig.GetCertificate == nil && opts.TLSConfig.GetConfigForClient == nil {
		return nil, errors.New("server: TLS config has no certificate")
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{opts: opts, store: opts.Store, log: opts.Logger, reg: reg, drain: make(chan struct{})}
	s.limits = opts.Limits.withDefaults()
	s.heavy = newHeavy(s.limits)
	s.parties = newPartyLimiter(s.limits)
	m, err := newMetrics(reg, opts.Store, opts.Verifier)
	if err != nil {
		return nil, fmt.Errorf("server: registering metrics: %w", err)
	}
	s.metrics = m
	auth, err := newAuthenticator(opts.Store)
	if err != nil {
		return nil, fmt.Errorf("server: reading the log's origin: %w", err)
	}
	s.policy = &policy{store: opts.Store, auth: auth, mayRead: map[string]bool{}}
	return s, nil
}

// Serve serves gRPC on grpcLis and HTTP on httpLis (and the admin surface
// on Options.AdminListener, if set) until ctx is done, then
// stops gracefully: health turns NOT_SERVING, the HTTP server shuts down
// and the gRPC server drains, each within Options.ShutdownTimeout, after
// which remaining calls are cut off. An append that was queued by the ledger
// still completes: the store is not closed here. Serve returns nil after a
// clean shutdown, or the first error that stopped a listener. It closes
// the listeners, and may be called only once.
func (s *Server) Serve(ctx context.Context, grpcLis, httpLis net.Listener) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("server: Serve called twice")
	}
	if s.opts.TLSConfig != nil {
		// TLS is terminated on the listener rather than with grpc.Creds so
		// that the in-process gateway connection can stay plaintext. gRPC
		// clients require the h2 ALPN protocol.
		cfg := s.opts.TLSConfig.Clone()
		if !slices.Contains(cfg.NextProtos, "h2") {
			cfg.NextProtos = append([]string{"h2"}, cfg.NextProtos...)
		}
		grpcLis = tls.NewListener(grpcLis, cfg)
	}

	gs := s.newGRPCServer(s.limits.grpcOptions()...)
	gw := s.newGRPCServer() // the gateway's in-process connection
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	healthpb.RegisterHealthServer(gw, hs)
	for _, name := range []string{"", apipb.LedgerService_ServiceDesc.ServiceName, apipb.CustodyService_ServiceDesc.ServiceName, apipb.VerifierService_ServiceDesc.ServiceName} {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}

	inproc := bufconn.Listen(1 << 20)
	conn, err := grpc.NewClient("passthrough:///in-process",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return inproc.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
	)
	if err != nil {
		return fmt.Errorf("server: gateway connection: %w", err)
	}
	defer conn.Close()
	handler, err := s.httpHandler(ctx, conn)
	if err != nil {
		return err
	}
	hsrv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: durOrZero(s.limits.HTTPReadHeaderTimeout),
		ReadTimeout:       durOrZero(s.limits.HTTPReadTimeout),
		WriteTimeout:      s.opts.HTTPWriteTimeout,
		IdleTimeout:       durOrZero(s.limits.HTTPIdleTimeout),
		MaxHeaderBytes:    max(s.limits.MaxHeaderBytes, 0),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:         s.opts.TLSConfig.Clone(),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	// ErrServerStopped means the shutdown below ran before Serve started
	// (ctx done at once); Serve still closed the listener.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := gs.Serve(grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serving grpc: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := gw.Serve(inproc); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serving gateway connection: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		var err error
		if hsrv.TLSConfig != nil {
			err = hsrv.ServeTLS(httpLis, "", "")
		} else {
			err = hsrv.Serve(httpLis)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving http: %w", err)
		}
		return nil
	})
	var admin *adminServer
	if s.opts.AdminListener != nil {
		admin = s.newAdmin(ctx, gs, hs)
		g.Go(func() error {
			if err := admin.serve(s.opts.AdminListener); err != nil {
				return fmt.Errorf("serving admin: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		s.draining.Store(true)
		close(s.drain)
		hs.Shutdown()
		s.log.Info("shutting down", slog.Duration("timeout", s.opts.ShutdownTimeout))
		// HTTP first: gateway calls are gRPC calls on the in-process
		// connection, which must stay up until they finish.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
		defer cancel()
		if err := hsrv.Shutdown(sctx); err != nil {
			s.log.Warn("http shutdown timed out; closing connections", slog.Any("err", err))
			hsrv.Close()
		}
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); gw.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-sctx.Done():
			s.log.Warn("grpc graceful stop timed out; stopping")
			gs.Stop()
			gw.Stop()
			<-stopped
		}
		if admin != nil {
			admin.close()
		}
		return nil
	})
	return g.Wait()
}

// newGRPCServer returns a gRPC server of the services, with more options.
// Reflection is not among them: it is on the admin listener.
func (s *Server) newGRPCServer(more ...grpc.ServerOption) *grpc.Server {
	gs := grpc.NewServer(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.opts.MaxRecvBytes),
		grpc.ChainUnaryInterceptor(s.logUnary, s.metrics.unary, s.recoverUnary, s.policy.unary, s.limitUnary),
		grpc.ChainStreamInterceptor(s.logStream, s.metrics.stream, s.recoverStream, s.policy.stream, s.limitStream),
	}, more...)...)
	apipb.RegisterLedgerServiceServer(gs, &ledgerService{s: s})
	apipb.RegisterCustodyServiceServer(gs, &custodyService{s: s})
	apipb.RegisterVerifierServiceServer(gs, &verifierService{s: s, backend: s.opts.Verifier})
	return gs
}

// methodName returns the full gRPC method of a call, for logs.
func methodName(ctx context.Context) string {
	m, _ := grpc.Method(ctx)
	return m
}
