package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// fakeVerifier answers by lot id: "L1" verifies, "missing" is not found,
// "broken" fails with an internal error, "panic" panics.
type fakeVerifier struct{}

func (fakeVerifier) VerifyLot(_ context.Context, lotID string) (*pb.VerificationReport, error) {
	switch lotID {
	case "missing":
		return nil, fmt.Errorf("verifying lot %q: %w", lotID, record.ErrNotFound)
	case "broken":
		return nil, errors.New("reading /srv/secret/ledger/000001.vlog: corrupted")
	case "panic":
		panic("verifier bug")
	}
	return &pb.VerificationReport{LotId: lotID, Verdict: pb.Verdict_VERDICT_VERIFIED, ContainedSbKg: 812.5, Records: 3}, nil
}

func (fakeVerifier) ListFlags(_ context.Context, req *apipb.ListFlagsRequest) (*apipb.ListFlagsResponse, error) {
	return &apipb.ListFlagsResponse{Flags: []*pb.Flag{{Rule: "MASS_SURPLUS", Severity: pb.Severity_SEVERITY_CRITICAL, LotId: req.GetLotId()}}}, nil
}

func (fakeVerifier) ListLots(context.Context, *apipb.ListLotsRequest) (*apipb.ListLotsResponse, error) {
	return &apipb.ListLotsResponse{}, nil
}

func (fakeVerifier) Bundle(_ context.Context, lotID string) (*pb.Bundle, error) {
	return &pb.Bundle{LotId: lotID, Checkpoint: "cp"}, nil
}

// TestVerifierBackend checks VerifierService over both transports,
// including the error mapping of backend errors and a panicking backend.
func TestVerifierBackend(t *testing.T) {
	h := start(t, ct.New(), t.TempDir(), func(o *server.Options) { o.Verifier = fakeVerifier{} })
	r, err := h.verifier.VerifyLot(t.Context(), &apipb.VerifyLotRequest{LotId: "L1"})
	if err != nil || r.GetReport().GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("VerifyLot: %v, %v", r, err)
	}
	var vr apipb.VerifyLotResponse
	h.getJSON("/v1/lots/L1/verification", &vr)
	if vr.GetReport().GetContainedSbKg() != 812.5 {
		t.Fatalf("GET verification: %v", &vr)
	}
	var fr apipb.ListFlagsResponse
	h.getJSON("/v1/flags?lot_id=L7&min_severity=SEVERITY_WARNING", &fr)
	if len(fr.GetFlags()) != 1 || fr.GetFlags()[0].GetLotId() != "L7" {
		t.Fatalf("GET /v1/flags: %v", &fr)
	}
	// The REST bundle is the bundle document itself, as provctl bundle
	// export writes it, not wrapped in a response.
	var br pb.Bundle
	h.getJSON("/v1/lots/L1/bundle", &br)
	if br.GetLotId() != "L1" {
		t.Fatalf("GET bundle: %v", &br)
	}

	for _, tc := range []struct {
		lot    string
		code   codes.Code
		phrase string
	}{
		{"missing", codes.NotFound, "not found"},
		{"broken", codes.Internal, "internal error"},
		{"panic", codes.Internal, "internal error"},
	} {
		_, err := h.verifier.VerifyLot(t.Context(), &apipb.VerifyLotRequest{LotId: tc.lot})
		st := status.Convert(err)
		if st.Code() != tc.code || !strings.Contains(st.Message(), tc.phrase) || strings.Contains(st.Message(), "secret") {
			t.Errorf("VerifyLot(%s): %v %q, want %v %q", tc.lot, st.Code(), st.Message(), tc.code, tc.phrase)
		}
		h.expectHTTPError("GET", "/v1/lots/"+tc.lot+"/verification", nil, map[codes.Code]int{codes.NotFound: 404, codes.Internal: 500}[tc.code], tc.phrase)
	}
	// The server survived the panic.
	if _, err := h.ledger.GetCheckpoint(t.Context(), &apipb.GetCheckpointRequest{}); err != nil {
		t.Fatalf("after panic: %v", err)
	}
}

// TestTLS serves both listeners over TLS: gRPC with a TLS client, and the
// REST gateway (whose in-process hop stays plaintext) over HTTPS.
func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	c := ct.New()
	h := start(t, c, t.TempDir(), func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	})
	conn, err := grpc.NewClient(h.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})), h.operator.DialOption())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h.ledger = apipb.NewLedgerServiceClient(conn)
	h.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}

	mine := c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	h.submitGRPC(c.Register(mine))
	r := h.submitHTTP(c.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L1", MassKg: 100, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30, Lon: 66},
	}}}))
	if r.GetIndex() != 1 {
		t.Fatalf("HTTPS submit: %v", r)
	}
	if code, body := h.do("GET", "/healthz", nil); code != http.StatusOK {
		t.Fatalf("GET /healthz over TLS: %d %s", code, body)
	}
	// Plaintext gRPC is refused.
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get(strings.Replace(h.base, "https://", "http://", 1) + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plaintext HTTP served on a TLS listener")
		}
	}
}

// TestServeStopsAndHealth checks that /healthz turns unhealthy once the
// store is gone, that Serve returns nil on cancel and closes its listeners,
// and that Serve cannot run twice.
func TestServeLifecycle(t *testing.T) {
	if _, err := server.New(server.Options{}); err == nil {
		t.Fatal("New without a store succeeded")
	}
	c := ct.New()
	h := start(t, c, t.TempDir(), nil)
	if code, _ := h.do("GET", "/healthz", nil); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
	// A closed store makes the server unhealthy, and its calls Unavailable.
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _ := h.do("GET", "/healthz", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz with the store closed: %d, want 503", code)
	}
	mine := c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	if _, err := h.ledger.Submit(t.Context(), &apipb.SubmitRequest{Envelope: c.Register(mine)}); status.Code(err) != codes.Unavailable {
		t.Fatalf("Submit with the store closed: %v, want Unavailable", err)
	}
	grpcAddr, httpAddr := h.grpcAddr, strings.TrimPrefix(h.base, "http://")
	h.stop() // checks Serve returned nil
	for _, addr := range []string{grpcAddr, httpAddr} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Serve returned", addr)
		}
	}

	store := c.OpenStore(t)
	srv, err := server.New(server.Options{Store: store, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	gl, _ := net.Listen("tcp", "127.0.0.1:0")
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := srv.Serve(ctx, gl, hl); err != nil {
		t.Fatalf("Serve with a cancelled context: %v", err)
	}
	if err := srv.Serve(ctx, gl, hl); err == nil {
		t.Fatal("second Serve succeeded")
	}
}

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "provenance test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
