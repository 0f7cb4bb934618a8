package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/tlog"
)

const testOrigin = "antimony.example/test-log"

type testKey struct {
	skey, vkey string
	signer     note.Signer
	verifier   note.Verifier
}

func newTestKey(t testing.TB) testKey {
	t.Helper()
	skey, vkey, err := tlog.GenerateNoteKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return parseTestKey(t, skey, vkey)
}

func parseTestKey(t testing.TB, skey, vkey string) testKey {
	t.Helper()
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	k := testKey{skey: skey, vkey: vkey, signer: s}
	if vkey != "" {
		if k.verifier, err = note.NewVerifier(vkey); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// openTest opens a log in dir (in memory if dir is "") and closes it at the
// end of the test.
func openTest(t testing.TB, dir string, k testKey, mod func(*Options)) *Log {
	t.Helper()
	opts := Options{Origin: testOrigin, Signer: k.signer, InMemory: dir == ""}
	if mod != nil {
		mod(&opts)
	}
	l, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// fill appends n distinct entries with the given prefix from several
// goroutines.
func fill(t testing.TB, l *Log, prefix string, n int) {
	t.Helper()
	const workers = 32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if _, _, err := l.Append(context.Background(), fmt.Appendf(nil, "%s-%06d", prefix, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// refRoot is an independent RFC 6962 Merkle tree hash (MTH) over leaf hashes.
func refRoot(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := refRoot(leaves[:k]), refRoot(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func leafHashes(t testing.TB, l *Log) [][32]byte {
	t.Helper()
	var out [][32]byte
	for e, err := range l.Range(t.Context(), 0, l.Size()) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Index != uint64(len(out)) {
			t.Fatalf("Range yielded index %d at position %d", e.Index, len(out))
		}
		out = append(out, [32]byte(e.Leaf().Hash()))
	}
	return out
}

func TestAppendRoundTrip(t *testing.T) {
	ctx := t.Context()
	l := openTest(t, t.TempDir(), newTestKey(t), nil)
	datas := [][]byte{[]byte("alpha"), []byte("beta"), bytes.Repeat([]byte{0xAB}, DefaultMaxEntrySize)}
	before := time.Now().Add(-time.Second)
	for i, d := range datas {
		e, dup, err := l.Append(ctx, d)
		if err != nil || dup {
			t.Fatalf("Append(%d): dup=%v err=%v", i, dup, err)
		}
		if e.Index != uint64(i) || !bytes.Equal(e.Data, d) || e.ID != tlog.RecordIDOf(d) {
			t.Fatalf("Append(%d) = index %d, want %d with matching data and hash", i, e.Index, i)
		}
		if e.Time.Before(before) || e.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("Append(%d).Time = %v, not now", i, e.Time)
		}
		got, err := l.Get(ctx, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if got.Index != e.Index || got.ID != e.ID || !bytes.Equal(got.Data, d) || !got.Time.Equal(e.Time) {
			t.Errorf("Get(%d) = %+v, want %+v", i, got.Index, e.Index)
		}
		byID, err := l.GetByID(ctx, tlog.RecordIDOf(d))
		if err != nil || byID.Index != uint64(i) {
			t.Errorf("GetByID(%d) = %d, %v", i, byID.Index, err)
		}
	}
	if got := l.Size(); got != uint64(len(datas)) {
		t.Fatalf("Size = %d, want %d", got, len(datas))
	}
	var n int
	for e, err := range l.Range(ctx, 1, 100) {
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Data, datas[e.Index]) || e.Index != uint64(1+n) {
			t.Errorf("Range yielded index %d at position %d", e.Index, n)
		}
		n++
	}
	if n != 2 {
		t.Errorf("Range(1, 100) yielded %d entries, want 2", n)
	}
	for _, err := range l.Range(ctx, 5, 6) {
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("Range(5, 6) on size 3: err = %v, want ErrInvalidInput", err)
		}
	}
	if _, err := l.Get(ctx, 3); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Get(size) err = %v, want ErrInvalidInput", err)
	}
	if _, err := l.GetByID(ctx, tlog.RecordIDOf([]byte("absent"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetByID(absent) err = %v, want ErrNotFound", err)
	}
}

func TestAppendDuplicate(t *testing.T) {
	ctx := t.Context()
	l := openTest(t, "", newTestKey(t), nil)
	first, dup, err := l.Append(ctx, []byte("same"))
	if err != nil || dup {
		t.Fatalf("first Append: dup=%v err=%v", dup, err)
	}
	ckpt := l.Checkpoint()
	again, dup, err := l.Append(ctx, []byte("same"))
	if err != nil || !dup || again.Index != first.Index || !again.Time.Equal(first.Time) {
		t.Fatalf("second Append = index %d dup=%v err=%v, want index %d dup=true", again.Index, dup, err, first.Index)
	}
	if l.Size() != 1 || !bytes.Equal(l.Checkpoint(), ckpt) {
		t.Fatalf("duplicate changed the log: size %d", l.Size())
	}

	// Racing identical appends: exactly one writes.
	const n = 32
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh, indexes := 0, map[uint64]bool{}
	for range n {
		wg.Go(func() {
			e, dup, err := l.Append(ctx, []byte("raced"))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if !dup {
				fresh++
			}
			indexes[e.Index] = true
		})
	}
	wg.Wait()
	if fresh != 1 || len(indexes) != 1 || l.Size() != 2 {
		t.Fatalf("racing duplicates: %d fresh, indexes %v, size %d; want 1 fresh, one index, size 2", fresh, indexes, l.Size())
	}
}

func TestAppendRejectsInvalid(t *testing.T) {
	ctx := t.Context()
	l := openTest(t, "", newTestKey(t), func(o *Options) { o.MaxEntrySize = 100 })
	if _, _, err := l.Append(ctx, bytes.Repeat([]byte{1}, 100)); err != nil {
		t.Fatalf("Append at the limit: %v", err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want []string
	}{
		{"nil", nil, []string{"empty"}},
		{"empty", []byte{}, []string{"empty"}},
		{"oversized", bytes.Repeat([]byte{2}, 101), []string{"101", "100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := l.Append(ctx, tc.data)
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if l.Size() != 1 {
				t.Errorf("size = %d after rejected append, want 1", l.Size())
			}
		})
	}
}

var errMissing = errors.New("dependency missing")

// applyDeps is an ApplyFunc: "set K" sets K, "need K" requires K, "after
// D" requires an entry with data D before it (tx.Entry), "value V"
// requires the append's value to print as V. Every entry also marks itself
// touched before deciding.
func applyDeps(tx *StateTx, e Entry, value any) error {
	tx.Set([]byte("touched/"+string(e.Data)), nil)
	verb, key, _ := strings.Cut(string(e.Data), " ")
	switch verb {
	case "set":
		tx.Set([]byte("key/"+key), binary.BigEndian.AppendUint64(nil, e.Index))
	case "need":
		ok, err := tx.Has([]byte("key/" + key))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("entry %q: %w", e.Data, errMissing)
		}
	case "after":
		prev, err := tx.Entry(tlog.RecordIDOf([]byte(key)))
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("entry %q: %w", e.Data, errMissing)
		} else if err != nil {
			return err
		}
		if string(prev.Data) != key || prev.Index >= e.Index {
			return fmt.Errorf("entry %q: tx.Entry gave index %d %q", e.Data, prev.Index, prev.Data)
		}
	case "value":
		if fmt.Sprint(value) != key {
			return fmt.Errorf("entry %q: value %v: %w", e.Data, value, errMissing)
		}
	case "index": // "index K V": map key K gets value V, and the leaf's extra says so
		k, v, _ := strings.Cut(key, " ")
		tx.SetIndex([]byte(k), []byte(v))
		tx.SetExtra([]byte("set " + k))
	}
	return nil
}

// stopCommitter stops l's committer, so that a test can commit groups
// itself (commitGroup) and read the committer's fields.
func stopCommitter(l *Log) {
	l.cancel()
	l.wg.Wait()
}

// restartCommitter starts a new committer after stopCommitter; it plans on
// a fresh snapshot, which holds what the test committed.
func restartCommitter(l *Log) {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, ctx.Done()
	l.stopped = make(chan struct{})
	l.wg.Add(1)
	go l.run(ctx)
}

// commitBatch runs one commit group directly, bypassing group formation so
// that the group's composition and order are known.
func commitBatch(t *testing.T, l *Log, datas ...string) []result {
	t.Helper()
	reqs := make([]*request, len(datas))
	for i, d := range datas {
		reqs[i] = &request{data: []byte(d), id: tlog.RecordIDOf([]byte(d)), reply: make(chan result, 1)}
	}
	stopCommitter(l)
	carry := l.commitGroup(reqs)
	restartCommitter(l)
	if len(carry) != 0 {
		t.Fatalf("commit group split unexpectedly: %d carried", len(carry))
	}
	out := make([]result, len(reqs))
	for i, r := range reqs {
		out[i] = <-r.reply
	}
	return out
}

func TestApplyWithinGroup(t *testing.T) {
	l := openTest(t, "", newTestKey(t), func(o *Options) { o.Apply = applyDeps })
	res := commitBatch(t, l, "set a", "need a", "need b", "set b", "need b", "set a", "need c")
	want := []struct {
		index uint64
		dup   bool
		err   error
	}{{0, false, nil}, {1, false, nil}, {0, false, errMissing}, {2, false, nil}, {3, false, nil}, {0, true, nil}, {0, false, errMissing}}
	for i, w := range want {
		r := res[i]
		if w.err != nil {
			if !errors.Is(r.err, w.err) {
				t.Errorf("request %d: err = %v, want %v", i, r.err, w.err)
			}
			continue
		}
		if r.err != nil || r.e.Index != w.index || r.dup != w.dup {
			t.Errorf("request %d: index %d dup %v err %v, want index %d dup %v", i, r.e.Index, r.dup, r.err, w.index, w.dup)
		}
	}
	if l.Size() != 4 {
		t.Fatalf("size = %d, want 4", l.Size())
	}
	for _, k := range []string{"touched/set a", "touched/need a", "touched/set b", "touched/need b", "key/a", "key/b"} {
		if _, err := l.StateGet([]byte(k)); err != nil {
			t.Errorf("StateGet(%q): %v", k, err)
		}
	}
	for _, k := range []string{"touched/need c"} {
		if _, err := l.StateGet([]byte(k)); !errors.Is(err, ErrNotFound) {
			t.Errorf("StateGet(%q) of a rejected entry: err = %v, want ErrNotFound", k, err)
		}
	}
	// The public path returns Apply's error unchanged.
	if _, _, err := l.Append(t.Context(), []byte("need z")); !errors.Is(err, errMissing) {
		t.Errorf("Append rejected by Apply: err = %v, want errMissing", err)
	}
	if e, dup, err := l.Append(t.Context(), []byte("need b")); err != nil || !dup || e.Index != 3 {
		t.Errorf("Append(need b) again = index %d dup %v err %v, want the existing entry 3 as a duplicate", e.Index, dup, err)
	}
	var keys []string
	for kv, err := range l.StateScan(t.Context(), []byte("key/")) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, fmt.Sprintf("%s=%d", kv.Key, binary.BigEndian.Uint64(kv.Value)))
	}
	if got, want := strings.Join(keys, ","), "key/a=0,key/b=2"; got != want {
		t.Errorf("StateScan(key/) = %s, want %s", got, want)
	}
}

func TestApplyInLogOrder(t *testing.T) {
	var mu sync.Mutex
	var bad []string
	counter := func(tx *StateTx, e Entry, _ any) error {
		n, err := readCount(tx)
		if err != nil {
			return err
		}
		if n != e.Index {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("entry %d saw count %d", e.Index, n))
			mu.Unlock()
		}
		tx.Set([]byte("count"), binary.BigEndian.AppendUint64(nil, n+1))
		return nil
	}
	dir := t.TempDir()
	k := newTestKey(t)
	l := openTest(t, dir, k, func(o *Options) { o.Apply = counter })
	fill(t, l, "c", 300)
	v, err := l.StateGet([]byte("count"))
	if err != nil || binary.BigEndian.Uint64(v) != 300 || l.Size() != 300 {
		t.Fatalf("count = %x (%v), size %d; want 300", v, err, l.Size())
	}
	if len(bad) > 0 {
		t.Fatalf("Apply saw stale state: %v", bad[:min(len(bad), 5)])
	}
}

func TestProofs(t *testing.T) {
	for _, tc := range []struct {
		n     int
		pairs int // 0: all pairs
	}{{40, 0}, {1000, 400}} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			dir, k := t.TempDir(), newTestKey(t)
			l := openTest(t, dir, k, nil)
			fill(t, l, "p", tc.n)
			leaves := leafHashes(t, l)
			size, root := l.Root()
			if size != uint64(tc.n) || root != refRoot(leaves) {
				t.Fatalf("Root() = %d %x, want %d %x", size, root, tc.n, refRoot(leaves))
			}
			checkProofs(t, l, leaves, tc.pairs)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTest(t, dir, k, nil)
			if s2, r2 := l.Root(); s2 != size || r2 != root {
				t.Fatalf("after reopen Root() = %d %x, want %d %x", s2, r2, size, root)
			}
			checkProofs(t, l, leaves, tc.pairs)
		})
	}
}

