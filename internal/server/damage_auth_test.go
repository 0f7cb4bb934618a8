package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/antimony-ledger/provenance/authtoken"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/ledger"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// TestDamagedStoreAuthenticationSaysDataLoss: on a store found damaged,
// whose reads the log no longer trusts, a caller whose credentials must
// be checked against the registry (the registrar, a party) is told that
// the store is damaged (DataLoss, HTTP 500), not Unavailable, a code
// clients retry, with no word of damage (a new user's trial: `provctl
// register` answered "Unavailable: authentication: cannot read the
// registry").
func TestDamagedStoreAuthenticationSaysDataLoss(t *testing.T) {
	c := ct.New()
	dir := t.TempDir()
	h := start(t, c, dir, nil)
	mine := c.AddParty("mine-d", "Mine", "PK", pb.Role_ROLE_MINE)
	h.submitGRPC(c.Register(mine))
	h.stop()
	// What the check of every table block writes once it finds damage.
	if err := os.WriteFile(filepath.Join(dir, ledger.DamageMarker), []byte("2026-12-06T10:00:00Z a check of every table block found the store damaged\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h = start(t, c, dir, nil)
	for _, as := range []struct {
		party string
		key   []byte
		env   *pb.Envelope
	}{
		{record.RegistrarPartyID, c.Registrar, c.Register(c.AddParty(fmt.Sprintf("mine-%d", 2), "Mine", "PK", pb.Role_ROLE_MINE))},
		{mine.ID, mine.Key, c.Sign(mine, &pb.Statement{EventTime: c.At(ct.Day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: "D-1", MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Site: &pb.Location{Lat: 30, Lon: 67.2}, Product: pb.Product_PRODUCT_ORE,
		}}})},
	} {
		tok, err := authtoken.Make(ct.Origin, as.party, as.key, time.Now(), 0)
		if err != nil {
			t.Fatal(err)
		}
		body, err := protojson.Marshal(&apipb.SubmitRequest{Envelope: as.env})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(t.Context(), "POST", h.base+"/v1/envelopes", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(b.String(), `"code":15`) || !strings.Contains(b.String(), "damaged") {
			t.Errorf("%s submits to a damaged store: %d %s; want 500, DataLoss (15), naming the damage", as.party, resp.StatusCode, b.String())
		}
	}
}
