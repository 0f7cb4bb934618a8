package client_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/client"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/testserver"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1"
)

// TestUpload drives SubmitStream over real gRPC on loopback: answers come
// in the order sent even when the client sends far ahead, a refused
// envelope is answered with the code Submit gives and does not end the
// stream, and every accepted record is in the log.
func TestUpload(t *testing.T) {
	chain := ct.New()
	srv := testserver.Start(t, chain)
	c, err := client.Dial(srv.GRPCAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	// 150 envelopes, more than the server works on at once, sent before
	// any answer is read; number 40 has a broken signature, number 90
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
	for _, env := range envs {
		if err := up.Send(env); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if err := up.CloseSend(); err != nil {
		t.Fatal(err)
	}
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
		if res.GetLeafHash() != ct.Link(env) {
			t.Fatalf("answer %d is for record %s, want %s: answers out of order", i, res.GetLeafHash(), ct.Link(env))
		}
		if prev, ok := indexes[res.GetIndex()]; ok && i != 90 {
			t.Fatalf("answers %d and %d share index %d", prev, i, res.GetIndex())
		}
		indexes[res.GetIndex()] = i
		got, err := c.Ledger.GetEntry(ctx, &pb.GetEntryRequest{Index: res.GetIndex()})
		if err != nil || got.GetEntry().GetLeafHash() != res.GetLeafHash() {
			t.Fatalf("entry %d: %v, %v; want record %s", res.GetIndex(), got, err, res.GetLeafHash())
		}
	}
	if _, err := up.Recv(); err != io.EOF {
		t.Fatalf("after the last answer: %v, want io.EOF", err)
	}
	if size := srv.Store.Log().Size(); size != 1+n-2 {
		t.Fatalf("log size %d, want %d (registration and %d records)", size, 1+n-2, n-2)
	}
}

// TestUploadUnknownFields: as with Submit, a request carrying fields the
// server does not know is refused, and the stream goes on.
func TestUploadUnknownFields(t *testing.T) {
	chain := ct.New()
	srv := testserver.Start(t, chain)
	c, err := client.Dial(srv.GRPCAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Ledger.SubmitStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	mine := chain.AddParty("mine-1", "Mine", "PK", pb.Role_ROLE_MINE)
	req := &pb.SubmitStreamRequest{Envelope: chain.Register(mine)}
	req.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	for _, r := range []*pb.SubmitStreamRequest{req, {Envelope: chain.Register(mine)}} {
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
