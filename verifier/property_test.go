package verifier_test

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// The property tests below use a seeded generator rather than
// pgregory.net/rapid, which is no longer a requirement of go.mod.

// Any single altered byte in a record's data, in an inclusion proof hash
// or in the checkpoint makes the verdict INVALID. Every checkpoint byte
// and every proof byte is tried; record data bytes are sampled.
func TestAlteredByteInvalid(t *testing.T) {
	x := lottest.New(t)
	x.CleanChain()
	orig := x.Bundle("T1")
	trust, cfg := x.Trust(), verifier.DefaultConfig()
	if rep := verifier.Verify(orig, trust, cfg); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("unaltered bundle: %v\n%s", rep.GetVerdict(), rep.GetText())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	xor := func() byte { return byte(1 + rng.IntN(255)) }
	check := func(what string, b *pb.Bundle) {
		t.Helper()
		rep := verifier.Verify(b, trust, cfg)
		if rep.GetVerdict() != pb.Verdict_VERDICT_INVALID || len(rep.GetErrors()) == 0 {
			t.Fatalf("altered %s: verdict %v\n%s", what, rep.GetVerdict(), rep.GetText())
		}
		// Through the file format: either it fails to decode or it is INVALID.
		data, err := verifier.MarshalBundle(b)
		if err != nil {
			return
		}
		if b2, err := verifier.UnmarshalBundle(data); err == nil {
			if rep := verifier.Verify(b2, trust, cfg); rep.GetVerdict() != pb.Verdict_VERDICT_INVALID {
				t.Fatalf("altered %s after a file round trip: verdict %v", what, rep.GetVerdict())
			}
		}
	}
	for i := range len(orig.Checkpoint) {
		b := proto.Clone(orig).(*pb.Bundle)
		c := []byte(b.Checkpoint)
		c[i] ^= xor()
		b.Checkpoint = string(c)
		check("checkpoint byte "+itoa(i), b)
	}
	for r := range orig.Records {
		for h := range orig.Records[r].InclusionProof {
			for k := range 32 {
				b := proto.Clone(orig).(*pb.Bundle)
				b.Records[r].InclusionProof[h][k] ^= xor()
				check("proof hash "+itoa(h)+" of record "+itoa(r), b)
			}
		}
	}
	n := 1500
	if testing.Short() {
		n = 200
	}
	for range n {
		b := proto.Clone(orig).(*pb.Bundle)
		r := rng.IntN(len(b.Records))
		d := b.Records[r].Data
		d[rng.IntN(len(d))] ^= xor()
		check("data of record "+itoa(r), b)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// Verify never panics on hostile structure: records reordered, dropped,
// duplicated, proofs truncated, indexes changed, statements swapped.
func TestHostileStructure(t *testing.T) {
	x := lottest.New(t)
	x.CleanChain()
	orig := x.Bundle("T1")
	trust, cfg := x.Trust(), verifier.DefaultConfig()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		b := proto.Clone(orig).(*pb.Bundle)
		for range 1 + rng.IntN(3) {
			n := len(b.Records)
			if n == 0 {
				break
			}
			i, j := rng.IntN(n), rng.IntN(n)
			switch rng.IntN(6) {
			case 0:
				b.Records[i], b.Records[j] = b.Records[j], b.Records[i]
			case 1:
				b.Records = append(b.Records[:i], b.Records[i+1:]...)
			case 2:
				b.Records = append(b.Records, proto.Clone(b.Records[i]).(*pb.BundleRecord))
			case 3:
				b.Records[i].InclusionProof = b.Records[i].InclusionProof[:len(b.Records[i].InclusionProof)/2]
			case 4:
				b.Records[i].Index = rng.Uint64()
			case 5:
				b.LotId = []string{"L1", "T1", "", "nope"}[rng.IntN(4)]
			}
		}
		rep := verifier.Verify(b, trust, cfg)
		for _, e := range rep.GetErrors() {
			if strings.HasPrefix(e, "internal error") {
				t.Fatalf("panic: %s", e)
			}
		}
	}
}
