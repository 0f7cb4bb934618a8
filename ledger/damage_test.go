package ledger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// damageStore writes a log of n entries of random (incompressible, so
// stored literally) bytes, each size bytes long, to a new directory, closes
// it and returns the directory and the entries.
func damageStore(t *testing.T, k testKey, n, size int) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer})
	if err != nil {
		t.Fatal(err)
	}
	var datas [][]byte
	for range n {
		d := make([]byte, size)
		rand.Read(d)
		if _, _, err := l.Append(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		datas = append(datas, d)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, datas
}

// flipIn flips one byte of data (in its middle) where it is stored in the
// one file of dir whose name ends in ext, and returns the file and its
// digest after the flip.
func flipIn(t *testing.T, dir, ext string, data []byte) (string, [32]byte) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	probe := data[len(data)/2-8 : len(data)/2+8]
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, probe)
		if i < 0 {
			continue
		}
		if bytes.Index(b[i+1:], probe) >= 0 {
			t.Fatalf("the entry's bytes are stored twice in %s", f)
		}
		// Written in place, not by truncating and rewriting the file,
		// which an open store has mapped.
		b[i+8] ^= 0x20
		fh, err := os.OpenFile(f, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteAt(b[i+8:i+9], int64(i+8)); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
		return f, sha256.Sum256(b)
	}
	t.Fatalf("the entry's bytes are in no %s file of %s (%d files)", ext, dir, len(files))
	return "", [32]byte{}
}

// checkKept checks that file still holds exactly the damaged bytes.
func checkKept(t *testing.T, file string, want [32]byte) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the damaged file is gone: %v", err)
	}
	if sha256.Sum256(b) != want {
		t.Fatalf("the damaged file %s was changed (now %d bytes): the evidence was not kept", file, len(b))
	}
}

// TestOpenRefusesFlippedSST flips one byte of an entry's data inside
// Badger's table file: Open refuses, naming the entry and pointing at the
// audit, and leaves the file as it was.
func TestOpenRefusesFlippedSST(t *testing.T) {
	k := newTestKey(t)
	const victim = 20
	dir, datas := damageStore(t, k, 30, 200) // under the value threshold: in the table
	file, sum := flipIn(t, dir, ".sst", datas[victim])

	_, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer})
	if err == nil {
		t.Fatal("a store with a flipped byte in its table opened")
	}
	// The damaged block hides every key it holds: the victim's entry and
	// the hash index keys sorted next to it. The check names the first
	// entry whose check fails, at or before the victim.
	var ae *AuditError
	if !errors.Is(err, ErrDataLoss) || !errors.As(err, &ae) || ae.Index > victim ||
		!strings.Contains(err.Error(), fmt.Sprintf("index %d", ae.Index)) || !strings.Contains(err.Error(), "provenanced audit") {
		t.Fatalf("Open: %v; want ErrDataLoss naming an index up to %d and pointing at provenanced audit", err, victim)
	}
	t.Logf("Open: %v", err)
	checkKept(t, file, sum)
}

// TestOpenRefusesFlippedVlog flips one byte of an entry's data inside
// Badger's value log: Open refuses before Badger truncates the file there
// (which it does on open, losing every later value), naming the file, and
// leaves it as it was.
func TestOpenRefusesFlippedVlog(t *testing.T) {
	k := newTestKey(t)
	dir, datas := damageStore(t, k, 6, 8<<10) // over the value threshold: in the value log
	file, sum := flipIn(t, dir, ".vlog", datas[2])

	_, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, OpenCheck: -1})
	if err == nil {
		t.Fatal("a store with a flipped byte in its value log opened")
	}
	if !errors.Is(err, ErrDataLoss) || !strings.Contains(err.Error(), filepath.Base(file)) || !strings.Contains(err.Error(), "provenanced audit") {
		t.Fatalf("Open: %v; want ErrDataLoss naming %s and pointing at provenanced audit", err, filepath.Base(file))
	}
	t.Logf("Open: %v", err)
	checkKept(t, file, sum)
}

// TestOpenRefusesFlippedLastVlogEntry flips one byte of the last entry
// of the newest value log, which Badger cut at open as if a crash had
// left it short (a new user's trial: the file cut from 10,968 to 20
// bytes and the record gone, by the server's start and by provenanced
// audit alike, which both open the store this way). The file ends where
// that entry does: it was written whole and closed, not cut short by a
// crash, so Open refuses, naming the file, and leaves it as it was.
func TestOpenRefusesFlippedLastVlogEntry(t *testing.T) {
	k := newTestKey(t)
	dir, datas := damageStore(t, k, 6, 8<<10) // over the value threshold: in the value log
	file, sum := flipIn(t, dir, ".vlog", datas[len(datas)-1])
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, OpenCheck: -1})
	if err == nil {
		l.Close()
		checkKept(t, file, sum)
		t.Fatal("a store with a flipped byte in the last entry of its value log opened")
	}
	if !errors.Is(err, ErrDataLoss) || !strings.Contains(err.Error(), filepath.Base(file)) || !strings.Contains(err.Error(), "provenanced audit") {
		t.Fatalf("Open: %v; want ErrDataLoss naming %s and pointing at provenanced audit", err, filepath.Base(file))
	}
	t.Logf("Open: %v", err)
	checkKept(t, file, sum)
}

