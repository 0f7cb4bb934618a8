package ledger

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
)

// TestOpenMapDamageIsDataLoss_review11: a table block holding verifiable
// map values that fails its checksum hides them from loadMap's iterator;
// Open then refuses with "the verifiable map's N stored values do not give
// the root ...: the store is damaged", a plain error, not ErrDataLoss. So
// `provenanced audit` (which keys its "unsound, exit 1" verdict on
// ErrDataLoss) answers exit 2, "could not run", for a damaged store, and a
// server answers it as a start failure of no class.
func TestOpenMapDamageIsDataLoss_review11(t *testing.T) {
	k := newTestKey(t)
	dir := t.TempDir()
	vals := map[uint64][]byte{}
	apply := func(tx *StateTx, e Entry, _ any) error {
		tx.SetIndex(fmt.Appendf(nil, "i/%08d", e.Index), vals[e.Index])
		return nil
	}
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, Apply: apply})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		v := make([]byte, 200)
		rand.Read(v)
		vals[uint64(i)] = v
		if _, _, err := l.Append(t.Context(), fmt.Appendf(nil, "record %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A map value early in the map's key range, not in the table's last
	// block (which badger.Open itself reads).
	flipIn(t, dir, ".sst", vals[20])
	l, err = Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, Apply: apply, OpenCheck: -1})
	if err == nil {
		l.Close()
		t.Fatal("Open took a store whose map values' table block is damaged")
	}
	if !errors.Is(err, ErrDataLoss) {
		t.Fatalf("Open of a store whose map values' table block is damaged: %v; want ErrDataLoss (audit's unsound verdict keys on it)", err)
	}
}
