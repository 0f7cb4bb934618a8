package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/antimony-ledger/provenance/internal/datadir"
)

// buildDir holds the provenanced binary built for the tests; TestMain
// removes it.
var buildDir string

func TestMain(m *testing.M) {
	// Servers started here pick a free admin port, not the default
	// 127.0.0.1:9090, which other test binaries may hold at the same time.
	os.Setenv("PROVENANCED_ADMIN_ADDR", "127.0.0.1:0")
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildProvenanced builds ../provenanced once per test binary run.
var buildProvenanced = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "provfill-test")
	if err != nil {
		return "", err
	}
	buildDir = dir
	bin := filepath.Join(dir, "provenanced")
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "../provenanced").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func provenanced(t *testing.T) string {
	t.Helper()
	bin, err := buildProvenanced()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// audit runs "provenanced audit" on dir and returns its stdout and exit
// status.
func audit(t *testing.T, dir string) (string, int) {
	t.Helper()
	cmd := exec.Command(provenanced(t), "audit", "--data", dir, "--quiet")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	t.Logf("provenanced audit: exit %d\n%s%s", cmd.ProcessState.ExitCode(), stdout.String(), stderr.String())
	return stdout.String(), cmd.ProcessState.ExitCode()
}

// A filled directory is one provenanced serves and audits as sound; a
// second fill extends it; a tampered entry is named by the audit.
func TestFillAuditServe(t *testing.T) {
	dir := t.TempDir()
	res, err := Fill(t.Context(), Options{DataDir: dir, Records: 1500, Parties: 30, Workers: 32})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 1500 || res.LogSize != 1500 || res.Registrations != 30 {
		t.Fatalf("fill result %+v, want 1500 records with 30 registrations", res)
	}
	if avg := res.Bytes / res.Records; avg < 350 || avg > 600 {
		t.Errorf("average envelope %d bytes, want about 400-500", avg)
	}
	for _, f := range []string{datadir.LogKeyFile, datadir.LogPubFile, datadir.RegistrarKeyFile, datadir.RegistrarPubFile, datadir.LedgerDir} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("data dir layout: %v", err)
		}
	}
	if out, code := audit(t, dir); code != 0 || !strings.Contains(out, "audit passed: 1500 entries, 1500 signatures") {
		t.Fatalf("audit of the filled dir: exit %d, %q", code, out)
	}

	// The server starts on it and serves the whole log.
	d := startServer(t, dir)
	if size := d.treeSize(t); size != 1500 {
		t.Fatalf("server serves tree size %d, want 1500", size)
	}
	// Badger admits one process: the audit refuses, and says why.
	if out, code := audit(t, dir); code != 2 {
		t.Fatalf("audit while the server runs: exit %d, %q; want 2", code, out)
	}
	d.stop(t)

	// A second run reuses the keys and extends the log.
	if res, err := Fill(t.Context(), Options{DataDir: dir, Records: 300, Parties: 9, Workers: 8}); err != nil || res.LogSize != 1800 {
		t.Fatalf("second fill: %+v, %v", res, err)
	}
	if out, code := audit(t, dir); code != 0 || !strings.Contains(out, "audit passed: 1800 entries") {
		t.Fatalf("audit after the second fill: exit %d, %q", code, out)
	}

	// Rewrite entry 1234 behind the ledger's back.
	const bad = 1234
	tamper(t, filepath.Join(dir, datadir.LedgerDir), bad)
	out, code := audit(t, dir)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("audit FAILED at index %d:", bad)) {
		t.Fatalf("audit of a tampered log: exit %d, %q; want 1 naming index %d", code, out, bad)
	}
}

