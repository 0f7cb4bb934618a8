package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
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

// TestAdminBackupCutShortLooksWholeOverHTTP10_review19: the handler cuts a
// backup that meets damage mid-stream short by aborting the response
// (panic(http.ErrAbortHandler)), "so that a plain download fails too
// rather than look whole". That holds for HTTP/1.1 (chunked: the last
// chunk never comes) and HTTP/2, not for an HTTP/1.0 request: Go's server
// then delimits the body by closing the connection, and the abort closes
// it, so the client reads a 200 whose body ends cleanly, exactly as a
// whole backup's would. HTTP/1.0 is what nginx speaks to an upstream by
// default (proxy_http_version 1.0), so behind such a proxy every client
// gets a clean, complete-looking download of a cut-short backup. The
// handler could refuse an HTTP/1.0 request (it cannot give a length).
func TestAdminBackupCutShortLooksWholeOverHTTP10_review19(t *testing.T) {
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
	const lots = 140 // as TestAdminBackupCutShortOnDamageMidStream
	submit := func(st *pb.Statement) (*apipb.SubmitResponse, error) {
		return h.ledger.Submit(t.Context(), &apipb.SubmitRequest{Envelope: c.Sign(mine, st)})
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last uint64
	)
	for w := range 8 {
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
	damageValueLog(t, dir, e.Data)

	conn, err := net.Dial("tcp", strings.TrimPrefix(h.admin, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /admin/backup HTTP/1.0\r\nHost: backup\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, readErr := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return // refused: the client cannot take it for whole
	}
	if len(got) < 1<<20 {
		t.Fatalf("%d bytes: the damage was met before the stream began", len(got))
	}
	if readErr == nil {
		t.Errorf("GET /admin/backup over HTTP/1.0 of a store damaged mid-stream: 200, a body of %d bytes that ends cleanly (transfer %v, content length %d): a plain download takes the cut-short backup for whole", len(got), resp.TransferEncoding, resp.ContentLength)
	}
}