// checkProofs verifies inclusion and consistency proofs and RootAt for all
// (pairs == 0) or that many random (index, size) and (size1, size2) pairs.
func checkProofs(t *testing.T, l *Log, leaves [][32]byte, pairs int) {
	t.Helper()
	ctx := t.Context()
	n := uint64(len(leaves))
	roots := make(map[uint64][32]byte)
	rootOf := func(size uint64) [32]byte {
		if r, ok := roots[size]; ok {
			return r
		}
		r := refRoot(leaves[:size])
		got, err := l.RootAt(ctx, size)
		if err != nil || got != r {
			t.Fatalf("RootAt(%d) = %x, %v; want %x", size, got, err, r)
		}
		roots[size] = r
		return r
	}
	inclusion := func(index, size uint64) {
		p, err := l.InclusionProof(ctx, index, size)
		if err != nil {
			t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
		}
		root := rootOf(size)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaves[index][:], sliceHashes(p), root[:]); err != nil {
			t.Fatalf("inclusion of %d in %d: %v", index, size, err)
		}
		if err := tlog.VerifyInclusion(tlog.LeafHash(leaves[(index+1)%size]), index, size, p, root); size > 1 && err == nil {
			t.Fatalf("inclusion of %d in %d verified for the wrong leaf", index, size)
		}
	}
	consistency := func(s1, s2 uint64) {
		p, err := l.ConsistencyProof(ctx, s1, s2)
		if err != nil {
			t.Fatalf("ConsistencyProof(%d, %d): %v", s1, s2, err)
		}
		r1, r2 := rootOf(s1), rootOf(s2)
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, s1, s2, sliceHashes(p), r1[:], r2[:]); err != nil {
			t.Fatalf("consistency %d -> %d: %v", s1, s2, err)
		}
		if err := tlog.VerifyConsistency(s1, s2, p, r1, r2); err != nil {
			t.Fatalf("VerifyConsistency %d -> %d: %v", s1, s2, err)
		}
	}
	if pairs == 0 {
		for size := uint64(1); size <= n; size++ {
			for i := range size {
				inclusion(i, size)
			}
			for s1 := range size + 1 {
				consistency(s1, size)
			}
		}
	} else {
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		for range pairs {
			size := 1 + rng.Uint64N(n)
			inclusion(rng.Uint64N(size), size)
			s1 := rng.Uint64N(size + 1)
			consistency(s1, size)
		}
		inclusion(n-1, n)
		consistency(n/2, n)
	}
	if _, err := l.InclusionProof(ctx, n, n); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("InclusionProof(size, size) err = %v, want ErrInvalidInput", err)
	}
	if _, err := l.ConsistencyProof(ctx, 1, n+1); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("ConsistencyProof beyond size err = %v, want ErrInvalidInput", err)
	}
	if _, err := l.RootAt(ctx, n+1); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("RootAt beyond size err = %v, want ErrInvalidInput", err)
	}
}

