package custody_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// benchRecords returns, for each of clients workers, n pre-signed records
// (rounded up to whole lots): extraction, dispatch and receipt of one lot
// after another, by the worker's own mine and exporter, as provbench sends
// them. It also returns the registrations of those parties.
func benchRecords(c *ct.Chain, clients, n int) (regs []*pb.Envelope, work [][]*pb.Envelope) {
	lots := (n + 2) / 3
	work = make([][]*pb.Envelope, clients)
	for w := range clients {
		mine := c.AddParty(fmt.Sprintf("mine-%d", w), "Mine", "PK", pb.Role_ROLE_MINE)
		exp := c.AddParty(fmt.Sprintf("exp-%d", w), "Exporter", "PK", pb.Role_ROLE_EXPORTER)
		regs = append(regs, c.Register(mine), c.Register(exp))
		for i := range lots {
			lot := fmt.Sprintf("lot-%d-%d", w, i)
			x := c.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
				LotId: lot, MassKg: 8000, MoisturePct: 3, SbGradePct: 9.5, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}})
			d := c.Sign(mine, &pb.Statement{Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
				LotId: lot, CustodyLink: ct.ID(x), ToPartyId: exp.ID, MassKg: 8000, MoisturePct: 3, Seals: []string{"S-" + lot}, Transport: "truck"}}})
			r := c.Sign(exp, &pb.Statement{Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
				LotId: lot, DispatchLink: ct.ID(d), MassKg: 7990, SealsIntact: true}}})
			work[w] = append(work[w], x, d, r)
		}
	}
	return regs, work
}

// BenchmarkSubmit measures Store.Submit end to end below the transport:
// validation, signature verification, and durable (synced) group commit,
// with concurrent submitters each sending its own custody chain.
func BenchmarkSubmit(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c := ct.New()
			s := c.OpenStore(b)
			per := (b.N + clients - 1) / clients
			regs, work := benchRecords(c, clients, per)
			ct.Submit(b, s, regs...)
			ctx := context.Background()
			cpu0 := cpuTime()
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, envs := range work {
				wg.Go(func() {
					for _, env := range envs[:per] {
						if _, err := s.Submit(ctx, env); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			n := float64(per * clients)
			b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
			// CPU per record (all of the process's threads, Badger's
			// included) predicts the CPU-bound rate even when other
			// processes share the machine: 2 cores / cpu-µs/record.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/n, "cpu-µs/record")
		})
	}
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
