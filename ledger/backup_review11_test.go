package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestBackupRefusesStreamShortOfState_review11: Backup's count check
// (one entry, one hash index key, every tree node per leaf) says nothing
// of the state keys (s/...: Apply's state and the verifiable map's
// values), which are most of a custody store's keys and which a damaged
// block hides from the iterator just as it hides entries (the model of
// TestBackupRefusesShortStream: the key gone from the store). A stream
// short of them is returned as a sound backup; for a map value, it is a
// backup whose restored store then refuses to open (the very failure the
// check was added for: "a file restore could not use").
func TestBackupRefusesStreamShortOfState_review11(t *testing.T) {
	apply := func(tx *StateTx, e Entry, _ any) error {
		tx.Set(fmt.Appendf(nil, "party/%08d", e.Index), e.Data)
		tx.SetIndex(fmt.Appendf(nil, "i/%08d", e.Index), e.ID[:])
		return nil
	}
	for _, c := range []struct {
		what string
		key  []byte
	}{
		// (An Apply state key outside the map, which the review also
		// removed, is committed by nothing the log holds: only the
		// check of every table block before the stream covers it, and
		// ledger.Log.Backup's doc says so.)
		{"a verifiable map value", stateKey(fmt.Appendf(nil, "%si/%08d", indexPrefix, 7))},
	} {
		t.Run(c.what, func(t *testing.T) {
			k := newTestKey(t)
			l := openTest(t, t.TempDir(), k, func(o *Options) { o.Apply = apply })
			for i := range 20 {
				if _, _, err := l.Append(t.Context(), fmt.Appendf(nil, "record %d", i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.db.Update(func(txn *badger.Txn) error {
				if _, err := txn.Get(c.key); err != nil {
					return fmt.Errorf("the key %q is not in the store: %w", c.key, err)
				}
				return txn.Delete(c.key)
			}); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			_, err := l.Backup(t.Context(), &buf)
			if errors.Is(err, ErrDataLoss) {
				return
			}
			if err != nil {
				t.Fatalf("Backup with %s gone: %v; want ErrDataLoss", c.what, err)
			}
			// Returned as a sound backup: what does it restore to?
			dir := filepath.Join(t.TempDir(), "restored")
			_, rerr := Restore(t.Context(), dir, &buf)
			var oerr error
			if rerr == nil {
				var r *Log
				r, oerr = Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer, Apply: apply})
				if oerr == nil {
					r.Close()
				}
			}
			t.Fatalf("Backup with %s gone returned a backup, no error (restore: %v; opening the restored store: %v); want ErrDataLoss, the backup incomplete", c.what, rerr, oerr)
		})
	}
}
