package server_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/client"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// BenchmarkPartyListing: a buyer with 7 lots (6 received, one of them
// split from a seventh) lists them, a page of 100 at a time, in a log where
// another mine extracted PROVENANCE_BENCH_LOTS lots (default 3,000), with
// the read policy's scope (the buyer's lots and their ancestry) and
// without it (every lot scanned, reduced to the buyer's). A new user's
// trial took 2.8 s for the second at 29,720 lots.
func BenchmarkPartyListing(b *testing.B) {
	n := 3000
	if s := os.Getenv("PROVENANCE_BENCH_LOTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("PROVENANCE_BENCH_LOTS: %v", err)
		}
	}
	x, w := lottestWorld(b)
	h := w.h
	// The other mine's lots, submitted by 8 writers at once.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				env := x.C.Sign(x.Mine, &pb.Statement{EventTime: x.Day(1 + float64(i)/float64(n)), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
					LotId: fmt.Sprintf("OTHER-%07d", i), MassKg: 20000, MoisturePct: 3, SbGradePct: 9, Site: lottest.MineSite, Product: pb.Product_PRODUCT_ORE}}})
				if _, err := x.S.Submit(context.Background(), env); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	// The buyer's lots: B1a, split from B1 (which it may read too), and
	// B2..B6, each from the second mine.
	b1 := x.Extract(x.Mn2, "B1", 10000, 3, 9, lottest.MineSite, 2)
	sp := x.Transform(x.Mn2, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT, []*pb.TransformationInput{{LotId: "B1", Link: b1, MassKg: 10000}},
		[]*pb.TransformationOutput{{LotId: "B1a", MassKg: 5000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}, {LotId: "B1b", MassKg: 5000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 2.5)
	x.Receive(x.Buyer, "B1a", x.Dispatch(x.Mn2, "B1a", sp, x.Buyer, 5000, 3), 5000, 4)
	for i := 2; i <= 6; i++ {
		lot := fmt.Sprintf("B%d", i)
		ext := x.Extract(x.Mn2, lot, 10000, 3, 9, lottest.MineSite, 2)
		x.Receive(x.Buyer, lot, x.Dispatch(x.Mn2, lot, ext, x.Buyer, 10000, 3), 10000, 4)
	}
	as := func(p *ct.Party) *client.Client {
		cl, err := client.Dial(h.grpcAddr, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cl.Close() })
		cl, err = cl.As(b.Context(), &client.Credentials{PartyID: p.ID, Key: p.Key, Origin: ct.Origin})
		if err != nil {
			b.Fatal(err)
		}
		return cl
	}
	list := func(cl *client.Client) (lots, pages int) {
		req := &apipb.ListLotsRequest{}
		for {
			r, err := cl.Verifier.ListLots(b.Context(), req)
			if err != nil {
				b.Fatal(err)
			}
			pages++
			if r.GetUnreadRecords() > 0 {
				time.Sleep(100 * time.Millisecond) // the follower is still replaying the log
				req.PageToken, lots = "", 0
				continue
			}
			lots += len(r.GetLots())
			if r.GetNextPageToken() == "" {
				return lots, pages
			}
			req.PageToken = r.GetNextPageToken()
		}
	}
	flags := func(cl *client.Client) (n, pages int) {
		req := &apipb.ListFlagsRequest{}
		for {
			r, err := cl.Verifier.ListFlags(b.Context(), req)
			if err != nil {
				b.Fatal(err)
			}
			pages++
			n += len(r.GetFlags())
			if r.GetNextPageToken() == "" {
				return n, pages
			}
			req.PageToken = r.GetNextPageToken()
		}
	}
	// The buyer, and the mine whose lots are most of the log (its own
	// lots, scoped while they are at most 20,000).
	for _, c := range []struct {
		name string
		p    *ct.Party
		want int
	}{{"buyer", x.Buyer, 7}, {"mine", x.Mine, n}} {
		cl := as(c.p)
		if lots, _ := list(cl); lots != c.want {
			b.Fatalf("%s lists %d lots, want %d", c.name, lots, c.want)
		}
		server.SetScope(false)
		wantFlags, _ := flags(cl)
		server.SetScope(true)
		for _, scoped := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/flags/scoped=%v", c.name, scoped), func(b *testing.B) {
				server.SetScope(scoped)
				defer server.SetScope(true)
				pages := 0
				for b.Loop() {
					n, p := flags(cl)
					if n != wantFlags {
						b.Fatalf("%s lists %d flags, want %d", c.name, n, wantFlags)
					}
					pages += p
				}
				b.ReportMetric(float64(pages)/float64(b.N), "pages/op")
				b.ReportMetric(float64(wantFlags), "flags")
			})
			b.Run(fmt.Sprintf("%s/lots/scoped=%v", c.name, scoped), func(b *testing.B) {
				server.SetScope(scoped)
				defer server.SetScope(true)
				pages := 0
				for b.Loop() {
					lots, p := list(cl)
					if lots != c.want {
						b.Fatalf("%s lists %d lots, want %d", c.name, lots, c.want)
					}
					pages += p
				}
				b.ReportMetric(float64(pages)/float64(b.N), "pages/op")
			})
		}
	}
}
