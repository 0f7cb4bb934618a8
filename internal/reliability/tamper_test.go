package reliability

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/antimony-ledger/provenance/ledger"
	"github.com/antimony-ledger/provenance/tlog"
)

// The stored log the tamper cases start from: 2 registrations and 20 lots
// of 3 records, 62 entries.
const (
	tamperLots   = 20
	tamperSize   = 2 + 3*tamperLots
	victim       = 37 // odd: appending it completes tree node (level 1, index 18)
	earlySize    = 30 // a checkpoint taken below the victim
	victimBuddy  = 36 // the other leaf under node (1, 18)
	level3Victim = 39 // the last leaf under node (3, 4), which it completes
)

// tamperCase alters a closed store. want is the index the audit must name.
type tamperCase struct {
	name string
	want uint64
	edit func(t *testing.T, txn *badger.Txn)
	// dataChanged: the entry's bytes differ, so a client checking an
	// inclusion proof of what GetEntry serves also notices.
	dataChanged bool
	// openFails: the store refuses to open, naming want (the last entry,
	// whose leaf carries the map root the store checks at start).
	openFails bool
}

func setValue(t *testing.T, txn *badger.Txn, key []byte, f func(v []byte) []byte) {
	t.Helper()
	v, err := getValue(txn, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Set(key, f(v)); err != nil {
		t.Fatal(err)
	}
}

func deleteKey(t *testing.T, txn *badger.Txn, key []byte) {
	t.Helper()
	if _, err := txn.Get(key); err != nil {
		t.Fatalf("key %q to delete: %v", key, err)
	}
	if err := txn.Delete(key); err != nil {
		t.Fatal(err)
	}
}

// dataStart returns where the record's data starts in a stored entry value:
// after the format byte, the 8-byte log time, the extra data's uvarint length
// and bytes, and the map-root flag and root (ledger/keys.go).
func dataStart(t *testing.T, v []byte) int {
	t.Helper()
	n, k := binary.Uvarint(v[9:])
	if k <= 0 {
		t.Fatalf("stored entry with a bad extra length")
	}
	i := 9 + k + int(n)
	if v[i] == 1 {
		return i + 33
	}
	return i + 1
}

var tamperCases = []tamperCase{
	{name: "entry data bit flipped", want: victim, dataChanged: true, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, entryKey(victim), func(v []byte) []byte { v[len(v)/2] ^= 0x10; return v })
	}},
	{name: "entry data last byte changed", want: victim, dataChanged: true, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, entryKey(victim), func(v []byte) []byte { v[len(v)-1]++; return v })
	}},
	{name: "entry data truncated", want: victim, dataChanged: true, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, entryKey(victim), func(v []byte) []byte { return v[:len(v)-1] })
	}},
	{name: "entry data extended", want: victim, dataChanged: true, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, entryKey(victim), func(v []byte) []byte { return append(v, ' ') })
	}},
	{name: "entry replaced by another valid entry", want: victim, dataChanged: true, edit: func(t *testing.T, txn *badger.Txn) {
		other, err := getValue(txn, entryKey(victim+3))
		if err != nil {
			t.Fatal(err)
		}
		setValue(t, txn, entryKey(victim), func([]byte) []byte { return other })
	}},
	{name: "two entries swapped", want: victim, dataChanged: true, edit: func(t *testing.T, txn *badger.Txn) {
		a, err1 := getValue(txn, entryKey(victim))
		b, err2 := getValue(txn, entryKey(victim+5))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		setValue(t, txn, entryKey(victim), func([]byte) []byte { return b })
		setValue(t, txn, entryKey(victim+5), func([]byte) []byte { return a })
	}},
	{name: "entry data emptied", want: victim, dataChanged: true, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, entryKey(victim), func(v []byte) []byte { return v[:dataStart(t, v)] })
	}},
	{name: "entry format byte changed", want: victim, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, entryKey(victim), func(v []byte) []byte { v[0] ^= 0xff; return v })
	}},
	{name: "entry value cut inside the header", want: victim, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, entryKey(victim), func(v []byte) []byte { return v[:4] })
	}},
	{name: "entry deleted", want: victim, edit: func(t *testing.T, txn *badger.Txn) {
		deleteKey(t, txn, entryKey(victim))
	}},
	{name: "first entry deleted", want: 0, edit: func(t *testing.T, txn *badger.Txn) {
		deleteKey(t, txn, entryKey(0))
	}},
	{name: "entry's log time moved a second", want: victim, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, entryKey(victim), func(v []byte) []byte {
			binary.BigEndian.PutUint64(v[1:9], binary.BigEndian.Uint64(v[1:9])-uint64(time.Second))
			return v
		})
	}},
	{name: "last entry deleted", want: tamperSize - 1, openFails: true, edit: func(t *testing.T, txn *badger.Txn) {
		deleteKey(t, txn, entryKey(tamperSize-1))
	}},
	{name: "stored leaf hash changed", want: victim, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, nodeKey(0, victim), func(v []byte) []byte { v[0] ^= 1; return v })
	}},
	{name: "stored leaf hash deleted", want: victim, edit: func(t *testing.T, txn *badger.Txn) {
		deleteKey(t, txn, nodeKey(0, victim))
	}},
	{name: "level-1 node changed", want: victim, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, nodeKey(1, victim/2), func(v []byte) []byte { v[31] ^= 0x80; return v })
	}},
	{name: "level-3 node changed", want: level3Victim, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, nodeKey(3, level3Victim/8), func(v []byte) []byte { v[7] ^= 4; return v })
	}},
	{name: "entry altered, a later one in the same read chunk deleted", want: 20, dataChanged: true, edit: func(t *testing.T, txn *badger.Txn) {
		setValue(t, txn, entryKey(20), func(v []byte) []byte { v[len(v)-2] ^= 2; return v })
		deleteKey(t, txn, entryKey(victim))
	}},
	{name: "hash index deleted", want: victim, edit: func(t *testing.T, txn *badger.Txn) {
		v, err := getValue(txn, entryKey(victim))
		if err != nil {
			t.Fatal(err)
		}
		deleteKey(t, txn, hashKey(tlog.RecordIDOf(v[dataStart(t, v):])))
	}},
	{name: "hash index points elsewhere", want: victim, edit: func(t *testing.T, txn *badger.Txn) {
		v, err := getValue(txn, entryKey(victim))
		if err != nil {
			t.Fatal(err)
		}
		setValue(t, txn, hashKey(tlog.RecordIDOf(v[dataStart(t, v):])), func(v []byte) []byte { v[7] = victimBuddy; return v })
	}},
}

