package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// binDir holds the binary buildBinary builds; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	// Servers started here pick a free admin port, not the default
	// 127.0.0.1:9090, which other test binaries may hold at the same time.
	os.Setenv("PROVENANCED_ADMIN_ADDR", "127.0.0.1:0")
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary builds provenanced once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "provenanced-test")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "provenanced")
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gotool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// daemon is a running provenanced process and what it printed.
type daemon struct {
	cmd          *exec.Cmd
	stderr       *syncWriter
	verifierKey  string
	registrarID  string
	registrarPub string
	grpcAddr     string
	httpURL      string
	adminURL     string
}

var (
	reVerifier  = regexp.MustCompile(`^log verifier key: (\S+)$`)
	reRegistrar = regexp.MustCompile(`^registrar key id: (\S+) \(public key (.+)\)$`)
	reGRPC      = regexp.MustCompile(`^grpc listening on (\S+)$`)
	reHTTP      = regexp.MustCompile(`^http listening on (http://\S+)$`)
	reAdmin     = regexp.MustCompile(`^admin listening on (http://\S+) `)
)

// startDaemon runs the binary with args and waits for its four stdout lines.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: exec.Command(bin, args...), stderr: &syncWriter{w: &strings.Builder{}}}
	d.cmd.Stderr = d.stderr
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for d.httpURL == "" {
		select {
		case ln, ok := <-lines:
			if !ok {
				d.cmd.Wait()
				t.Fatalf("provenanced exited before listening: %v\n%s", d.cmd.ProcessState, d.stderr)
			}
			if m := reVerifier.FindStringSubmatch(ln); m != nil {
				d.verifierKey = m[1]
			} else if m := reRegistrar.FindStringSubmatch(ln); m != nil {
				d.registrarID, d.registrarPub = m[1], m[2]
			} else if m := reGRPC.FindStringSubmatch(ln); m != nil {
				d.grpcAddr = m[1]
			} else if m := reHTTP.FindStringSubmatch(ln); m != nil {
				d.httpURL = m[1]
			} else if m := reAdmin.FindStringSubmatch(ln); m != nil {
				d.adminURL = m[1]
			} else {
				t.Fatalf("unexpected stdout line %q", ln)
			}
		case <-timeout:
			t.Fatalf("provenanced did not print its addresses in 60s\n%s", d.stderr)
		}
	}
	if d.verifierKey == "" || d.registrarID == "" || d.grpcAddr == "" {
		t.Fatalf("missing startup lines: %+v", d)
	}
	go io.Copy(io.Discard, stdout)
	return d
}

// stop sends SIGTERM and expects a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("provenanced exit after SIGTERM: %v\n%s", err, d.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("provenanced did not exit 30s after SIGTERM\n%s", d.stderr)
	}
}

// operator returns the dial option that authenticates as the operator,
// with the log key in the daemon's --data directory.
func (d *daemon) operator(t *testing.T) grpc.DialOption {
	t.Helper()
	dir := ""
	for i, a := range d.cmd.Args {
		if v, ok := strings.CutPrefix(a, "--data="); ok {
			dir = v
		} else if a == "--data" && i+1 < len(d.cmd.Args) {
			dir = d.cmd.Args[i+1]
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "log.key"))
	if err != nil {
		t.Fatalf("reading the operator's key: %v", err)
	}
	ls, err := tlog.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return (&client.Credentials{PartyID: "operator", Key: ls.PrivateKey(), Origin: ls.Name()}).DialOption()
}

func (d *daemon) ledgerClient(t *testing.T) apipb.LedgerServiceClient {
	conn, err := grpc.NewClient(d.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), d.operator(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return apipb.NewLedgerServiceClient(conn)
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.w)
}

