package record_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// A party signs a statement with its own key; anyone checks the signature
// with the public key whose multihash is the key id.
func ExampleSign() {
	seed := sha256.Sum256([]byte("example mine key"))
	key := ed25519.NewKeyFromSeed(seed[:])
	env, err := record.Sign(&pb.Statement{
		PartyId:   "mine-krinj",
		EventTime: timestamppb.New(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)),
		Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: "KR-001", MassKg: 20000, SbGradePct: 12, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 35.9, Lon: 71.8},
		}},
	}, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	pub := key.Public().(ed25519.PublicKey)
	fmt.Println("signed by", env.GetSignatures()[0].GetKeyid() == record.KeyID(pub))
	fmt.Println("verifies:", record.VerifySignature(env, pub, env.GetSignatures()[0].GetSig()))
	st, err := record.DecodeStatement(env.GetPayload())
	fmt.Println("lot:", st.GetExtraction().GetLotId(), err)
	// Output:
	// signed by true
	// verifies: true
	// lot: KR-001 <nil>
}
