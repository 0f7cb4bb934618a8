package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/antimony-ledger/provenance/internal/testserver"
	"github.com/antimony-ledger/provenance/ledger"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
)

// flipInTable flips one byte of the record's signature (random, so stored
// literally) where Badger's table file holds it, and returns the file and
// its digest after the flip.
func flipInTable(t *testing.T, dir string, rec []byte) (string, [32]byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	probe := rec[len(rec)-24 : len(rec)-8]
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, probe); i >= 0 {
			b[i+8] ^= 0x01
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
	}
	t.Fatalf("the record's bytes are in no table file of %s", dir)
	return "", [32]byte{}
}

// TestServerRefusesDamage flips one byte of a record inside Badger's table
// file, as the issue did: the server refuses to start, naming the entry and
// the audit, and leaves the file as it was. With the damage older than the
// check at start covers, the server starts, and a read of the entry is
// DATA_LOSS naming it, not INTERNAL and not the altered bytes.
func TestServerRefusesDamage(t *testing.T) {
	w := newWorld()
	golden := filepath.Join(t.TempDir(), "golden")
	s := w.openStore(t, golden)
	envs := append(w.registrations, w.lots("L", tamperLots)...)
	for i, env := range envs {
		if _, err := s.Submit(t.Context(), env); err != nil {
			t.Fatalf("submitting record %d: %v", i, err)
		}
	}
	const victim = 10
	e, err := s.Log().Get(t.Context(), victim)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("refused at start", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		copyDir(t, golden, dir)
		file, sum := flipInTable(t, dir, e.Data)
		srv, err := testserver.RunWith(w.c, dir, testserver.Options{})
		if err == nil {
			srv.Stop()
			t.Fatal("the server started on a store with a flipped byte in a table")
		}
		var ae *ledger.AuditError
		if !errors.Is(err, ledger.ErrDataLoss) || !errors.As(err, &ae) || ae.Index > victim || !strings.Contains(err.Error(), "provenanced audit") {
			t.Fatalf("starting: %v; want ErrDataLoss naming an entry up to %d and pointing at provenanced audit", err, victim)
		}
		t.Logf("starting: %v", err)
		b, err := os.ReadFile(file)
		if err != nil || sha256.Sum256(b) != sum {
			t.Fatalf("the damaged table was not kept as it was (%v)", err)
		}
	})

	t.Run("read while serving", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		copyDir(t, golden, dir)
		// Damage in an entry older than the check at start covers (here
		// only the last entry): the server starts, and serves it as
		// damaged.
		flipInTable(t, dir, e.Data)
		srv := testserver.StartWith(t, w.c, dir, testserver.Options{OpenCheck: 1})
		conn, err := grpc.NewClient(srv.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), srv.Operator().DialOption())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		resp, err := apipb.NewLedgerServiceClient(conn).GetEntry(context.Background(), &apipb.GetEntryRequest{Index: victim})
		if err == nil {
			t.Fatalf("GetEntry(%d) served an entry from a damaged block (intact: %v)", victim, bytes.Equal(resp.GetEntry().GetData(), e.Data))
		}
		st := status.Convert(err)
		if st.Code() != codes.DataLoss || !strings.Contains(st.Message(), "entry 10") {
			t.Fatalf("GetEntry: %v %q; want DataLoss naming entry %d", st.Code(), st.Message(), victim)
		}
		t.Logf("GetEntry: %v", err)
	})

	t.Run("found by the check of every table", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		copyDir(t, golden, dir)
		file, sum := flipInTable(t, dir, e.Data)
		srv, err := testserver.RunWith(w.c, dir, testserver.Options{OpenCheck: 1})
		if err != nil {
			t.Fatal(err)
		}
		// The check after the start finds it: the admin /healthz says
		// so, the public one is unhealthy, the metric is set (a new
		// user's trial: both /healthz answered 200 "ok" on a store
		// refusing every append).
		var health struct {
			Status     string `json:"status"`
			StoreError string `json:"store_error"`
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, body := httpGet(t, "http://"+srv.AdminAddr+"/healthz")
			if code == http.StatusServiceUnavailable {
				if err := json.Unmarshal([]byte(body), &health); err != nil {
					t.Fatalf("admin /healthz: %v: %s", err, body)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("admin /healthz still %d %s 20 s after starting on a damaged table", code, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if health.Status != "unavailable" || !strings.Contains(health.StoreError, "table block") {
			t.Fatalf("admin /healthz: %+v; want unavailable, the damaged table block named", health)
		}
		if code, body := httpGet(t, "http://"+srv.HTTPAddr+"/healthz"); code != http.StatusServiceUnavailable {
			t.Fatalf("public /healthz on a damaged store: %d %s; want 503", code, body)
		}
		if _, body := httpGet(t, "http://"+srv.AdminAddr+"/metrics"); !strings.Contains(body, "\nprovenance_ledger_damaged 1\n") {
			t.Fatal("/metrics does not show provenance_ledger_damaged 1")
		}
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}

		// The next start, with no check at all: the record of the damage
		// refuses appends from the first one, and health says so.
		srv = testserver.StartWith(t, w.c, dir, testserver.Options{OpenCheck: -1})
		if code, _ := httpGet(t, "http://"+srv.HTTPAddr+"/healthz"); code != http.StatusServiceUnavailable {
			t.Fatalf("public /healthz after restarting a store found damaged: %d; want 503", code)
		}
		_, err = srv.Store.Submit(t.Context(), w.lots("AFTER", 1)[0])
		if !errors.Is(err, ledger.ErrDataLoss) || !strings.Contains(err.Error(), "earlier check") {
			t.Fatalf("the first append after restarting a store found damaged: %v; want ErrDataLoss from the earlier check's record", err)
		}
		if b, err := os.ReadFile(file); err != nil || sha256.Sum256(b) != sum {
			t.Fatalf("the damaged table was not kept as it was (%v)", err)
		}
	})
}

// httpGet returns the status and body of a GET of url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
