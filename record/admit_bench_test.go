package record

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
)

// BenchmarkAdmit64 measures, for 64 signatures by 64 keys and by 2 keys,
// what each way of admitting only signatures valid under both ZIP-215 and
// crypto/ed25519 costs, against the ZIP-215 checks alone:
//
//   - zip215-batch: the ZIP-215 batch alone (the submit path before strict
//     admission, and the verifier's and the audit's check today);
//   - zip215-single: ed25519consensus.Verify one by one;
//   - a-batch+stdlib: the batch, then crypto/ed25519.Verify for each;
//   - b-batch+R-prime-order: the batch, then for each R a canonical
//     encoding and [l]R = 0 (exact given keys of prime order);
//   - c-stdlib: crypto/ed25519.Verify for each ([Signed.Admissible]).
//
// BENCHMARKS.md, "Strict admission", has the figures.
func BenchmarkAdmit64(b *testing.B) {
	for _, nk := range []int{64, 2} {
		keys := testKeys(nk)
		checks := make([]SignatureCheck, 64)
		signed := make([]Signed, 64)
		for i := range checks {
			checks[i] = batchCase(b, keys, i%nk, i)
			c := checks[i]
			signed[i] = Signed{c.PublicKey, PAE(c.Envelope.GetPayloadType(), c.Envelope.GetPayload()), c.Sig}
		}
		run := func(name string, ok func() bool) {
			b.Run(fmt.Sprintf("keys=%d/%s", nk, name), func(b *testing.B) {
				for b.Loop() {
					if !ok() {
						b.Fatal("refused")
					}
				}
				b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "sigs/s")
			})
		}
		each := func(f func(Signed) bool) func() bool {
			return func() bool {
				for _, s := range signed {
					if !f(s) {
						return false
					}
				}
				return true
			}
		}
		stdlib := func(s Signed) bool { return ed25519.Verify(s.PublicKey, s.Message, s.Sig) }
		primeOrderR := func(s Signed) bool {
			r, err := new(edwards25519.Point).SetBytes(s.Sig[:32])
			return err == nil && bytes.Equal(r.Bytes(), s.Sig[:32]) && torsionFree(r)
		}
		run("zip215-batch", func() bool { return BatchValid(signed) })
		run("zip215-single", each(Signed.Valid))
		run("a-batch+stdlib", func() bool { return BatchValid(signed) && each(stdlib)() })
		run("b-batch+R-prime-order", func() bool { return BatchValid(signed) && each(primeOrderR)() })
		run("c-stdlib", each(Signed.Admissible))
	}
}