func TestCheckpoint(t *testing.T) {
	dir, k := t.TempDir(), newTestKey(t)
	l := openTest(t, dir, k, nil)
	check := func(wantSize uint64) []byte {
		t.Helper()
		msg := l.Checkpoint()
		n, err := note.Open(msg, note.VerifierList(k.verifier))
		if err != nil {
			t.Fatalf("note.Open: %v", err)
		}
		c, err := tlog.ParseCheckpoint(n.Text)
		if err != nil {
			t.Fatal(err)
		}
		size, root := l.Root()
		if c.Origin != testOrigin || c.Size != wantSize || c.Size != size || c.Root != root {
			t.Fatalf("checkpoint %+v, want origin %q size %d root %x", c, testOrigin, size, root)
		}
		if c2, err := tlog.OpenCheckpoint(msg, k.verifier); err != nil || c2 != c {
			t.Fatalf("OpenCheckpoint = %+v, %v; want %+v", c2, err, c)
		}
		return msg
	}
	check(0)
	fill(t, l, "k", 10)
	before := check(10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, k, nil)
	if after := check(10); !bytes.Equal(after, before) {
		t.Fatalf("checkpoint after reopen:\n%s\nbefore:\n%s", after, before)
	}
	other := newTestKey(t)
	if _, err := tlog.OpenCheckpoint(before, other.verifier); err == nil {
		t.Fatal("OpenCheckpoint verified with the wrong key")
	}
	if err := l.Audit(t.Context(), before, k.verifier, nil); err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if _, err := Open(t.Context(), t.TempDir(), Options{Origin: testOrigin}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Open without signer: err = %v, want ErrInvalidInput", err)
	}
}

