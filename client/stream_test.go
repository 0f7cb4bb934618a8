package client_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/client"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/server"
	"github.com/antimony-ledger/provenance/internal/testserver"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestUpload drives SubmitStream over real gRPC on loopback: answers come
// in the order sent even when the client sends far ahead, a refused
// envelope is answered with the code Submit gives and does not end the
// stream, and every accepted record is in the log.
func TestUpload(t *testing.T) {
	chain, srv, c := startUploadServer(t)
	ctx := t.Context()
	mine := chain.AddParty("mine-1", "Mine", "PK", pb.Role_ROLE_MINE)
	if _, err := c.Submit(ctx, chain.Register(mine)); err != nil {
		t.Fatal(err)
	}
	extraction := func(n int) *pb.Envelope {
		return chain.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: fmt.Sprintf("bag-%03d", n), MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
			Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}})
	}
	// 150 envelopes, more than the server works on at once, sent without
	// waiting for answers; number 40 has a broken signature, number 90
	// repeats number 10.
	const n = 150
	envs := make([]*pb.Envelope, n)
	for i := range envs {
		envs[i] = extraction(i)
	}
	bad := proto.Clone(envs[40]).(*pb.Envelope)
	bad.Signatures[0].Sig[0] ^= 1
	envs[40] = bad
	envs[90] = envs[10]
	_, unaryErr := c.Submit(ctx, bad)
	if unaryErr == nil {
		t.Fatal("Submit accepted a broken signature")
	}

	up, err := c.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := sendAll(up, envs) // sends ahead while this goroutine receives
	indexes := map[uint64]int{}
	for i, env := range envs {
		res, err := up.Recv()
		switch i {
		case 40:
			var ref *client.RefusedError
			if !errors.As(err, &ref) || status.Code(err) != status.Code(unaryErr) || status.Convert(err).Message() != status.Convert(unaryErr).Message() {
				t.Fatalf("answer %d: %v, want the refusal Submit gives: %v", i, err, unaryErr)
			}
			continue
		case 90:
			if err != nil || !res.GetDuplicate() {
				t.Fatalf("answer %d (a repeat): %v, %v; want a duplicate", i, res, err)
			}
		default:
			if err != nil || res.GetDuplicate() {
				t.Fatalf("answer %d: %v, %v", i, res, err)
			}
		}
		if res.GetLeafHash() != ct.ID(env) {
			t.Fatalf("answer %d is for record %s, want %s: answers out of order", i, res.GetLeafHash(), ct.ID(env))
		}
		if prev, ok := indexes[res.GetIndex()]; ok && i != 90 {
			t.Fatalf("answers %d and %d share index %d", prev, i, res.GetIndex())
		}
		indexes[res.GetIndex()] = i
		got, err := c.Ledger.GetEntry(ctx, &apipb.GetEntryRequest{Index: res.GetIndex()})
		if err != nil || got.GetEntry().GetLeafHash() != res.GetLeafHash() {
			t.Fatalf("entry %d: %v, %v; want record %s", res.GetIndex(), got, err, res.GetLeafHash())
		}
	}
	if _, err := up.Recv(); err != io.EOF {
		t.Fatalf("after the last answer: %v, want io.EOF", err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("sending: %v", err)
	}
	if size := srv.Store.Log().Size(); size != 1+n-2 {
		t.Fatalf("log size %d, want %d (registration and %d records)", size, 1+n-2, n-2)
	}
}

