package ledger

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4/options"

	"github.com/antimony-ledger/provenance/tlog"
)

func BenchmarkAppendDurable(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			l := openTest(b, b.TempDir(), newTestKey(b), nil)
			var next atomic.Int64
			b.SetBytes(256)
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					data := make([]byte, 256)
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						copy(data, fmt.Sprintf("w%d-%d-", w, i))
						if _, _, err := l.Append(context.Background(), data); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

const benchLogSize = 1 << 20

var (
	benchOnce sync.Once
	benchDir  string
	benchKey  testKey
	benchErr  error
)

// benchLog builds a 1M-entry log of 64-byte entries once per process.
func benchLog(b *testing.B) *Log {
	benchOnce.Do(func() {
		benchKey = newTestKey(b)
		if benchDir, benchErr = os.MkdirTemp("", "ledger-bench-"); benchErr != nil {
			return
		}
		l, err := Open(context.Background(), benchDir, Options{Origin: testOrigin, Signer: benchKey.signer})
		if err != nil {
			benchErr = err
			return
		}
		defer l.Close()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 1024 {
			wg.Go(func() {
				data := make([]byte, 64)
				for {
					i := next.Add(1) - 1
					if i >= benchLogSize {
						return
					}
					copy(data, fmt.Sprintf("bench-entry-%d-", i))
					if _, _, err := l.Append(context.Background(), data); err != nil {
						benchErr = err
						return
					}
				}
			})
		}
		wg.Wait()
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return openTest(b, benchDir, benchKey, nil)
}

func cleanupBench() {
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
}

func BenchmarkInclusionProof(b *testing.B) {
	l := benchLog(b)
	ctx := context.Background()
	size, root := l.Root()
	if size != benchLogSize {
		b.Fatalf("bench log size %d, want %d", size, benchLogSize)
	}
	e, err := l.Get(ctx, 12345)
	if err != nil {
		b.Fatal(err)
	}
	p, err := l.InclusionProof(ctx, e.Index, size)
	if err != nil || tlog.VerifyInclusion(e.Leaf().Hash(), e.Index, size, p, root) != nil {
		b.Fatalf("proof of the bench log does not verify: %v", err)
	}
	b.ResetTimer()
	var i uint64
	for b.Loop() {
		i = (i + 7919) % size
		if _, err := l.InclusionProof(ctx, i, size); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdRead measures what Badger's checksum checks cost a read
// from disk: each iteration opens a closed 200,000-entry log (256-byte
// entries, in tables) with an empty block cache and streams every entry,
// with block and value checksums checked and not.
func BenchmarkColdRead(b *testing.B) {
	const n = 200_000
	k := newTestKey(b)
	dir := b.TempDir()
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 256 {
		wg.Go(func() {
			data := make([]byte, 256)
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				cryptoRead(data)
				if _, _, err := l.Append(context.Background(), data); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	defer func() { blockChecksums, valueChecksums = options.OnBlockRead, true }()
	for _, on := range []bool{false, true, false, true} {
		b.Run(fmt.Sprintf("checksums=%v", on), func(b *testing.B) {
			blockChecksums, valueChecksums = options.NoVerification, on
			if on {
				blockChecksums = options.OnBlockRead
			}
			b.SetBytes(n * 256)
			for b.Loop() {
				l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, OpenCheck: -1})
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for _, err := range l.Range(context.Background(), 0, n) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				if got != n {
					b.Fatalf("read %d entries, want %d", got, n)
				}
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenCheck measures what the check at start costs: each
// iteration opens and closes a closed 100,000-entry log, checking its
// newest DefaultOpenCheck entries or not (-1), alternated.
func BenchmarkOpenCheck(b *testing.B) {
	const n = 100_000
	k := newTestKey(b)
	dir := b.TempDir()
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer})
	if err != nil {
		b.Fatal(err)
	}
	fill(b, l, "open-check", n)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("verify-tables", func(b *testing.B) {
		// The background check of every table block after Open, on a
		// fresh open (an empty block cache) each time.
		for range b.N {
			b.StopTimer()
			l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, OpenCheck: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := VerifyTables(context.Background(), l.db); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			l.Close()
		}
	})
	for _, check := range []int{-1, 0, -1, 0} {
		b.Run(fmt.Sprintf("check=%d", check), func(b *testing.B) {
			for b.Loop() {
				l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, OpenCheck: check})
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
