package backend_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestFlagLatency: records appended at a steady rate, each raising a
// flag, are listed with that flag within a second of their
// acknowledgement (p99), by a listing that does not wait for the
// follower: the follower keeps up on its own.
func TestFlagLatency(t *testing.T) {
	x := lottest.New(t)
	b, err := backend.Open(x.S, x.Trust(), verifier.DefaultConfig(), backend.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	backend.SetListWait(b, 0)

	const n, rate = 300, 100 // records, per second
	var mu sync.Mutex
	acked := map[string]time.Time{}
	seen := map[string]time.Duration{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // an auditor watching the flags
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: verifier.RuleBorderCorridor, PageSize: backend.MaxFlagPage})
			if err != nil {
				t.Error(err)
				return
			}
			now := time.Now()
			mu.Lock()
			for _, f := range r.GetFlags() {
				if at, ok := acked[f.GetLotId()]; ok {
					if _, ok := seen[f.GetLotId()]; !ok {
						seen[f.GetLotId()] = now.Sub(at)
					}
				}
			}
			mu.Unlock()
		}
	}()
	tick := time.NewTicker(time.Second / rate)
	for i := range n {
		<-tick.C
		lot := fmt.Sprintf("F%03d", i)
		x.Extract(x.Mine, lot, 1000, 3, 9, lottest.NearBorder, 1+float64(i)/1000)
		mu.Lock()
		acked[lot] = time.Now()
		mu.Unlock()
	}
	tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		k := len(seen)
		mu.Unlock()
		if k == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	<-done
	var lat []time.Duration
	for _, d := range seen {
		lat = append(lat, d)
	}
	slices.Sort(lat)
	if len(lat) < n {
		t.Fatalf("%d of %d flags listed within 10 s of the last append", len(lat), n)
	}
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("%d flags at %d records/s: listed after p50 %v, p99 %v, max %v", n, rate, p50, p99, lat[len(lat)-1])
	if p99 > time.Second {
		t.Errorf("flags listed after p99 %v, want within 1 s", p99)
	}
	// And each is the flag of its record: an extraction in the corridor.
	r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: verifier.RuleBorderCorridor, LotId: "F007"})
	if err != nil || len(r.GetFlags()) != 1 || r.GetFlags()[0].GetSeverity() != pb.Severity_SEVERITY_WARNING {
		t.Fatalf("F007's flag: %v, %v", r.GetFlags(), err)
	}
}
