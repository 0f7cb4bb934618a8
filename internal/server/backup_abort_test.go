package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/antimony-ledger/provenance/internal/backup"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/datadir"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// damagedMidStream starts a server whose store holds 140 dispatches of
// about 9 KB (40 seals of 200 bytes), over the store's 4 KB value
// threshold, so that their entries are in the value log and more than the
// backup stream's first 1 MiB comes before the last one; damages that
// last one's value where the log holds it, the server running; and
// returns the server and the damaged entry's index.
func damagedMidStream(t *testing.T) (*harness, uint64) {
	t.Helper()
	c := ct.New()
	dir := t.TempDir()
	h := start(t, c, dir, func(o *server.Options) {
		o.BackupFiles = func(bool) ([]backup.File, error) {
			return []backup.File{
				{Name: datadir.LogPubFile, Data: []byte(c.LogVerifierKey + "\n")},
				{Name: datadir.RegistrarPubFile, Data: record.MarshalPublicKey(c.RegistrarPublic())},
			}, nil
		}
	})
	mine := c.AddParty("mine-big", "Mine", "PK", pb.Role_ROLE_MINE)
	mine.Reg.Site = &pb.Location{Lat: 30.0, Lon: 67.2, Name: "mine"}
	exp := c.AddParty("exp-big", "Exporter", "PK", pb.Role_ROLE_EXPORTER)
	h.submitGRPC(c.Register(mine))
	h.submitGRPC(c.Register(exp))
	const lots = 140
	submit := func(st *pb.Statement) (*apipb.SubmitResponse, error) {
		return h.ledger.Submit(t.Context(), &apipb.SubmitRequest{Envelope: c.Sign(mine, st)})
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last uint64
	)
	for w := range 8 { // eight clients: the appends' syncs are shared
		wg.Go(func() {
			for i := w; i < lots; i += 8 {
				lot := fmt.Sprintf("BIG-%03d", i)
				ext, err := submit(&pb.Statement{EventTime: c.At(ct.Day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
					LotId: lot, MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Site: mine.Reg.Site, Product: pb.Product_PRODUCT_ORE,
				}}})
				if err != nil {
					t.Error(err)
					return
				}
				seals := make([]string, 40)
				for j := range seals {
					seals[j] = fmt.Sprintf("%s-seal-%02d-%s", lot, j, strings.Repeat("x", 180))
				}
				d, err := submit(&pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
					LotId: lot, CustodyLink: ext.GetLeafHash(), ToPartyId: exp.ID, MassKg: 1000, Seals: seals, Transport: "truck",
				}}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				last = max(last, d.GetIndex())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	e, err := h.store.Log().Get(t.Context(), last)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Data) < 8<<10 {
		t.Fatalf("the last dispatch is %d bytes, want over the value threshold", len(e.Data))
	}
	damageValueLog(t, dir, e.Data)
	return h, last
}

// TestAdminBackupCutShortOnDamageMidStream: a backup that meets damage
// once its stream has begun (a value in Badger's value log altered while
// the server runs, which the check of every table block before the
// stream does not read) cannot answer with an error status any more.
// The real handler says why in the stream's last record and cuts the
// response short: a plain download fails (the body ends early) instead
// of looking whole, and backup.Read reports the server's reason.
func TestAdminBackupCutShortOnDamageMidStream(t *testing.T) {
	h, last := damagedMidStream(t)

	resp, err := h.http.Get(h.admin + "/admin/backup")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, readErr := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/backup: %d %q; want 200: the damage is met after the stream began", resp.StatusCode, got)
	}
	if readErr == nil {
		t.Fatalf("GET /admin/backup of a store damaged mid-stream: a whole response of %d bytes; want it cut short", len(got))
	}
	if len(got) < 1<<20 {
		t.Fatalf("GET /admin/backup: %d bytes before the end: the damage was met before the stream began", len(got))
	}
	_, err = backup.Read(bytes.NewReader(got), io.Discard)
	if !errors.Is(err, backup.ErrStopped) || !strings.Contains(err.Error(), fmt.Sprintf("entry %d", last)) {
		t.Fatalf("backup.Read of the cut-short stream: %v; want the server's reason, naming entry %d", err, last)
	}
	t.Logf("body cut short after %d bytes (%v); backup.Read: %v", len(got), readErr, err)
}

// damageValueLog flips a bit in the middle of data where a value log
// file holds it whole, in place (the server has the file mapped). It
// reads the files' first 16 MiB, more than the test writes: Badger makes
// each 1 GiB long.
func damageValueLog(t *testing.T, dir string, data []byte) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		fh, err := os.OpenFile(f, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		b := make([]byte, 16<<20)
		n, err := fh.ReadAt(b, 0)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		i := bytes.Index(b[:n], data)
		if i < 0 {
			continue
		}
		i += len(data)/2 - 8
		if _, err := fh.WriteAt([]byte{b[i+8] ^ 0x20}, int64(i+8)); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("the value is in no value log file")
}
