package server_test

// An adversary's review of the read policy (issue 15): each test is an
// attack, and checks that it fails.

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/authtoken"
	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/index"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// submitAs submits env over gRPC as c and returns the error.
func (w *policyWorld) submitAs(t *testing.T, c who, env *pb.Envelope) error {
	t.Helper()
	return w.callGRPC(t, c, func(ctx context.Context, cl *client.Client) error {
		_, err := cl.Ledger.Submit(ctx, &apipb.SubmitRequest{Envelope: env})
		return err
	})
}

// canRead reports whether c may GetLot lot (gRPC), failing on any answer
// but OK and PermissionDenied.
func (w *policyWorld) canRead(t *testing.T, c who, lot string) bool {
	t.Helper()
	err := w.callGRPC(t, c, func(ctx context.Context, cl *client.Client) error {
		_, err := cl.Custody.GetLot(ctx, &apipb.GetLotRequest{LotId: lot})
		return err
	})
	switch status.Code(err) {
	case codes.OK:
		return true
	case codes.PermissionDenied:
		return false
	}
	t.Fatalf("GetLot %s as %s: %v", lot, c.name, err)
	return false
}

// TestMetadataTricks: the authorization header sent twice, under the
// gateway's prefixes, or in odd forms, never makes a caller someone else,
// and never makes a bad token pass as anonymous.
func TestMetadataTricks(t *testing.T) {
	w := newPolicyWorld(t)
	buyerTok := w.token(t, w.as(w.buyerA))
	expBTok := w.token(t, w.as(w.expB))

	// gRPC: metadata as sent.
	grpcGetLot := func(md ...string) error {
		conn, err := grpc.NewClient(w.h.grpcAddr, insecureCreds())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(t.Context(), md...)
		_, err = apipb.NewCustodyServiceClient(conn).GetLot(ctx, &apipb.GetLotRequest{LotId: "L1a"})
		return err
	}
	for _, tc := range []struct {
		name string
		md   []string
		want codes.Code
	}{
		{"two authorization values, one good", []string{"authorization", "Bearer " + expBTok, "authorization", "Bearer " + buyerTok}, codes.Unauthenticated},
		{"grpcgateway-authorization is not a credential", []string{"grpcgateway-authorization", "Bearer " + buyerTok}, codes.Unauthenticated},
		{"lower-case scheme", []string{"authorization", "bearer " + buyerTok}, codes.OK},
		{"extra spaces", []string{"authorization", "Bearer    " + buyerTok + "  "}, codes.OK},
		{"empty header", []string{"authorization", ""}, codes.Unauthenticated},
		{"scheme only", []string{"authorization", "Bearer"}, codes.Unauthenticated},
		{"competitor", []string{"authorization", "Bearer " + expBTok}, codes.PermissionDenied},
	} {
		if err := grpcGetLot(tc.md...); status.Code(err) != tc.want {
			t.Errorf("gRPC %s: %v, want %v", tc.name, err, tc.want)
		}
	}

	// REST: headers as sent.
	restGetLot := func(h http.Header) int {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", w.h.base+"/v1/lots/L1a", nil)
		for k, vs := range h {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		resp, err := w.h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		want int
	}{
		{"Authorization twice", http.Header{"Authorization": {"Bearer " + expBTok, "Bearer " + buyerTok}}, 401},
		// The gateway does not forward Grpc-Metadata-Authorization as
		// authorization: it neither adds a second identity nor replaces
		// the first.
		{"Authorization and Grpc-Metadata-Authorization", http.Header{"Authorization": {"Bearer " + expBTok}, "Grpc-Metadata-Authorization": {"Bearer " + buyerTok}}, 403},
		{"Grpc-Metadata-Authorization alone", http.Header{"Grpc-Metadata-Authorization": {"Bearer " + buyerTok}}, 401},
		{"Grpcgateway-Authorization is not a credential", http.Header{"Grpcgateway-Authorization": {"Bearer " + buyerTok}}, 401},
		{"X-Forwarded-For does not matter", http.Header{"X-Forwarded-For": {"127.0.0.1"}}, 401},
		{"empty Authorization", http.Header{"Authorization": {""}}, 401},
	} {
		if got := restGetLot(tc.h); got != tc.want {
			t.Errorf("REST %s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestAuthenticationEdges: identities an adversary might borrow.
func TestAuthenticationEdges(t *testing.T) {
	w := newPolicyWorld(t)
	now := time.Now()
	get := func(party string, key ed25519.PrivateKey) (int, string) {
		tok, err := authtoken.Make(ct.Origin, party, key, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", w.h.base+"/v1/lots/L1a", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := w.h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var e errorBody
		json.Unmarshal(b, &e)
		return resp.StatusCode, e.Message
	}
	// Look-alike ids: another case, a trailing space, the registrar's
	// and the operator's names in another case.
	for _, id := range []string{"BUYER-A", "Buyer-a", "buyer-a ", " buyer-a", "buyer-a\x00", "Operator", "REGISTRAR"} {
		if code, msg := get(id, w.buyerA.Key); code != 401 {
			t.Errorf("token for %q with buyer-a's key: %d %s, want 401", id, code, msg)
		}
	}
	// An anonymous prober cannot tell a registered party from an
	// unregistered one by the refusal of a token signed with a stranger's
	// key: the directory is for parties.
	stranger := ed25519.NewKeyFromSeed(make([]byte, 32))
	_, registered := get("exp-b", stranger)
	_, unknown := get("exp-z", stranger)
	if strings.ReplaceAll(registered, "exp-b", "X") != strings.ReplaceAll(unknown, "exp-z", "X") {
		t.Errorf("a stranger's token tells a registered party from an unknown one:\n  registered: %s\n  unknown:    %s", registered, unknown)
	}

	// A key rotated away, once its retirement time has passed, no longer
	// authenticates; the new one does.
	newKey := ed25519.NewKeyFromSeed([]byte("rotated-key-of-mine-b-0123456789"))
	w.submit("rotate mine-b", w.c.RegistrarSign(&pb.Statement{EventTime: timestamppb.New(now.Add(-time.Minute)), Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
		PartyId: "mine-b", NewKey: &pb.PartyKey{PublicKey: newKey.Public().(ed25519.PublicKey), NotBefore: timestamppb.New(w.c.Start)},
		RetireKeyId: w.mineB.KeyID(), RetireAt: timestamppb.New(now.Add(-30 * 24 * time.Hour)),
	}}}))
	var p apipb.GetPartyResponse
	code, body := w.h.do("GET", "/v1/parties/mine-b", nil)
	if code != 200 || protojson.Unmarshal(body, &p) != nil {
		t.Fatalf("GET /v1/parties/mine-b: %d %s", code, body)
	}
	notAfter := p.GetParty().GetKeys()[0].GetNotAfter()
	if notAfter == nil || time.Until(notAfter.AsTime()) > 5*time.Second {
		t.Fatalf("mine-b's retired key: not_after %v, want about now (the rotation's log time)", notAfter)
	}
	time.Sleep(time.Until(notAfter.AsTime()) + 10*time.Millisecond)
	now = time.Now()
	if code, msg := get("mine-b", w.mineB.Key); code != 401 {
		t.Errorf("mine-b's retired key: %d %s, want 401", code, msg)
	}
	if code, msg := get("mine-b", newKey); code != 403 { // mine-b may not read L1a: authenticated, refused
		t.Errorf("mine-b's new key: %d %s, want 403", code, msg)
	}
}

// TestAdminSurfaceClosed: gRPC reflection is registered but closed to
// every caller on the public listener (the policy refuses a method it
// does not list); health answers anyone.
func TestAdminSurfaceClosed(t *testing.T) {
	w := newPolicyWorld(t)
	for _, c := range []who{{name: "anonymous"}, w.as(w.buyerA)} {
		err := w.callGRPC(t, c, func(ctx context.Context, cl *client.Client) error {
			conn, err := grpc.NewClient(w.h.grpcAddr, insecureCreds())
			if err != nil {
				return err
			}
			defer conn.Close()
			s, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err != nil {
				return err
			}
			// A refused stream may end before the request is sent (Send
			// gives io.EOF); Recv gives its status.
			s.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
			_, err = s.Recv()
			return err
		})
		// The public listener does not serve reflection (the admin
		// listener does); were it registered, the policy would refuse it.
		if code := status.Code(err); code != codes.PermissionDenied && code != codes.Unimplemented {
			t.Errorf("reflection as %s: %v, want Unimplemented or PermissionDenied", c.name, err)
		}
	}
}

// TestNoWayIntoACompetitorsChain: a competitor tries every record it can
// sign that names the other chain's lots, to become "a party of the
// chain" and read it. Each is refused, and it still reads nothing.
func TestNoWayIntoACompetitorsChain(t *testing.T) {
	w := newPolicyWorld(t)
	lab := w.c.AddParty("lab-x", "Competitor's Lab", "PK", pb.Role_ROLE_LAB)
	w.submit("reg lab-x", w.c.Register(lab))
	expB, labX := w.as(w.expB), w.as(lab)
	// Links it could know: every leaf hash is public.
	var l1bHead, l1aDisp string
	err := w.callGRPC(t, w.as(w.auditor), func(ctx context.Context, cl *client.Client) error {
		r, err := cl.Custody.GetLot(ctx, &apipb.GetLotRequest{LotId: "L1b"})
		l1bHead = r.GetLot().GetHead()
		if err != nil {
			return err
		}
		r, err = cl.Custody.GetLot(ctx, &apipb.GetLotRequest{LotId: "L1a"})
		l1aDisp = r.GetLot().GetPendingDispatch()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// exp-b's own lot L2 (received), to offer as a fellow input.
	var l2Head string
	w.callGRPC(t, expB, func(ctx context.Context, cl *client.Client) error {
		r, err := cl.Custody.GetLot(ctx, &apipb.GetLotRequest{LotId: "L2"})
		l2Head = r.GetLot().GetHead()
		return err
	})
	day7 := w.c.At(7 * ct.Day)
	attempts := []struct {
		name string
		by   who
		env  *pb.Envelope
	}{
		{"dispatch of L1b", expB, w.c.Sign(w.expB, &pb.Statement{EventTime: day7, Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
			LotId: "L1b", CustodyLink: l1bHead, ToPartyId: "buyer-a", MassKg: 1}}})},
		{"receipt of L1a", expB, w.c.Sign(w.expB, &pb.Statement{EventTime: day7, Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
			LotId: "L1a", DispatchLink: l1aDisp, MassKg: 6000, SealsIntact: true, Location: &pb.Location{Lat: 24.85, Lon: 67.0}}}})},
		{"L1b as a transformation input beside its own L2", expB, w.c.Sign(w.expB, &pb.Statement{EventTime: day7, Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
			Kind: pb.TransformationKind_TRANSFORMATION_KIND_MERGE, Site: &pb.Location{Lat: 24.85, Lon: 67.0},
			Inputs:  []*pb.TransformationInput{{LotId: "L2", Link: l2Head, MassKg: 1}, {LotId: "L1b", Link: l1bHead, MassKg: 1}},
			Outputs: []*pb.TransformationOutput{{LotId: "B-OUT", MassKg: 2, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}}}})},
		{"L1b as a transformation output", expB, w.c.Sign(w.expB, &pb.Statement{EventTime: day7, Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
			Kind: pb.TransformationKind_TRANSFORMATION_KIND_SPLIT, Site: &pb.Location{Lat: 24.85, Lon: 67.0},
			Inputs:  []*pb.TransformationInput{{LotId: "L2", Link: l2Head, MassKg: 1}},
			Outputs: []*pb.TransformationOutput{{LotId: "l1b", MassKg: 1, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}}}})},
		{"naming itself lab of L1b", expB, w.c.Sign(w.expB, &pb.Statement{EventTime: day7, Body: &pb.Statement_LabNomination{LabNomination: &pb.LabNomination{
			LotId: "L1b", CustodyLink: l1bHead, LabPartyIds: []string{"lab-x"}}}})},
		{"an unnamed lab's assay of L1b", labX, w.c.Sign(lab, &pb.Statement{EventTime: day7, Body: &pb.Statement_Assay{Assay: &pb.Assay{
			LotId: "L1b", SubjectLink: l1bHead, SampleId: "S-1", Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: 9}}}}})},
	}
	for _, a := range attempts {
		err := w.submitAs(t, a.by, a.env)
		if err == nil {
			t.Errorf("%s by %s: accepted", a.name, a.by.name)
			continue
		}
		// The refusal names neither the holder of the lot nor where it is
		// going: the counterparties are what the policy hides.
		for _, secret := range []string{"exp-a", "buyer-a", "mine-a", plateA, sealA} {
			if strings.Contains(err.Error(), secret) && !strings.Contains(a.env.String(), secret) {
				t.Errorf("%s by %s: the refusal shows %q: %v", a.name, a.by.name, secret, err)
			}
		}
	}
	// A receipt of a lot on the road and of one at rest are refused
	// alike: a stranger cannot poll when a lot is moving.
	receipt := func(lot string) error {
		return w.submitAs(t, expB, w.c.Sign(w.expB, &pb.Statement{EventTime: day7, Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
			LotId: lot, DispatchLink: l1aDisp, MassKg: 1, SealsIntact: true, Location: &pb.Location{Lat: 24.85, Lon: 67.0}}}}))
	}
	moving, atRest := receipt("L1a"), receipt("L1b")
	if status.Code(moving) != status.Code(atRest) || strings.ReplaceAll(status.Convert(moving).Message(), "L1a", "L") != strings.ReplaceAll(status.Convert(atRest).Message(), "L1b", "L") {
		t.Errorf("a stranger's receipts tell a lot in transit from one at rest:\n  in transit: %v\n  at rest:    %v", moving, atRest)
	}

	// A dispatch of its own lot to the competitor's buyer makes the buyer
	// a reader of L2, not exp-b a reader of anything of chain A.
	if err := w.submitAs(t, expB, w.c.Sign(w.expB, &pb.Statement{EventTime: day7, Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L2", CustodyLink: l2Head, ToPartyId: "buyer-a", MassKg: 10000, Transport: "truck " + plateB}}})); err != nil {
		t.Fatal(err)
	}
	for _, lot := range []string{"L1", "L1a", "L1b"} {
		for _, c := range []who{expB, labX} {
			if w.canRead(t, c, lot) {
				t.Errorf("%s reads %s after its attempts", c.name, lot)
			}
		}
	}
	if !w.canRead(t, w.as(w.buyerA), "L2") {
		t.Errorf("buyer-a, sent L2, cannot read it")
	}
}

// TestReadersOfDifferentLotsAreNotConfused: the cache of readable lots is
// per party: one party's access never answers for another's.
func TestReadersOfDifferentLotsAreNotConfused(t *testing.T) {
	w := newPolicyWorld(t)
	for i := 0; i < 2; i++ { // the second round answers from the cache
		if !w.canRead(t, w.as(w.buyerA), "L1a") || w.canRead(t, w.as(w.expB), "L1a") || w.canRead(t, w.as(w.mineA), "L1a") {
			t.Fatalf("round %d: the cache mixes readers", i)
		}
	}
	// A lot id that embeds the cache's separator.
	if w.canRead(t, w.as(w.expB), "L1a\x00") {
		t.Errorf("a lot id with a NUL reads")
	}
}

var _ = fmt.Sprint

// TestExHolderSeesOnlyItsCustody is a question for the lead, skipped: by
// issue 15 a party reads "its own records and lots, and the full ancestry
// of every lot it holds or has held". A mine that sold a lot reads every
// later record of that lot as well: the exporter's onward dispatch to its
// customer, with the truck plate and seals (GetLot, GET /v1/entries),
// and the lot's current holder and destination (LotState). The policy in
// policy.go grants it ("every lot it ... held"); the wording
// and "truck plates ... visible only to the parties of that chain" leave
// it open. Unskip to see it fail.
func TestExHolderSeesOnlyItsCustody(t *testing.T) {
	t.Skip("policy question (review-auth report): does a past holder read a lot's records after its custody ended?")
	w := newPolicyWorld(t)
	bz := w.c.AddParty("buyer-z", "Buyer Z", "CN", pb.Role_ROLE_BUYER)
	w.submit("reg buyer-z", w.c.Register(bz))
	var head string
	w.callGRPC(t, w.as(w.expB), func(ctx context.Context, cl *client.Client) error {
		r, err := cl.Custody.GetLot(ctx, &apipb.GetLotRequest{LotId: "L2"})
		head = r.GetLot().GetHead()
		return err
	})
	w.submit("L2 onward", w.c.Sign(w.expB, &pb.Statement{EventTime: w.c.At(6 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L2", CustodyLink: head, ToPartyId: "buyer-z", MassKg: 10000, Seals: []string{"SEAL-Z"}, Transport: "truck ZZZ-111"}}}))
	for _, path := range []string{"/v1/lots/L2", "/v1/entries"} {
		_, body := w.get(t, w.as(w.mineB), path)
		if strings.Contains(string(body), "ZZZ-111") || strings.Contains(string(body), "buyer-z") {
			t.Errorf("mine-b, which sold L2, sees its buyer's onward dispatch (customer, plate) in GET %s", path)
		}
	}
}

// TestBundleShowsNoCompetitorTally is a finding, skipped until the leaf
// format changes: a bundle carries some leaves without their records (the
// checkpoint's last leaf; the leaves that start the national tally's
// window), but with their Extra, which for an extraction is the running
// tally of its mine as well as of its country. So a buyer's bundle can
// show a competitor mine's id, extraction count and cumulative ore and Sb
// (the same Extra GetEntry redacts for the buyer). Issue 15 wants the
// national check run "from committed totals rather than competitors'
// individual records". The leaf hash covers Extra, so the mine's tally
// cannot be left out without a change to what the leaf commits.
func TestBundleShowsNoCompetitorTally(t *testing.T) {
	t.Skip("finding (review-auth report): leaf-only bundle records carry other mines' running tallies")
	w := newPolicyWorld(t)
	// mine-b's extraction is the last leaf when the buyer asks.
	w.submit("L3 extraction", w.c.Sign(w.mineB, &pb.Statement{EventTime: w.c.At(6 * ct.Day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L3", MassKg: 7777, SbGradePct: 10, Site: &pb.Location{Lat: 30, Lon: 67.2}, Product: pb.Product_PRODUCT_ORE}}}))
	err := w.callGRPC(t, w.as(w.buyerA), func(ctx context.Context, cl *client.Client) error {
		r, err := cl.Verifier.GetBundle(ctx, &apipb.GetBundleRequest{LotId: "L1a"})
		if err != nil {
			return err
		}
		for _, br := range r.GetBundle().GetRecords() {
			ts, _ := index.ParseExtra(br.GetExtra())
			for _, tl := range ts {
				if tl.Key == index.MineTally("mine-b") {
					t.Errorf("the buyer's bundle shows mine-b's tally at index %d (leaf only %v): %d extractions, %d g ore", br.GetIndex(), len(br.GetData()) == 0, tl.Count, tl.OreG)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
