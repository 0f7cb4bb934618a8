package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/antimony-ledger/provenance/internal/backup"
)

// The admin surface is the operator's, served on [Options.AdminListener]
// and never on the public listeners: it has no authentication, so it
// belongs on loopback or a private network. One port serves both HTTP and
// gRPC (HTTP/2 without TLS, "h2c", for gRPC clients such as grpcurl
// -plaintext):
//
//	/metrics        Prometheus metrics
//	/debug/pprof/   net/http/pprof (CPU, heap, goroutine profiles, traces)
//	/healthz        health with details, as JSON (the public /healthz says
//	                only "ok" or "unavailable")
//	/admin/backup   GET: an online backup of the store and the public key
//	                files (with ?private_keys=1, the private ones too), in
//	                the format of internal/backup; appends go on meanwhile
//	                (provenanced backup fetches it), one at a time
//	gRPC            server reflection (v1 and v1alpha) of the public
//	                services, and grpc.health.v1.Health
type adminServer struct {
	http *http.Server
	grpc *grpc.Server
}

// newAdmin returns the admin server; public is the public gRPC server,
// whose services reflection describes, and hs its health service.
func (s *Server) newAdmin(ctx context.Context, public *grpc.Server, hs *health.Server) *adminServer {
	gs := grpc.NewServer()
	refl := reflection.ServerOptions{Services: public}
	reflectionv1.RegisterServerReflectionServer(gs, reflection.NewServerV1(refl))
	reflectionv1alpha.RegisterServerReflectionServer(gs, reflection.NewServer(refl))
	healthpb.RegisterHealthServer(gs, hs)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", s.adminHealth)
	mux.HandleFunc("GET /admin/backup", s.adminBackup)

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &adminServer{
		grpc: gs,
		http: &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
					gs.ServeHTTP(w, r)
					return
				}
				mux.ServeHTTP(w, r)
			}),
			Protocols:         &protocols,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		},
	}
}

// serve serves on lis until close.
func (a *adminServer) serve(lis net.Listener) error {
	if err := a.http.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// close stops the admin server at once: it is the last to go, so that
// metrics can be read while the public listeners drain.
func (a *adminServer) close() {
	a.http.Close()
	a.grpc.Stop()
}

// adminHealth is the admin /healthz: 200 or 503 as the public one, with
// details as JSON: store_error says why the store is unavailable or what
// damage was found in it; flags_error, damage found in the flags' state
// (listings refused until a restart rebuilds it; appends, reads and
// verification go on, so the status stays ok).
func (s *Server) adminHealth(w http.ResponseWriter, r *http.Request) {
	type detail struct {
		Status       string `json:"status"`
		Draining     bool   `json:"draining"`
		StoreError   string `json:"store_error,omitempty"`
		FlagsError   string `json:"flags_error,omitempty"`
		TreeSize     uint64 `json:"tree_size"`
		Goroutines   int    `json:"goroutines"`
		HeavyRunning int    `json:"heavy_calls_running"`
		HeavyMax     int    `json:"heavy_calls_max"`
		PartyBuckets int    `json:"party_buckets"`
	}
	d := detail{Status: "ok", Draining: s.draining.Load(), TreeSize: s.store.Log().Size(), Goroutines: runtime.NumGoroutine()}
	if _, err := s.store.Log().RootAt(r.Context(), 0); err != nil {
		d.StoreError = err.Error()
	} else if err := s.store.Log().Damage(); err != nil {
		d.StoreError = err.Error()
	}
	if v, ok := s.opts.Verifier.(interface{ Damage() error }); ok {
		if err := v.Damage(); err != nil {
			d.FlagsError = err.Error()
		}
	}
	if d.Draining || d.StoreError != "" {
		d.Status = "unavailable"
	}
	if s.heavy != nil {
		d.HeavyRunning, d.HeavyMax = len(s.heavy.slots), cap(s.heavy.slots)
	}
	if s.parties != nil {
		d.PartyBuckets = s.parties.len()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if d.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(d)
}

// adminBackup serves a backup (internal/backup) of the store, taken while
// appends go on, and of the data directory's key files: the private ones
// only with ?private_keys=1. A refusal before the backup begins (a
// damaged store) is a 500 saying why; a failure once it has begun is
// said in the stream's last record (backup.Write), and the response is
// cut short.
// A second backup while one runs is refused with 409; an HTTP/1.0 request
// with 505 (a stream cut short would read as whole).
func (s *Server) adminBackup(w http.ResponseWriter, r *http.Request) {
	if s.opts.BackupFiles == nil {
		http.Error(w, "this server serves no backups", http.StatusNotFound)
		return
	}
	if !r.ProtoAtLeast(1, 1) {
		// The stream has no length, so over HTTP/1.0 its end is the
		// connection's close, which is also how a stream cut short ends:
		// a client could not tell one from a whole backup.
		http.Error(w, "a backup is streamed without a length, and over HTTP/1.0 a stream cut short by an error reads as whole: ask with HTTP/1.1 or later (behind nginx: proxy_http_version 1.1)", http.StatusHTTPVersionNotSupported)
		return
	}
	var private bool
	switch v := r.URL.Query().Get("private_keys"); v {
	case "", "0", "false":
	case "1", "true":
		private = true
	default:
		http.Error(w, fmt.Sprintf("private_keys=%q: want 1 or 0", v), http.StatusBadRequest)
		return
	}
	// One at a time: each holds a Badger read transaction and a core.
	if !s.backingUp.CompareAndSwap(false, true) {
		http.Error(w, "a backup is being taken already; try again when it is done", http.StatusConflict)
		return
	}
	defer s.backingUp.Store(false)
	files, err := s.opts.BackupFiles(private)
	if err != nil {
		s.log.Error("backup: reading the key files", "err", err)
		http.Error(w, "reading the key files: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if private {
		s.log.Warn("serving a backup WITH the private keys", slog.String("remote", r.RemoteAddr))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	cw := &countingResponse{w: w}
	start := time.Now()
	m, err := backup.Write(r.Context(), cw, s.store.Log(), files, start)
	if err != nil {
		s.log.Error("backup failed", "err", err, "bytes_sent", cw.n)
		if cw.n == 0 {
			// Refused before a byte (a damaged store: ledger.Log.Backup).
			http.Error(w, "backup failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		// Begun: the stream's last record says why (backup.Write), and
		// the response is cut short, so that a plain download (curl -o)
		// fails too rather than look whole.
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	s.log.Info("backup served", slog.Uint64("tree_size", m.TreeSize), slog.Int64("bytes", cw.n),
		slog.Bool("private_keys", m.PrivateKeys), slog.Duration("took", time.Since(start).Round(time.Millisecond)),
		slog.String("remote", r.RemoteAddr))
}

// countingResponse counts the bytes written to an HTTP response.
type countingResponse struct {
	w http.ResponseWriter
	n int64
}

func (c *countingResponse) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
