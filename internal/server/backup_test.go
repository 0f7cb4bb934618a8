package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backup"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/datadir"
	"github.com/antimony-ledger/provenance/internal/server"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// TestAdminBackup: GET /admin/backup on the admin listener serves a backup
// of the store as it is, with the public key files, and the private ones
// only when asked; a server given no key files serves none.
func TestAdminBackup(t *testing.T) {
	c := ct.New()
	var (
		asked   []bool
		entered = make(chan struct{}, 1)
		hold    chan struct{} // when set, BackupFiles waits for it
	)
	h := start(t, c, t.TempDir(), func(o *server.Options) {
		o.BackupFiles = func(private bool) ([]backup.File, error) {
			if hold != nil {
				entered <- struct{}{}
				<-hold
			}
			asked = append(asked, private)
			files := []backup.File{
				{Name: datadir.LogPubFile, Data: []byte(c.LogVerifierKey + "\n")},
				{Name: datadir.RegistrarPubFile, Data: record.MarshalPublicKey(c.RegistrarPublic())},
			}
			if private {
				files = append(files, backup.File{Name: datadir.LogKeyFile, Data: []byte("the log key\n")})
			}
			return files, nil
		}
	})
	for i := range 5 {
		h.submitGRPC(c.Register(c.AddParty(fmt.Sprintf("mine-%d", i), "Mine", "PK", pb.Role_ROLE_MINE)))
	}
	get := func(query string) (int, []byte) {
		t.Helper()
		resp, err := h.http.Get(h.admin + "/admin/backup" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}

	code, b := get("")
	if code != http.StatusOK {
		t.Fatalf("GET /admin/backup: %d %s", code, b)
	}
	got, err := backup.Read(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	size, root := h.store.Log().Root()
	if got.Checkpoint.Size != size || got.Checkpoint.Root != root || got.Manifest.PrivateKeys || got.Files[datadir.LogKeyFile] != nil {
		t.Fatalf("backup of size %d, private keys %v (files %d); the log is at %d", got.Checkpoint.Size, got.Manifest.PrivateKeys, len(got.Files), size)
	}

	code, b = get("?private_keys=1")
	if code != http.StatusOK {
		t.Fatalf("GET /admin/backup?private_keys=1: %d %s", code, b)
	}
	if got, err := backup.Read(bytes.NewReader(b), nil); err != nil || !got.Manifest.PrivateKeys || string(got.Files[datadir.LogKeyFile]) != "the log key\n" {
		t.Fatalf("backup with private keys: %v, manifest %+v", err, got.Manifest)
	}
	if code, b := get("?private_keys=yes"); code != http.StatusBadRequest {
		t.Fatalf("private_keys=yes: %d %s", code, b)
	}
	// One backup at a time.
	hold = make(chan struct{})
	first := make(chan int)
	go func() {
		resp, err := h.http.Get(h.admin + "/admin/backup")
		if err != nil {
			t.Error(err)
			first <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-entered
	code, b = get("")
	close(hold)
	if code != http.StatusConflict || !bytes.Contains(b, []byte("being taken already")) {
		t.Fatalf("a second backup while one runs: %d %s", code, b)
	}
	if code := <-first; code != http.StatusOK {
		t.Fatalf("the first backup: %d", code)
	}
	hold = nil
	asked = asked[:len(asked)-1]
	if fmt.Sprint(asked) != "[false true]" {
		t.Fatalf("key files asked for with private = %v, want [false true]", asked)
	}
	// The public listener does not serve it.
	pub, err := h.http.Get(h.base + "/admin/backup")
	if err != nil {
		t.Fatal(err)
	}
	pub.Body.Close()
	if pub.StatusCode == http.StatusOK {
		t.Fatalf("the public listener serves GET /admin/backup: %s", pub.Status)
	}

	none := start(t, c, t.TempDir(), nil)
	resp, err := none.http.Get(none.admin + "/admin/backup")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a server with no key files for backups: %s", resp.Status)
	}
}