// TestReadOfDamagedEntry damages a table block of a log, in an entry older
// than the check at start covers: reading the entry fails with ErrDataLoss
// naming it, as Badger checks the block's checksum, rather than serving
// altered bytes.
func TestReadOfDamagedEntry(t *testing.T) {
	k := newTestKey(t)
	const victim = 5
	dir, datas := damageStore(t, k, 300, 200)
	// Older than the check at start covers (here the last entry only):
	// the log opens, and serves the entry as damaged.
	flipIn(t, dir, ".sst", datas[victim])
	l := openTest(t, dir, k, func(o *Options) { o.OpenCheck = 1 })
	e, err := l.Get(t.Context(), victim)
	if err == nil {
		t.Fatalf("Get(%d) served %d bytes (intact: %v) from a damaged block", victim, len(e.Data), bytes.Equal(e.Data, datas[victim]))
	}
	if !errors.Is(err, ErrDataLoss) || Damaged(err) != fmt.Sprintf("entry %d", victim) {
		t.Fatalf("Get: %v (names %q); want ErrDataLoss naming entry %d", err, Damaged(err), victim)
	}
	t.Logf("Get: %v", err)
}

// TestOpenRefusesFlippedMem kills a process appending to a log, so that
// Badger's memtable logs (*.mem) hold the latest entries, and flips one
// byte of an early one there: Open refuses before Badger, which would cut
// the file at that entry, losing the later ones; the file is left as it
// was. Unflipped, the same kind of store opens (TestCrashRecovery): the
// zeros a crash leaves after the last entry are not taken for damage.
func TestOpenRefusesFlippedMem(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir, k := t.TempDir(), newTestKey(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashSKey+"="+k.skey)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	var victim []byte
	for acks := 0; acks < 500; {
		line, err := r.ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %v", err)
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "ack" {
			continue
		}
		acks++
		if d, err := hex.DecodeString(f[2]); err == nil && victim == nil && acks > 20 && len(d) >= 64 {
			victim = d
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if victim == nil {
		t.Fatal("no acknowledged entry of 64 bytes or more")
	}
	file, sum := flipIn(t, dir, ".mem", victim)
	_, err = Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, Apply: countState})
	if err == nil {
		t.Fatal("a store with a flipped byte in a memtable log opened")
	}
	if !errors.Is(err, ErrDataLoss) || !strings.Contains(err.Error(), filepath.Base(file)) {
		t.Fatalf("Open: %v; want ErrDataLoss naming %s", err, filepath.Base(file))
	}
	t.Logf("Open: %v", err)
	checkKept(t, file, sum)
}

// TestReadOfDamagedValue damages a value in the value log of an open log:
// reading the entry fails with ErrDataLoss naming it, as Badger checks the
// value's checksum, rather than serving altered bytes.
func TestReadOfDamagedValue(t *testing.T) {
	k := newTestKey(t)
	const victim = 2
	dir, datas := damageStore(t, k, 6, 8<<10) // over the value threshold: in the value log
	l := openTest(t, dir, k, func(o *Options) { o.OpenCheck = 1 })
	flipIn(t, dir, ".vlog", datas[victim]) // the file is mapped: the log reads the flip
	e, err := l.Get(t.Context(), victim)
	if err == nil {
		t.Fatalf("Get(%d) served %d bytes (intact: %v) from a damaged value", victim, len(e.Data), bytes.Equal(e.Data, datas[victim]))
	}
	if !errors.Is(err, ErrDataLoss) || Damaged(err) != fmt.Sprintf("entry %d", victim) {
		t.Fatalf("Get: %v (names %q); want ErrDataLoss naming entry %d", err, Damaged(err), victim)
	}
	t.Logf("Get: %v", err)
}

