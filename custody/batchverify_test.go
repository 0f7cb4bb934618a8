package custody_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// TestVerifySignaturesMatchesSingle checks that batch verification gives,
// for every signature, the verdict of verifying it alone: all good, and
// with bad signatures, wrong keys and malformed keys mixed in.
func TestVerifySignaturesMatchesSingle(t *testing.T) {
	c := ct.New()
	var good []custody.SignatureCheck
	for i := range 40 {
		p := c.AddParty(fmt.Sprintf("p-%d", i), "Party", "PK", pb.Role_ROLE_TRADER)
		env := c.Sign(p, &pb.Statement{Note: fmt.Sprintf("n%d", i), Body: &pb.Statement_Assay{Assay: &pb.Assay{LotId: "L"}}})
		good = append(good, custody.SignatureCheck{Envelope: env, PublicKey: p.Key.Public().(ed25519.PublicKey), Sig: env.GetSignatures()[0].GetSig()})
	}
	for i, ok := range custody.VerifySignatures(good) {
		if !ok {
			t.Fatalf("good signature %d rejected", i)
		}
	}
	mixed := append([]custody.SignatureCheck(nil), good...)
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	mixed[3].Sig = flip(mixed[3].Sig, 5)           // bad R
	mixed[7].Sig = flip(mixed[7].Sig, 40)          // bad s
	mixed[11].PublicKey = mixed[12].PublicKey      // someone else's key
	mixed[20].PublicKey = mixed[20].PublicKey[:31] // malformed key
	mixed[25].Sig = mixed[25].Sig[:63]             // malformed signature
	mixed[30].Envelope = mixed[31].Envelope        // other payload
	got := custody.VerifySignatures(mixed)
	for i, m := range mixed {
		if want := custody.VerifySignature(m.Envelope, m.PublicKey, m.Sig); got[i] != want {
			t.Errorf("check %d: batch says %v, single says %v", i, got[i], want)
		}
	}
	for _, i := range []int{3, 7, 11, 20, 25, 30} {
		if got[i] {
			t.Errorf("bad check %d accepted", i)
		}
	}
	if n := len(custody.VerifySignatures(nil)); n != 0 {
		t.Errorf("VerifySignatures(nil) returned %d verdicts", n)
	}
}

// TestSubmitBatchedRejectsOnlyBad submits many envelopes at once, some with
// bad signatures, so that they share verification batches: each bad one
// is rejected with its own error and every good one is accepted.
func TestSubmitBatchedRejectsOnlyBad(t *testing.T) {
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
			if !errors.Is(err, custody.ErrBadSignature) {
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
