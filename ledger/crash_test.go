package ledger

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/tlog"
)

// Environment of the crash child process.
const (
	envCrashDir  = "LEDGER_CRASH_CHILD_DIR"
	envCrashSKey = "LEDGER_CRASH_CHILD_SKEY"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		crashChild(dir, os.Getenv(envCrashSKey))
		os.Exit(0)
	}
	code := m.Run()
	cleanupBench()
	os.Exit(code)
}

// countState is an ApplyFunc counting entries in state, so that a crash test
// can check state and entries are committed together.
func countState(tx *StateTx, e Entry, _ any) error {
	var n uint64
	v, err := tx.Get([]byte("count"))
	if err == nil {
		n = binary.BigEndian.Uint64(v)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if n != e.Index {
		return fmt.Errorf("count %d at index %d", n, e.Index)
	}
	tx.Set([]byte("count"), binary.BigEndian.AppendUint64(nil, n+1))
	return nil
}

// crashChild appends from many goroutines until killed, printing one line
// per acknowledged entry: "ack <index> <hex data>".
func crashChild(dir, skey string) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child signer:", err)
		os.Exit(2)
	}
	l, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: signer, Apply: countState})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	emit := func(s string) {
		mu.Lock()
		os.Stdout.WriteString(s) // one write per line: unbuffered, atomic on a pipe
		mu.Unlock()
	}
	emit("ready\n")
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				data := make([]byte, 16+rand.IntN(200))
				cryptoRead(data)
				e, _, err := l.Append(context.Background(), data)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(3)
				}
				emit(fmt.Sprintf("ack %d %s\n", e.Index, hex.EncodeToString(data)))
			}
		})
	}
	wg.Wait()
}

func cryptoRead(b []byte) {
	if _, err := io.ReadFull(cryptoRand, b); err != nil {
		panic(err)
	}
}

var cryptoRand = crand.Reader

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	rounds := 5
	dir, k := t.TempDir(), newTestKey(t)
	acked := map[uint64][]byte{}
	var prev []byte // checkpoint seen after the previous round
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashSKey+"="+k.skey)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		if line, err := r.ReadString('\n'); line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child said %q, %v; stderr:\n%s", round, line, err, stderr.String())
		}
		lines := make(chan []string, 1)
		go func() {
			var ls []string
			for {
				line, err := r.ReadString('\n')
				if err != nil { // a partial last line is not an acknowledgement
					break
				}
				ls = append(ls, line)
			}
			lines <- ls
		}()
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		cmd.Wait()
		ls := <-lines
		if len(ls) == 0 {
			t.Fatalf("round %d: no acknowledgements before the kill; stderr:\n%s", round, stderr.String())
		}
		for _, line := range ls {
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "ack" {
				t.Fatalf("round %d: bad child line %q", round, line)
			}
			i, err1 := strconv.ParseUint(f[1], 10, 64)
			data, err2 := hex.DecodeString(f[2])
			if err1 != nil || err2 != nil {
				t.Fatalf("round %d: bad child line %q", round, line)
			}
			acked[i] = data
		}

		l, err := Open(t.Context(), dir, Options{Origin: testOrigin, Signer: k.signer, Apply: countState})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		size := l.Size()
		if size < uint64(len(acked)) {
			t.Fatalf("round %d: size %d < %d acknowledged entries", round, size, len(acked))
		}
		for i, data := range acked {
			e, err := l.Get(t.Context(), i)
			if err != nil || !bytes.Equal(e.Data, data) {
				t.Fatalf("round %d: acknowledged entry %d: %v, data match %v", round, i, err, bytes.Equal(e.Data, data))
			}
		}
		v, err := l.StateGet([]byte("count"))
		if err != nil || binary.BigEndian.Uint64(v) != size {
			t.Fatalf("round %d: state count %x (%v), size %d: state and entries diverged", round, v, err, size)
		}
		ckpt := l.Checkpoint()
		if err := l.Audit(t.Context(), ckpt, k.verifier, nil); err != nil {
			t.Fatalf("round %d: audit: %v", round, err)
		}
		if prev != nil {
			c1, err1 := tlog.OpenCheckpoint(prev, k.verifier)
			c2, err2 := tlog.OpenCheckpoint(ckpt, k.verifier)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			p, err := l.ConsistencyProof(t.Context(), c1.Size, c2.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.VerifyConsistency(c1.Size, c2.Size, p, c1.Root, c2.Root); err != nil {
				t.Fatalf("round %d: consistency %d -> %d: %v", round, c1.Size, c2.Size, err)
			}
		}
		prev = ckpt
		t.Logf("round %d: %d acknowledged in total, size %d", round, len(acked), size)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditFindsTamperedEntry(t *testing.T) {
	dir, k := t.TempDir(), newTestKey(t)
	l := openTest(t, dir, k, nil)
	fill(t, l, "t", 50)
	ckpt := l.Checkpoint()
	var last uint64
	if err := l.Audit(t.Context(), ckpt, k.verifier, func(done, total uint64) { last = done }); err != nil || last != 50 {
		t.Fatalf("audit of an intact log: %v, progress reached %d of 50", err, last)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	const victim = 37
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		v, err := getValue(txn, entryKey(victim))
		if err != nil {
			return err
		}
		v[len(v)-1] ^= 0x01 // flip one bit of the data, keep the format
		return txn.Set(entryKey(victim), v)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	// Open checks the newest entries (all 50) and refuses; an audit opens
	// the store without that check.
	if _, err := Open(context.Background(), dir, Options{Origin: testOrigin, Signer: k.signer}); !errors.Is(err, ErrDataLoss) || !strings.Contains(err.Error(), "index 37") {
		t.Fatalf("Open of the tampered store: %v; want ErrDataLoss naming index 37", err)
	}
	l = openTest(t, dir, k, func(o *Options) { o.OpenCheck = -1 })
	err = l.Audit(t.Context(), ckpt, k.verifier, nil)
	var ae *AuditError
	if !errors.As(err, &ae) || ae.Index != victim {
		t.Fatalf("Audit = %v, want *AuditError at index %d", err, victim)
	}
	if !strings.Contains(ae.Error(), strconv.Itoa(victim)) {
		t.Errorf("AuditError message %q does not name the index", ae.Error())
	}
}
