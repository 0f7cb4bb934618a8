package tlog

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestMap: every key's value proves against the root, absent keys prove
// absent, a wrong value does not prove, old versions are untouched, and
// the root depends only on the contents, not on the order of updates.
func TestMap(t *testing.T) {
	var m Map
	if m.Root() != ([32]byte{}) {
		t.Fatal("the empty map's root is not zero")
	}
	if err := VerifyMapProof(m.Root(), []byte("x"), nil, m.Prove([]byte("x"))); err != nil {
		t.Fatalf("absence in the empty map: %v", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string][]byte{}
	var keys []string
	versions := []Map{m}
	for i := range 300 {
		k := fmt.Sprintf("lot\x00L%d", rng.IntN(200))
		v := fmt.Appendf(nil, "value %d", i)
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
		want[k] = v
		m = m.Set([]byte(k), v)
		versions = append(versions, m)
	}
	if m.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", m.Len(), len(want))
	}
	root := m.Root()
	for k, v := range want {
		got, ok := m.Get([]byte(k))
		if !ok || !bytes.Equal(got, v) {
			t.Fatalf("Get(%q) = %q, %v", k, got, ok)
		}
		p := m.Prove([]byte(k))
		if err := VerifyMapProof(root, []byte(k), v, p); err != nil {
			t.Fatalf("proof of %q: %v", k, err)
		}
		if err := VerifyMapProof(root, []byte(k), append(bytes.Clone(v), '!'), p); !errors.Is(err, ErrMapProof) {
			t.Fatalf("a wrong value of %q proved: %v", k, err)
		}
		if err := VerifyMapProof(root, []byte(k), nil, p); err == nil {
			t.Fatalf("a present key %q proved absent", k)
		}
	}
	for i := range 100 {
		k := []byte(fmt.Sprintf("party\x00P%d", i))
		p := m.Prove(k)
		if err := VerifyMapProof(root, k, nil, p); err != nil {
			t.Fatalf("absence of %q: %v", k, err)
		}
		if err := VerifyMapProof(root, k, []byte("v"), p); err == nil {
			t.Fatalf("an absent key %q proved present", k)
		}
	}
	// A forger's proof that a present key is absent: another key's
	// genuine proof, ending at that key's leaf, offered as the absence
	// proof of k. It verifies against the root only if the checks of the
	// other key's path hold, so it must fail for every pair.
	for _, k := range keys[:40] {
		for _, j := range keys[:40] {
			if j == k {
				continue
			}
			p := m.Prove([]byte(j))
			vh, kh := sha256.Sum256(want[j]), sha256.Sum256([]byte(j))
			p.OtherKey, p.OtherValue = &kh, &vh
			if err := VerifyMapProof(root, []byte(k), nil, p); err == nil {
				t.Fatalf("present key %q proved absent with the proof of %q", k, j)
			}
		}
	}
	// An older version still proves its own contents.
	old := versions[10]
	k := keys[0]
	v, _ := old.Get([]byte(k))
	if err := VerifyMapProof(old.Root(), []byte(k), v, old.Prove([]byte(k))); err != nil {
		t.Fatalf("old version: %v", err)
	}
	// The same contents set in another order give the same root.
	var m2 Map
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		m2 = m2.Set([]byte(k), want[k])
	}
	if m2.Root() != root {
		t.Fatal("the root depends on the order of updates")
	}
}

func FuzzMapProof(f *testing.F) {
	f.Add([]byte("a"), []byte("b"), []byte("c"))
	f.Fuzz(func(t *testing.T, k1, k2, k3 []byte) {
		var m Map
		m = m.Set(k1, []byte("1")).Set(k2, []byte("2"))
		for _, k := range [][]byte{k1, k2, k3} {
			v, ok := m.Get(k)
			if !ok {
				v = nil
			}
			if err := VerifyMapProof(m.Root(), k, v, m.Prove(k)); err != nil {
				t.Fatalf("proof of %q: %v", k, err)
			}
		}
	})
}

func TestLeaf(t *testing.T) {
	root := [32]byte{9}
	for _, l := range []Leaf{
		{Time: time.Unix(1, 5).UTC(), Record: RecordIDOf([]byte("r"))},
		{Time: time.Unix(1733400000, 123).UTC(), Record: RecordIDOf([]byte("s")), Extra: []byte("extra"), MapRoot: &root},
	} {
		b := l.Marshal()
		got, err := ParseLeaf(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Marshal(), b) || got.Time != l.Time || got.Record != l.Record || got.Hash() != l.Hash() {
			t.Fatalf("round trip: %+v, want %+v", got, l)
		}
		for _, bad := range [][]byte{b[:len(b)-1], append(bytes.Clone(b), 0), append([]byte{1}, b[1:]...)} {
			if _, err := ParseLeaf(bad); !errors.Is(err, ErrLeaf) {
				t.Errorf("ParseLeaf(%x) = %v, want ErrLeaf", bad, err)
			}
		}
	}
}

func FuzzParseLeaf(f *testing.F) {
	f.Add(Leaf{Time: time.Unix(7, 0), Record: RecordIDOf(nil), Extra: []byte("x")}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLeaf(b)
		if err != nil {
			return
		}
		if !bytes.Equal(l.Marshal(), b) {
			t.Fatalf("accepted a non-canonical leaf %x", b)
		}
	})
}

// TestMapSetAll: SetAll gives the same map as Set one by one, whatever the
// starting map, the batch's size and its repeated keys.
func TestMapSetAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() []byte { return fmt.Appendf(nil, "k%d", rng.IntN(300)) }
	for round := range 200 {
		var one, all Map
		for range rng.IntN(200) {
			k, v := key(), fmt.Appendf(nil, "v%d", rng.Int())
			one, all = one.Set(k, v), all.Set(k, v)
		}
		var batch []MapEntry
		for range rng.IntN(60) {
			k, v := key(), fmt.Appendf(nil, "w%d", rng.Int())
			batch = append(batch, MapEntry{k, v})
			one = one.Set(k, v)
		}
		before, beforeRoot := all, all.Root()
		all = all.SetAll(batch)
		if all.Root() != one.Root() || all.Len() != one.Len() {
			t.Fatalf("round %d: SetAll of %d gives root %x len %d, Set one by one %x len %d", round, len(batch), all.Root(), all.Len(), one.Root(), one.Len())
		}
		for _, e := range batch {
			if err := VerifyMapProof(all.Root(), e.Key, mustGet(t, all, e.Key), all.Prove(e.Key)); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if before.Root() != beforeRoot {
			t.Fatalf("round %d: the map SetAll started from changed", round)
		}
	}
}

func mustGet(t *testing.T, m Map, k []byte) []byte {
	t.Helper()
	v, ok := m.Get(k)
	if !ok {
		t.Fatalf("key %s missing", k)
	}
	return v
}