func TestReopenOtherOrigin(t *testing.T) {
	dir, k := t.TempDir(), newTestKey(t)
	l := openTest(t, dir, k, nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dir, Options{Origin: "other.example/log", Signer: k.signer})
	if err == nil || !strings.Contains(err.Error(), "origin") {
		t.Fatalf("Open with another origin: err = %v", err)
	}
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	l := openTest(t, "", newTestKey(t), nil)
	if _, _, err := l.Append(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := l.Append(ctx, []byte("y")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: err = %v, want ErrClosed", err)
	}
	if _, err := l.Get(ctx, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: err = %v, want ErrClosed", err)
	}
	if _, err := l.InclusionProof(ctx, 0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("InclusionProof after Close: err = %v, want ErrClosed", err)
	}
}

func TestConcurrentReadsDuringAppends(t *testing.T) {
	ctx := t.Context()
	l := openTest(t, t.TempDir(), newTestKey(t), nil)
	fill(t, l, "base", 10)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		fill(t, l, "more", 300)
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			size, root := l.Root()
			i := size - 1
			p, err := l.InclusionProof(ctx, i, size)
			if err != nil {
				t.Error(err)
				return
			}
			e, err := l.Get(ctx, i)
			if err != nil {
				t.Error(err)
				return
			}
			if err := tlog.VerifyInclusion(e.Leaf().Hash(), i, size, p, root); err != nil {
				t.Errorf("inclusion during appends: %v", err)
				return
			}
		}
	})
	wg.Wait()
}

