package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// TestAdminSurface: metrics, pprof, health details and reflection are on
// the admin listener and nowhere on the public ones, which keep plain
// health.
func TestAdminSurface(t *testing.T) {
	h := start(t, ct.New(), t.TempDir(), nil)

	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline"} {
		if code, _ := h.do("GET", path, nil); code != http.StatusNotFound {
			t.Errorf("public GET %s: %d, want 404", path, code)
		}
		if code, body := h.getAdmin(path); code != http.StatusOK {
			t.Errorf("admin GET %s: %d %.200s", path, code, body)
		}
	}
	if code, body := h.getAdmin("/metrics"); code != http.StatusOK || !strings.Contains(string(body), "provenance_ledger_tree_size") {
		t.Errorf("admin /metrics: %d, lacks the tree size", code)
	}
	if code, body := h.do("GET", "/healthz", nil); code != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("public /healthz: %d %q", code, body)
	}
	if code, body := h.getAdmin("/healthz"); code != http.StatusOK || !strings.Contains(string(body), `"tree_size":0`) || !strings.Contains(string(body), `"heavy_calls_max"`) {
		t.Errorf("admin /healthz: %d %s", code, body)
	}

	// Reflection: Unimplemented on the public port; on the admin port it
	// lists the public services.
	listServices := func(conn *grpc.ClientConn) ([]string, error) {
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
		if err != nil {
			return nil, err
		}
		// A failed Send says io.EOF; Recv has the status.
		stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		return names, nil
	}
	if names, err := listServices(h.conn); status.Code(err) != codes.Unimplemented {
		t.Errorf("reflection on the public port: %v %v, want Unimplemented", names, err)
	}
	admin := must(grpc.NewClient(strings.TrimPrefix(h.admin, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	defer admin.Close()
	names, err := listServices(admin)
	if err != nil {
		t.Fatalf("reflection on the admin port: %v", err)
	}
	for _, want := range []string{apipb.LedgerService_ServiceDesc.ServiceName, apipb.VerifierService_ServiceDesc.ServiceName, "grpc.health.v1.Health"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("admin reflection lists %v, lacks %s", names, want)
		}
	}
	// The standard health service is on both.
	for name, conn := range map[string]*grpc.ClientConn{"public": h.conn, "admin": admin} {
		hc, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s gRPC health: %v %v", name, hc, err)
		}
	}
}

// watchedConn is a client connection that reports when the server has
// closed it (a read ends).
type watchedConn struct {
	net.Conn
	closed chan struct{}
	once   atomic.Bool
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && c.once.CompareAndSwap(false, true) {
		close(c.closed)
	}
	return n, err
}

// dialWatched returns a gRPC client of addr whose connections are sent on
// conns as they are made.
func dialWatched(t *testing.T, addr string, conns chan<- *watchedConn, more ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			w := &watchedConn{Conn: c, closed: make(chan struct{})}
			select {
			case conns <- w:
			default:
			}
			return w, nil
		})}, more...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestIdleConnectionClosed: a connection with no call open is closed after
// MaxConnectionIdle; one with a call open is not.
func TestIdleConnectionClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	h := start(t, ct.New(), t.TempDir(), func(o *server.Options) {
		o.Limits.MaxConnectionIdle = idle
	})

	conns := make(chan *watchedConn, 1)
	conn := dialWatched(t, h.grpcAddr, conns, h.operator.DialOption())
	if _, err := apipb.NewLedgerServiceClient(conn).GetCheckpoint(t.Context(), &apipb.GetCheckpointRequest{}); err != nil {
		t.Fatal(err)
	}
	c := <-conns
	called := time.Now()
	select {
	case <-c.closed:
		if el := time.Since(called); el < idle/2 {
			t.Fatalf("idle connection closed after %v, before MaxConnectionIdle %v", el, idle)
		}
	case <-time.After(10 * idle):
		t.Fatalf("idle connection still open %v after its last call (MaxConnectionIdle %v)", 10*idle, idle)
	}
	// The client reconnects for its next call.
	if _, err := apipb.NewLedgerServiceClient(conn).GetCheckpoint(t.Context(), &apipb.GetCheckpointRequest{}); err != nil {
		t.Fatalf("call after the idle close: %v", err)
	}

	// A connection with a stream open is not idle, however long the
	// stream is silent.
	conns2 := make(chan *watchedConn, 1)
	conn2 := dialWatched(t, h.grpcAddr, conns2, h.operator.DialOption())
	stream := openStream(t, t.Context(), apipb.NewLedgerServiceClient(conn2))
	c2 := <-conns2
	select {
	case <-c2.closed:
		t.Fatalf("a connection with an open stream was closed as idle")
	case <-time.After(4 * idle):
	}
	stream.CloseSend()
}

