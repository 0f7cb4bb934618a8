// Package witnesstest runs real, independent C2SP witnesses for tests:
// litewitness from filippo.io/torchwood, at the version pinned in
// tools/witness/go.mod, with its key in a private ssh-agent and its state
// in SQLite, listening on loopback. It builds the binaries with the go
// command on first use (the build cache keeps them).
package witnesstest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/tlog"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Binaries builds litewitness and witnessctl from tools/witness/go.mod
// (once per test process) and returns the directory holding them.
func Binaries(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		mod := filepath.Join(filepath.Dir(file), "..", "..", "tools", "witness")
		binDir, buildErr = os.MkdirTemp("", "litewitness-bin")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "-C", mod, "build", "-o", binDir+string(filepath.Separator),
			"filippo.io/torchwood/cmd/litewitness", "filippo.io/torchwood/cmd/witnessctl")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building litewitness from %s: %v\n%s", mod, err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binDir
}

// A Witness is a running litewitness.
type Witness struct {
	tlog.Witness
	dir, db, bin string
	cmd          *exec.Cmd
	agent        *exec.Cmd
	stderr       *lockedBuffer
	tb           testing.TB
	port         string
}

// Start starts a litewitness named name with a fresh Ed25519 key in its
// own ssh-agent, listening on a free loopback port. It is stopped when
// the test ends.
func Start(tb testing.TB, name string) *Witness {
	tb.Helper()
	bin := Binaries(tb)
	for _, tool := range []string{"ssh-agent", "ssh-keygen", "ssh-add"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Fatalf("litewitness keeps its key in an ssh-agent: %s is not installed (Debian: apt-get install openssh-client)", tool)
		}
	}
	// Unix socket paths are short: not under t.TempDir().
	dir, err := os.MkdirTemp("", "lw")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	w := &Witness{dir: dir, db: filepath.Join(dir, "witness.db"), bin: bin, tb: tb, stderr: &lockedBuffer{}}
	key := filepath.Join(dir, "key")
	run(tb, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key)
	sock := filepath.Join(dir, "agent.sock")
	w.agent = exec.Command("ssh-agent", "-D", "-a", sock)
	if err := w.agent.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.agent.Process.Kill(); w.agent.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 200 {
			tb.Fatal("ssh-agent did not create its socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The socket can exist a moment before the agent listens on it
	// (ssh-add then says "Connection refused"): try again for a while.
	for i := 0; ; i++ {
		add := exec.Command("ssh-add", "-q", key)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		out, err := add.CombinedOutput()
		if err == nil {
			break
		}
		if i > 100 {
			tb.Fatalf("ssh-add: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fp := strings.Fields(run(tb, "ssh-keygen", "-lf", key+".pub", "-E", "sha256"))[1]
	pub := sshEd25519(tb, key+".pub")
	raw := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append([]byte(name+"\n"), raw...))
	vkey := fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(h[:4]), base64.StdEncoding.EncodeToString(raw))
	wk, err := tlog.ParseWitnessKey(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	w.port = freePort(tb)
	w.Witness = tlog.Witness{WitnessKey: wk, URL: "http://127.0.0.1:" + w.port}
	w.cmd = exec.Command(filepath.Join(bin, "litewitness"), "-ssh-agent", sock, "-key", fp, "-name", name, "-db", w.db, "-listen", "127.0.0.1:"+w.port)
	w.start()
	tb.Cleanup(w.Stop)
	if !strings.Contains(w.stderr.String(), vkey) {
		tb.Fatalf("litewitness printed another verifier key than %s:\n%s", vkey, w.stderr.String())
	}
	return w
}

func (w *Witness) start() {
	tb := w.tb
	w.cmd = exec.Command(w.cmd.Path, w.cmd.Args[1:]...)
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(w.URL + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("litewitness did not answer on %s: %v\n%s", w.URL, err, w.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// AddLog registers a log with the witness: its origin and its note
// verifier key.
func (w *Witness) AddLog(origin, vkey string) {
	w.tb.Helper()
	ctl := filepath.Join(w.bin, "witnessctl")
	run(w.tb, ctl, "add-log", "-db", w.db, "-origin", origin)
	run(w.tb, ctl, "add-key", "-db", w.db, "-origin", origin, "-key", vkey)
}

// Stop stops the witness (SIGINT: it shuts down gracefully). Restart
// starts it again on the same port, with the same state.
func (w *Witness) Stop() {
	if w.cmd == nil || w.cmd.Process == nil || w.cmd.ProcessState != nil {
		return
	}
	w.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
}

// Restart starts a stopped witness again.
func (w *Witness) Restart() { w.start() }

func run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sshEd25519 reads the Ed25519 public key of an OpenSSH .pub file.
func sshEd25519(tb testing.TB, path string) ed25519.PublicKey {
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b))
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || f[0] != "ssh-ed25519" {
		tb.Fatalf("%s is not an ssh-ed25519 key", path)
	}
	// string "ssh-ed25519", then string key: each a 4-byte length and bytes.
	r := bufio.NewReader(strings.NewReader(string(blob)))
	var parts [][]byte
	for range 2 {
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			tb.Fatal(err)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			tb.Fatal(err)
		}
		parts = append(parts, p)
	}
	if len(parts[1]) != ed25519.PublicKeySize {
		tb.Fatalf("%s: key of %d bytes", path, len(parts[1]))
	}
	return parts[1]
}

// freePort returns a loopback port free a moment ago: litewitness logs
// the address it was given, not the one it got, so it cannot take port 0.
func freePort(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
