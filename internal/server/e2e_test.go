package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	runtime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"

	"github.com/antimony-ledger/provenance/client"
)

// submitted is an accepted envelope and what the server said about it.
type submitted struct {
	env  *pb.Envelope
	resp *apipb.SubmitResponse
}

// openCheckpoint verifies a signed checkpoint with the chain's log key.
func openCheckpoint(t *testing.T, c *ct.Chain, signed string) tlog.Checkpoint {
	t.Helper()
	cp, err := tlog.OpenCheckpoint([]byte(signed), c.LogVerifier)
	if err != nil {
		t.Fatalf("opening checkpoint %q: %v", signed, err)
	}
	if cp.Origin != ct.Origin {
		t.Fatalf("checkpoint origin %q, want %q", cp.Origin, ct.Origin)
	}
	return cp
}

func hashes32(t *testing.T, hs [][]byte) [][32]byte {
	t.Helper()
	out := make([][32]byte, len(hs))
	for i, h := range hs {
		if len(h) != 32 {
			t.Fatalf("proof hash %d is %d bytes", i, len(h))
		}
		out[i] = [32]byte(h)
	}
	return out
}

// checkEntry checks a served entry against the envelope that was submitted:
// the exact canonical bytes, their leaf hash, and the decoded forms.
func checkEntry(t *testing.T, e *apipb.LogEntry, s submitted) {
	t.Helper()
	want, err := record.EncodeEnvelope(s.env)
	if err != nil {
		t.Fatal(err)
	}
	if e.GetIndex() != s.resp.GetIndex() || !bytes.Equal(e.GetData(), want) {
		t.Fatalf("entry %d: data %q, want entry %d with %q", e.GetIndex(), e.GetData(), s.resp.GetIndex(), want)
	}
	if id := tlog.RecordIDOf(e.GetData()).String(); e.GetLeafHash() != id || id != s.resp.GetLeafHash() {
		t.Fatalf("entry %d: leaf hash %s, computed %s, submit said %s", e.GetIndex(), e.GetLeafHash(), id, s.resp.GetLeafHash())
	}
	if !proto.Equal(e.GetEnvelope(), s.env) {
		t.Fatalf("entry %d: decoded envelope differs from the submitted one", e.GetIndex())
	}
	st, err := record.DecodeStatement(s.env.GetPayload())
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(e.GetStatement(), st) {
		t.Fatalf("entry %d: decoded statement %v, want %v", e.GetIndex(), e.GetStatement(), st)
	}
	if e.GetRecordTime() == nil || e.GetRecordTime().AsTime().IsZero() {
		t.Fatalf("entry %d: no record time", e.GetIndex())
	}
}

