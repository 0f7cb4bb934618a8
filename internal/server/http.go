package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/internal/console"
	"github.com/antimony-ledger/provenance/internal/openapi"
	gatewaypb "github.com/antimony-ledger/provenance/proto/gateway/provenance/v1"
)

// httpHandler returns the HTTP routes: the REST gateway over conn, the
// OpenAPI document and health, behind a request body limit. Metrics are on
// the admin listener.
func (s *Server) httpHandler(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	// Strict JSON: unknown fields in a request body are an error (the
	// gateway answers InvalidArgument), and responses show every field so
	// clients see zero values rather than guessing.
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, strictJSON{&runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		runtime.WithErrorHandler(retryAfterErrorHandler),
		runtime.SetQueryParameterParser(&shortEnums{}),
	)
	for name, register := range map[string]func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		"ledger":   gatewaypb.RegisterLedgerServiceHandler,
		"custody":  gatewaypb.RegisterCustodyServiceHandler,
		"verifier": gatewaypb.RegisterVerifierServiceHandler,
	} {
		if err := register(ctx, gw, conn); err != nil {
			return nil, fmt.Errorf("server: registering %s gateway: %w", name, err)
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	// GET /v1/entries streams a range of the log, possibly all of it, to
	// a mirror: the server-wide WriteTimeout would cut it off, so this one
	// route gets StreamTimeout instead, for both the write deadline and the
	// call.
	mux.Handle("GET /v1/entries", s.longWrite(gw))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapi.JSON)
	})
	mux.HandleFunc("GET /healthz", s.healthz)
	keys, err := s.consoleKeys()
	if err != nil {
		return nil, err
	}
	// The web console: the page at "/" and its files under /console/,
	// beside the API, the OpenAPI document and health, never over them.
	ch := console.Handler(keys)
	mux.Handle("GET /{$}", ch)
	mux.Handle("GET /console/", ch)
	return s.limitBody(mux), nil
}

// consoleKeys returns the keys the console shows as the server's own:
// the log's verifier key and the first registrar key.
func (s *Server) consoleKeys() (console.ServerKeys, error) {
	cp, _, err := s.store.Log().LatestCheckpoint()
	if err != nil {
		return console.ServerKeys{}, fmt.Errorf("server: reading the checkpoint for the console: %w", err)
	}
	keys := console.ServerKeys{Origin: cp.Origin, Registrar: s.store.FirstRegistrar().Key}
	if pub := s.store.Log().SignerKey(); pub != nil {
		if keys.LogKey, err = note.NewEd25519VerifierKey(cp.Origin, pub); err != nil {
			return console.ServerKeys{}, fmt.Errorf("server: log verifier key for the console: %w", err)
		}
	}
	return keys, nil
}

// longWrite extends the write deadline and bounds the request by
// Options.StreamTimeout.
func (s *Server) longWrite(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.StreamTimeout)); err != nil {
			s.log.WarnContext(r.Context(), "cannot extend write deadline for stream", slog.Any("err", err))
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.StreamTimeout)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// limitBody refuses request bodies over Options.MaxRecvBytes: at once with
// 413 when Content-Length says so, and through http.MaxBytesReader when the
// body is chunked (the gateway then fails to decode it: 400).
func (s *Server) limitBody(h http.Handler) http.Handler {
	limit := int64(s.opts.MaxRecvBytes)
	h = http.MaxBytesHandler(h, limit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			fmt.Fprintf(w, `{"code":%d,"message":"request body is %d bytes, limit %d","details":[]}`+"\n",
				codes.ResourceExhausted, r.ContentLength, limit)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// healthz answers 200 "ok" while the server is not draining and the store
// can be read and has not been found damaged, and 503 "unavailable"
// otherwise: the reason is logged, and
// shown on the admin listener's /healthz, not here.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	// RootAt(0) reads nothing but fails once the store is closed.
	if _, err := s.store.Log().RootAt(r.Context(), 0); err != nil {
		s.log.WarnContext(r.Context(), "health check: store unavailable", slog.Any("err", err))
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	// A damaged store serves what reads back, refuses appends and needs
	// the operator: not healthy.
	if err := s.store.Log().Damage(); err != nil {
		s.log.WarnContext(r.Context(), "health check: the store is damaged", slog.Any("err", err))
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// strictJSON is the gateway's JSON marshaler with a stricter decoder: a
// request body must be exactly one JSON value. runtime.JSONPb reads the
// first value and ignores what follows, so a body with trailing bytes
// would be accepted as if they were not there.
type strictJSON struct{ *runtime.JSONPb }

// NewDecoder returns a decoder that rejects anything after the first JSON
// value. The body is already bounded by limitBody.
func (m strictJSON) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		dec := json.NewDecoder(r)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if _, err := dec.Token(); err != io.EOF {
			return errors.New("request body holds more than one JSON value")
		}
		return m.Unmarshal(raw, v)
	})
}

// retryAfterErrorHandler is the gateway's error handler with a Retry-After
// header (RFC 9110, whole seconds, rounded up) for an error that carries a
// google.rpc.RetryInfo, as the limits' ResourceExhausted errors do; the
// gateway answers those 429. An append refused for want of disk space is
// answered 507 (space.go).
func retryAfterErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if d, ok := RetryAfter(err); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(max(1, math.Ceil(d.Seconds()))), 10))
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, httpStatusOf(err))
}
