package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/testserver"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// fuzzServer is a real server (store, gRPC, REST gateway on loopback)
// started once per fuzz target and worker process, with a small custody
// world in it: a mine holding lot L1, lot L2 in transit to an exporter,
// lot L3 held by the exporter.
type fuzzServer struct {
	srv     *testserver.Server
	c       *ct.Chain
	base    string
	http    *http.Client
	parties []*ct.Party
	// Links a fuzzed statement may continue.
	l1Ext, l2Disp, l3Rec string
}

func startFuzzServer(f *testing.F) *fuzzServer {
	c := ct.New()
	fs := &fuzzServer{c: c, http: &http.Client{Timeout: 30 * time.Second}}
	fs.srv = testserver.Start(f, c)
	fs.base = "http://" + fs.srv.HTTPAddr
	f.Cleanup(fs.http.CloseIdleConnections)
	mine := c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	exp := c.AddParty("exp-kar", "Karachi Exporter", "PK", pb.Role_ROLE_EXPORTER)
	smelter := c.AddParty("smelter", "Smelter", "PK", pb.Role_ROLE_SMELTER)
	lab := c.AddParty("lab", "Assay Lab", "PK", pb.Role_ROLE_LAB)
	fs.parties = []*ct.Party{mine, exp, smelter, lab}
	s := fs.srv.Store
	for _, p := range fs.parties {
		ct.Submit(f, s, c.Register(p))
	}
	ext := func(lot string) *pb.Envelope {
		return c.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: lot, MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}})
	}
	disp := func(lot, link string) *pb.Envelope {
		return c.Sign(mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
			LotId: lot, CustodyLink: link, ToPartyId: exp.ID, MassKg: 1000}}})
	}
	fs.l1Ext = ct.Submit(f, s, ext("L1"))[0]
	l2Ext := ct.Submit(f, s, ext("L2"))[0]
	fs.l2Disp = ct.Submit(f, s, disp("L2", l2Ext))[0]
	l3Ext := ct.Submit(f, s, ext("L3"))[0]
	l3Disp := ct.Submit(f, s, disp("L3", l3Ext))[0]
	fs.l3Rec = ct.Submit(f, s, c.Sign(exp, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
		LotId: "L3", DispatchLink: l3Disp, MassKg: 999, SealsIntact: true}}}))[0]
	return fs
}

// seedStatements are statements the world accepts, or nearly.
func (fs *fuzzServer) seedStatements() []struct {
	signer int
	st     *pb.Statement
} {
	c := fs.c
	return []struct {
		signer int
		st     *pb.Statement
	}{
		{0, &pb.Statement{EventTime: c.At(ct.Day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: "NEW-1", MassKg: 500, MoisturePct: 2, SbGradePct: 8, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}}},
		{0, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
			LotId: "L1", CustodyLink: fs.l1Ext, ToPartyId: "exp-kar", MassKg: 1000, Seals: []string{"S1"}, Transport: "truck",
			Route: []*pb.Waypoint{{Location: &pb.Location{Lat: 34.115, Lon: 71.085, Name: "Torkham"}, Time: c.At(2 * ct.Day)}}}}}},
		{1, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
			LotId: "L2", DispatchLink: fs.l2Disp, MassKg: 990, SealsIntact: true}}}},
		{1, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_LabNomination{LabNomination: &pb.LabNomination{
			LotId: "L3", CustodyLink: fs.l3Rec, LabPartyIds: []string{"lab"}}}}},
		{3, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Assay{Assay: &pb.Assay{
			LotId: "L3", SubjectLink: fs.l3Rec, SampleId: "A1", Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: 9}, {Element: "As", Pct: 0.2}}}}}},
		{1, &pb.Statement{EventTime: c.At(4 * ct.Day), Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
			Kind:    pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
			Inputs:  []*pb.TransformationInput{{LotId: "L3", Link: fs.l3Rec, MassKg: 999}},
			Outputs: []*pb.TransformationOutput{{LotId: "L3a", MassKg: 500, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}, {LotId: "L3b", MassKg: 499, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}}}}},
	}
}

// post sends body to POST /v1/envelopes and returns the status and body.
func (fs *fuzzServer) post(t *testing.T, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", fs.base+"/v1/envelopes", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := fs.http.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/envelopes: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp.StatusCode, b
}