// TestAppendsRefusedOnDamagedTable damages a table block older than the
// check at start covers: the log opens, and once its check of every table
// block in the background finds the damage, appends are refused with
// ErrDataLoss (a block that fails its checksum hides its keys, which the
// committer would take for absent).
func TestAppendsRefusedOnDamagedTable(t *testing.T) {
	k := newTestKey(t)
	dir, datas := damageStore(t, k, 300, 200)
	flipIn(t, dir, ".sst", datas[5])
	l := openTest(t, dir, k, func(o *Options) { o.OpenCheck = 1 })
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		_, _, err := l.Append(t.Context(), fmt.Appendf(nil, "after the damage %d", i))
		if errors.Is(err, ErrDataLoss) {
			if Damaged(err) != "a table block" || !strings.Contains(err.Error(), "provenanced audit") {
				t.Errorf("Append: %v; want a table block named and provenanced audit", err)
			}
			t.Logf("Append: %v", err)
			// Not found is then no answer to trust.
			if _, err := l.StateGet([]byte("absent")); !errors.Is(err, ErrDataLoss) {
				t.Errorf("StateGet of an absent key on a damaged store: %v; want ErrDataLoss", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("appends still accepted 10 s after opening a store with a damaged table")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAuditFindsDamagedTable: an audit, which opens without the checks at
// start, fails on a table block that fails its checksum even where every
// entry reads back and re-hashes: here the block holds state values only.
func TestAuditFindsDamagedTable(t *testing.T) {
	k := newTestKey(t)
	dir := t.TempDir()
	var states [][]byte
	apply := func(tx *StateTx, e Entry, _ any) error {
		v := make([]byte, 200)
		rand.Read(v)
		states = append(states, v)
		tx.Set(fmt.Appendf(nil, "state-%d", e.Index), v)
		return nil
	}
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, Apply: apply})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, _, err := l.Append(t.Context(), fmt.Appendf(nil, "entry %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ckpt := l.Checkpoint()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	flipIn(t, dir, ".sst", states[5])
	l = openTest(t, dir, k, func(o *Options) { o.OpenCheck = -1; o.Apply = apply })
	err = l.Audit(t.Context(), ckpt, k.verifier, nil)
	if !errors.Is(err, ErrDataLoss) || Damaged(err) != "a table block" {
		t.Fatalf("Audit: %v; want ErrDataLoss naming a table block", err)
	}
	t.Logf("Audit: %v", err)
}

// TestDamageRemembered: damage the check of every table block found is
// recorded in the log's directory, so that the next start refuses appends
// from its first moment, before (or without) the check finding it again;
// the record names what was found and what to do, and only removing it
// lets appends in again.
func TestDamageRemembered(t *testing.T) {
	k := newTestKey(t)
	dir, datas := damageStore(t, k, 300, 200)
	flipIn(t, dir, ".sst", datas[5])
	l := openTest(t, dir, k, func(o *Options) { o.OpenCheck = 1 })
	deadline := time.Now().Add(10 * time.Second)
	for l.Damage() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the check of every table block did not find the damage in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	marker, err := os.ReadFile(filepath.Join(dir, DamageMarker))
	if err != nil || !strings.Contains(string(marker), "table") || !strings.Contains(string(marker), "provenanced audit") {
		t.Fatalf("the damage record: %q, %v; want the damage found and provenanced audit named", marker, err)
	}

	// Without the check after the start: only the record can refuse.
	l = openTest(t, dir, k, func(o *Options) { o.OpenCheck = -1 })
	_, _, err = l.Append(t.Context(), []byte("at once after the start"))
	if !errors.Is(err, ErrDataLoss) || !strings.Contains(err.Error(), DamageMarker) || !strings.Contains(err.Error(), "an earlier check") {
		t.Fatalf("the first append after restarting a store found damaged: %v; want ErrDataLoss naming the earlier check and %s", err, DamageMarker)
	}
	if l.Damage() == nil {
		t.Fatal("Damage() is nil on a store recorded damaged")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(dir, DamageMarker)); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, k, func(o *Options) { o.OpenCheck = -1 })
	if _, _, err := l.Append(t.Context(), []byte("the operator removed the record")); err != nil {
		t.Fatalf("with the record removed (and no check): %v", err)
	}
}

// TestDamageRefusesQueuedAppend: an append that passed the check for
// damage and then waited (its turn in a sequence) is refused if damage is
// found meanwhile, not written on top of a store known damaged (a cold
// review's finding: only the check on the way in refused appends).
func TestDamageRefusesQueuedAppend(t *testing.T) {
	k := newTestKey(t)
	l := openTest(t, t.TempDir(), k, func(o *Options) { o.OpenCheck = -1 })
	var seq Sequence
	first, second := seq.Next(), seq.Next()
	done := make(chan error, 1)
	go func() {
		_, _, err := l.AppendWith(t.Context(), []byte("waits its turn"), AppendOptions{Turn: second})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // past the check on the way in, waiting for first
	derr := error(&DamageError{What: "a table block", Err: errors.New("found while the append waited")})
	l.damaged.Store(&derr)
	first.Pass(t.Context())
	// The committer's refusal, not the check on the way in (which an
	// append slower to start than the sleep above would meet instead).
	if err := <-done; !errors.Is(err, ErrDataLoss) || !strings.Contains(err.Error(), "taken before the damage was found") {
		t.Fatalf("an append queued before damage was found: %v; want ErrDataLoss from the committer", err)
	}
	if n := l.Size(); n != 0 {
		t.Fatalf("the log holds %d entries", n)
	}
}

// TestOpenMissingTableIsDataLoss: a table the store's MANIFEST lists,
// gone from the directory, is data lost: Open says so (ErrDataLoss, so an
// audit's verdict is unsound), not a bare "opening badger" (a cold
// review's finding).
func TestOpenMissingTableIsDataLoss(t *testing.T) {
	k := newTestKey(t)
	dir, _ := damageStore(t, k, 300, 200)
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no table")
	}
	if err := os.Remove(ssts[0]); err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer, OpenCheck: -1})
	if err == nil {
		l.Close()
		t.Fatal("Open took a store with a table missing")
	}
	if !errors.Is(err, ErrDataLoss) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Open of a store missing a table: %v; want ErrDataLoss", err)
	}
	t.Logf("Open: %v", err)
}
