package server

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// TestPartyLimiterBounded: the limiter refills at its rate, and keeps at
// most its maximum of buckets however many parties submit.
func TestPartyLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newPartyLimiter(Limits{PartyRate: 10, PartyBurst: 5, MaxPartyBuckets: 100})
	p.now = func() time.Time { return now }
	for i := range 5 {
		if ok, _ := p.take("a"); !ok {
			t.Fatalf("take %d of a burst of 5 refused", i)
		}
	}
	ok, wait := p.take("a")
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("past the burst: %v, wait %v; want refused, 100ms", ok, wait)
	}
	p.giveBack("a")
	if ok, _ := p.take("a"); !ok {
		t.Fatal("a token given back was not there")
	}
	now = now.Add(250 * time.Millisecond) // 2.5 tokens
	for i := range 2 {
		if ok, _ := p.take("a"); !ok {
			t.Fatalf("take %d after 250ms refused", i)
		}
	}
	if ok, _ := p.take("a"); ok {
		t.Fatal("a third take after 250ms at 10/s allowed")
	}

	// With a wait, the next token is reserved if it is due within it.
	q := newPartyLimiter(Limits{PartyRate: 10, PartyBurst: 1, PartyWait: 250 * time.Millisecond, MaxPartyBuckets: 100})
	q.now = func() time.Time { return now }
	for i, want := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond} {
		if ok, wait := q.take("c"); !ok || wait != want {
			t.Fatalf("take %d with a 250ms wait: %v %v, want a token in %v", i, ok, wait, want)
		}
	}
	if ok, wait := q.take("c"); ok || wait != 300*time.Millisecond {
		t.Fatalf("take past the wait: %v %v, want refused, next token in 300ms", ok, wait)
	}

	// A flood of distinct party ids, each taking a token (their buckets
	// are not full, so only the hard bound drops them).
	for i := range 10_000 {
		p.take(fmt.Sprintf("stranger-%d", i))
		if n := p.len(); n > 100 {
			t.Fatalf("%d buckets after %d parties, limit 100", n, i+1)
		}
	}
	// Buckets that filled up again go at the next sweep.
	now = now.Add(sweepEvery + time.Second)
	p.take("b")
	if n := p.len(); n != 1 {
		t.Fatalf("%d buckets after every other party idled past a sweep, want 1", n)
	}
}

// TestStatementParty: the party id is read from the payload as decoding
// it would, and nothing is read from what is not a statement.
func TestStatementParty(t *testing.T) {
	st := &pb.Statement{PartyId: "mine-qa", Note: "n", Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{LotId: "L1", MassKg: 5}}}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  *pb.Envelope
		want string
	}{
		{&pb.Envelope{PayloadType: record.StatementPayloadType, Payload: b}, "mine-qa"},
		{&pb.Envelope{PayloadType: "text/plain", Payload: b}, ""},
		{&pb.Envelope{PayloadType: record.StatementPayloadType, Payload: b[:len(b)-1]}, ""},
		{&pb.Envelope{PayloadType: record.StatementPayloadType, Payload: append(append([]byte{}, b...), 0x0a, 1, 'x')}, "x"},
		{&pb.Envelope{PayloadType: record.StatementPayloadType}, ""},
		{nil, ""},
	} {
		if got := statementParty(c.env); got != c.want {
			t.Errorf("statementParty(%x) = %q, want %q", c.env.GetPayload(), got, c.want)
		}
	}
}
