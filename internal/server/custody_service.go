package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
)

// custodyService implements pb.CustodyServiceServer over the store's
// projections.
type custodyService struct {
	apipb.UnimplementedCustodyServiceServer
	s *Server
}

// maxIDLen bounds ids in read requests, as custody bounds them in records;
// longer ids cannot exist, and are refused before touching the store.
const maxIDLen = 128

func requireID(name, id string) error {
	if id == "" {
		return status.Errorf(codes.InvalidArgument, "%s is required", name)
	}
	if len(id) > maxIDLen {
		return status.Errorf(codes.InvalidArgument, "%s is %d bytes, limit %d", name, len(id), maxIDLen)
	}
	return nil
}

func (c *custodyService) GetLot(ctx context.Context, req *apipb.GetLotRequest) (*apipb.GetLotResponse, error) {
	if err := requireID("lot_id", req.GetLotId()); err != nil {
		return nil, err
	}
	lot, hist, err := c.s.store.Lot(ctx, req.GetLotId())
	if err != nil {
		return nil, c.s.toStatus(ctx, err)
	}
	resp := &apipb.GetLotResponse{Lot: lot, History: make([]*apipb.LogEntry, 0, len(hist))}
	for _, e := range hist {
		resp.History = append(resp.History, c.s.logEntry(ctx, e))
	}
	return resp, nil
}

func (c *custodyService) GetParty(ctx context.Context, req *apipb.GetPartyRequest) (*apipb.GetPartyResponse, error) {
	if err := requireID("party_id", req.GetPartyId()); err != nil {
		return nil, err
	}
	p, err := c.s.store.Party(req.GetPartyId())
	if err != nil {
		return nil, c.s.toStatus(ctx, err)
	}
	return &apipb.GetPartyResponse{Party: p}, nil
}

func (c *custodyService) ListParties(ctx context.Context, _ *apipb.ListPartiesRequest) (*apipb.ListPartiesResponse, error) {
	ps, err := c.s.store.Parties(ctx)
	if err != nil {
		return nil, c.s.toStatus(ctx, err)
	}
	return &apipb.ListPartiesResponse{Parties: ps}, nil
}

func (c *custodyService) ListPartyLots(ctx context.Context, req *apipb.ListPartyLotsRequest) (*apipb.ListPartyLotsResponse, error) {
	if err := requireID("party_id", req.GetPartyId()); err != nil {
		return nil, err
	}
	lots, err := c.s.store.PartyLots(ctx, req.GetPartyId())
	if err != nil {
		return nil, c.s.toStatus(ctx, err)
	}
	return &apipb.ListPartyLotsResponse{Lots: lots}, nil
}
