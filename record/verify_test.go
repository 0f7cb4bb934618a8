package record_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// TestVerifySignaturesMatchesSingle checks that batch verification gives,
// for every signature, the verdict of verifying it alone: all good, and
// with bad signatures, wrong keys and malformed keys mixed in.
func TestVerifySignaturesMatchesSingle(t *testing.T) {
	c := ct.New()
	var good []record.SignatureCheck
	for i := range 40 {
		p := c.AddParty(fmt.Sprintf("p-%d", i), "Party", "PK", pb.Role_ROLE_TRADER)
		env := c.Sign(p, &pb.Statement{Note: fmt.Sprintf("n%d", i), Body: &pb.Statement_Assay{Assay: &pb.Assay{LotId: "L"}}})
		good = append(good, record.SignatureCheck{Envelope: env, PublicKey: p.Key.Public().(ed25519.PublicKey), Sig: env.GetSignatures()[0].GetSig()})
	}
	for i, ok := range record.VerifySignatures(good) {
		if !ok {
			t.Fatalf("good signature %d rejected", i)
		}
	}
	mixed := append([]record.SignatureCheck(nil), good...)
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	mixed[3].Sig = flip(mixed[3].Sig, 5)           // bad R
	mixed[7].Sig = flip(mixed[7].Sig, 40)          // bad s
	mixed[11].PublicKey = mixed[12].PublicKey      // someone else's key
	mixed[20].PublicKey = mixed[20].PublicKey[:31] // malformed key
	mixed[25].Sig = mixed[25].Sig[:63]             // malformed signature
	mixed[30].Envelope = mixed[31].Envelope        // other payload
	got := record.VerifySignatures(mixed)
	for i, m := range mixed {
		if want := record.VerifySignature(m.Envelope, m.PublicKey, m.Sig); got[i] != want {
			t.Errorf("check %d: batch says %v, single says %v", i, got[i], want)
		}
	}
	for _, i := range []int{3, 7, 11, 20, 25, 30} {
		if got[i] {
			t.Errorf("bad check %d accepted", i)
		}
	}
	if n := len(record.VerifySignatures(nil)); n != 0 {
		t.Errorf("VerifySignatures(nil) returned %d verdicts", n)
	}
}

// BenchmarkVerify64 compares verifying the signatures of 64 envelopes one
// by one with verifying them as one ZIP-215 batch.
func BenchmarkVerify64(b *testing.B) {
	c := ct.New()
	var envs []*pb.Envelope
	var pubs []ed25519.PublicKey
	for i := range 64 {
		p := c.AddParty(fmt.Sprintf("p-%d", i), "Party", "PK", pb.Role_ROLE_TRADER)
		envs = append(envs, c.Sign(p, &pb.Statement{Note: fmt.Sprintf("record %d", i),
			Body: &pb.Statement_Assay{Assay: &pb.Assay{LotId: "L", SubjectLink: "x"}}}))
		pubs = append(pubs, p.Key.Public().(ed25519.PublicKey))
	}
	b.Run("single", func(b *testing.B) {
		for b.Loop() {
			for i, env := range envs {
				if !record.VerifySignature(env, pubs[i], env.GetSignatures()[0].GetSig()) {
					b.Fatal("signature does not verify")
				}
			}
		}
		b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "sigs/s")
	})
	b.Run("batch", func(b *testing.B) {
		checks := make([]record.SignatureCheck, len(envs))
		for i, env := range envs {
			checks[i] = record.SignatureCheck{Envelope: env, PublicKey: pubs[i], Sig: env.GetSignatures()[0].GetSig()}
		}
		for b.Loop() {
			for i, ok := range record.VerifySignatures(checks) {
				if !ok {
					b.Fatalf("signature %d does not verify", i)
				}
			}
		}
		b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "sigs/s")
	})
	// 64 records by two parties, as when a mine and its exporter upload.
	b.Run("batch, 2 keys", func(b *testing.B) {
		two := []*ct.Party{c.AddParty("up-0", "Mine", "PK", pb.Role_ROLE_MINE), c.AddParty("up-1", "Exporter", "PK", pb.Role_ROLE_EXPORTER)}
		checks := make([]record.SignatureCheck, 64)
		for i := range checks {
			p := two[i%2]
			env := c.Sign(p, &pb.Statement{Note: fmt.Sprintf("upload %d", i), Body: &pb.Statement_Assay{Assay: &pb.Assay{LotId: "L", SubjectLink: "x"}}})
			checks[i] = record.SignatureCheck{Envelope: env, PublicKey: p.Key.Public().(ed25519.PublicKey), Sig: env.GetSignatures()[0].GetSig()}
		}
		for b.Loop() {
			for i, ok := range record.VerifySignatures(checks) {
				if !ok {
					b.Fatalf("signature %d does not verify", i)
				}
			}
		}
		b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "sigs/s")
	})
}