func getOK(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// TestDaemon runs the real binary: first start creates and prints the
// keys, the printed keys verify what the server signs, SIGTERM during
// appends exits 0 with every acknowledged append durable, and a restart
// reuses the keys and the data.
func TestDaemon(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	regArgs, regKey := offlineRegistrar(t)
	args := append([]string{"--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "warn"}, regArgs...)
	d := startDaemon(t, args...)

	if got := getOK(t, d.httpURL+"/healthz"); strings.TrimSpace(got) != "ok" {
		t.Fatalf("/healthz: %q", got)
	}
	// The operator's surface is on the admin listener only.
	if d.adminURL == "" {
		t.Fatal("no admin listening line")
	}
	if got := getOK(t, d.adminURL+"/metrics"); !strings.Contains(got, "provenance_ledger_tree_size") ||
		!strings.Contains(got, "provenance_flags_unread_records") || !strings.Contains(got, "provenance_flags_unread_age_seconds") || !strings.Contains(got, "\nprovenance_flags_stepping_aside 0\n") ||
		!strings.Contains(got, "\nprovenance_flags_follower_running 1\n") {
		t.Fatalf("admin /metrics lacks the tree size or the flag follower's gauges:\n%.500s", got)
	}
	getOK(t, d.adminURL+"/debug/pprof/")
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		resp, err := http.Get(d.httpURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s on the public port: %s, want 404", path, resp.Status)
		}
	}
	verifier, err := tlog.NewVerifier(d.verifierKey)
	if err != nil {
		t.Fatalf("printed verifier key %q: %v", d.verifierKey, err)
	}
	if verifier.Name() != DefaultOrigin {
		t.Fatalf("verifier key name %q, want %q", verifier.Name(), DefaultOrigin)
	}
	for name, perm := range map[string]os.FileMode{logKeyFile: 0o600, logPubFile: 0o644, registrarPubFile: 0o644} {
		fi, err := os.Stat(filepath.Join(data, name))
		if err != nil || fi.Mode().Perm() != perm {
			t.Errorf("%s: %v, mode %v, want %v", name, err, fi.Mode().Perm(), perm)
		}
	}
	if d.registrarPub != filepath.Join(data, registrarPubFile) {
		t.Errorf("printed registrar public key path %q", d.registrarPub)
	}
	pub, err := keyfile.ReadPublic(d.registrarPub)
	if err != nil || record.KeyID(pub) != d.registrarID {
		t.Fatalf("registrar.pub: %v, key id %s, printed %s", err, record.KeyID(pub), d.registrarID)
	}

	if _, err := os.Stat(filepath.Join(data, registrarKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("the server made a registrar private key: %v", err)
	}
	// Register a mine with the offline registrar key, then append from
	// several clients and SIGTERM in the middle.
	mineKey := ed25519Key(t)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	reg, err := record.Sign(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: timestamppb.New(start),
		Body: &pb.Statement_PartyRegistration{PartyRegistration: &pb.PartyRegistration{
			PartyId: "mine-qa", Name: "Qila Abdullah Mine", Roles: []pb.Role{pb.Role_ROLE_MINE}, Country: "PK",
			Mine: &pb.MineProfile{AnnualOreCapacityKg: 1e9, GradeMinPct: 5, GradeMaxPct: 15},
			Keys: []*pb.PartyKey{{PublicKey: mineKey.Public().(ed25519.PublicKey), NotBefore: timestamppb.New(start)}},
		}}}, regKey)
	if err != nil {
		t.Fatal(err)
	}
	lc := d.ledgerClient(t)
	if _, err := lc.Submit(t.Context(), &apipb.SubmitRequest{Envelope: reg}); err != nil {
		t.Fatalf("registration: %v", err)
	}

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				env, err := record.Sign(&pb.Statement{PartyId: "mine-qa", EventTime: timestamppb.New(start.Add(time.Hour)),
					Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
						LotId: fmt.Sprintf("L-%d-%d", w, i), MassKg: 100, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
						Site: &pb.Location{Lat: 30.7, Lon: 66.6},
					}}}, mineKey)
				if err != nil {
					t.Error(err)
					return
				}
				r, err := lc.Submit(ctx, &apipb.SubmitRequest{Envelope: env})
				if err != nil {
					return // the server went away
				}
				mu.Lock()
				acked = append(acked, r.GetLeafHash())
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	d.stop(t)
	wg.Wait()
	t.Logf("%d appends acknowledged before SIGTERM", len(acked))
	if len(acked) == 0 {
		t.Fatal("no append was acknowledged before SIGTERM")
	}

	// Second start: same keys, and every acknowledged append is there.
	d2 := startDaemon(t, args...)
	if d2.verifierKey != d.verifierKey || d2.registrarID != d.registrarID {
		t.Fatalf("keys changed across restart: %s %s -> %s %s", d.verifierKey, d.registrarID, d2.verifierKey, d2.registrarID)
	}
	lc2 := d2.ledgerClient(t)
	for _, id := range acked {
		if _, err := lc2.GetRecord(t.Context(), &apipb.GetRecordRequest{LeafHash: id}); err != nil {
			t.Fatalf("acknowledged record %s lost: %v", id, err)
		}
	}
	ck, err := lc2.GetCheckpoint(t.Context(), &apipb.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.OpenCheckpoint([]byte(ck.GetCheckpoint()), verifier)
	if err != nil {
		t.Fatalf("checkpoint does not verify with the printed key: %v", err)
	}
	if cp.Size < uint64(len(acked))+1 {
		t.Fatalf("checkpoint size %d, want at least %d", cp.Size, len(acked)+1)
	}
	d2.stop(t)

	// The origin is fixed when the log is created.
	bin, _ := buildBinary()
	out, err := exec.Command(bin, append(args, "--origin", "other.example/log")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "origin") {
		t.Fatalf("start with another origin: %v\n%s", err, out)
	}
}

// TestDaemonRegistrarPub starts with only a registrar public key: no
// registrar private key is created, and a different key later is refused.
// Without one, a new server refuses to start and says how to make it.
func TestDaemonRegistrarPub(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "provctl keygen registrar.key") {
		t.Fatalf("start without a registrar key: %v\n%s", err, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("a server without a registrar key made its data directory: %v", err)
	}
	priv := ed25519Key(t)
	pubFile := filepath.Join(dir, "registrar.pub")
	if err := os.WriteFile(pubFile, record.MarshalPublicKey(priv.Public().(ed25519.PublicKey)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--origin", "test.example/log"}
	d := startDaemon(t, append(args, "--registrar-pub", pubFile)...)
	if d.registrarID != record.KeyID(priv.Public().(ed25519.PublicKey)) {
		t.Fatalf("registrar key id %s, want the supplied key's", d.registrarID)
	}
	if !strings.HasPrefix(d.verifierKey, "test.example/log+") {
		t.Fatalf("verifier key %q does not carry the origin", d.verifierKey)
	}
	if _, err := os.Stat(filepath.Join(data, registrarKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("registrar.key exists with --registrar-pub: %v", err)
	}
	getOK(t, d.httpURL+"/healthz")
	d.stop(t)

	// Restart without the flag uses the stored copy; with another key fails.
	d = startDaemon(t, args...)
	if d.registrarID != record.KeyID(priv.Public().(ed25519.PublicKey)) {
		t.Fatalf("registrar key id after restart %s", d.registrarID)
	}
	d.stop(t)
	other := ed25519Key(t)
	otherFile := filepath.Join(dir, "other.pub")
	os.WriteFile(otherFile, record.MarshalPublicKey(other.Public().(ed25519.PublicKey)), 0o644)
	out, err = exec.Command(bin, append(args, "--registrar-pub", otherFile)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "differs") {
		t.Fatalf("start with another registrar key: %v\n%s", err, out)
	}
}

func TestParseFlags(t *testing.T) {
	env := map[string]string{"PROVENANCED_GRPC_ADDR": "127.0.0.1:9999", "PROVENANCED_DATA": "/var/lib/x"}
	o, err := parseFlags([]string{"--data", "/tmp/d"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o.DataDir != "/tmp/d" || o.GRPCAddr != "127.0.0.1:9999" || o.HTTPAddr != "127.0.0.1:8080" || o.LogLevel != "info" {
		t.Fatalf("options %+v", o)
	}
	if o.AdminAddr != "127.0.0.1:9090" || o.Limits != server.DefaultLimits() || o.FlagMaxLag != backend.DefaultMaxLag {
		t.Fatalf("default admin address %q, limits %+v, flag max lag %v", o.AdminAddr, o.Limits, o.FlagMaxLag)
	}
	// Limits: a value, "off" (a negative limit), or the environment's.
	env["PROVENANCED_PARTY_BURST"] = "50"
	env["PROVENANCED_FLAG_MAX_LAG"] = "off"
	o, err = parseFlags([]string{"--party-rate", "off", "--max-conn-idle", "30s", "--admin-addr", "off"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o.Limits.PartyRate >= 0 || o.Limits.MaxConnectionIdle != 30*time.Second || o.Limits.PartyBurst != 50 || o.AdminAddr != "" || o.FlagMaxLag > 0 {
		t.Fatalf("party rate %v, idle %v, burst %v, admin %q, flag max lag %v", o.Limits.PartyRate, o.Limits.MaxConnectionIdle, o.Limits.PartyBurst, o.AdminAddr, o.FlagMaxLag)
	}
	if o, err := parseFlags([]string{"--flag-max-lag", "5s"}, func(string) string { return "" }); err != nil || o.FlagMaxLag != 5*time.Second {
		t.Fatalf("--flag-max-lag 5s: %v, %v", o.FlagMaxLag, err)
	}
	for _, bad := range [][]string{{"--tls-cert", "c.pem"}, {"--log-level", "loud"}, {"extra"}, {"--party-rate", "0"}, {"--max-streams", "-3"}, {"--max-conn-age", "soon"}, {"--flag-max-lag", "0"}, {"--pprof-addr", "127.0.0.1:6060"}} {
		if _, err := parseFlags(bad, func(string) string { return "" }); err == nil {
			t.Errorf("parseFlags(%q) succeeded", bad)
		}
	}
}

// offlineRegistrar makes a registrar key pair outside the data directory,
// as the registrar would on its own machine, and returns the flags that
// give the server its public key, and the private key.
func offlineRegistrar(t *testing.T) ([]string, ed25519.PrivateKey) {
	t.Helper()
	priv := ed25519Key(t)
	pubFile := filepath.Join(t.TempDir(), "registrar.pub")
	if err := os.WriteFile(pubFile, record.MarshalPublicKey(priv.Public().(ed25519.PublicKey)), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"--registrar-pub", pubFile}, priv
}

func ed25519Key(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := record.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// TestStartRefusals: a port in use stops the server before it writes
// anything in a new data directory, and a data directory in use by
// another server is reported as such, not as Badger's lock error alone.
func TestStartRefusals(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	data := filepath.Join(t.TempDir(), "data")
	err = Run(t.Context(), Options{DataDir: data, GRPCAddr: taken.Addr().String(), HTTPAddr: "127.0.0.1:0", Origin: "test.example/log"})
	if err == nil || !strings.Contains(err.Error(), "grpc listener") {
		t.Fatalf("start on a port in use: %v", err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("the data directory was created by a server that could not listen: %v", err)
	}

	dir := t.TempDir()
	regArgs, _ := offlineRegistrar(t)
	args := append([]string{"--data", dir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--origin", "test.example/log"}, regArgs...)
	d := startDaemon(t, args...)
	defer d.stop(t)
	err = Run(t.Context(), Options{DataDir: dir, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Origin: "test.example/log"})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second server on the same data directory: %v", err)
	}
}

// TestDataDirPermissions: a data directory others may read is made
// private (0700) on start, and a log key file others may read is refused
// with the command that fixes it.
func TestDataDirPermissions(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755)
	regArgs, _ := offlineRegistrar(t)
	args := append([]string{"--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, regArgs...)
	d := startDaemon(t, args...)
	d.stop(t)
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory mode after start: %v %v, want 0700", fi.Mode().Perm(), err)
	}
	os.Chmod(filepath.Join(data, logKeyFile), 0o644)
	bin, _ := buildBinary()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "chmod 600 "+filepath.Join(data, logKeyFile)) {
		t.Fatalf("start with a log key others may read: %v\n%s", err, out)
	}
}
