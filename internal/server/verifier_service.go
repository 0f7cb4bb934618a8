package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// A VerifierBackend verifies lots for VerifierService. Implementations
// must be safe for concurrent use and should honour ctx. Errors are mapped
// to codes like the store's (see [codeOf]): wrap record.ErrNotFound for an
// unknown lot; anything unrecognised becomes Internal.
type VerifierBackend interface {
	// VerifyLot rebuilds a lot's custody graph and runs every rule.
	VerifyLot(ctx context.Context, lotID string) (*pb.VerificationReport, error)
	// ListFlags returns the current flags matching the request's filters.
	ListFlags(ctx context.Context, req *apipb.ListFlagsRequest) (*apipb.ListFlagsResponse, error)
	// Bundle returns an offline provenance bundle for a lot.
	Bundle(ctx context.Context, lotID string) (*pb.Bundle, error)
	// ListLots lists lots with their current verdicts.
	ListLots(ctx context.Context, req *apipb.ListLotsRequest) (*apipb.ListLotsResponse, error)
}

// verifierService implements pb.VerifierServiceServer over a backend.
type verifierService struct {
	apipb.UnimplementedVerifierServiceServer
	s       *Server
	backend VerifierBackend
}

var errNoVerifier = status.Error(codes.Unavailable, "verifier not configured")

func (v *verifierService) VerifyLot(ctx context.Context, req *apipb.VerifyLotRequest) (*apipb.VerifyLotResponse, error) {
	if v.backend == nil {
		return nil, errNoVerifier
	}
	if err := requireID("lot_id", req.GetLotId()); err != nil {
		return nil, err
	}
	r, err := v.backend.VerifyLot(ctx, req.GetLotId())
	if err != nil {
		return nil, v.s.toStatus(ctx, err)
	}
	return &apipb.VerifyLotResponse{Report: r}, nil
}

func (v *verifierService) ListFlags(ctx context.Context, req *apipb.ListFlagsRequest) (*apipb.ListFlagsResponse, error) {
	if v.backend == nil {
		return nil, errNoVerifier
	}
	if s, u := req.GetSince(), req.GetUntil(); (s != nil && !s.IsValid()) || (u != nil && !u.IsValid()) {
		return nil, status.Error(codes.InvalidArgument, "since and until must be valid timestamps")
	}
	resp, err := v.backend.ListFlags(ctx, req)
	if err != nil {
		return nil, v.s.toStatus(ctx, err)
	}
	return resp, nil
}

func (v *verifierService) ListLots(ctx context.Context, req *apipb.ListLotsRequest) (*apipb.ListLotsResponse, error) {
	if v.backend == nil {
		return nil, errNoVerifier
	}
	if h := req.GetHolderPartyId(); h != "" {
		if err := requireID("holder_party_id", h); err != nil {
			return nil, err
		}
	}
	resp, err := v.backend.ListLots(ctx, req)
	if err != nil {
		return nil, v.s.toStatus(ctx, err)
	}
	return resp, nil
}

func (v *verifierService) GetBundle(ctx context.Context, req *apipb.GetBundleRequest) (*apipb.GetBundleResponse, error) {
	if v.backend == nil {
		return nil, errNoVerifier
	}
	if err := requireID("lot_id", req.GetLotId()); err != nil {
		return nil, err
	}
	b, err := v.backend.Bundle(ctx, req.GetLotId())
	if err != nil {
		return nil, v.s.toStatus(ctx, err)
	}
	return &apipb.GetBundleResponse{Bundle: b}, nil
}

// StreamBundle sends the lot's bundle in parts: its head, each record,
// each map proof. No part is larger than one record or proof, so a bundle
// of any size fits gRPC's message limits.
func (v *verifierService) StreamBundle(req *apipb.StreamBundleRequest, stream grpc.ServerStreamingServer[apipb.StreamBundleResponse]) error {
	if v.backend == nil {
		return errNoVerifier
	}
	ctx := stream.Context()
	if err := requireID("lot_id", req.GetLotId()); err != nil {
		return err
	}
	b, err := v.backend.Bundle(ctx, req.GetLotId())
	if err != nil {
		return v.s.toStatus(ctx, err)
	}
	head := &pb.Bundle{LotId: b.GetLotId(), Checkpoint: b.GetCheckpoint(), WitnessedCheckpoint: b.GetWitnessedCheckpoint()}
	if err := stream.Send(&apipb.StreamBundleResponse{Part: &apipb.StreamBundleResponse_Head{Head: head}}); err != nil {
		return err
	}
	for _, r := range b.GetRecords() {
		if err := stream.Send(&apipb.StreamBundleResponse{Part: &apipb.StreamBundleResponse_Record{Record: r}}); err != nil {
			return err
		}
	}
	for _, p := range b.GetMapProofs() {
		if err := stream.Send(&apipb.StreamBundleResponse{Part: &apipb.StreamBundleResponse_MapProof{MapProof: p}}); err != nil {
			return err
		}
	}
	return nil
}