// tamper flips one character of the base64 signature of the stored entry
// at index, keeping the envelope well-formed.
func tamper(t *testing.T, dir string, index uint64) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := binary.BigEndian.AppendUint64([]byte("e/"), index) // ledger's entry key
	err = db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		i := bytes.LastIndex(v, []byte(`"sig":"`)) + len(`"sig":"`) + 10
		if v[i] == 'A' {
			v[i] = 'B'
		} else {
			v[i] = 'A'
		}
		return txn.Set(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// server is a running provenanced.
type server struct {
	cmd     *exec.Cmd
	httpURL string
	stderr  *lockedBuffer
}

var reHTTP = regexp.MustCompile(`^http listening on (http://\S+)$`)

// startServer starts provenanced on dir with free loopback ports and
// returns once /healthz answers 200.
func startServer(t *testing.T, dir string) *server {
	t.Helper()
	s, err := launch(provenanced(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	if err := s.waitHealthy(60 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, s.stderr)
	}
	return s
}

// launch starts provenanced on dir and reads its HTTP address.
func launch(bin, dir string, args ...string) (*server, error) {
	s := &server{stderr: &lockedBuffer{}}
	s.cmd = exec.Command(bin, append([]string{"--data", dir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := reHTTP.FindStringSubmatch(sc.Text()); m != nil {
			s.httpURL = m[1]
			go io.Copy(io.Discard, stdout)
			return s, nil
		}
	}
	s.cmd.Wait()
	return nil, fmt.Errorf("provenanced exited before listening: %v\n%s", s.cmd.ProcessState, s.stderr)
}

// waitHealthy polls /healthz until it answers 200.
func (s *server) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if r, err := c.Get(s.httpURL + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("/healthz not 200 within %v", timeout)
}

func (s *server) treeSize(t *testing.T) uint64 {
	t.Helper()
	r, err := http.Get(s.httpURL + "/v1/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var resp struct{ Checkpoint string }
	if err := json.NewDecoder(r.Body).Decode(&resp); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(resp.Checkpoint, "\n")
	if len(lines) < 2 {
		t.Fatalf("checkpoint %q", resp.Checkpoint)
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("provenanced exit after SIGTERM: %v\n%s", err, s.stderr)
	}
}

// TestRestartTime measures how long provenanced takes from exec to
// /healthz 200 on existing data directories, for comparing log sizes. It
// asserts nothing about time; it runs only when PROVFILL_RESTART_DIRS
// names the (filled, stopped) directories, comma-separated:
//
//	PROVFILL_RESTART_DIRS=/tmp/prov10k,/tmp/prov100k,/tmp/prov1m \
//	  go test ./cmd/provfill -run TestRestartTime -v
//
// PROVFILL_RESTART_RUNS sets the runs per directory (default 3); the
// median is reported.
func TestRestartTime(t *testing.T) {
	dirs := os.Getenv("PROVFILL_RESTART_DIRS")
	if dirs == "" {
		t.Skip("set PROVFILL_RESTART_DIRS to measure")
	}
	runs := 3
	if v, err := strconv.Atoi(os.Getenv("PROVFILL_RESTART_RUNS")); err == nil && v > 0 {
		runs = v
	}
	bin := provenanced(t)
	for _, dir := range strings.Split(dirs, ",") {
		var times []time.Duration
		var size uint64
		for range runs {
			start := time.Now()
			s, err := launch(bin, dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.waitHealthy(5 * time.Minute); err != nil {
				s.cmd.Process.Kill()
				t.Fatalf("%s: %v\n%s", dir, err, s.stderr)
			}
			times = append(times, time.Since(start))
			size = s.treeSize(t)
			s.stop(t)
		}
		// For comparison: opening and closing the bare Badger store, the
		// part of a restart that depends on the store's size.
		var opens []time.Duration
		for range runs {
			start := time.Now()
			db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, datadir.LedgerDir)).WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			opens = append(opens, time.Since(start))
			db.Close()
		}
		t.Logf("%s: %d entries: exec to /healthz 200 median %v of %v; bare Badger open median %v of %v",
			dir, size, median(times), roundAll(times), median(opens), roundAll(opens))
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// lockedBuffer is a bytes.Buffer a process writes to while a test reads
// it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