// TestMissingError: a miss is ErrNotFound and names what was looked up.
func TestMissingError(t *testing.T) {
	key := []byte("lot/L-1")
	err := missingState(key)
	key[0] = 'X' // the error keeps its own copy
	if !errors.Is(err, ErrNotFound) || err.Error() != `state key "lot/L-1": not found` {
		t.Fatalf("missingState: %v", err)
	}
	var leaf [32]byte
	leaf[31] = 0xab
	if err := missingEntry(leaf); !errors.Is(err, ErrNotFound) || err.Error() != "entry "+strings.Repeat("00", 31)+"ab: not found" {
		t.Fatalf("missingEntry: %v", err)
	}
}

func sliceHashes(hs [][32]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// TestOpenLocked: a directory holds one open log at a time; a second Open
// fails with ErrLocked and leaves the first working, and once the first is
// closed the directory opens again.
func TestOpenLocked(t *testing.T) {
	dir, k := t.TempDir(), newTestKey(t)
	l := openTest(t, dir, k, nil)
	if _, _, err := l.Append(t.Context(), []byte("first")); err != nil {
		t.Fatal(err)
	}
	if l2, err := Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer}); !errors.Is(err, ErrLocked) {
		if err == nil {
			l2.Close()
		}
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if _, _, err := l.Append(t.Context(), []byte("second")); err != nil {
		t.Fatalf("append after a refused second Open: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l3, err := Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer l3.Close()
	if l3.Size() != 2 {
		t.Fatalf("reopened size %d, want 2", l3.Size())
	}
}

// lockedBuffer is an io.Writer safe for concurrent use, for a test logger.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestOpenDuringClose: an Open racing a Close of the same directory is
// refused (ErrLocked) until the Close is over, so it never finds the
// journal of a log that is still closing and takes it for a crash.
func TestOpenDuringClose(t *testing.T) {
	dir, k := t.TempDir(), newTestKey(t)
	for round := range 5 {
		l, err := Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer})
		if err != nil {
			t.Fatal(err)
		}
		fill(t, l, fmt.Sprintf("round %d ", round), 40)
		// Widen the window between Badger's close and the journal's
		// retirement, where a second Open must still be refused.
		l.beforeSync = func() error { time.Sleep(50 * time.Millisecond); return nil }
		closed := make(chan error, 1)
		go func() { closed <- l.Close() }()
		var logs lockedBuffer
		var l2 *Log
		for {
			l2, err = Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err == nil {
				break
			}
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("round %d: Open during Close: %v", round, err)
			}
			runtime.Gosched()
		}
		if err := <-closed; err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		if strings.Contains(logs.String(), "unclean stop") {
			t.Fatalf("round %d: an Open during a clean Close replayed its journal:\n%s", round, logs.String())
		}
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifiableMap: what Apply sets with SetIndex is in the map the last
// leaf of each group commits; a Snapshot's map proves against the root in
// its checkpoint's last leaf, which proves against the checkpoint; a leaf
// carries its time and Extra; and reopening rebuilds the same map.
func TestVerifiableMap(t *testing.T) {
	dir, k := t.TempDir(), newTestKey(t)
	l := openTest(t, dir, k, func(o *Options) { o.Apply = applyDeps })
	for i := range 40 {
		if _, _, err := l.Append(t.Context(), fmt.Appendf(nil, "index lot%d v%d", i%7, i)); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, l, "plain ", 30) // groups of entries that set nothing
	check := func(l *Log) {
		t.Helper()
		snap, err := l.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		c := snap.Checkpoint
		last, err := l.Get(t.Context(), c.Size-1)
		if err != nil {
			t.Fatal(err)
		}
		if last.MapRoot == nil || *last.MapRoot != snap.Map.Root() {
			t.Fatalf("the last leaf commits map root %v, the snapshot's is %x", last.MapRoot, snap.Map.Root())
		}
		p, err := l.InclusionProof(t.Context(), last.Index, c.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyInclusion(last.Leaf().Hash(), last.Index, c.Size, p, c.Root); err != nil {
			t.Fatalf("the last leaf does not prove: %v", err)
		}
		for j := range 7 {
			key := fmt.Appendf(nil, "lot%d", j)
			want := fmt.Appendf(nil, "v%d", 35+j) // the last of i%7 == j below 40
			if 35+j >= 40 {
				want = fmt.Appendf(nil, "v%d", 28+j)
			}
			if err := tlog.VerifyMapProof(*last.MapRoot, key, want, snap.Map.Prove(key)); err != nil {
				t.Fatalf("map value of %s: %v", key, err)
			}
		}
		if err := tlog.VerifyMapProof(*last.MapRoot, []byte("lot9"), nil, snap.Map.Prove([]byte("lot9"))); err != nil {
			t.Fatalf("absence of lot9: %v", err)
		}
		e, err := l.Get(t.Context(), 3)
		if err != nil || string(e.Extra) != "set lot3" || e.Time.IsZero() {
			t.Fatalf("entry 3: extra %q, time %v, %v", e.Extra, e.Time, err)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer, Apply: applyDeps})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	check(l2)
}

// TestOpenRefusesDamagedMap: a stored map value changed behind the log's
// back does not give the committed root, and Open says so.
func TestOpenRefusesDamagedMap(t *testing.T) {
	dir, k := t.TempDir(), newTestKey(t)
	l := openTest(t, dir, k, func(o *Options) { o.Apply = applyDeps })
	if _, _, err := l.Append(t.Context(), []byte("index lot1 v1")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(stateKey([]byte(indexPrefix+"lot1")), []byte("v2")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if l, err := Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer}); err == nil || !strings.Contains(err.Error(), "damaged") {
		if err == nil {
			l.Close()
		}
		t.Fatalf("Open of a store with a damaged map: %v", err)
	}
}

// TestOpenRefusesOldFormat: a store with entries and no format version (as
// builds before format 2 wrote it) is refused, naming both versions; so
// is a store of a later version.
func TestOpenRefusesOldFormat(t *testing.T) {
	for _, tc := range []struct {
		name, version, want string
	}{{"format 1", "", "format 1"}, {"format 3", "3", "format 3"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir, k := t.TempDir(), newTestKey(t)
			l := openTest(t, dir, k, nil)
			if _, _, err := l.Append(t.Context(), []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(txn *badger.Txn) error {
				if tc.version == "" {
					return txn.Delete(keyFormat)
				}
				return txn.Set(keyFormat, []byte(tc.version))
			})
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			_, err = Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer})
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "format 2") {
				t.Fatalf("Open: %v, want ErrFormat naming %s and format 2", err, tc.want)
			}
		})
	}
}

