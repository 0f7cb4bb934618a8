package verifier_test

import (
	"context"
	"fmt"
	"os"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// A mine ships 10 t of ore to an exporter, who receives 10.4 t: 4 % more
// than was dispatched, beyond the 2 % handoff tolerance.
func ExampleVerify() {
	ctx := context.Background()
	c := ct.New()
	dir, err := os.MkdirTemp("", "verifier-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	s, err := custody.Open(ctx, dir, custody.Config{Origin: ct.Origin, LogSigner: c.LogSigner, Registrar: c.RegistrarPublic(), Now: c.Clock.Now})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	submit := func(env *pb.Envelope) string {
		r, err := s.Submit(ctx, env)
		if err != nil {
			panic(err)
		}
		return r.ID
	}
	mine := c.AddParty("mine-qa", "Quetta Antimony Mine", "PK", pb.Role_ROLE_MINE)
	exp := c.AddParty("exp-kar", "lottest.Karachi Exporter", "PK", pb.Role_ROLE_EXPORTER)
	submit(c.Register(mine))
	submit(c.Register(exp))
	ext := submit(c.Sign(mine, &pb.Statement{EventTime: c.At(ct.Day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L1", MassKg: 10000, SbGradePct: 9, Site: &pb.Location{Lat: 30.0, Lon: 67.2}, Product: pb.Product_PRODUCT_ORE,
	}}}))
	d := submit(c.Sign(mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L1", CustodyLink: ext, ToPartyId: exp.ID, MassKg: 10000,
	}}}))
	submit(c.Sign(exp, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
		LotId: "L1", DispatchLink: d, MassKg: 10400, SealsIntact: true, Location: &pb.Location{Lat: 24.85, Lon: 67.0},
	}}}))

	cfg := verifier.DefaultConfig()
	b, err := backend.BuildBundle(ctx, s, "L1", cfg)
	if err != nil {
		panic(err)
	}
	rep := verifier.Verify(b, verifier.Trust{Log: c.LogVerifier, Registrar: c.RegistrarPublic()}, cfg)
	fmt.Println(rep.GetVerdict())
	fmt.Printf("untraced share %.4f\n", rep.GetUntracedShare())
	fmt.Print(verifier.Text(rep))
	// Output:
	// VERDICT_FLAGGED
	// untraced share 0.0385
	// FLAGGED  lot L1
	// records 5, checkpoint tree size 5, signed 2025-01-04T00:01:00Z
	// held by exp-kar (latest record QmcxhWWvDd…ZeHs)
	// mass 10400.0 kg, contained Sb 936.0 kg
	// origins:
	//     mine-qa  900.0 kg  96.2 %
	// untraced 3.8 %
	// flags (1):
	//   CRITICAL TRANSIT_GAIN  lot L1, party exp-kar, index 4
	//            receipt of lot "L1" weighs 10400.0 kg, the dispatch 10000.0 kg: +4.0 % (tolerance 2.0 %)
	//            evidence: QmcxhWWvDd…ZeHs QmfRR1rcFz…9SdR
}
