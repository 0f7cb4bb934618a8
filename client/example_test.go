package client_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/antimony-ledger/provenance/client"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/testserver"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// A mine's software registers (through the registrar), then signs an
// extraction with its own key, submits it, and reads the lot back. Each
// connects as itself: the key that signs its records also authenticates
// it, and the server shows it what it may read.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "client-example-*")
	defer os.RemoveAll(dir)
	chain := ct.New()
	chain.Clock = ct.RealClock() // the records are dated now
	srv, err := testserver.Run(chain, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()

	// The registrar enrols the mine and its public key.
	mineKey := chain.AddParty("mine-krinj", "Krinj Antimony Mine", "PK", pb.Role_ROLE_MINE)
	registrar := &client.Signer{PartyID: record.RegistrarPartyID, Key: chain.Registrar}
	rc, err := client.DialAs(ctx, srv.GRPCAddr, nil, registrar.Credentials()) // plaintext: loopback only
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rc.Close()
	if _, err := rc.SignAndSubmit(ctx, registrar, &pb.Statement{Body: &pb.Statement_PartyRegistration{PartyRegistration: mineKey.Reg}}); err != nil {
		fmt.Println(err)
		return
	}

	// The mine signs on its own machine; only the envelope is sent.
	mine := &client.Signer{PartyID: "mine-krinj", Key: mineKey.Key, Now: func() time.Time {
		return time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	}}
	c, err := client.DialAs(ctx, srv.GRPCAddr, nil, mine.Credentials())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	r, err := c.SignAndSubmit(ctx, mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "KR-001", MassKg: 20000, MoisturePct: 4, SbGradePct: 12, Product: pb.Product_PRODUCT_ORE,
		Site: &pb.Location{Lat: 35.9, Lon: 71.8},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("extraction recorded at index", r.GetIndex())

	lot, err := c.Lot(ctx, "KR-001")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("lot %s: %.0f kg held by %s, %d record(s)\n", lot.GetLot().GetLotId(), lot.GetLot().GetMassKg(), lot.GetLot().GetHolderPartyId(), len(lot.GetHistory()))
	// Output:
	// extraction recorded at index 1
	// lot KR-001: 20000 kg held by mine-krinj, 1 record(s)
}
