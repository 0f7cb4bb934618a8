package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/authtoken"
	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// policyWorld is a ledger with two competing chains:
//
//	mine-a --L1--> exp-a, who splits L1 into L1a (dispatched to buyer-a) and L1b (kept)
//	mine-b --L2--> exp-b
//
// plus an auditor and the registrar.
type policyWorld struct {
	h                                         *harness
	c                                         *ct.Chain
	mineA, expA, buyerA, mineB, expB, auditor *ct.Party
	// Log indexes of records, by name.
	idx map[string]uint64
}

// Secrets on the records: what an outsider must never see.
const (
	plateA = "LES-4417"
	sealA  = "SEAL-A-0091"
	plateB = "QTA-2290"
	sealB  = "SEAL-B-7713"
)

func newPolicyWorld(t *testing.T) *policyWorld {
	c := ct.New()
	h := start(t, c, t.TempDir(), func(o *server.Options) {
		b := backend.New(o.Store, verifier.Trust{Log: c.LogVerifier, Registrar: c.RegistrarPublic()}, verifier.DefaultConfig())
		t.Cleanup(b.Close)
		o.Verifier = b
	})
	w := &policyWorld{h: h, c: c, idx: map[string]uint64{}}
	w.mineA = c.AddParty("mine-a", "Mine A", "PK", pb.Role_ROLE_MINE)
	w.mineB = c.AddParty("mine-b", "Mine B", "PK", pb.Role_ROLE_MINE)
	w.expA = c.AddParty("exp-a", "Exporter A", "PK", pb.Role_ROLE_EXPORTER)
	w.expB = c.AddParty("exp-b", "Exporter B", "PK", pb.Role_ROLE_EXPORTER)
	w.buyerA = c.AddParty("buyer-a", "Buyer A", "US", pb.Role_ROLE_BUYER)
	w.auditor = c.AddParty("aud-1", "Auditor", "US", pb.Role_ROLE_AUDITOR)
	for _, p := range []*ct.Party{w.mineA, w.mineB, w.expA, w.expB, w.buyerA, w.auditor} {
		p.Reg.Site = &pb.Location{Lat: 30, Lon: 67.2}
		w.submit("reg "+p.ID, c.Register(p))
	}
	day := func(d int) *timestamppb.Timestamp { return c.At(time.Duration(d) * ct.Day) }
	karachi := &pb.Location{Lat: 24.85, Lon: 67.0}
	x1 := w.submit("L1 extraction", c.Sign(w.mineA, &pb.Statement{EventTime: day(1), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L1", MassKg: 10000, SbGradePct: 9, Site: &pb.Location{Lat: 30, Lon: 67.2}, Product: pb.Product_PRODUCT_ORE}}}))
	d1 := w.submit("L1 dispatch", c.Sign(w.mineA, &pb.Statement{EventTime: day(2), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L1", CustodyLink: x1, ToPartyId: "exp-a", MassKg: 10000, Seals: []string{sealA}, Transport: "truck " + plateA,
		Route: []*pb.Waypoint{{Location: &pb.Location{Lat: 27.7, Lon: 68.8}, Time: day(2)}}}}}))
	r1 := w.submit("L1 receipt", c.Sign(w.expA, &pb.Statement{EventTime: day(3), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
		LotId: "L1", DispatchLink: d1, MassKg: 10000, SealsIntact: true, Location: karachi}}}))
	sp := w.submit("L1 split", c.Sign(w.expA, &pb.Statement{EventTime: day(4), Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
		Kind: pb.TransformationKind_TRANSFORMATION_KIND_SPLIT, Site: karachi,
		Inputs: []*pb.TransformationInput{{LotId: "L1", Link: r1, MassKg: 10000}},
		Outputs: []*pb.TransformationOutput{
			{LotId: "L1a", MassKg: 6000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9},
			{LotId: "L1b", MassKg: 4000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9},
		}}}}))
	w.submit("L1a dispatch", c.Sign(w.expA, &pb.Statement{EventTime: day(5), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L1a", CustodyLink: sp, ToPartyId: "buyer-a", MassKg: 6000, Seals: []string{"SEAL-A-2"}, Transport: "vessel"}}}))
	x2 := w.submit("L2 extraction", c.Sign(w.mineB, &pb.Statement{EventTime: day(1), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L2", MassKg: 8000, SbGradePct: 10, Site: &pb.Location{Lat: 30, Lon: 67.2}, Product: pb.Product_PRODUCT_ORE}}}))
	d2 := w.submit("L2 dispatch", c.Sign(w.mineB, &pb.Statement{EventTime: day(2), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L2", CustodyLink: x2, ToPartyId: "exp-b", MassKg: 8000, Seals: []string{sealB}, Transport: "truck " + plateB}}}))
	// A receipt 25 % heavier than the dispatch: a flag on L2.
	w.submit("L2 receipt", c.Sign(w.expB, &pb.Statement{EventTime: day(3), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
		LotId: "L2", DispatchLink: d2, MassKg: 10000, SealsIntact: true, Location: karachi}}}))
	return w
}

func (w *policyWorld) submit(name string, env *pb.Envelope) string {
	w.h.t.Helper()
	r := w.h.submitGRPC(env)
	w.idx[name] = r.GetIndex()
	return r.GetLeafHash()
}

// A who is a caller: anonymous (nil key), or a party with a key.
type who struct {
	name  string
	party string
	key   ed25519.PrivateKey
}

func (w *policyWorld) as(p *ct.Party) who { return who{p.ID, p.ID, p.Key} }

func (w *policyWorld) token(t *testing.T, c who) string {
	t.Helper()
	if c.key == nil {
		return ""
	}
	tok, err := authtoken.Make(ct.Origin, c.party, c.key, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// callGRPC makes one call as c.
func (w *policyWorld) callGRPC(t *testing.T, c who, call func(ctx context.Context, cl *client.Client) error) error {
	t.Helper()
	cl, err := client.Dial(w.h.grpcAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if tok := w.token(t, c); tok != "" {
		cl, err = cl.As(t.Context(), &client.Credentials{PartyID: c.party, Key: c.key, Origin: ct.Origin})
		if err != nil {
			t.Fatal(err)
		}
	}
	return call(t.Context(), cl)
}

// get makes a REST GET as c and returns the status and body.
func (w *policyWorld) get(t *testing.T, c who, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", w.h.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok := w.token(t, c); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := w.h.http.Do(req)
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

var httpStatus = map[codes.Code]int{
	codes.OK: 200, codes.Unauthenticated: 401, codes.PermissionDenied: 403, codes.InvalidArgument: 400,
}

// TestReadPolicy is the read policy as a table: each caller, each
// resource, over gRPC and over REST, allowed or refused with the code the
// README gives.
func TestReadPolicy(t *testing.T) {
	w := newPolicyWorld(t)
	anon := who{name: "anonymous"}
	mineA, expA, buyerA := w.as(w.mineA), w.as(w.expA), w.as(w.buyerA)
	mineB, expB, aud := w.as(w.mineB), w.as(w.expB), w.as(w.auditor)
	registrar := who{"registrar", record.RegistrarPartyID, w.c.Registrar}
	operator := who{"operator", "operator", w.c.LogSigner.PrivateKey()}

	type resource struct {
		name string
		grpc func(ctx context.Context, c *client.Client) error
		rest string
	}
	lot := func(m string, id string) resource {
		switch m {
		case "lot":
			return resource{"GetLot " + id, func(ctx context.Context, c *client.Client) error {
				_, err := c.Custody.GetLot(ctx, &apipb.GetLotRequest{LotId: id})
				return err
			}, "/v1/lots/" + id}
		case "verify":
			return resource{"VerifyLot " + id, func(ctx context.Context, c *client.Client) error {
				_, err := c.Verifier.VerifyLot(ctx, &apipb.VerifyLotRequest{LotId: id})
				return err
			}, "/v1/lots/" + id + "/verification"}
		}
		return resource{"GetBundle " + id, func(ctx context.Context, c *client.Client) error {
			_, err := c.Verifier.GetBundle(ctx, &apipb.GetBundleRequest{LotId: id})
			return err
		}, "/v1/lots/" + id + "/bundle"}
	}
	streamBundle := func(id string) resource {
		return resource{"StreamBundle " + id, func(ctx context.Context, c *client.Client) error {
			_, err := c.Bundle(ctx, id)
			return err
		}, "/v1/lots/" + id + "/bundle/parts"}
	}
	checkpoint := resource{"GetCheckpoint", func(ctx context.Context, c *client.Client) error {
		_, err := c.Ledger.GetCheckpoint(ctx, &apipb.GetCheckpointRequest{})
		return err
	}, "/v1/checkpoint"}
	inclusion := resource{"GetInclusionProof", func(ctx context.Context, c *client.Client) error {
		_, err := c.Ledger.GetInclusionProof(ctx, &apipb.GetInclusionProofRequest{Index: 3})
		return err
	}, "/v1/proofs/inclusion?index=3"}
	consistency := resource{"GetConsistencyProof", func(ctx context.Context, c *client.Client) error {
		_, err := c.Ledger.GetConsistencyProof(ctx, &apipb.GetConsistencyProofRequest{First: 2})
		return err
	}, "/v1/proofs/consistency?first=2"}
	entry := resource{"GetEntry", func(ctx context.Context, c *client.Client) error {
		_, err := c.Ledger.GetEntry(ctx, &apipb.GetEntryRequest{Index: w.idx["L2 dispatch"]})
		return err
	}, fmt.Sprintf("/v1/entries/%d", w.idx["L2 dispatch"])}
	parties := resource{"ListParties", func(ctx context.Context, c *client.Client) error {
		_, err := c.Custody.ListParties(ctx, &apipb.ListPartiesRequest{})
		return err
	}, "/v1/parties"}
	party := resource{"GetParty mine-b", func(ctx context.Context, c *client.Client) error {
		_, err := c.Custody.GetParty(ctx, &apipb.GetPartyRequest{PartyId: "mine-b"})
		return err
	}, "/v1/parties/mine-b"}
	partyLots := func(id string) resource {
		return resource{"ListPartyLots " + id, func(ctx context.Context, c *client.Client) error {
			_, err := c.Custody.ListPartyLots(ctx, &apipb.ListPartyLotsRequest{PartyId: id})
			return err
		}, "/v1/parties/" + id + "/lots"}
	}
	flags := resource{"ListFlags", func(ctx context.Context, c *client.Client) error {
		_, err := c.Verifier.ListFlags(ctx, &apipb.ListFlagsRequest{})
		return err
	}, "/v1/flags"}
	flagsOfL2 := resource{"ListFlags lot L2", func(ctx context.Context, c *client.Client) error {
		_, err := c.Verifier.ListFlags(ctx, &apipb.ListFlagsRequest{LotId: "L2"})
		return err
	}, "/v1/flags?lotId=L2"}

	OK, U, D := codes.OK, codes.Unauthenticated, codes.PermissionDenied
	cases := []struct {
		c    who
		r    resource
		want codes.Code
	}{
		// Anyone: checkpoints, proofs and (reduced) entries; nothing else.
		{anon, checkpoint, OK}, {anon, inclusion, OK}, {anon, consistency, OK}, {anon, entry, OK},
		{anon, lot("lot", "L1"), U}, {anon, lot("verify", "L1"), U}, {anon, lot("bundle", "L1"), U},
		{anon, parties, U}, {anon, party, U}, {anon, partyLots("mine-a"), U}, {anon, flags, U},
		// The mine: its lot, not what others made of it, not a competitor's.
		{mineA, lot("lot", "L1"), OK}, {mineA, lot("bundle", "L1"), OK}, {mineA, lot("lot", "L1a"), D},
		{mineA, lot("lot", "L2"), D}, {mineA, partyLots("mine-a"), OK}, {mineA, partyLots("mine-b"), D},
		// The exporter: its lots and their ancestry.
		{expA, lot("lot", "L1"), OK}, {expA, lot("lot", "L1a"), OK}, {expA, lot("lot", "L1b"), OK},
		{expA, lot("verify", "L2"), D}, {expA, lot("bundle", "L2"), D}, {expA, flagsOfL2, D},
		// The buyer: the lot sent to it and its ancestry, not its sibling.
		{buyerA, lot("lot", "L1a"), OK}, {buyerA, lot("verify", "L1a"), OK}, {buyerA, lot("bundle", "L1a"), OK},
		{buyerA, lot("lot", "L1"), OK}, {buyerA, lot("lot", "L1b"), D}, {buyerA, lot("lot", "L2"), D},
		{buyerA, streamBundle("L1a"), OK}, {buyerA, streamBundle("L2"), D}, {anon, streamBundle("L1a"), U},
		{buyerA, lot("lot", "NO-SUCH-LOT"), D}, {buyerA, partyLots("exp-a"), D},
		{buyerA, parties, OK}, {buyerA, party, OK}, {buyerA, flags, OK}, {buyerA, checkpoint, OK},
		// The competitors see each other's nothing.
		{mineB, lot("lot", "L1"), D}, {expB, lot("bundle", "L1a"), D}, {expB, lot("lot", "L2"), OK},
		// The registrar: the registry, not the lots.
		{registrar, lot("lot", "L1"), D}, {registrar, parties, OK}, {registrar, party, OK},
		// Auditors and the operator: everything.
		{aud, lot("lot", "L1b"), OK}, {aud, lot("bundle", "L2"), OK}, {aud, partyLots("exp-b"), OK}, {aud, flagsOfL2, OK},
		{operator, lot("verify", "L2"), OK}, {operator, partyLots("mine-a"), OK},
	}
	for _, tc := range cases {
		name := tc.c.name + " " + tc.r.name
		err := w.callGRPC(t, tc.c, tc.r.grpc)
		if got := status.Code(err); got != tc.want {
			t.Errorf("gRPC %s: %v, want %v", name, err, tc.want)
		}
		code, body := w.get(t, tc.c, tc.r.rest)
		if code != httpStatus[tc.want] {
			t.Errorf("REST %s (GET %s): %d %.200s, want %d", name, tc.r.rest, code, body, httpStatus[tc.want])
		}
		// A refusal carries nothing from a record.
		if tc.want != OK {
			msg := fmt.Sprint(err) + string(body)
			for _, secret := range []string{plateA, plateB, sealA, sealB, "10000", "8000"} {
				if strings.Contains(msg, secret) {
					t.Errorf("%s: the refusal shows %q: %s", name, secret, msg)
				}
			}
		}
	}
}

// TestReadPolicyReducesAnswers checks what an allowed call returns: entries
// without their records for those who may not read them, competitors'
// flags left out, a directory of other parties without their sites and
// keys.
func TestReadPolicyReducesAnswers(t *testing.T) {
	w := newPolicyWorld(t)
	buyerA, aud := w.as(w.buyerA), w.as(w.auditor)
	anon := who{name: "anonymous"}

	entry := func(c who, name string) *apipb.LogEntry {
		t.Helper()
		var e *apipb.LogEntry
		err := w.callGRPC(t, c, func(ctx context.Context, cl *client.Client) error {
			r, err := cl.Ledger.GetEntry(ctx, &apipb.GetEntryRequest{Index: w.idx[name]})
			e = r.GetEntry()
			return err
		})
		if err != nil {
			t.Fatalf("GetEntry %s as %s: %v", name, c.name, err)
		}
		// REST gives the same.
		code, body := w.get(t, c, fmt.Sprintf("/v1/entries/%d", w.idx[name]))
		var r apipb.GetEntryResponse
		if code != 200 || protojson.Unmarshal(body, &r) != nil {
			t.Fatalf("GET entry %s as %s: %d %s", name, c.name, code, body)
		}
		if (len(r.GetEntry().GetData()) == 0) != (len(e.GetData()) == 0) {
			t.Errorf("entry %s as %s: REST and gRPC disagree on redaction", name, c.name)
		}
		return e
	}
	redacted := func(e *apipb.LogEntry) bool {
		return len(e.GetData()) == 0 && e.GetStatement() == nil && e.GetEnvelope() == nil && len(e.GetExtra()) == 0 && e.GetLeafHash() != ""
	}
	for _, tc := range []struct {
		c      who
		name   string
		hidden bool
	}{
		{anon, "L1 dispatch", true}, {anon, "L1 extraction", true}, {anon, "reg mine-a", true},
		{buyerA, "L1 dispatch", false}, {buyerA, "L1 split", false}, {buyerA, "L2 dispatch", true},
		{buyerA, "L2 extraction", true}, {buyerA, "reg mine-a", true}, {buyerA, "reg buyer-a", false},
		{aud, "L2 dispatch", false}, {aud, "reg mine-b", false},
	} {
		e := entry(tc.c, tc.name)
		if redacted(e) != tc.hidden {
			t.Errorf("entry %q as %s: redacted %v, want %v (%v)", tc.name, tc.c.name, redacted(e), tc.hidden, e)
		}
		if e.GetRecordTime() == nil || e.GetLeafHash() == "" {
			t.Errorf("entry %q as %s: lost its record time or id", tc.name, tc.c.name)
		}
	}

	// A stream of the whole log as the buyer: its chain in full, the
	// other chain's plates and seals nowhere.
	var shown, hidden int
	err := w.callGRPC(t, buyerA, func(ctx context.Context, cl *client.Client) error {
		s, err := cl.Ledger.StreamEntries(ctx, &apipb.StreamEntriesRequest{})
		if err != nil {
			return err
		}
		for {
			r, err := s.Recv()
			if err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			b, _ := protojson.Marshal(r)
			if strings.Contains(string(b), plateB) || strings.Contains(string(b), sealB) {
				t.Errorf("the buyer's stream shows the other chain's truck: %s", b)
			}
			if len(r.GetEntry().GetData()) > 0 {
				shown++
			} else {
				hidden++
			}
		}
	})
	if err != nil || shown == 0 || hidden == 0 {
		t.Errorf("buyer's stream: %v, %d shown, %d hidden", err, shown, hidden)
	}
	code, body := w.get(t, buyerA, "/v1/entries")
	if code != 200 || strings.Contains(string(body), plateB) || !strings.Contains(string(body), plateA) {
		t.Errorf("GET /v1/entries as the buyer: %d, shows plate B %v, plate A %v", code, strings.Contains(string(body), plateB), strings.Contains(string(body), plateA))
	}

	// Flags: the auditor sees L2's TRANSIT_GAIN, the buyer does not.
	flagLots := func(c who) map[string]bool {
		t.Helper()
		lots := map[string]bool{}
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, body := w.get(t, c, "/v1/flags")
			var r apipb.ListFlagsResponse
			if code != 200 || protojson.Unmarshal(body, &r) != nil {
				t.Fatalf("GET /v1/flags as %s: %d %s", c.name, code, body)
			}
			for _, f := range r.GetFlags() {
				lots[f.GetLotId()] = true
			}
			if r.GetPendingLots() == 0 && r.GetUnreadRecords() == 0 || time.Now().After(deadline) {
				return lots
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if all := flagLots(aud); !all["L2"] {
		t.Errorf("the auditor's flags: lots %v, want L2's TRANSIT_GAIN", all)
	}
	if mine := flagLots(buyerA); mine["L2"] {
		t.Errorf("the buyer's flags show the other chain's lot L2: %v", mine)
	}

	// The directory: other parties by name and role, without site or keys.
	code, body = w.get(t, buyerA, "/v1/parties/mine-a")
	var p apipb.GetPartyResponse
	if code != 200 || protojson.Unmarshal(body, &p) != nil {
		t.Fatalf("GET /v1/parties/mine-a as the buyer: %d %s", code, body)
	}
	if p.GetParty().GetRegistration().GetName() != "Mine A" || p.GetParty().GetRegistration().GetSite() != nil || len(p.GetParty().GetKeys()) != 0 || p.GetParty().GetRegistration().GetMine() != nil {
		t.Errorf("the buyer's view of mine-a: %v", p.GetParty())
	}
	code, body = w.get(t, buyerA, "/v1/parties/buyer-a")
	if code != 200 || protojson.Unmarshal(body, &p) != nil || len(p.GetParty().GetKeys()) == 0 {
		t.Errorf("the buyer's own entry: %d %s", code, body)
	}
	code, body = w.get(t, aud, "/v1/parties/mine-a")
	if code != 200 || protojson.Unmarshal(body, &p) != nil || len(p.GetParty().GetKeys()) == 0 || p.GetParty().GetRegistration().GetSite() == nil {
		t.Errorf("the auditor's view of mine-a: %d %s", code, body)
	}
	var list apipb.ListPartiesResponse
	code, body = w.get(t, buyerA, "/v1/parties")
	if code != 200 || protojson.Unmarshal(body, &list) != nil || len(list.GetParties()) != 6 {
		t.Fatalf("GET /v1/parties as the buyer: %d %s", code, body)
	}
	for _, p := range list.GetParties() {
		if id := p.GetRegistration().GetPartyId(); id != "buyer-a" && (len(p.GetKeys()) > 0 || p.GetRegistration().GetSite() != nil) {
			t.Errorf("the buyer's party list shows %s in full", id)
		}
	}
}

// TestTokens is the adversary's table of credentials: each is refused
// with Unauthenticated, and the call does not run.
func TestTokens(t *testing.T) {
	w := newPolicyWorld(t)
	now := time.Now()
	good := func() string {
		tok, err := authtoken.Make(ct.Origin, "buyer-a", w.buyerA.Key, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Mint signs an arbitrary message as the token format does.
	mint := func(msg string, key ed25519.PrivateKey) string {
		return b64(msg) + "." + b64(string(ed25519.Sign(key, []byte(msg))))
	}
	claims := func(origin, party string, pub ed25519.PublicKey, iat, exp time.Time) string {
		return authtoken.Claims{Origin: origin, Party: party, Key: pub, Issued: iat, Expires: exp}.Message()
	}
	buyerPub := w.buyerA.Key.Public().(ed25519.PublicKey)
	minePub := w.mineA.Key.Public().(ed25519.PublicKey)
	stranger := ed25519.NewKeyFromSeed(make([]byte, 32))
	// Revoke exp-b's key.
	w.submit("revoke exp-b", w.c.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: "exp-b", KeyId: w.expB.KeyID(), RevokedAt: timestamppb.New(now.Add(-time.Hour)), Reason: "lost"}}}))

	cases := []struct{ name, header, phrase string }{
		{"not bearer", "Basic " + good(), "Bearer TOKEN"},
		{"garbage", "Bearer abc", "MESSAGE.SIGNATURE"},
		{"flipped signature", "Bearer " + flip(good(), len(good())-20), "signature"},
		{"expired", "Bearer " + mint(claims(ct.Origin, "buyer-a", buyerPub, now.Add(-20*time.Minute), now.Add(-10*time.Minute)), w.buyerA.Key), "expired"},
		{"from the future", "Bearer " + mint(claims(ct.Origin, "buyer-a", buyerPub, now.Add(10*time.Minute), now.Add(15*time.Minute)), w.buyerA.Key), "future"},
		{"too long a life", "Bearer " + mint(claims(ct.Origin, "buyer-a", buyerPub, now.Add(-time.Minute), now.Add(24*time.Hour)), w.buyerA.Key), "limit"},
		{"another ledger", "Bearer " + mint(claims("other.example/log", "buyer-a", buyerPub, now, now.Add(time.Minute)), w.buyerA.Key), "not this one"},
		{"another party's key", "Bearer " + mint(claims(ct.Origin, "buyer-a", minePub, now, now.Add(time.Minute)), w.mineA.Key), "not a key of party"},
		{"unregistered key", "Bearer " + mint(claims(ct.Origin, "buyer-a", stranger.Public().(ed25519.PublicKey), now, now.Add(time.Minute)), stranger), "not a key of party"},
		{"unknown party", "Bearer " + mint(claims(ct.Origin, "nobody", buyerPub, now, now.Add(time.Minute)), w.buyerA.Key), "not registered"},
		{"revoked key", "Bearer " + mint(claims(ct.Origin, "exp-b", w.expB.Key.Public().(ed25519.PublicKey), now, now.Add(time.Minute)), w.expB.Key), "may not sign now"},
		{"operator without the log key", "Bearer " + mint(claims(ct.Origin, "operator", buyerPub, now, now.Add(time.Minute)), w.buyerA.Key), "not the log's key"},
		{"registrar without its key", "Bearer " + mint(claims(ct.Origin, "registrar", buyerPub, now, now.Add(time.Minute)), w.buyerA.Key), "not the current registrar key"},
		{"not canonical", "Bearer " + mint(strings.Replace(claims(ct.Origin, "buyer-a", buyerPub, now, now.Add(time.Minute)), "party: ", "party:  ", 1), w.buyerA.Key), "not"},
	}
	for _, tc := range cases {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", w.h.base+"/v1/lots/L1a", nil)
		req.Header.Set("Authorization", tc.header)
		resp, err := w.h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e errorBody
		json.Unmarshal(body, &e)
		if resp.StatusCode != 401 || !strings.Contains(e.Message, tc.phrase) {
			t.Errorf("%s: REST %d %s, want 401 with %q", tc.name, resp.StatusCode, body, tc.phrase)
		}
		conn, err := grpc.NewClient(w.h.grpcAddr, insecureCreds(), grpc.WithPerRPCCredentials(fixedHeader(tc.header)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = apipb.NewCustodyServiceClient(conn).GetLot(t.Context(), &apipb.GetLotRequest{LotId: "L1a"})
		conn.Close()
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), tc.phrase) {
			t.Errorf("%s: gRPC %v, want Unauthenticated with %q", tc.name, err, tc.phrase)
		}
	}
	// The good token works, so the refusals above are the token's fault.
	if code, body := w.get(t, w.as(w.buyerA), "/v1/lots/L1a"); code != 200 {
		t.Fatalf("a good token: %d %s", code, body)
	}
}

// flip changes the base64url character at i of tok. (Not one of the last
// characters: the final one carries 4 bits the decoder ignored, and an
// Ed25519 signature's top byte is almost always below 0x10, so replacing
// the last three with "AAA" left 1 signature in 1,000 unchanged.)
func flip(tok string, i int) string {
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func insecureCreds() grpc.DialOption { return grpc.WithTransportCredentials(insecure.NewCredentials()) }

// fixedHeader sends one authorization header as it is.
type fixedHeader string

func (f fixedHeader) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": string(f)}, nil
}

func (fixedHeader) RequireTransportSecurity() bool { return false }