// openStream opens a SubmitStream and has one empty request refused on
// it, so that the server has taken the stream; it stays open.
func openStream(t *testing.T, ctx context.Context, lc apipb.LedgerServiceClient) grpc.BidiStreamingClient[apipb.SubmitStreamRequest, apipb.SubmitStreamResponse] {
	t.Helper()
	s, err := lc.SubmitStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&apipb.SubmitStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Recv(); err != nil || r.GetCode() == 0 {
		t.Fatalf("empty request on a stream: %v %v, want a refusal", r, err)
	}
	return s
}

// TestMaxConcurrentStreams: calls past the limit on one connection wait
// for a stream to end.
func TestMaxConcurrentStreams(t *testing.T) {
	h := start(t, ct.New(), t.TempDir(), func(o *server.Options) { o.Limits.MaxConcurrentStreams = 2 })
	conn := dialWatched(t, h.grpcAddr, make(chan *watchedConn, 1), h.operator.DialOption())
	lc := apipb.NewLedgerServiceClient(conn)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range 2 {
		openStream(t, ctx, lc)
	}
	short, cancelShort := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancelShort()
	if _, err := lc.GetCheckpoint(short, &apipb.GetCheckpointRequest{}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a third call with two streams open: %v, want it to wait (DeadlineExceeded)", err)
	}
	cancel() // end the streams
	if _, err := lc.GetCheckpoint(t.Context(), &apipb.GetCheckpointRequest{}); err != nil {
		t.Fatalf("after the streams ended: %v", err)
	}
}

// retryInfo returns the RetryInfo delay of a status error.
func retryInfo(t *testing.T, err error) time.Duration {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	t.Fatalf("%v has no RetryInfo", err)
	return 0
}

// postRaw posts a JSON body and returns the response, body read.
func (h *harness) postRaw(path string, body []byte) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), "POST", h.base+path, strings.NewReader(string(body)))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+must(h.operator.Token())(h.t))
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestPartyRateLimit: a party past its burst is refused with
// ResourceExhausted and a RetryInfo over gRPC, 429 and Retry-After over
// REST, and a refusal in its SubmitStream; forged envelopes in its name
// do not use up its bucket, and other parties and the registrar are not
// held back.
func TestPartyRateLimit(t *testing.T) {
	c := ct.New()
	h := start(t, c, t.TempDir(), func(o *server.Options) {
		o.Limits.PartyRate = 0.5 // a token every 2 s
		o.Limits.PartyBurst = 3
	})
	mine := c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	other := c.AddParty("mine-b", "Second Mine", "PK", pb.Role_ROLE_MINE)
	for _, p := range []*ct.Party{mine, other} {
		h.submitGRPC(c.Register(p))
	}
	lot := 0
	extract := func(p *ct.Party) *pb.Envelope {
		lot++
		return c.Sign(p, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: fmt.Sprintf("L%d", lot), MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
			Site: &pb.Location{Lat: 30.7, Lon: 66.6},
		}}})
	}

	// A stranger's forgeries in the mine's name: refused as
	// Unauthenticated, and the mine's bucket keeps its tokens.
	for range 5 {
		env := extract(mine)
		env.Signatures[0].Sig[0] ^= 1
		if _, err := h.ledger.Submit(t.Context(), &apipb.SubmitRequest{Envelope: env}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("forged submission: %v, want Unauthenticated", err)
		}
	}
	// The burst: three over both transports.
	h.submitGRPC(extract(mine))
	h.submitHTTP(extract(mine))
	h.submitGRPC(extract(mine))

	_, err := h.ledger.Submit(t.Context(), &apipb.SubmitRequest{Envelope: extract(mine)})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), `"mine-qa"`) {
		t.Fatalf("fourth submission: %v, want ResourceExhausted naming the party", err)
	}
	if d := retryInfo(t, err); d <= 0 || d > 2*time.Second {
		t.Fatalf("RetryInfo delay %v, want (0, 2s]", d)
	}
	body := must(protojson.Marshal(&apipb.SubmitRequest{Envelope: extract(mine)}))(t)
	resp, rb := h.postRaw("/v1/envelopes", body)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("REST past the burst: %d %s, want 429", resp.StatusCode, rb)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %q, want 1 or 2 seconds", resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(string(rb), "google.rpc.RetryInfo") {
		t.Errorf("REST error body lacks the RetryInfo: %s", rb)
	}
	// Over SubmitStream: the refusal is that request's answer, and the
	// stream goes on.
	stream := must(h.ledger.SubmitStream(t.Context()))(t)
	stream.Send(&apipb.SubmitStreamRequest{Envelope: extract(mine)})
	stream.Send(&apipb.SubmitStreamRequest{Envelope: c.Register(c.AddParty("mine-c", "Third Mine", "PK", pb.Role_ROLE_MINE))})
	stream.CloseSend()
	r1, r2 := must(stream.Recv())(t), must(stream.Recv())(t)
	if codes.Code(r1.GetCode()) != codes.ResourceExhausted || !strings.Contains(r1.GetMessage(), "retry after") {
		t.Fatalf("streamed submission past the burst: %v", r1)
	}
	if r2.GetCode() != 0 || r2.GetResult() == nil {
		t.Fatalf("the registrar's registration after it, on the same stream: %v", r2)
	}

	// Another party has its own bucket.
	h.submitGRPC(extract(other))
	// The mine's bucket refills at its rate.
	time.Sleep(retryInfo(t, err) + 100*time.Millisecond)
	h.submitGRPC(extract(mine))

	if _, body := h.getAdmin("/metrics"); !strings.Contains(string(body), `provenance_submissions_total{outcome="rate limited"} 3`) {
		t.Errorf("/metrics lacks 3 rate-limited submissions")
	}
}

