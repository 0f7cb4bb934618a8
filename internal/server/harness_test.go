package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// harness is one running server over a real store, with real gRPC and
// HTTP clients on loopback.
type harness struct {
	t        testing.TB
	store    *custody.Store
	grpcAddr string
	base     string // http://127.0.0.1:port
	admin    string // http://127.0.0.1:port of the admin listener
	http     *http.Client
	conn     *grpc.ClientConn
	ledger   apipb.LedgerServiceClient
	custody  apipb.CustodyServiceClient
	verifier apipb.VerifierServiceClient
	// operator authenticates the harness's own calls: the operator reads
	// everything, so tests of other things need no party of their own.
	operator *client.Credentials

	cancel  context.CancelFunc
	served  chan error
	stopped bool
}

// start opens the store in dir and serves it on fresh loopback listeners.
// edit, if set, adjusts the server options. The server is stopped and the
// store closed when the test ends, unless stop was called first.
func start(t testing.TB, c *ct.Chain, dir string, edit func(*server.Options)) *harness {
	t.Helper()
	// The store's context is not the server's: stopping the server must
	// not stop the ledger's committer under in-flight appends.
	store, err := custody.Open(context.Background(), dir, custody.Config{
		Origin: ct.Origin, LogSigner: c.LogSigner, Registrar: c.RegistrarPublic(), Logger: testLogger(t),
	})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	opts := server.Options{Store: store, Logger: testLogger(t)}
	if edit != nil {
		edit(&opts)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.AdminListener = al
	srv, err := server.New(opts)
	if err != nil {
		store.Close()
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{
		t: t, store: store, grpcAddr: gl.Addr().String(), base: "http://" + hl.Addr().String(), admin: "http://" + al.Addr().String(),
		http: &http.Client{Timeout: 30 * time.Second}, cancel: cancel, served: make(chan error, 1),
		operator: &client.Credentials{PartyID: server.OperatorPartyID, Key: c.LogSigner.PrivateKey(), Origin: ct.Origin},
	}
	if opts.TLSConfig != nil {
		h.base = "https://" + hl.Addr().String() // the test sets up its own clients
	}
	go func() { h.served <- srv.Serve(ctx, gl, hl) }()
	if opts.TLSConfig == nil {
		h.conn, err = grpc.NewClient(h.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), h.operator.DialOption())
		if err != nil {
			t.Fatal(err)
		}
		h.ledger = apipb.NewLedgerServiceClient(h.conn)
		h.custody = apipb.NewCustodyServiceClient(h.conn)
		h.verifier = apipb.NewVerifierServiceClient(h.conn)
	}
	t.Cleanup(h.stop)
	return h
}

// stop cancels Serve, checks that it returns nil promptly, and closes the
// clients and the store.
func (h *harness) stop() {
	h.t.Helper()
	if h.stopped {
		return
	}
	h.stopped = true
	h.cancel()
	select {
	case err := <-h.served:
		if err != nil {
			h.t.Errorf("Serve returned %v after cancel, want nil", err)
		}
	case <-time.After(20 * time.Second):
		h.t.Errorf("Serve did not return 20s after cancel")
	}
	if h.conn != nil {
		h.conn.Close()
	}
	h.http.CloseIdleConnections()
	if err := h.store.Close(); err != nil {
		h.t.Errorf("closing store: %v", err)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// submitGRPC submits env over gRPC and fails the test on error.
func (h *harness) submitGRPC(env *pb.Envelope) *apipb.SubmitResponse {
	h.t.Helper()
	r, err := h.ledger.Submit(h.t.Context(), &apipb.SubmitRequest{Envelope: env})
	if err != nil {
		h.t.Fatalf("gRPC Submit: %v", err)
	}
	return r
}

// submitHTTP posts env to /v1/envelopes and fails the test unless it is
// accepted.
func (h *harness) submitHTTP(env *pb.Envelope) *apipb.SubmitResponse {
	h.t.Helper()
	body, err := protojson.Marshal(&apipb.SubmitRequest{Envelope: env})
	if err != nil {
		h.t.Fatal(err)
	}
	code, resp := h.do("POST", "/v1/envelopes", body)
	if code != http.StatusOK {
		h.t.Fatalf("POST /v1/envelopes: %d %s", code, resp)
	}
	out := &apipb.SubmitResponse{}
	if err := protojson.Unmarshal(resp, out); err != nil {
		h.t.Fatalf("decoding submit response %s: %v", resp, err)
	}
	return out
}

// do sends an HTTP request and returns the status and body.
func (h *harness) do(method, path string, body []byte) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+must(h.operator.Token())(h.t))
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// getAdmin GETs path from the admin listener and returns the status and
// body.
func (h *harness) getAdmin(path string) (int, []byte) {
	h.t.Helper()
	resp, err := h.http.Get(h.admin + path)
	if err != nil {
		h.t.Fatalf("GET admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("GET admin %s: reading body: %v", path, err)
	}
	return resp.StatusCode, b
}

// getJSON GETs path, expects 200 and decodes the body into m.
func (h *harness) getJSON(path string, m proto.Message) {
	h.t.Helper()
	code, body := h.do("GET", path, nil)
	if code != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := protojson.Unmarshal(body, m); err != nil {
		h.t.Fatalf("GET %s: decoding %s: %v", path, body, err)
	}
}

// errorBody is the gateway's JSON form of a google.rpc.Status.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// expectHTTPError sends a request and checks the status and that the error
// message contains phrase.
func (h *harness) expectHTTPError(method, path string, body []byte, wantStatus int, phrase string) {
	h.t.Helper()
	code, resp := h.do(method, path, body)
	if code != wantStatus {
		h.t.Errorf("%s %s: status %d, want %d (body %.300s)", method, path, code, wantStatus, resp)
		return
	}
	var e errorBody
	if err := json.Unmarshal(resp, &e); err != nil {
		h.t.Errorf("%s %s: error body %.300q is not JSON: %v", method, path, resp, err)
		return
	}
	if !strings.Contains(e.Message, phrase) {
		h.t.Errorf("%s %s: error message %q does not contain %q", method, path, e.Message, phrase)
	}
}

// must returns v for a test once err is checked: must(f())(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