// TestEndToEnd drives a custody chain over real gRPC and real HTTP,
// checks every read and proof client-side, restarts the server on the same
// data directory and continues the chain.
func TestEndToEnd(t *testing.T) {
	c := ct.New()
	dir := t.TempDir()
	h := start(t, c, dir, nil)

	mine := c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	exporter := c.AddParty("exp-kar", "Karachi Exporter", "PK", pb.Role_ROLE_EXPORTER)
	buyer := c.AddParty("buyer-us", "US Buyer", "US", pb.Role_ROLE_BUYER)

	var subs []submitted
	add := func(env *pb.Envelope, resp *apipb.SubmitResponse) submitted {
		t.Helper()
		if resp.GetDuplicate() || resp.GetIndex() != uint64(len(subs)) {
			t.Fatalf("submission %d: response %v", len(subs), resp)
		}
		cp := openCheckpoint(t, c, resp.GetCheckpoint())
		if cp.Size <= resp.GetIndex() {
			t.Fatalf("submit checkpoint size %d does not contain index %d", cp.Size, resp.GetIndex())
		}
		s := submitted{env, resp}
		subs = append(subs, s)
		return s
	}
	// Registrations over both transports.
	add(c.Register(mine), h.submitGRPC(c.Register(mine)))
	add(c.Register(exporter), h.submitGRPC(c.Register(exporter)))
	add(c.Register(buyer), h.submitHTTP(c.Register(buyer)))

	// Extraction over HTTP, dispatch over gRPC, receipt over HTTP.
	ext := c.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L1", MassKg: 10000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
		Site: &pb.Location{Lat: 30.7, Lon: 66.6, Name: "Qila Abdullah"},
	}}})
	extS := add(ext, h.submitHTTP(ext))
	disp := c.Sign(mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L1", CustodyLink: extS.resp.GetLeafHash(), ToPartyId: exporter.ID, MassKg: 10000,
		Seals: []string{"S-1"}, Transport: "truck LEA-1234",
		Route: []*pb.Waypoint{{Location: &pb.Location{Lat: 30.18, Lon: 66.99, Name: "Quetta"}, Time: c.At(2 * ct.Day)}},
	}}})
	dispS := add(disp, h.submitGRPC(disp))
	rec := c.Sign(exporter, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
		LotId: "L1", DispatchLink: dispS.resp.GetLeafHash(), MassKg: 9990, SealsIntact: true,
	}}})
	recS := add(rec, h.submitHTTP(rec))

	// An identical envelope is idempotent, on either transport.
	before := h.store.Log().Size()
	if r := h.submitGRPC(ext); !r.GetDuplicate() || r.GetIndex() != extS.resp.GetIndex() || r.GetLeafHash() != extS.resp.GetLeafHash() {
		t.Fatalf("gRPC resubmission: %v, want duplicate of %v", r, extS.resp)
	}
	if r := h.submitHTTP(rec); !r.GetDuplicate() || r.GetIndex() != recS.resp.GetIndex() || r.GetLeafHash() != recS.resp.GetLeafHash() {
		t.Fatalf("HTTP resubmission: %v, want duplicate of %v", r, recS.resp)
	}
	if after := h.store.Log().Size(); after != before {
		t.Fatalf("resubmissions changed the log size from %d to %d", before, after)
	}

	// Lot, parties and party lots over REST.
	var lot apipb.GetLotResponse
	h.getJSON("/v1/lots/L1", &lot)
	if l := lot.GetLot(); l.GetHolderPartyId() != exporter.ID || l.GetMassKg() != 9990 || l.GetHead() != recS.resp.GetLeafHash() || l.GetOriginRecord() != extS.resp.GetLeafHash() {
		t.Fatalf("GET /v1/lots/L1: lot %v", l)
	}
	if len(lot.GetHistory()) != 3 {
		t.Fatalf("GET /v1/lots/L1: %d history entries, want 3", len(lot.GetHistory()))
	}
	for i, s := range []submitted{extS, dispS, recS} {
		checkEntry(t, lot.GetHistory()[i], s)
	}
	var party apipb.GetPartyResponse
	h.getJSON("/v1/parties/"+exporter.ID, &party)
	if p := party.GetParty(); p.GetRegistration().GetName() != "Karachi Exporter" || len(p.GetKeys()) != 1 || p.GetKeys()[0].GetKeyId() != exporter.KeyID() || p.GetRegistrationRecord() != subs[1].resp.GetLeafHash() {
		t.Fatalf("GET /v1/parties/%s: %v", exporter.ID, p)
	}
	var parties apipb.ListPartiesResponse
	h.getJSON("/v1/parties", &parties)
	if len(parties.GetParties()) != 3 {
		t.Fatalf("GET /v1/parties: %d parties, want 3", len(parties.GetParties()))
	}
	var plots apipb.ListPartyLotsResponse
	h.getJSON("/v1/parties/"+exporter.ID+"/lots", &plots)
	if len(plots.GetLots()) != 1 || plots.GetLots()[0].GetLotId() != "L1" {
		t.Fatalf("GET /v1/parties/%s/lots: %v", exporter.ID, plots.GetLots())
	}
	// And the same lot over gRPC.
	glot := must(h.custody.GetLot(t.Context(), &apipb.GetLotRequest{LotId: "L1"}))(t)
	if !proto.Equal(glot, &lot) {
		t.Fatalf("gRPC GetLot differs from REST:\n%v\n%v", glot, &lot)
	}

	// Checkpoint, entries, records and proofs, verified client-side.
	var ckr apipb.GetCheckpointResponse
	h.getJSON("/v1/checkpoint", &ckr)
	cp := openCheckpoint(t, c, ckr.GetCheckpoint())
	if cp.Size != uint64(len(subs)) || ckr.GetTreeSize() != cp.Size || ckr.GetOrigin() != cp.Origin {
		t.Fatalf("checkpoint %+v, response %v, want size %d", cp, &ckr, len(subs))
	}
	if size, root := h.store.Log().Root(); size != cp.Size || root != cp.Root {
		t.Fatalf("served checkpoint (%d, %x) is not the log's (%d, %x)", cp.Size, cp.Root, size, root)
	}
	for _, s := range subs {
		i := s.resp.GetIndex()
		var er apipb.GetEntryResponse
		h.getJSON(fmt.Sprintf("/v1/entries/%d", i), &er)
		checkEntry(t, er.GetEntry(), s)
		var rr apipb.GetRecordResponse
		h.getJSON("/v1/records/"+s.resp.GetLeafHash(), &rr)
		checkEntry(t, rr.GetEntry(), s)

		var ip apipb.GetInclusionProofResponse
		h.getJSON(fmt.Sprintf("/v1/proofs/inclusion?index=%d&tree_size=%d", i, cp.Size), &ip)
		leaf, err := client.EntryLeaf(er.GetEntry())
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyInclusion(leaf.Hash(), i, cp.Size, hashes32(t, ip.GetHashes()), cp.Root); err != nil {
			t.Fatalf("inclusion proof of %d in %d: %v", i, cp.Size, err)
		}
		if ip.GetLeafHash() != s.resp.GetLeafHash() || ip.GetTreeSize() != cp.Size {
			t.Fatalf("inclusion response %v", &ip)
		}
		// tree_size 0 means the current size, over gRPC too.
		gip := must(h.ledger.GetInclusionProof(t.Context(), &apipb.GetInclusionProofRequest{Index: i}))(t)
		if gip.GetTreeSize() != cp.Size || !proto.Equal(gip, &ip) {
			t.Fatalf("gRPC inclusion proof %v differs from REST %v", gip, &ip)
		}
		// Every earlier submit checkpoint is a prefix of the current one.
		old := openCheckpoint(t, c, s.resp.GetCheckpoint())
		var cr apipb.GetConsistencyProofResponse
		h.getJSON(fmt.Sprintf("/v1/proofs/consistency?first=%d&second=%d", old.Size, cp.Size), &cr)
		if err := tlog.VerifyConsistency(old.Size, cp.Size, hashes32(t, cr.GetHashes()), old.Root, cp.Root); err != nil {
			t.Fatalf("consistency %d -> %d: %v", old.Size, cp.Size, err)
		}
	}

	// StreamEntries over gRPC and as newline-delimited JSON over REST.
	stream := must(h.ledger.StreamEntries(t.Context(), &apipb.StreamEntriesRequest{Start: 1}))(t)
	for i := 1; ; i++ {
		m, err := stream.Recv()
		if err == io.EOF {
			if i != len(subs) {
				t.Fatalf("gRPC stream ended after %d entries, want %d", i-1, len(subs)-1)
			}
			break
		}
		if err != nil {
			t.Fatalf("gRPC stream: %v", err)
		}
		checkEntry(t, m.GetEntry(), subs[i])
	}
	code, body := h.do("GET", "/v1/entries?start=0&end=4", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/entries: %d %s", code, body)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	n := 0
	for ; sc.Scan(); n++ {
		var line struct {
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Result == nil {
			t.Fatalf("stream line %q: %v", sc.Bytes(), err)
		}
		var m apipb.StreamEntriesResponse
		if err := protojson.Unmarshal(line.Result, &m); err != nil {
			t.Fatal(err)
		}
		checkEntry(t, m.GetEntry(), subs[n])
	}
	if n != 4 {
		t.Fatalf("REST stream gave %d entries, want 4", n)
	}

	// Health, OpenAPI, metrics.
	if code, body := h.do("GET", "/healthz", nil); code != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("GET /healthz: %d %q", code, body)
	}
	hc := must(healthpb.NewHealthClient(h.conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "provenance.v1.LedgerService"}))(t)
	if hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health: %v", hc.GetStatus())
	}
	code, body = h.do("GET", "/openapi.json", nil)
	var doc struct {
		Swagger string `json:"swagger"`
		Info    struct {
			Title, Version string
		} `json:"info"`
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); code != http.StatusOK || err != nil {
		t.Fatalf("GET /openapi.json: %d, %v", code, err)
	}
	if _, ok := doc.Paths["/v1/envelopes"]; !ok || doc.Swagger != "2.0" {
		t.Fatalf("/openapi.json: swagger %q, paths %v lack /v1/envelopes", doc.Swagger, keys(doc.Paths))
	}
	if doc.Info.Title != "Antimony provenance ledger" || doc.Info.Version != "v1" {
		t.Fatalf("/openapi.json: info %+v", doc.Info)
	}
	code, body = h.getAdmin("/metrics")
	for _, want := range []string{
		`provenance_grpc_server_handled_total{code="OK",method="/provenance.v1.LedgerService/Submit"}`,
		`provenance_grpc_server_handling_seconds_bucket{code="OK",method="/provenance.v1.CustodyService/GetLot"`,
		fmt.Sprintf("provenance_ledger_tree_size %d", len(subs)),
		`provenance_submissions_total{outcome="duplicate"} 2`,
		"go_goroutines",
	} {
		if code != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics (%d) lacks %q", code, want)
		}
	}

	// Argument checks: statuses follow the gRPC codes.
	size := uint64(len(subs))
	h.expectHTTPError("GET", fmt.Sprintf("/v1/entries/%d", size), nil, http.StatusNotFound, "log size is 6")
	h.expectHTTPError("GET", fmt.Sprintf("/v1/proofs/inclusion?index=0&tree_size=%d", size+1), nil, http.StatusBadRequest, "beyond the current tree size")
	h.expectHTTPError("GET", fmt.Sprintf("/v1/proofs/inclusion?index=%d&tree_size=%d", size, size), nil, http.StatusBadRequest, "not in a tree of size")
	h.expectHTTPError("GET", "/v1/proofs/consistency?first=5&second=3", nil, http.StatusBadRequest, "larger than second")
	h.expectHTTPError("GET", fmt.Sprintf("/v1/proofs/consistency?first=1&second=%d", size+5), nil, http.StatusBadRequest, "beyond the current tree size")
	h.expectHTTPError("GET", "/v1/records/not-a-hash", nil, http.StatusBadRequest, "multihash")
	h.expectHTTPError("GET", "/v1/records/"+tlog.RecordIDOf([]byte("never appended")).String(), nil, http.StatusNotFound, "not found")
	h.expectHTTPError("GET", "/v1/lots/NOPE", nil, http.StatusNotFound, `lot "NOPE" does not exist`)
	h.expectHTTPError("GET", "/v1/parties/nobody", nil, http.StatusNotFound, "not registered")
	h.expectHTTPError("GET", "/v1/parties/nobody/lots", nil, http.StatusNotFound, "not registered")
	// A streaming call reports its error as the stream's one message.
	code, body = h.do("GET", "/v1/entries?start=99", nil)
	var se struct{ Error errorBody }
	if err := json.Unmarshal(body, &se); err != nil || code != runtime.HTTPStatusFromCode(codes.OutOfRange) || se.Error.Code != int(codes.OutOfRange) || !strings.Contains(se.Error.Message, "beyond the log size") {
		t.Errorf("GET /v1/entries?start=99: %d %s", code, body)
	}
	h.expectHTTPError("GET", "/v1/lots/L1/verification", nil, http.StatusServiceUnavailable, "verifier not configured")
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{err2(h.ledger.GetEntry(t.Context(), &apipb.GetEntryRequest{Index: size})), codes.NotFound},
		{err2(h.ledger.GetConsistencyProof(t.Context(), &apipb.GetConsistencyProofRequest{First: 2, Second: size + 1})), codes.InvalidArgument},
		{err2(h.custody.GetParty(t.Context(), &apipb.GetPartyRequest{})), codes.InvalidArgument},
		{err2(h.verifier.GetBundle(t.Context(), &apipb.GetBundleRequest{LotId: "L1"})), codes.Unavailable},
	} {
		if status.Code(tc.err) != tc.code {
			t.Errorf("gRPC error %v, want code %v", tc.err, tc.code)
		}
	}

	// Restart on the same directory: the log is all there and the tree
	// goes on from the same root.
	old := cp
	oldCheckpoint := ckr.GetCheckpoint()
	h.stop()
	h = start(t, c, dir, nil)
	h.getJSON("/v1/checkpoint", &ckr)
	if ckr.GetCheckpoint() != oldCheckpoint {
		t.Fatalf("checkpoint after restart %q, want %q", ckr.GetCheckpoint(), oldCheckpoint)
	}
	h.getJSON("/v1/lots/L1", &lot)
	if lot.GetLot().GetHolderPartyId() != exporter.ID || len(lot.GetHistory()) != 3 {
		t.Fatalf("lot after restart: %v", &lot)
	}
	disp2 := c.Sign(exporter, &pb.Statement{EventTime: c.At(10 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L1", CustodyLink: recS.resp.GetLeafHash(), ToPartyId: buyer.ID, MassKg: 9990,
		BorderCrossing: "Karachi port", Transport: "MV Example",
	}}})
	disp2S := add(disp2, h.submitGRPC(disp2))
	rec2 := c.Sign(buyer, &pb.Statement{EventTime: c.At(40 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
		LotId: "L1", DispatchLink: disp2S.resp.GetLeafHash(), MassKg: 9985, SealsIntact: true,
	}}})
	rec2S := add(rec2, h.submitHTTP(rec2))
	if rec2S.resp.GetIndex() != old.Size+1 {
		t.Fatalf("index after restart %d, want %d", rec2S.resp.GetIndex(), old.Size+1)
	}
	h.getJSON("/v1/checkpoint", &ckr)
	cp = openCheckpoint(t, c, ckr.GetCheckpoint())
	var cr apipb.GetConsistencyProofResponse
	h.getJSON(fmt.Sprintf("/v1/proofs/consistency?first=%d", old.Size), &cr)
	if cr.GetSecond() != cp.Size || cp.Size != old.Size+2 {
		t.Fatalf("consistency response %v, checkpoint size %d", &cr, cp.Size)
	}
	if err := tlog.VerifyConsistency(old.Size, cp.Size, hashes32(t, cr.GetHashes()), old.Root, cp.Root); err != nil {
		t.Fatalf("consistency across restart %d -> %d: %v", old.Size, cp.Size, err)
	}
	h.getJSON("/v1/lots/L1", &lot)
	if l := lot.GetLot(); l.GetHolderPartyId() != buyer.ID || l.GetMassKg() != 9985 || len(lot.GetHistory()) != 5 {
		t.Fatalf("lot after the second transfer: %v", &lot)
	}
	checkEntry(t, lot.GetHistory()[4], rec2S)
}

func err2[T any](_ T, err error) error { return err }

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