// TestUploadUnknownFields: as with Submit, a request carrying fields the
// server does not know is refused, and the stream goes on.
func TestUploadUnknownFields(t *testing.T) {
	chain, _, c := startUploadServer(t)
	s, err := c.Ledger.SubmitStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	mine := chain.AddParty("mine-1", "Mine", "PK", pb.Role_ROLE_MINE)
	req := &apipb.SubmitStreamRequest{Envelope: chain.Register(mine)}
	req.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	for _, r := range []*apipb.SubmitStreamRequest{req, {Envelope: chain.Register(mine)}} {
		if err := s.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.Recv()
	if err != nil || codes.Code(first.GetCode()) != codes.InvalidArgument || first.GetResult() != nil {
		t.Fatalf("request with an unknown field: %v, %v; want InvalidArgument", first, err)
	}
	second, err := s.Recv()
	if err != nil || second.GetCode() != 0 || second.GetResult().GetIndex() != 0 {
		t.Fatalf("the next request: %v, %v; want it appended at index 0", second, err)
	}
}

// TestUploadChain sends each lot's records (extraction, dispatch, receipt)
// back to back, each linking to the one before, without waiting for any
// answer: the stream applies them in the order sent, so none is refused
// for a link to a record not yet in the log.
func TestUploadChain(t *testing.T) {
	chain, _, c := startUploadServer(t)
	ctx := t.Context()
	mine := chain.AddParty("mine-1", "Mine", "PK", pb.Role_ROLE_MINE)
	exporter := chain.AddParty("exp-1", "Exporter", "PK", pb.Role_ROLE_EXPORTER)
	for _, p := range []*ct.Party{mine, exporter} {
		if _, err := c.Submit(ctx, chain.Register(p)); err != nil {
			t.Fatal(err)
		}
	}
	const lots = 40
	var envs []*pb.Envelope
	for n := range lots {
		lot := fmt.Sprintf("lot-%02d", n)
		ext := chain.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: lot, MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}})
		dis := chain.Sign(mine, &pb.Statement{Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
			LotId: lot, CustodyLink: ct.ID(ext), ToPartyId: exporter.ID, MassKg: 1000, MoisturePct: 3, Seals: []string{"S-" + lot}, Transport: "truck"}}})
		rec := chain.Sign(exporter, &pb.Statement{Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
			LotId: lot, DispatchLink: ct.ID(dis), MassKg: 995, SealsIntact: true}}})
		envs = append(envs, ext, dis, rec)
	}
	up, err := c.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := sendAll(up, envs)
	for i := range envs {
		if res, err := up.Recv(); err != nil || res.GetLeafHash() != ct.ID(envs[i]) {
			t.Fatalf("record %d (%T): %v, %v", i, mustStatement(t, envs[i]).GetBody(), res, err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	for n := range lots {
		lot, err := c.Lot(ctx, fmt.Sprintf("lot-%02d", n))
		if err != nil || lot.GetLot().GetHolderPartyId() != exporter.ID || len(lot.GetHistory()) != 3 {
			t.Fatalf("lot %d: %v, %v; want held by the exporter after three records", n, lot.GetLot(), err)
		}
	}
}

func mustStatement(t *testing.T, env *pb.Envelope) *pb.Statement {
	st, err := record.DecodeStatement(env.GetPayload())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestUploadShutdown: a server shutting down does not wait for an idle
// upload stream to end; the stream answers what it has taken and ends
// with Unavailable, and Send then reports the end.
func TestUploadShutdown(t *testing.T) {
	chain, srv, c := startUploadServer(t)
	up, err := c.Upload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	mine := chain.AddParty("mine-1", "Mine", "PK", pb.Role_ROLE_MINE)
	if res, err := up.Submit(chain.Register(mine)); err != nil || res.GetIndex() != 0 {
		t.Fatalf("registration: %v, %v", res, err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("stopping the server: %v", err)
	}
	_, err = up.Recv()
	if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "shutting down") {
		t.Fatalf("after shutdown: %v, want Unavailable: server is shutting down", err)
	}
	if err := up.Send(chain.Register(mine)); !errors.Is(err, io.EOF) {
		t.Fatalf("Send after the stream ended: %v, want io.EOF", err)
	}
}

// startUploadServer starts a server on loopback and dials it.
func startUploadServer(t *testing.T) (*ct.Chain, *testserver.Server, *client.Client) {
	return startUploadServerWith(t, testserver.Options{})
}

func startUploadServerWith(t *testing.T, o testserver.Options) (*ct.Chain, *testserver.Server, *client.Client) {
	chain := ct.New()
	chain.Clock = ct.RealClock() // the records are dated now
	srv := testserver.StartWith(t, chain, t.TempDir(), o)
	c, err := client.Dial(srv.GRPCAddr, nil, srv.Operator().DialOption())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return chain, srv, c
}

// sendAll sends envs on its own goroutine, then closes the sending side,
// and reports the first error (nil if none) on the returned channel.
func sendAll(up *client.Uploader, envs []*pb.Envelope) <-chan error {
	sent := make(chan error, 1)
	go func() {
		for _, env := range envs {
			if err := up.Send(env); err != nil {
				sent <- err
				return
			}
		}
		sent <- up.CloseSend()
	}()
	return sent
}

// TestUploadShutdownBusy: a client sending far ahead does not keep a
// draining server's stream open: the stream stops taking envelopes,
// answers those taken, and ends with Unavailable.
func TestUploadShutdownBusy(t *testing.T) {
	chain, srv, c := startUploadServer(t)
	mine := chain.AddParty("mine-1", "Mine", "PK", pb.Role_ROLE_MINE)
	if _, err := c.Submit(t.Context(), chain.Register(mine)); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	envs := make([]*pb.Envelope, n)
	for i := range envs {
		envs[i] = chain.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: fmt.Sprintf("bag-%04d", i), MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
			Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}})
	}
	up, err := c.Upload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sent := sendAll(up, envs)
	stopped := make(chan error, 1)
	answers := 0
	for {
		_, err := up.Recv()
		if err != nil && !errors.As(err, new(*client.RefusedError)) {
			if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "shutting down") {
				t.Fatalf("after %d answers: %v, want Unavailable: server is shutting down", answers, err)
			}
			break
		}
		if answers++; answers == 10 {
			go func() { stopped <- srv.Stop() }()
		}
		if answers == n {
			t.Fatal("every envelope was answered: the draining stream kept taking more")
		}
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stopping the server: %v", err)
	}
	<-sent
}

