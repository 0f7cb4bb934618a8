package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// deepChain returns a store with a chain of n lots, C0 extracted by a mine
// and each Ci+1 made from Ci by one transformation, all by the mine, and a
// second, unrelated party; and the entries of the log.
func deepChain(t *testing.T, n int) (*policy, []*apipb.LogEntry) {
	p, entries, _ := deepChainWith(t, n)
	return p, entries
}

// chainEnd is the deep chain's chain, its mine and its last lot's link.
type chainEnd struct {
	c    *ct.Chain
	mine *ct.Party
	link string
}

func deepChainWith(t *testing.T, n int) (*policy, []*apipb.LogEntry, chainEnd) {
	c := ct.New()
	s := c.OpenStore(t)
	mine := c.AddParty("mine-d", "Deep Mine", "PK", pb.Role_ROLE_MINE, pb.Role_ROLE_SMELTER)
	other := c.AddParty("other", "Other", "US", pb.Role_ROLE_BUYER)
	ct.Submit(t, s, c.Register(mine), c.Register(other))
	at := func(i int) *pb.Statement {
		return &pb.Statement{EventTime: c.At(ct.Day + time.Duration(i)*time.Second)}
	}
	st := at(0)
	st.Body = &pb.Statement_Extraction{Extraction: &pb.Extraction{LotId: "C0", MassKg: 1000, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30, Lon: 67}}}
	link := ct.Submit(t, s, c.Sign(mine, st))[0]
	for i := 0; i < n; i++ {
		st := at(i + 1)
		st.Body = &pb.Statement_Transformation{Transformation: &pb.Transformation{
			Kind: pb.TransformationKind_TRANSFORMATION_KIND_CONCENTRATE, Site: &pb.Location{Lat: 30, Lon: 67},
			Inputs:  []*pb.TransformationInput{{LotId: fmt.Sprintf("C%d", i), Link: link, MassKg: 1000}},
			Outputs: []*pb.TransformationOutput{{LotId: fmt.Sprintf("C%d", i+1), MassKg: 1000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}},
		}}
		link = ct.Submit(t, s, c.Sign(mine, st))[0]
	}
	srv := &Server{store: s}
	var entries []*apipb.LogEntry
	for e, err := range s.Log().Range(context.Background(), 0, s.Log().Size()) {
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, srv.logEntry(context.Background(), e))
	}
	auth, err := newAuthenticator(s)
	if err != nil {
		t.Fatal(err)
	}
	return &policy{store: s, auth: auth, mayRead: map[string]bool{}}, entries, chainEnd{c, mine, link}
}

// TestStreamWalkIsNotQuadratic: a party streaming the log redacts each
// entry it may not read. On a chain of n lots, deciding every entry must
// not walk from each lot to the end of the chain again (n²/2 lot visits,
// 2×10^8 for a chain of 20,000 that any party can build with as many
// records): one answer remembers the lots it found unreadable.
func TestStreamWalkIsNotQuadratic(t *testing.T) {
	const n = 400
	p, entries := deepChain(t, n)
	c := caller{party: "other"}
	lots := map[string]bool{}
	start := time.Now()
	p.visits.Store(0)
	for _, e := range entries {
		if err := p.reduceEntry(t.Context(), c, e, lots); err != nil {
			t.Fatal(err)
		}
		if e.GetStatement().GetPartyId() == "mine-d" && len(e.GetData()) > 0 {
			t.Fatalf("entry %d shown to an unrelated party", e.GetIndex())
		}
	}
	visits := p.visits.Load()
	t.Logf("%d entries of a chain of %d lots: %d lot visits, %v", len(entries), n+1, visits, time.Since(start))
	if visits > 4*n {
		t.Errorf("%d lot visits to redact a chain of %d lots: quadratic", visits, n+1)
	}
	// The mine still reads its chain.
	for _, lot := range []string{"C0", fmt.Sprintf("C%d", n)} {
		if ok, err := p.mayReadLot(t.Context(), "mine-d", lot, map[string]bool{}); !ok || err != nil {
			t.Errorf("the mine cannot read %s: %v", lot, err)
		}
	}
}

// TestRefusedReadIsRemembered: a party asking again and again for the first
// lot of a long chain it may not read walks the chain once, not per call,
// until refusedFor has passed; and a lot it is then sent is readable at
// once.
func TestRefusedReadIsRemembered(t *testing.T) {
	const n = 300
	p, _, end := deepChainWith(t, n)
	p.visits.Store(0)
	for range 20 {
		if ok, err := p.mayReadLot(t.Context(), "other", "C0", map[string]bool{}); ok || err != nil {
			t.Fatalf("the other party reads C0: %v %v", ok, err)
		}
	}
	if v := p.visits.Load(); v > n+1 {
		t.Errorf("20 refused reads of a %d-lot chain: %d lot visits, want one walk (%d)", n+1, v, n+1)
	}
	// A record that does not involve the party leaves the refusal standing
	// without a new walk; one that sends it the chain's last lot lifts it
	// at once.
	c := end.c
	ct.Submit(t, p.store, c.Sign(end.mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "OTHER-LOT", MassKg: 10, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30, Lon: 67}}}}))
	p.visits.Store(0)
	if ok, _ := p.mayReadLot(t.Context(), "other", "C0", map[string]bool{}); ok || p.visits.Load() != 0 {
		t.Errorf("after an unrelated record: read %v, %d lot visits, want refused with none", ok, p.visits.Load())
	}
	// Past refusedFor, the next call walks again.
	p.mu.Lock()
	for k := range p.refused {
		p.refused[k] = readRefusal{until: time.Now().Add(-time.Second)}
	}
	p.mu.Unlock()
	p.visits.Store(0)
	p.mayReadLot(t.Context(), "other", "C0", map[string]bool{})
	if v := p.visits.Load(); v < n {
		t.Errorf("after refusedFor: %d lot visits, want a new walk", v)
	}
	ct.Submit(t, p.store, c.Sign(end.mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: fmt.Sprintf("C%d", n), CustodyLink: end.link, ToPartyId: "other", MassKg: 1000, Transport: "truck"}}}))
	if ok, err := p.mayReadLot(t.Context(), "other", "C0", map[string]bool{}); !ok || err != nil {
		t.Errorf("sent the chain's last lot, the party still may not read its first: %v", err)
	}
}
