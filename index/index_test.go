package index_test

import (
	"errors"
	"testing"

	"github.com/antimony-ledger/provenance/index"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/tlog"
)

// memStore is an index.Store in memory.
type memStore struct {
	chains  map[string]index.Chain
	tallies map[string]index.Tally
	at      map[string]uint64
}

func newMem() *memStore {
	return &memStore{chains: map[string]index.Chain{}, tallies: map[string]index.Tally{}, at: map[string]uint64{}}
}

func (m *memStore) Chain(key []byte) (index.Chain, error) { return m.chains[string(key)], nil }
func (m *memStore) SetChain(key []byte, c index.Chain)    { m.chains[string(key)] = c }
func (m *memStore) Tally(key string) (index.Tally, uint64, bool, error) {
	t, ok := m.tallies[key]
	return t, m.at[key], ok, nil
}
func (m *memStore) SetTally(key string, at uint64, t index.Tally) { m.tallies[key], m.at[key] = t, at }

func id(b byte) tlog.RecordID { return tlog.RecordIDOf([]byte{b}) }

func extraction(party, lot string, kg, moisture, grade float64, product pb.Product) *pb.Statement {
	return &pb.Statement{PartyId: party, Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: lot, MassKg: kg, MoisturePct: moisture, SbGradePct: grade, Product: product}}}
}

// TestAdd indexes a small log and checks every chain and tally against
// values worked out by hand.
func TestAdd(t *testing.T) {
	m := newMem()
	reg := &pb.Statement{PartyId: "registrar", Body: &pb.Statement_PartyRegistration{PartyRegistration: &pb.PartyRegistration{PartyId: "mine-a"}}}
	recs := []struct {
		st      *pb.Statement
		country string
	}{
		{reg, ""},
		{extraction("mine-a", "L1", 1000, 10, 10, pb.Product_PRODUCT_ORE), "PK"},                                    // 1: 90 kg Sb
		{extraction("mine-b", "L2", 500, 0, 20, pb.Product_PRODUCT_ORE), "PK"},                                      // 2: 100 kg Sb
		{extraction("mine-a", "L3", 200, 0, 50, pb.Product_PRODUCT_CONCENTRATE), "PK"},                              // 3: 100 kg Sb, not ore
		{&pb.Statement{PartyId: "mine-a", Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{LotId: "L1"}}}, "PK"}, // 4
		{&pb.Statement{PartyId: "smelter", Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
			Inputs:  []*pb.TransformationInput{{LotId: "L1"}, {LotId: "L3"}, {LotId: "L1"}},
			Outputs: []*pb.TransformationOutput{{LotId: "OX"}},
		}}}, ""}, // 5
	}
	extras := make([][]byte, len(recs))
	for i, r := range recs {
		extra, err := index.Add(m, uint64(i), id(byte(i)), r.st, r.country)
		if err != nil {
			t.Fatal(err)
		}
		extras[i] = extra
	}
	for _, i := range []int{0, 4, 5} {
		if extras[i] != nil {
			t.Errorf("record %d is not an extraction but has extra data %x", i, extras[i])
		}
	}

	chainOf := func(idx ...int) index.Chain {
		var c index.Chain
		for _, i := range idx {
			c = c.Append(uint64(i), id(byte(i)))
		}
		return c
	}
	for key, want := range map[string]index.Chain{
		string(index.PartyKey("mine-a")): chainOf(0),
		string(index.LotKey("L1")):       chainOf(1, 4, 5), // the transformation once, though it names L1 twice
		string(index.LotKey("L2")):       chainOf(2),
		string(index.LotKey("L3")):       chainOf(3, 5),
		string(index.LotKey("OX")):       chainOf(5),
	} {
		if got := m.chains[key]; got != want {
			t.Errorf("chain %q = %+v, want %+v", key, got, want)
		}
	}
	if len(m.chains) != 5 {
		t.Errorf("%d chains, want 5", len(m.chains))
	}
	if c := chainOf(1, 4, 5); c.Count != 3 || c.Head != 5 {
		t.Errorf("chain count %d head %d, want 3 and 5", c.Count, c.Head)
	}

	ts, err := index.ParseExtra(extras[3])
	if err != nil {
		t.Fatal(err)
	}
	mine, ok1 := index.Find(ts, index.MineTally("mine-a"))
	country, ok2 := index.Find(ts, index.CountryTally("PK"))
	if !ok1 || !ok2 || len(ts) != 2 {
		t.Fatalf("extraction 3 tallies %+v", ts)
	}
	if want := (index.Tally{Key: index.MineTally("mine-a"), Prev: 1, Count: 2, OreG: 1_000_000, SbG: 190_000, OtherSbG: 100_000}); mine != want {
		t.Errorf("mine-a's tally at 3 = %+v, want %+v", mine, want)
	}
	if want := (index.Tally{Key: index.CountryTally("PK"), Prev: 2, Count: 3, OreG: 1_500_000, SbG: 290_000, OtherSbG: 100_000}); country != want {
		t.Errorf("PK's tally at 3 = %+v, want %+v", country, want)
	}
	first, _ := index.ParseExtra(extras[1])
	if first[0].Prev != index.NoPrev || first[1].Prev != index.NoPrev {
		t.Errorf("the first extraction's tallies have Prev %d, %d, want NoPrev", first[0].Prev, first[1].Prev)
	}
}

// TestChainOrder: the same records in another order, or one fewer, give
// another chain.
func TestChainOrder(t *testing.T) {
	a := index.Chain{}.Append(1, id(1)).Append(2, id(2))
	b := index.Chain{}.Append(2, id(2)).Append(1, id(1))
	c := index.Chain{}.Append(1, id(1))
	d := index.Chain{}.Append(1, id(1)).Append(2, id(3))
	if a == b || a == c || a == d || a.Hash == c.Hash {
		t.Errorf("chains collide: %+v %+v %+v %+v", a, b, c, d)
	}
	got, err := index.ParseChain(a.Marshal())
	if err != nil || got != a {
		t.Errorf("ParseChain(Marshal) = %+v, %v", got, err)
	}
	if _, err := index.ParseChain(a.Marshal()[:47]); !errors.Is(err, index.ErrEncoding) {
		t.Errorf("ParseChain of 47 bytes: %v", err)
	}
}

// TestParseExtra refuses truncated and oversized encodings.
func TestParseExtra(t *testing.T) {
	ts := []index.Tally{{Key: "mine\x00m", Prev: index.NoPrev, Count: 1, OreG: 5, SbG: 2}, {Key: "country\x00PK", Prev: 7, Count: 9, OreG: 1, SbG: 3, OtherSbG: 4}}
	b := index.MarshalExtra(ts)
	got, err := index.ParseExtra(b)
	if err != nil || len(got) != 2 || got[0] != ts[0] || got[1] != ts[1] {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{b[:len(b)-1], b[:3], append([]byte{0xff, 0xff, 0x7f}, b...)} {
		if _, err := index.ParseExtra(bad); !errors.Is(err, index.ErrEncoding) {
			t.Errorf("ParseExtra(%x) = %v, want ErrEncoding", bad, err)
		}
	}
}