// submit posts body and checks the invariants of any submission: no 5xx,
// and the tree changes only with a 200, by exactly the entry the answer
// names. sent, if known, is the envelope the body carries; a new entry
// must then hold exactly its canonical bytes.
func (fs *fuzzServer) submit(t *testing.T, body []byte, sent *pb.Envelope) {
	log := fs.srv.Store.Log()
	size0, root0 := log.Root()
	ckpt0 := log.Checkpoint()
	code, resp := fs.post(t, body)
	size1, root1 := log.Root()
	if code >= 500 {
		t.Fatalf("POST /v1/envelopes answered %d %.500s\nbody %.500q", code, resp, body)
	}
	if code != http.StatusOK {
		if size1 != size0 || root1 != root0 || !bytes.Equal(log.Checkpoint(), ckpt0) {
			t.Fatalf("answered %d %.300s, but the tree went from size %d to %d\nbody %.500q", code, resp, size0, size1, body)
		}
		return
	}
	r := &apipb.SubmitResponse{}
	if err := protojson.Unmarshal(resp, r); err != nil {
		t.Fatalf("200 with an undecodable answer %.300q: %v", resp, err)
	}
	if r.GetDuplicate() {
		if size1 != size0 || root1 != root0 || r.GetIndex() >= size0 {
			t.Fatalf("duplicate at index %d, but the tree went from size %d to %d", r.GetIndex(), size0, size1)
		}
	} else if size1 != size0+1 || r.GetIndex() != size0 {
		t.Fatalf("accepted at index %d, but the tree went from size %d to %d", r.GetIndex(), size0, size1)
	}
	e, err := log.Get(t.Context(), r.GetIndex())
	if err != nil {
		t.Fatalf("accepted entry %d: %v", r.GetIndex(), err)
	}
	if e.ID.String() != r.GetLeafHash() {
		t.Fatalf("answer names %s, entry %d is %s", r.GetLeafHash(), r.GetIndex(), e.ID.String())
	}
	if _, _, err := custody.DecodeEntry(e); err != nil {
		t.Fatalf("accepted entry %d does not decode: %v", r.GetIndex(), err)
	}
	if sent == nil {
		req := &apipb.SubmitRequest{}
		if err := protojson.Unmarshal(body, req); err != nil {
			t.Fatalf("the gateway accepted a body protojson rejects (%v): %.300q", err, body)
		}
		sent = req.GetEnvelope()
	}
	data, err := record.EncodeEnvelope(sent)
	if err != nil || !bytes.Equal(data, e.Data) {
		t.Fatalf("entry %d holds other bytes than the envelope sent (%v)\nstored %.300q\n  sent %.300q", r.GetIndex(), err, e.Data, data)
	}
}

// FuzzRESTSubmit posts arbitrary bodies to POST /v1/envelopes on a real
// server: it must never answer 5xx, and the tree must change only when it
// answers 200, by exactly the entry it names, holding exactly the
// envelope the body carried.
func FuzzRESTSubmit(f *testing.F) {
	fs := startFuzzServer(f)
	for _, s := range fs.seedStatements() {
		env := fs.c.Sign(fs.parties[s.signer], s.st)
		b, err := protojson.Marshal(&apipb.SubmitRequest{Envelope: env})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// A valid body with trailing bytes must be refused, not decoded up to
	// its first JSON value.
	env := fs.c.Sign(fs.parties[0], fs.seedStatements()[0].st)
	b, err := protojson.Marshal(&apipb.SubmitRequest{Envelope: env})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append(b, " trailing garbage"...))
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"envelope":null}`, `{"envelope":{}}`,
		`{"envelope":{"payloadType":"application/vnd.antimony.statement.v1+proto","payload":"CgFh","signatures":[{"keyid":"x","sig":"AA=="}]}}`,
		`{"envelope":{"payloadType":1}}`, `{"envelope":{"payload":"!!"}}`, `{"envelope":{"signatures":[null]}}`,
		`{"envelope":{"signatures":{}}}`, `{"unknown":1}`, `{"envelope":{"payload_type":"a","payloadType":"b"}}`,
		`{"envelope":{}} trailing`, `{"envelope":{}}{"envelope":{}}`, "\xff\xfe", `{"envelope":` + strings.Repeat(`[`, 1000),
		`{"envelope":{"payload":"` + strings.Repeat("A", 4096) + `"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fs.submit(t, body, nil)
	})
}

// FuzzRESTSubmitSigned fuzzes the statement inside a correctly signed
// envelope: the payload bytes are signed with the key of one of the
// world's registered parties (or the registrar), so submissions get past
// the signature check into the decoding and state-dependent validation.
// The invariants are those of FuzzRESTSubmit.
func FuzzRESTSubmitSigned(f *testing.F) {
	fs := startFuzzServer(f)
	for _, s := range fs.seedStatements() {
		env := fs.c.Sign(fs.parties[s.signer], s.st)
		f.Add(env.GetPayload(), uint8(s.signer))
	}
	reg := fs.c.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: "lab", KeyId: fs.parties[3].KeyID(), RevokedAt: fs.c.At(ct.Day), Reason: "test"}}})
	f.Add(reg.GetPayload(), uint8(len(fs.parties)))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, payload []byte, signer uint8) {
		key := fs.c.Registrar
		if i := int(signer) % (len(fs.parties) + 1); i < len(fs.parties) {
			key = fs.parties[i].Key
		}
		env := record.SignPayload(record.StatementPayloadType, payload, key)
		body, err := protojson.Marshal(&apipb.SubmitRequest{Envelope: env})
		if err != nil {
			t.Fatal(err)
		}
		fs.submit(t, body, env)
	})
}
