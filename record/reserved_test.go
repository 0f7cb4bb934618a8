package record_test

import (
	"crypto/ed25519"
	"strings"
	"testing"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestReservedPartyIDs: no party may be registered as the operator or the
// registrar, in any case, since tokens for those names mean the log key
// and the registrar key (README, "Who may read what").
func TestReservedPartyIDs(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	for _, id := range []string{"operator", "Operator", "OPERATOR", "registrar", "Registrar", "operator-pk"} {
		st := &pb.Statement{PartyId: record.RegistrarPartyID, EventTime: timestamppb.Now(), Body: &pb.Statement_PartyRegistration{PartyRegistration: &pb.PartyRegistration{
			PartyId: id, Name: "x", Roles: []pb.Role{pb.Role_ROLE_BUYER}, Country: "US",
			Keys: []*pb.PartyKey{{PublicKey: pub, NotBefore: timestamppb.Now()}},
		}}}
		env, err := record.Sign(st, ed25519.NewKeyFromSeed(make([]byte, 32)))
		if err != nil {
			t.Fatal(err)
		}
		err = record.CheckAdmissible(env.GetPayload(), st)
		reserved := strings.EqualFold(id, "operator") || strings.EqualFold(id, "registrar")
		if reserved != (err != nil && strings.Contains(err.Error(), "reserved")) {
			t.Errorf("registering %q: %v", id, err)
		}
	}
}