// blockingVerifier holds every VerifyLot and Bundle until release is
// closed; a Bundle for lot "big" is large.
type blockingVerifier struct {
	fakeVerifier
	started chan string
	release chan struct{}
}

func (b *blockingVerifier) VerifyLot(ctx context.Context, lotID string) (*pb.VerificationReport, error) {
	b.started <- lotID
	<-b.release
	return b.fakeVerifier.VerifyLot(ctx, lotID)
}

func (b *blockingVerifier) Bundle(ctx context.Context, lotID string) (*pb.Bundle, error) {
	b.started <- lotID
	<-b.release
	if lotID == "big" {
		return &pb.Bundle{LotId: lotID, Checkpoint: strings.Repeat("x", 10_000)}, nil
	}
	return b.fakeVerifier.Bundle(ctx, lotID)
}

// TestHeavyCallsBounded: with MaxHeavyCalls taken, a VerifyLot or
// GetBundle waits HeavyCallWait, then is refused with ResourceExhausted
// and a RetryInfo (429 and Retry-After over REST); and a bundle over
// MaxBundleBytes is refused with its size.
func TestHeavyCallsBounded(t *testing.T) {
	bv := &blockingVerifier{started: make(chan string, 10), release: make(chan struct{})}
	h := start(t, ct.New(), t.TempDir(), func(o *server.Options) {
		o.Verifier = bv
		o.Limits.MaxHeavyCalls = 2
		o.Limits.HeavyCallWait = 200 * time.Millisecond
		o.Limits.MaxBundleBytes = 5_000
	})
	done := make(chan error, 2)
	go func() {
		_, err := h.verifier.VerifyLot(t.Context(), &apipb.VerifyLotRequest{LotId: "L1"})
		done <- err
	}()
	go func() {
		_, err := h.verifier.GetBundle(t.Context(), &apipb.GetBundleRequest{LotId: "big"})
		done <- err
	}()
	<-bv.started
	<-bv.started

	begin := time.Now()
	_, err := h.verifier.VerifyLot(t.Context(), &apipb.VerifyLotRequest{LotId: "L2"})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "server busy") {
		t.Fatalf("VerifyLot with both slots taken: %v, want ResourceExhausted", err)
	}
	if el := time.Since(begin); el < 150*time.Millisecond {
		t.Fatalf("refused after %v, without waiting HeavyCallWait", el)
	}
	if d := retryInfo(t, err); d < time.Second {
		t.Fatalf("RetryInfo %v", d)
	}
	req, _ := http.NewRequest("GET", h.base+"/v1/lots/L3/bundle", nil)
	req.Header.Set("Authorization", "Bearer "+must(h.operator.Token())(t))
	resp := must(h.http.Do(req))(t)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("REST bundle with both slots taken: %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Other calls are not held.
	if _, err := h.verifier.ListFlags(t.Context(), &apipb.ListFlagsRequest{}); err != nil {
		t.Fatal(err)
	}

	close(bv.release)
	for range 2 {
		err := <-done
		if err == nil {
			continue
		}
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "more than this server's limit of 5000 bytes") || !strings.Contains(status.Convert(err).Message(), "StreamBundle") {
			t.Fatalf("the big bundle: %v", err)
		}
	}
	// Slots are free again, and a small bundle passes.
	if _, err := h.verifier.GetBundle(t.Context(), &apipb.GetBundleRequest{LotId: "L1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.verifier.VerifyLot(t.Context(), &apipb.VerifyLotRequest{LotId: "L1"}); err != nil {
		t.Fatal(err)
	}
}

// TestGzip: a client that compresses its requests with gzip is served.
func TestGzip(t *testing.T) {
	c := ct.New()
	h := start(t, c, t.TempDir(), nil)
	conn := must(grpc.NewClient(h.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name)), h.operator.DialOption()))(t)
	defer conn.Close()
	lc := apipb.NewLedgerServiceClient(conn)
	mine := c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	r, err := lc.Submit(t.Context(), &apipb.SubmitRequest{Envelope: c.Register(mine)})
	if err != nil {
		t.Fatalf("gzip Submit: %v", err)
	}
	stream := must(lc.StreamEntries(t.Context(), &apipb.StreamEntriesRequest{}))(t)
	e := must(stream.Recv())(t)
	if e.GetEntry().GetLeafHash() != r.GetLeafHash() {
		t.Fatalf("streamed entry %v, submitted %v", e.GetEntry().GetLeafHash(), r.GetLeafHash())
	}
}