// TestAuditDetectsTampering alters the stored bytes of a closed store
// directly in Badger, one way per case, reopens the store and checks that
// Log.Audit against the checkpoint taken before the tampering fails and
// names the altered index, while an audit of an intact copy, and of a
// checkpoint below the altered index, still passes.
func TestAuditDetectsTampering(t *testing.T) {
	w := newWorld()
	golden := filepath.Join(t.TempDir(), "golden")
	s := w.openStore(t, golden)
	envs := append(w.registrations, w.lots("L", tamperLots)...)
	var early []byte // a checkpoint handed out before the victim was appended
	for i, env := range envs {
		if i == earlySize {
			early = s.Log().Checkpoint()
		}
		r, err := s.Submit(t.Context(), env)
		if err != nil {
			t.Fatalf("submitting record %d: %v", i, err)
		}
		if r.Entry.Index != uint64(i) {
			t.Fatalf("record %d got index %d", i, r.Entry.Index)
		}
	}
	ckpt := s.Log().Checkpoint()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("intact copy", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		copyDir(t, golden, dir)
		s := w.openStore(t, dir)
		defer s.Close()
		if err := s.Log().Audit(t.Context(), ckpt, w.c.LogVerifier, nil); err != nil {
			t.Fatalf("audit of an intact copy: %v", err)
		}
	})
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			copyDir(t, golden, dir)
			editBadger(t, dir, func(txn *badger.Txn) error { tc.edit(t, txn); return nil })
			if tc.openFails {
				s, err := w.tryOpen(dir)
				if err == nil {
					s.Close()
					t.Fatalf("the store opened with %s", tc.name)
				}
				if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("entry %d", tc.want)) && !strings.Contains(msg, fmt.Sprintf("index %d", tc.want)) {
					t.Fatalf("opening: %v; want the error to name entry %d", err, tc.want)
				}
				return
			}
			// The server's open checks the newest entries (all of these
			// 62) and refuses, naming the index, the damage, and the audit.
			if s, err := w.tryOpen(dir); err == nil {
				s.Close()
				t.Fatalf("the store opened with %s at index %d", tc.name, tc.want)
			} else if !errors.Is(err, ledger.ErrDataLoss) || !strings.Contains(err.Error(), fmt.Sprintf("index %d", tc.want)) || !strings.Contains(err.Error(), "provenanced audit") {
				t.Fatalf("opening: %v; want ErrDataLoss naming index %d and pointing at provenanced audit", err, tc.want)
			}
			// An audit opens it without that check, to name the damage.
			s, err := w.tryOpenCheck(dir, -1)
			if err != nil {
				t.Fatalf("opening without the check: %v", err)
			}
			defer s.Close()
			l := s.Log()
			if l.Size() != tamperSize {
				t.Fatalf("size %d after tampering, want %d: the tree state was not touched", l.Size(), tamperSize)
			}

			err = l.Audit(t.Context(), ckpt, w.c.LogVerifier, nil)
			if err == nil {
				t.Fatalf("Audit passed a store with %s at index %d", tc.name, tc.want)
			}
			var ae *ledger.AuditError
			if !errors.As(err, &ae) || ae.Index != tc.want || !strings.Contains(err.Error(), fmt.Sprintf("index %d", tc.want)) {
				t.Fatalf("Audit = %T %v; want *ledger.AuditError naming index %d", err, err, tc.want)
			}

			// What the tampering left intact still audits clean.
			if tc.want >= earlySize {
				if err := l.Audit(t.Context(), early, w.c.LogVerifier, nil); err != nil {
					t.Errorf("Audit of the checkpoint at size %d, below the tampering at %d: %v", earlySize, tc.want, err)
				}
			}
			// A client checking the inclusion of the served bytes notices too.
			if tc.dataChanged {
				checkInclusionFails(t, l, ckpt, w, tc.want)
			}
		})
	}
}

// checkInclusionFails checks that the bytes the log now serves at index do
// not verify against the checkpoint with the log's own inclusion proof.
func checkInclusionFails(t *testing.T, l *ledger.Log, ckpt []byte, w *world, index uint64) {
	t.Helper()
	c, err := tlog.OpenCheckpoint(ckpt, w.c.LogVerifier)
	if err != nil {
		t.Fatal(err)
	}
	e, err := l.Get(t.Context(), index)
	if err != nil {
		return // not even served
	}
	p, err := l.InclusionProof(t.Context(), index, c.Size)
	if err != nil {
		return
	}
	if err := tlog.VerifyInclusion(e.Leaf().Hash(), index, c.Size, p, c.Root); err == nil {
		t.Errorf("the altered bytes at index %d verify as included in the checkpoint", index)
	}
}
