package custody_test

import (
	"context"
	"fmt"
	"os"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// The store validates each submission against the log's state: a party
// may dispatch only a lot it holds, continuing its current custody record.
func ExampleStore_Submit() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "custody-example-*")
	defer os.RemoveAll(dir)
	chain := ct.New()
	store, err := custody.Open(ctx, dir, custody.Config{Origin: ct.Origin, LogSigner: chain.LogSigner, Registrar: chain.RegistrarPublic(), Now: chain.Clock.Now})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	mine := chain.AddParty("mine-krinj", "Krinj Antimony Mine", "PK", pb.Role_ROLE_MINE)
	exporter := chain.AddParty("indus-exports", "Indus Minerals Exports", "PK", pb.Role_ROLE_EXPORTER)
	for _, p := range []*ct.Party{mine, exporter} {
		if _, err := store.Submit(ctx, chain.Register(p)); err != nil {
			fmt.Println(err)
			return
		}
	}
	ext := chain.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "KR-001", MassKg: 20000, SbGradePct: 12, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 35.9, Lon: 71.8},
	}}})
	r, err := store.Submit(ctx, ext)
	fmt.Println("extraction at index", r.Entry.Index, err)

	// The exporter does not hold the lot, so it cannot dispatch it.
	steal := chain.Sign(exporter, &pb.Statement{Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "KR-001", CustodyLink: r.ID, ToPartyId: "mine-krinj", MassKg: 20000,
	}}})
	_, err = store.Submit(ctx, steal)
	fmt.Println(err)

	// The same envelope again is idempotent.
	again, err := store.Submit(ctx, ext)
	fmt.Println("resubmitted: index", again.Entry.Index, "duplicate", again.Duplicate, err)
	// Output:
	// extraction at index 2 <nil>
	// not allowed: party "indus-exports" does not hold lot "KR-001"
	// resubmitted: index 2 duplicate true <nil>
}
