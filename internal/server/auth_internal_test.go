package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/authtoken"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// TestRevocationWindow: once a party's key is revoked, a token it made
// works for at most authCacheTTL more, and only if it was used before; a
// new token is refused at once.
func TestRevocationWindow(t *testing.T) {
	c := ct.New()
	s := c.OpenStore(t)
	p := c.AddParty("exp-r", "Exporter", "PK", pb.Role_ROLE_EXPORTER)
	ct.Submit(t, s, c.Register(p))
	a, err := newAuthenticator(s)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	a.now = func() time.Time { return clock }
	call := func(tok string) error {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
		_, err := a.authenticate(ctx)
		return err
	}
	used, err := authtoken.Make(ct.Origin, "exp-r", p.Key, clock, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := call(used); err != nil {
		t.Fatal(err)
	}
	ct.Submit(t, s, c.RegistrarSign(&pb.Statement{EventTime: timestamppb.New(clock.Add(-time.Minute)), Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: "exp-r", KeyId: p.KeyID(), RevokedAt: timestamppb.New(clock.Add(-time.Minute)), Reason: "stolen"}}}))
	fresh, _ := authtoken.Make(ct.Origin, "exp-r", p.Key, clock.Add(time.Second), 0)
	if err := call(fresh); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a new token of the revoked key: %v, want Unauthenticated", err)
	}
	clock = clock.Add(authCacheTTL - time.Second)
	if err := call(used); err != nil {
		t.Logf("the used token is refused at once: %v", err)
	} else {
		t.Logf("the used token still works %v after the revocation (the cache window)", authCacheTTL-time.Second)
	}
	clock = clock.Add(2 * time.Second)
	if err := call(used); status.Code(err) != codes.Unauthenticated {
		t.Errorf("the used token %v after the revocation: %v, want Unauthenticated", authCacheTTL+time.Second, err)
	}
}
