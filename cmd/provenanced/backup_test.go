package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/backup"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// runBinary runs provenanced with args and returns its exit code, stdout
// and stderr.
func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// registration is a registrar-signed registration of a new trader: a real
// record, independent of every other.
func registration(t *testing.T, regKey ed25519.PrivateKey, id string) *pb.Envelope {
	t.Helper()
	_, priv, err := record.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	reg := &pb.PartyRegistration{PartyId: id, Name: "backup test " + id, Roles: []pb.Role{pb.Role_ROLE_TRADER}, Country: "PK",
		Keys: []*pb.PartyKey{{PublicKey: priv.Public().(ed25519.PublicKey), NotBefore: timestamppb.New(at)}}}
	env, err := record.Sign(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: timestamppb.New(at),
		Body: &pb.Statement_PartyRegistration{PartyRegistration: reg}}, regKey)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// treeSize returns the daemon's checkpoint's tree size and signed note.
func treeSize(t *testing.T, lc apipb.LedgerServiceClient) (uint64, string) {
	t.Helper()
	r, err := lc.GetCheckpoint(t.Context(), &apipb.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetTreeSize(), r.GetCheckpoint()
}

var reBackupSize = regexp.MustCompile(`tree size (\d+), checkpoint root ([0-9a-f]{64})`)

// TestBackupRestoreUnderLoad takes a backup of a running provenanced with
// provenanced backup while clients submit records, restores it with
// provenanced restore into a new directory, and checks that the restored
// log audits clean, that its size lies between the sizes seen before and
// after the backup, that every record acknowledged before the backup
// began is in it at its index, that the private keys are in a backup only
// when asked, and that a client that saw a later checkpoint of the
// original log reports the restored one as rolled back.
func TestBackupRestoreUnderLoad(t *testing.T) {
	tmp := t.TempDir()
	orig, restored := filepath.Join(tmp, "orig"), filepath.Join(tmp, "restored")
	regArgs, regKey := offlineRegistrar(t)
	common := []string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-level", "warn"}
	d := startDaemon(t, append(append([]string{"--data", orig}, common...), regArgs...)...)
	lc := d.ledgerClient(t)

	var (
		mu    sync.Mutex
		acked = map[uint64][]byte{}
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	submit := func(id string) error {
		env := registration(t, regKey, id)
		data, err := record.EncodeEnvelope(env)
		if err != nil {
			return err
		}
		r, err := lc.Submit(t.Context(), &apipb.SubmitRequest{Envelope: env})
		if err != nil {
			return err
		}
		mu.Lock()
		acked[r.GetIndex()] = data
		mu.Unlock()
		return nil
	}
	for w := range 6 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if err := submit(fmt.Sprintf("load-%d-%d", w, i)); err != nil {
					t.Errorf("submit during the backup: %v", err)
					return
				}
			}
		})
	}
	for {
		if n, _ := treeSize(t, lc); n >= 300 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	before := make(map[uint64][]byte, len(acked))
	for i, data := range acked {
		before[i] = data
	}
	mu.Unlock()
	sizeBefore, _ := treeSize(t, lc)
	public := filepath.Join(tmp, "public.bak")
	code, out, errs := runBinary(t, "backup", "--admin-addr", d.adminURL, "--out", public)
	sizeAfter, _ := treeSize(t, lc)
	if code != 0 {
		t.Fatalf("provenanced backup: exit %d\n%s%s", code, out, errs)
	}
	t.Logf("provenanced backup:\n%s%s", out, errs)
	m := reBackupSize.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no tree size in the summary:\n%s", out)
	}
	backupSize, _ := strconv.ParseUint(m[1], 10, 64)
	if backupSize < sizeBefore || backupSize > sizeAfter {
		t.Fatalf("backup of tree size %d; the log was at %d before it and %d after", backupSize, sizeBefore, sizeAfter)
	}
	// The log goes on growing past the backup.
	for {
		if n, _ := treeSize(t, lc); n >= sizeAfter+50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	// (e) The private keys are in a backup only when asked, which is 0600.
	private := filepath.Join(tmp, "private.bak")
	code, out, errs = runBinary(t, "backup", "--admin-addr", d.adminURL, "--out", private, "--include-private-keys")
	if code != 0 || !strings.Contains(errs, "WARNING: "+private+" holds the private keys (log.key)") {
		t.Fatalf("backup --include-private-keys: exit %d\n%s%s", code, out, errs)
	}
	for file, wantKey := range map[string]bool{public: false, private: true} {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", file, fi.Mode().Perm())
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		c, err := backup.Read(f, nil)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		_, hasKey := c.Files[logKeyFile]
		if hasKey != wantKey || c.Manifest.PrivateKeys != wantKey || c.Files[registrarKeyFile] != nil || c.Files[logPubFile] == nil || c.Files[registrarPubFile] == nil {
			t.Errorf("%s: log.key there %v, manifest says private keys %v, files %d; want log.key %v, no registrar.key (the registrar is offline)",
				file, hasKey, c.Manifest.PrivateKeys, len(c.Files), wantKey)
		}
	}

	// A client that follows the original log remembers a checkpoint
	// past the backup.
	cps := client.DirCheckpointStore{Dir: filepath.Join(tmp, "client")}
	verifier, err := tlog.NewVerifier(d.verifierKey)
	if err != nil {
		t.Fatal(err)
	}
	seen := checkCheckpoint(t, d, verifier, cps)
	if seen.Size <= backupSize {
		t.Fatalf("the client saw size %d, not past the backup's %d", seen.Size, backupSize)
	}
	d.stop(t)

	code, out, errs = runBinary(t, "restore", "--from", public, "--data", restored, "--log-key", filepath.Join(orig, logKeyFile))
	if code != 0 || !strings.Contains(out, "audit passed") || !strings.Contains(out, fmt.Sprintf("tree size %d,", backupSize)) {
		t.Fatalf("provenanced restore: exit %d\n%s%s", code, out, errs)
	}
	t.Logf("provenanced restore:\n%s", out)
	if fi, err := os.Stat(restored); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("restored directory: %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(restored, logKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored log.key: %v, %v", fi.Mode(), err)
	}

	r := startDaemon(t, append([]string{"--data", restored}, common...)...)
	rlc := r.ledgerClient(t)
	if n, _ := treeSize(t, rlc); n != backupSize {
		t.Fatalf("the restored server serves tree size %d; the backup holds %d", n, backupSize)
	}
	for i, data := range before {
		e, err := rlc.GetEntry(t.Context(), &apipb.GetEntryRequest{Index: i})
		if err != nil || !bytes.Equal(e.GetEntry().GetData(), data) {
			t.Fatalf("entry %d, acknowledged before the backup: %v (data equal: %v)", i, err, bytes.Equal(e.GetEntry().GetData(), data))
		}
	}
	// (b) The client that saw the later checkpoint detects the rollback.
	c, err := client.Dial(r.grpcAddr, nil, r.operator(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, note := treeSize(t, rlc)
	_, err = c.CheckCheckpoint(t.Context(), verifier, cps, []byte(note))
	if !errors.Is(err, client.ErrRollback) {
		t.Fatalf("checking the restored log's checkpoint after seeing size %d: %v, want %v", seen.Size, err, client.ErrRollback)
	}
	t.Logf("a client that saw tree size %d, on the restored server: %v", seen.Size, err)
	// The restored server takes records again, from where the backup ends.
	resp, err := rlc.Submit(t.Context(), &apipb.SubmitRequest{Envelope: registration(t, regKey, "after-restore")})
	if err != nil || resp.GetIndex() != backupSize {
		t.Fatalf("submit to the restored server: index %d, %v; want %d", resp.GetIndex(), err, backupSize)
	}
	r.stop(t)
	if code, out, errs := runBinary(t, "audit", "--data", restored, "--quiet"); code != 0 {
		t.Fatalf("provenanced audit of the restored directory: exit %d\n%s%s", code, out, errs)
	}
}

// checkCheckpoint has a client check d's checkpoint against cps.
func checkCheckpoint(t *testing.T, d *daemon, v *tlog.Verifier, cps client.CheckpointStore) tlog.Checkpoint {
	t.Helper()
	c, err := client.Dial(d.grpcAddr, nil, d.operator(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, note := treeSize(t, c.Ledger)
	cp, err := c.CheckCheckpoint(t.Context(), v, cps, []byte(note))
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// TestRestoreRefusals: a damaged backup, a data directory in use and a
// log key of another log are refused, with nothing written; a backup is
// not written over a file, nor from a server that cannot be reached; and
// a directory restored without the log key can be audited, but a server
// does not start on it.
func TestRestoreRefusals(t *testing.T) {
	tmp := t.TempDir()
	orig := filepath.Join(tmp, "orig")
	regArgs, regKey := offlineRegistrar(t)
	d := startDaemon(t, append([]string{"--data", orig, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-level", "warn"}, regArgs...)...)
	lc := d.ledgerClient(t)
	for i := range 20 {
		if _, err := lc.Submit(t.Context(), &apipb.SubmitRequest{Envelope: registration(t, regKey, fmt.Sprintf("p-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(tmp, "ok.bak")
	if code, out, errs := runBinary(t, "backup", "--admin-addr", d.adminURL, "--out", file, "--quiet"); code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errs)
	}
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// No overwriting without --force; --force replaces.
	if code, _, errs := runBinary(t, "backup", "--admin-addr", d.adminURL, "--out", file); code != 1 || !strings.Contains(errs, "exists: give another --out, or --force") {
		t.Errorf("backup over an existing file: exit %d, %s", code, errs)
	}
	if code, out, errs := runBinary(t, "backup", "--admin-addr", d.adminURL, "--out", file, "--force", "--quiet"); code != 0 {
		t.Errorf("backup --force: exit %d\n%s%s", code, out, errs)
	}
	d.stop(t)
	// A server that is not there (or whose admin listener is off).
	if code, _, errs := runBinary(t, "backup", "--admin-addr", strings.TrimPrefix(d.adminURL, "http://"), "--out", filepath.Join(tmp, "none.bak")); code != 1 || !strings.Contains(errs, "cannot reach the admin listener at") {
		t.Errorf("backup of a stopped server: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(tmp, "none.bak")); !os.IsNotExist(err) {
		t.Errorf("a failed backup left its file: %v", err)
	}

	// nothingWritten checks that dir is as it was and that no directory
	// being restored is left next to it.
	nothingWritten := func(dir string, want int) {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if want < 0 {
			if !os.IsNotExist(err) {
				t.Errorf("%s was made (%d files): %v", dir, len(ents), err)
			}
		} else if len(ents) != want {
			t.Errorf("%s holds %d files, want %d", dir, len(ents), want)
		}
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".restore-*"))
		if len(left) > 0 {
			t.Errorf("left behind: %q", left)
		}
	}
	// (c) A byte flipped anywhere: in the key files, the store, the
	// manifest, the checksum.
	for _, at := range []int{12, len(good) / 4, len(good) / 2, len(good) - 300, len(good) - 5} {
		bad := bytes.Clone(good)
		bad[at] ^= 0x10
		badFile := filepath.Join(tmp, fmt.Sprintf("bad-%d.bak", at))
		if err := os.WriteFile(badFile, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(tmp, fmt.Sprintf("from-bad-%d", at))
		code, out, errs := runBinary(t, "restore", "--from", badFile, "--data", dir, "--log-key", filepath.Join(orig, logKeyFile))
		if code != 1 || !strings.Contains(errs, "backup file is damaged or not a backup") || !strings.Contains(errs, "nothing was written to "+dir) {
			t.Errorf("restore of a backup with byte %d of %d flipped: exit %d\n%s%s", at, len(good), code, out, errs)
		}
		nothingWritten(dir, -1)
	}
	// A cut backup.
	cut := filepath.Join(tmp, "cut.bak")
	if err := os.WriteFile(cut, good[:len(good)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runBinary(t, "restore", "--from", cut, "--data", filepath.Join(tmp, "from-cut")); code != 1 || !strings.Contains(errs, "cut short") {
		t.Errorf("restore of a cut backup: exit %d, %s", code, errs)
	}
	nothingWritten(filepath.Join(tmp, "from-cut"), -1)

	// (d) A data directory that is not empty, or holds a ledger.
	if code, _, errs := runBinary(t, "restore", "--from", file, "--data", orig); code != 1 || !strings.Contains(errs, "holds a ledger already") {
		t.Errorf("restore over the original: exit %d, %s", code, errs)
	}
	busy := filepath.Join(tmp, "busy")
	if err := os.MkdirAll(busy, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(busy, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runBinary(t, "restore", "--from", file, "--data", busy); code != 1 || !strings.Contains(errs, "is not empty") {
		t.Errorf("restore into a non-empty directory: exit %d, %s", code, errs)
	}
	nothingWritten(busy, 1)

	// The log key of another log.
	skey, _, err := tlog.GenerateNoteKey("another.example/log")
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(tmp, "other.key")
	if err := os.WriteFile(other, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runBinary(t, "restore", "--from", file, "--data", filepath.Join(tmp, "other-key"), "--log-key", other); code != 1 || !strings.Contains(errs, "not of the backup's log") {
		t.Errorf("restore with another log's key: exit %d, %s", code, errs)
	}
	nothingWritten(filepath.Join(tmp, "other-key"), -1)
	// A party's or the registrar's PEM key for the log key (a new user's
	// trial: "tlog: malformed signer key", and nothing more).
	pem := filepath.Join(tmp, "registrar.key")
	if err := keyfile.WritePrivate(pem, ed25519Key(t)); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runBinary(t, "restore", "--from", file, "--data", filepath.Join(tmp, "pem-key"), "--log-key", pem); code != 1 || !strings.Contains(errs, "is a PEM key") || !strings.Contains(errs, "log.key") {
		t.Errorf("restore with a PEM key for the log key: exit %d, %s", code, errs)
	}
	nothingWritten(filepath.Join(tmp, "pem-key"), -1)

	// Into an empty directory, without the log key: restored and audited,
	// but a server will not start on it until the key is there.
	empty := filepath.Join(tmp, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runBinary(t, "restore", "--from", file, "--data", empty, "--quiet")
	if code != 0 || !strings.Contains(out, "NOTE: "+empty+" has no log.key") {
		t.Fatalf("restore without the log key: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := runBinary(t, "audit", "--data", empty, "--quiet"); code != 0 {
		t.Fatalf("audit of a directory restored without its log key: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runBinary(t, "--data", empty, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"); code == 0 || !strings.Contains(errs, "holds a ledger but no log.key") {
		t.Errorf("a server on a directory restored without its log key: exit %d, %s", code, errs)
	}
}

// TestBackupReportsServerStop: a server that fails once the backup has
// begun (the stream found short of the tree it holds, after the checks
// before it passed) ends the stream with a record saying why and cuts the
// response; provenanced backup reports that reason and writes no file
// (before: "refused after N bytes" and the reader's complaint, not the
// server's).
func TestBackupReportsServerStop(t *testing.T) {
	const why = "backup: stored data is damaged: the backup stream: for a tree of 20 leaves it read 19 entries"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The format's magic, a piece of the store (kind 'S', a 4-byte
		// length, the bytes), then the record of a writer's error, which
		// comes only after one (kind 'X', a length, the text).
		b := append([]byte("PROVBAK1S"), 0, 0, 0, 4)
		b = append(b, "abcd"...)
		b = append(b, 'X', byte(len(why)>>24), byte(len(why)>>16), byte(len(why)>>8), byte(len(why)))
		w.Write(append(b, why...))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "b.bak")
	_, err := runBackup(t.Context(), strings.TrimPrefix(srv.URL, "http://"), out, false, false, nil)
	if !errors.Is(err, backup.ErrStopped) || !strings.Contains(err.Error(), why) {
		t.Fatalf("runBackup: %v; want the server's reason", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}
