package backend_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// errAfter is a context whose Err is nil for its first n calls.
type errAfter struct {
	context.Context
	n int
}

func (c *errAfter) Err() error {
	if c.n > 0 {
		c.n--
		return nil
	}
	return context.Canceled
}

// TestReadErrorMidBatch (from a second cold review): a batch that stops
// on a log read error after some records were applied (here the log's
// Range reports an error between two read chunks) resumes from the stored
// state, so the next batch neither applies the registry records twice nor
// passes over the records of their parties.
func TestReadErrorMidBatch(t *testing.T) {
	x := lottest.New(t)
	from := x.S.Log().Size()
	var seals []string
	for i := range 120 {
		seals = append(seals, fmt.Sprintf("%03d", i)+strings.Repeat("s", 240)) // big records: a batch needs two read chunks (4 MiB)
	}
	pair := func(i int) {
		lot := fmt.Sprintf("E%d", i)
		ext := x.Extract(x.Mine, lot, 10000, 3, 9, lottest.MineSite, 1+float64(i)*0.001)
		x.Dispatch(x.Mine, lot, ext, x.Exp, 10000, 1.5+float64(i)*0.001, func(d *pb.Dispatch) { d.Seals = seals })
	}
	for i := range 60 {
		pair(i)
	}
	// A new mine, registered in the first read chunk, and its lot.
	m3 := x.C.AddParty("mine-three", "Third Mine", "PK", pb.Role_ROLE_MINE)
	m3.Reg.Site = lottest.MineSite
	x.Submit(x.C.Register(m3))
	x.Extract(m3, "M3", 10000, 3, 9, lottest.MineSite, 1.7)
	for i := 60; i < 130; i++ {
		pair(i)
	}
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := backend.ReplayN(t.Context(), b, from); err != nil {
		t.Fatal(err)
	}
	_, err = backend.Step(&errAfter{t.Context(), 1}, b)
	t.Logf("batch from %d: %v; replayed %d, flushes %d", from, err, b.Replayed(), backend.Flushes(b))
	if err == nil {
		t.Fatal("the batch fit one read chunk: the test no longer stops one midway")
	}
	for range 3 {
		if err := backend.ReplayAll(t.Context(), b); err != nil {
			t.Logf("ReplayAll: %v", err)
			continue
		}
		break
	}
	if n := backend.Skipped(b); n != 0 {
		t.Errorf("passed over %d records of a log it can take", n)
	}
	compareAll(t, x, b)
}
