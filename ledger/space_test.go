//go:build linux

package ledger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/tlog"
)

// mountSmallFS mounts a tmpfs of size bytes on a new directory and
// unmounts it at the end of the test, or skips the test where it cannot
// mount (not root, or no CAP_SYS_ADMIN).
func mountSmallFS(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("skipping: cannot mount a %d-byte tmpfs to fill (needs root or CAP_SYS_ADMIN): %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk allocates a file in dir that leaves about leave bytes free.
func fillDisk(t *testing.T, dir, name string, leave uint64) string {
	t.Helper()
	free, err := freeBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if free <= leave {
		t.Fatalf("only %d bytes free, want more than %d", free, leave)
	}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, int64(free-leave)); err != nil {
		t.Fatalf("allocating %d bytes: %v", free-leave, err)
	}
	return p
}

// TestFullDisk fills a small filesystem under a log: appends are refused
// with a *SpaceError before the disk is full, reads and proofs go on, and
// appends resume once space is freed, with every acknowledged entry kept;
// opened on a full disk, the log serves reads and refuses appends.
func TestFullDisk(t *testing.T) {
	const min = 16 << 20
	fs := mountSmallFS(t, 64<<20)
	dir := filepath.Join(fs, "log")
	k := newTestKey(t)
	ctx := context.Background()
	open := func() *Log {
		t.Helper()
		l, err := Open(ctx, dir, Options{Origin: testOrigin, Signer: k.signer, MinFreeBytes: min})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return l
	}
	l := open()
	fill(t, l, "before", 100)
	filler := fillDisk(t, fs, "filler", min+6<<20)

	// Append until refused: 8 KiB entries (Badger's value log) and small
	// ones (its memtable), from several goroutines.
	var (
		mu    sync.Mutex
		acked = map[tlog.RecordID]uint64{}
		space *SpaceError
		wg    sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				data := fmt.Appendf(nil, "w%d-%d-", w, i)
				if i%2 == 0 {
					data = append(data, bytes.Repeat([]byte{'x'}, 8<<10)...)
				}
				e, _, err := l.Append(ctx, data)
				mu.Lock()
				if err != nil {
					var se *SpaceError
					if !errors.As(err, &se) || !errors.Is(err, ErrNoSpace) {
						t.Errorf("Append: %v, want a *SpaceError", err)
					} else if space == nil {
						space = se
					}
					mu.Unlock()
					return
				}
				acked[e.ID] = e.Index
				stop := len(acked) > 20_000
				mu.Unlock()
				if stop {
					t.Errorf("20,000 entries appended without a refusal")
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("refused after %d entries: %v", len(acked), space)
	if space.Dir != dir || space.Free >= min || space.Min != min || space.ReadOnly {
		t.Errorf("SpaceError = %+v; want dir %s, free under %d", space, dir, min)
	}
	if msg := space.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "MiB free") {
		t.Errorf("message %q does not name the directory and the space left", msg)
	}
	if free, _ := freeBytes(fs); free == 0 {
		t.Errorf("the disk filled up: the refusal came too late")
	}
	if free, m, refusing, ok := l.FreeSpace(); !ok || !refusing || free >= min || m != min {
		t.Errorf("FreeSpace = %d, %d, %v, %v; want refusing under %d", free, m, refusing, ok, min)
	}
	// Refused at once, without reaching the committer.
	if _, _, err := l.Append(ctx, []byte("refused")); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Append on a full disk: %v, want ErrNoSpace", err)
	}
	checkReads(t, l, acked)

	// Freed: taken again at once.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e, _, err := l.Append(ctx, []byte("after freeing"))
	if err != nil {
		t.Fatalf("Append after freeing space: %v", err)
	}
	acked[e.ID] = e.Index
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Opened on a full disk: read-only, reads served.
	filler = fillDisk(t, fs, "filler", min/2)
	l = open()
	checkReads(t, l, acked)
	_, _, err = l.Append(ctx, []byte("read-only"))
	if !errors.As(err, &space) || !space.ReadOnly || !strings.Contains(err.Error(), "restart") {
		t.Errorf("Append on a log opened on a full disk: %v, want a read-only *SpaceError", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// A new store is refused, saying so.
	_, err = Open(ctx, filepath.Join(fs, "new"), Options{Origin: testOrigin, Signer: k.signer, MinFreeBytes: min})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "a new store needs") {
		t.Errorf("Open of a new store on a full disk: %v, want ErrNoSpace saying a new store needs the space", err)
	}

	// Freed and reopened: everything there, appends taken.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	l = open()
	defer l.Close()
	checkReads(t, l, acked)
	if _, _, err := l.Append(ctx, []byte("reopened")); err != nil {
		t.Fatalf("Append after reopening with space: %v", err)
	}
}

// checkReads checks that every acknowledged entry is in l at its index, and
// that proofs and the checkpoint are served.
func checkReads(t *testing.T, l *Log, acked map[tlog.RecordID]uint64) {
	t.Helper()
	ctx := context.Background()
	for id, index := range acked {
		e, err := l.GetByID(ctx, id)
		if err != nil || e.Index != index {
			t.Fatalf("GetByID(%x) = index %d, %v; want index %d", id, e.Index, err, index)
		}
	}
	size := l.Size()
	if size < uint64(len(acked)) {
		t.Fatalf("size %d, %d entries acknowledged", size, len(acked))
	}
	if _, err := l.Get(ctx, size-1); err != nil {
		t.Errorf("Get(%d): %v", size-1, err)
	}
	if _, err := l.InclusionProof(ctx, size/2, size); err != nil {
		t.Errorf("InclusionProof: %v", err)
	}
	if _, err := l.ConsistencyProof(ctx, 1, size); err != nil {
		t.Errorf("ConsistencyProof: %v", err)
	}
	if len(l.Checkpoint()) == 0 {
		t.Errorf("no checkpoint")
	}
}

const envFullChildDir = "LEDGER_FULLDISK_CHILD_DIR"

// init runs the child of TestFullDiskAfterCrash, before TestMain: it
// appends with MinFreeBytes 24 MiB until killed, printing "ack <hex id>
// <index>" per acknowledgement and going on after refusals.
func init() {
	dir := os.Getenv(envFullChildDir)
	if dir == "" {
		return
	}
	signer, err := note.NewSigner(os.Getenv(envCrashSKey))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child signer:", err)
		os.Exit(2)
	}
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: signer, MinFreeBytes: 24 << 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	fmt.Println("ready")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				e, _, err := l.Append(context.Background(), fmt.Appendf(nil, "child-%d-%d-%s", w, i, strings.Repeat("y", 300)))
				if errors.Is(err, ErrNoSpace) {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Printf("ack %x %d\n", e.ID[:], e.Index)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestFullDiskAfterCrash kills a log that is filling a small disk, then
// opens it on the full disk: with too little space to write back what
// Badger's memtable and the journal hold, Open fails with ErrNoSpace
// saying how much to free (and does not crash); with enough, it opens,
// refusing appends until space is freed, with every acknowledged entry.
func TestFullDiskAfterCrash(t *testing.T) {
	const min = 24 << 20
	fs := mountSmallFS(t, 64<<20)
	dir := filepath.Join(fs, "log")
	k := newTestKey(t)
	cmd, sc := startFullChild(t, dir, k)
	acked := map[tlog.RecordID]uint64{}
	read := func(n int) {
		for len(acked) < n && sc.Scan() {
			var id []byte
			var index uint64
			if _, err := fmt.Sscanf(sc.Text(), "ack %x %d", &id, &index); err != nil {
				t.Fatalf("child line %q: %v", sc.Text(), err)
			}
			acked[tlog.RecordID(id)] = index
		}
	}
	read(3000)
	filler := fillDisk(t, fs, "filler", 2<<20)
	time.Sleep(300 * time.Millisecond) // refusals, and Badger's background work
	cmd.Process.Kill()
	for sc.Scan() { // the rest of what the child acknowledged
		var id []byte
		var index uint64
		if _, err := fmt.Sscanf(sc.Text(), "ack %x %d", &id, &index); err == nil && len(id) == len(tlog.RecordID{}) {
			acked[tlog.RecordID(id)] = index
		}
	}
	cmd.Wait()
	t.Logf("%d entries acknowledged before SIGKILL", len(acked))

	opts := Options{Origin: testOrigin, Signer: k.signer, MinFreeBytes: min}
	_, err := Open(context.Background(), dir, opts)
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "free at least") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open on a full disk after a crash: %v, want ErrNoSpace saying how much to free", err)
	}
	t.Logf("Open on a full disk after a crash: %v", err)

	// Room for the write-back, though under the threshold.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	filler = fillDisk(t, fs, "filler", min-2<<20)
	l, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open with room for the write-back: %v", err)
	}
	defer l.Close()
	checkReads(t, l, acked)
	var se *SpaceError
	if _, _, err := l.Append(context.Background(), []byte("under the threshold")); !errors.As(err, &se) || se.ReadOnly {
		t.Fatalf("Append under the threshold: %v, want a *SpaceError", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append(context.Background(), []byte("freed")); err != nil {
		t.Fatalf("Append after freeing space: %v", err)
	}
}

// startFullChild starts the child that appends to a log in dir, signed
// with k, until it is killed (it prints "ack ..." per append), waits for
// it to be ready, and returns it and a scanner of what it prints; it is
// killed at the test's end if it still runs.
func startFullChild(t *testing.T, dir string, k testKey) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envFullChildDir+"="+dir, envCrashSKey+"="+k.skey)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("child: %q\n%s", sc.Text(), stderr.String())
	}
	return cmd, sc
}
