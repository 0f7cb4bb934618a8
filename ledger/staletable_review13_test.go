package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4/table"
)

// staleTable writes, in dir, the table file a flush or compaction cut by a
// crash leaves: the next table's name, not in the MANIFEST, its size
// allocated (Badger writes a new table through a mapping of its final
// size) and nothing written. Badger deletes such a file at its next open
// (levels.go revertToManifest: "Table file %d not referenced in
// MANIFEST"); it is no table of the store.
func staleTable(t *testing.T, dir string) string {
	t.Helper()
	var id uint64 = 1
	names, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	for _, n := range names {
		if i, ok := table.ParseFileID(filepath.Base(n)); ok && i >= id {
			id = i + 1
		}
	}
	name := table.NewFilename(id, dir)
	if err := os.WriteFile(name, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestStaleTableIsNotDamageOnFullDisk_review13: Open makes any refusal of
// Badger's ErrDataLoss when checkTableFiles finds a damaged file among
// dir/*.sst, whatever Badger refused and whichever file it is; the glob
// takes files Badger does not reference and would delete. A process that
// dies while Badger writes a table (a memtable flush or a compaction;
// on a disk that fills, its write is what kills it) leaves exactly such
// a file. The next start on the still-full disk is refused by Badger for
// want of space (ErrNoSpace: "free at least N and start again",
// TestFullDiskAfterCrash), and Open now answers it ErrDataLoss: "restore
// the store from a backup", `provenanced audit` exit 1 "unsound", for a
// sound store that only needs space freed (free it, and the same store
// opens, Badger dropping the stale file).
func TestStaleTableIsNotDamageOnFullDisk_review13(t *testing.T) {
	const min = 24 << 20
	fs := mountSmallFS(t, 64<<20)
	dir := filepath.Join(fs, "log")
	k := newTestKey(t)
	cmd, sc := startFullChild(t, dir, k)
	for n := 0; n < 3000 && sc.Scan(); n++ {
	}
	filler := fillDisk(t, fs, "filler", 2<<20)
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Kill()
	for sc.Scan() {
	}
	cmd.Wait()
	stale := staleTable(t, dir) // what the killed process's table write left

	opts := Options{Origin: testOrigin, Signer: k.signer, MinFreeBytes: min}
	_, err := Open(context.Background(), dir, opts)
	t.Logf("Open on the full disk after the crash: %v", err)
	if errors.Is(err, ErrDataLoss) || !errors.Is(err, ErrNoSpace) {
		t.Errorf("Open on a full disk after a crash that left %s (a table write cut short, in no MANIFEST): %v; want ErrNoSpace, as without that file", filepath.Base(stale), err)
	}
	// The store is sound: with space freed it opens (Badger removes
	// the stale file, and names its next table as it was named).
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, MinFreeBytes: 1 << 20})
	if err != nil {
		t.Fatalf("Open with space freed: %v", err)
	}
	l.Close()
}

// TestStaleTableIsNotDamageWhenLocked_review13: the same without a tmpfs
// (root) to fill. Badger refuses a store another process has open
// ("Cannot acquire directory lock ... Another process is using this
// Badger database": a `badger` tool, a backup agent, a second server given
// the same directory under another path), which is no damage; with a
// stale table file in the directory, Open calls it ErrDataLoss.
func TestStaleTableIsNotDamageWhenLocked_review13(t *testing.T) {
	k := newTestKey(t)
	dir, _ := damageStore(t, k, 300, 200)
	stale := staleTable(t, dir)
	// Another process holds Badger's lock of the directory.
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, OpenCheck: -1})
	t.Logf("Open: %v", err)
	if err == nil || !strings.Contains(err.Error(), "directory lock") {
		t.Fatalf("Open while Badger's lock is held: %v; want Badger's lock refusal", err)
	}
	if errors.Is(err, ErrDataLoss) {
		t.Errorf("Open of a sound store Badger refused for its lock, with %s (no table of the store) beside it: %v; want no ErrDataLoss", filepath.Base(stale), err)
	}
	// Sound: once the lock is released it opens, and the stale file goes.
	syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, OpenCheck: -1})
	if err != nil {
		t.Fatalf("Open once the lock is released: %v", err)
	}
	l.Close()
}
