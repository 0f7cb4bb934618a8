package custody_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// TestSubmitConcurrentRejectsOnlyBad submits many envelopes at once, some
// with bad signatures, so that they are checked side by side and share
// commit groups: each bad one is rejected with its own error and every
// good one is accepted.
func TestSubmitConcurrentRejectsOnlyBad(t *testing.T) {
	c := ct.New()
	s := c.OpenStore(t)
	const n = 96
	var regs, envs []*pb.Envelope
	for i := range n {
		m := c.AddParty(fmt.Sprintf("mine-%d", i), "Mine", "PK", pb.Role_ROLE_MINE)
		regs = append(regs, c.Register(m))
		env := c.Sign(m, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: fmt.Sprintf("lot-%d", i), MassKg: 1000, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}})
		if i%7 == 3 {
			sig := bytes.Clone(env.Signatures[0].Sig)
			sig[10] ^= 0x40
			env.Signatures[0].Sig = sig
		}
		envs = append(envs, env)
	}
	ct.Submit(t, s, regs...)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, env := range envs {
		wg.Go(func() {
			<-start
			_, errs[i] = s.Submit(context.Background(), env)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if i%7 == 3 {
			if !errors.Is(err, record.ErrBadSignature) {
				t.Errorf("envelope %d (bad signature): err = %v, want ErrBadSignature", i, err)
			}
		} else if err != nil {
			t.Errorf("envelope %d (good): %v", i, err)
		}
	}
	if want := uint64(n + n - (n+3)/7); s.Log().Size() != want {
		t.Errorf("log size %d, want %d", s.Log().Size(), want)
	}
}