// TestLargeBundle: a lot whose bundle is over gRPC's default 4 MiB message
// limit (a holder's thousands of assays) still reaches a buyer whole,
// through StreamBundle in parts, and verifies.
func TestLargeBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("submits 5,000 records")
	}
	// The party rate limit lifted: one holder's 5,000 assays in a second.
	chain, srv, c := startUploadServerWith(t, testserver.Options{Limits: server.Limits{PartyRate: -1}})
	ctx := t.Context()
	mine := chain.AddParty("mine-1", "Mine", "PK", pb.Role_ROLE_MINE)
	if _, err := c.Submit(ctx, chain.Register(mine)); err != nil {
		t.Fatal(err)
	}
	x, err := c.Submit(ctx, chain.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "BIG", MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
		Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}}))
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	go func() {
		for i := range n {
			env := chain.Sign(mine, &pb.Statement{Body: &pb.Statement_Assay{Assay: &pb.Assay{
				LotId: "BIG", SubjectLink: x.GetLeafHash(), SampleId: fmt.Sprintf("sample-%05d", i),
				Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: 9}, {Element: "As", Pct: 0.1}, {Element: "Hg", Pct: 0.001}},
			}}})
			if err := up.Send(env); err != nil {
				return
			}
		}
		up.CloseSend()
	}()
	for i := range n {
		if _, err := up.Recv(); err != nil {
			t.Fatalf("assay %d: %v", i, err)
		}
	}
	b, err := c.Bundle(ctx, "BIG")
	if err != nil {
		t.Fatalf("StreamBundle: %v", err)
	}
	if size := proto.Size(b); size <= 4<<20 {
		t.Fatalf("the bundle is %d bytes: not over 4 MiB, so this test shows nothing", size)
	}
	// In one message it is over gRPC's default receive limit, and the
	// server's bundle limit below it says to fetch the parts.
	_, err = c.Verifier.GetBundle(ctx, &apipb.GetBundleRequest{LotId: "BIG"}, grpc.MaxCallRecvMsgSize(4<<20))
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "StreamBundle") {
		t.Errorf("GetBundle: %v, want FailedPrecondition naming StreamBundle", err)
	}
	rep := verifier.VerifyLot("BIG", b, verifier.Trust{Log: chain.LogVerifier, Registrar: chain.RegistrarPublic()}, verifier.DefaultConfig())
	// Complete and authentic (what the parts must keep); the flags (the
	// test chain's records are dated 2025: TIMELINE) are the chain's own.
	if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID || len(rep.GetErrors()) > 0 || int(rep.GetRecords()) < n {
		t.Errorf("the streamed bundle: %v %v, %d records verified", rep.GetVerdict(), rep.GetErrors(), int(rep.GetRecords()))
	}
	_ = srv
}