// TestResign: a quiet log's checkpoint is signed again, at the same size
// and root, once it is older than Options.Resign, so that its time says
// when the log last vouched for the tree; with Resign negative it is not.
func TestResign(t *testing.T) {
	skey, vkey, err := tlog.GenerateNoteKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	for _, tc := range []struct {
		resign time.Duration
		fresh  bool
	}{{0, true}, {-1, false}} {
		l, err := Open(t.Context(), "", Options{Origin: testOrigin, Signer: signer, InMemory: true, Now: clock, Resign: tc.resign})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, _, err := l.Append(t.Context(), []byte("one")); err != nil {
			t.Fatal(err)
		}
		open := func() tlog.Checkpoint {
			t.Helper()
			c, err := tlog.OpenCheckpoint(l.Checkpoint(), v)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		appended := open()
		if !appended.Time.Equal(clock()) {
			t.Fatalf("checkpoint time %s, want the append's %s", appended.Time, clock())
		}
		advance(DefaultResign / 2)
		if c := open(); !c.Time.Equal(appended.Time) {
			t.Errorf("resign %v: re-signed after %v, before the interval", tc.resign, DefaultResign/2)
		}
		advance(DefaultResign)
		c := open()
		if c.Size != appended.Size || c.Root != appended.Root {
			t.Fatalf("re-signed checkpoint of size %d root %x, want %d %x", c.Size, c.Root, appended.Size, appended.Root)
		}
		if got := c.Time.Equal(clock()); got != tc.fresh {
			t.Errorf("resign %v: checkpoint time %s, now %s: fresh %v, want %v", tc.resign, c.Time, clock(), got, tc.fresh)
		}
		snap, err := l.Snapshot()
		if err != nil || snap.Checkpoint.Size != 1 || string(snap.Signed) != string(l.Checkpoint()) {
			t.Errorf("snapshot %+v, %v: want the same re-signed checkpoint", snap.Checkpoint, err)
		}
	}
}

// TestClockStepBack: when the wall clock steps back (as NTP may make it),
// a later group's integration time and a re-signed checkpoint's time are
// still not before the last ones: times never go backwards along the log.
func TestClockStepBack(t *testing.T) {
	skey, vkey, err := tlog.GenerateNoteKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tlog.NewSigner(skey)
	v, _ := tlog.NewVerifier(vkey)
	var mu sync.Mutex
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	l := openTest(t, "", testKey{signer: signer}, func(o *Options) {
		o.Signer = signer
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	e1, _, err := l.Append(t.Context(), []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	set(base.Add(-2 * time.Second)) // the clock steps back
	e2, _, err := l.Append(t.Context(), []byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	if e2.Time.Before(e1.Time) {
		t.Errorf("entry 1 integrated at %s, before entry 0 at %s", e2.Time, e1.Time)
	}
	set(base.Add(-time.Hour + 2*DefaultResign)) // still behind the last group
	c, err := tlog.OpenCheckpoint(l.Checkpoint(), v)
	if err != nil {
		t.Fatal(err)
	}
	if c.Time.Before(e2.Time.Truncate(time.Second)) {
		t.Errorf("checkpoint signed at %s, before its last leaf's time %s", c.Time, e2.Time)
	}
}

// TestReopenKeepsCheckpoint: a reopened log serves its stored checkpoint
// until it is Options.Resign old, not one signed again at the next second.
func TestReopenKeepsCheckpoint(t *testing.T) {
	skey, _, err := tlog.GenerateNoteKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tlog.NewSigner(skey)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 900_000_000, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dir := t.TempDir()
	open := func() *Log {
		l, err := Open(t.Context(), dir, Options{Origin: testOrigin, Signer: signer, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	if _, _, err := l.Append(t.Context(), []byte("one")); err != nil {
		t.Fatal(err)
	}
	before := l.Checkpoint()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(1200 * time.Millisecond) // the next second
	mu.Unlock()
	l = open()
	defer l.Close()
	if after := l.Checkpoint(); string(after) != string(before) {
		t.Errorf("checkpoint after reopening:\n%s\nbefore:\n%s", after, before)
	}
}

// TestClockOutOfRange: a clock that jumped ahead holds the log's time there
// (times never go backwards) and says so in the log; a clock beyond the
// times a leaf can hold refuses the append, writing nothing.
func TestClockOutOfRange(t *testing.T) {
	var mu sync.Mutex
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	var logs bytes.Buffer
	l := openTest(t, "", newTestKey(t), func(o *Options) {
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	set(base.Add(time.Hour)) // the clock jumps an hour ahead, once
	if _, _, err := l.Append(t.Context(), []byte("ahead")); err != nil {
		t.Fatal(err)
	}
	set(base.Add(time.Minute)) // and is set right
	e, _, err := l.Append(t.Context(), []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	if !e.Time.Equal(base.Add(time.Hour)) {
		t.Errorf("entry after the clock was set right: %s, want the held %s", e.Time, base.Add(time.Hour))
	}
	if !strings.Contains(logs.String(), "the log's time is ahead of its clock") {
		t.Errorf("no error logged for a held time; logs:\n%s", logs.String())
	}
	set(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC))
	size := l.Size()
	if _, _, err := l.Append(t.Context(), []byte("2300")); !errors.Is(err, ErrClock) {
		t.Errorf("append with the clock at 2300: %v, want ErrClock", err)
	}
	if l.Size() != size {
		t.Errorf("the refused append was written")
	}
}
