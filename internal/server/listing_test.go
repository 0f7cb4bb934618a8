package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/antimony-ledger/provenance/client"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// allLots follows ListLots' pages as c, page size n, and returns the lot
// ids and summaries it saw.
func allLots(t *testing.T, w *policyWorld, c who, req *apipb.ListLotsRequest) ([]string, map[string]*apipb.LotSummary) {
	t.Helper()
	var ids []string
	sums := map[string]*apipb.LotSummary{}
	err := w.callGRPC(t, c, func(ctx context.Context, cl *client.Client) error {
		for pages := 0; ; pages++ {
			if pages > 2000 {
				t.Fatal("more than 2,000 pages: the tokens do not advance")
			}
			r, err := cl.Verifier.ListLots(ctx, req)
			if err != nil {
				return err
			}
			if r.GetPendingLots() > 0 || r.GetUnreadRecords() > 0 {
				time.Sleep(50 * time.Millisecond)
				ids, sums, req.PageToken = nil, map[string]*apipb.LotSummary{}, "" // start again once current
				continue
			}
			for _, l := range r.GetLots() {
				ids = append(ids, l.GetLot().GetLotId())
				sums[l.GetLot().GetLotId()] = l
			}
			if r.GetNextPageToken() == "" {
				return nil
			}
			req.PageToken = r.GetNextPageToken()
		}
	})
	if err != nil {
		t.Fatalf("ListLots as %s: %v", c.name, err)
	}
	return ids, sums
}

// TestListLots: the lot listing pages through every lot in id order with
// its verdict, filters by holder, product, verdict and rule, and shows a
// party only the lots it may read.
func TestListLots(t *testing.T) {
	w := newPolicyWorld(t)
	aud, buyer := w.as(w.auditor), w.as(w.buyerA)
	ids, sums := allLots(t, w, aud, &apipb.ListLotsRequest{PageSize: 1})
	if want := []string{"L1", "L1a", "L1b", "L2"}; !slices.Equal(ids, want) {
		t.Fatalf("all lots, a page of one at a time: %v, want %v", ids, want)
	}
	if l2 := sums["L2"]; l2.GetVerdict() != pb.Verdict_VERDICT_FLAGGED || !slices.Contains(l2.GetRules(), "TRANSIT_GAIN") || l2.GetFlagCount() == 0 {
		t.Errorf("L2's summary: %v", l2)
	}
	for _, tc := range []struct {
		req  *apipb.ListLotsRequest
		want []string
	}{
		{&apipb.ListLotsRequest{Rule: "TRANSIT_GAIN"}, []string{"L2"}},
		{&apipb.ListLotsRequest{HolderPartyId: "exp-b"}, []string{"L2"}},
		{&apipb.ListLotsRequest{HolderPartyId: "buyer-a"}, []string{"L1a"}}, // in transit to it
		{&apipb.ListLotsRequest{HolderPartyId: "exp-a", PageSize: 1}, []string{"L1", "L1a", "L1b"}},
		{&apipb.ListLotsRequest{Product: pb.Product_PRODUCT_TRIOXIDE}, nil},
		{&apipb.ListLotsRequest{Verdict: pb.Verdict_VERDICT_INVALID}, nil},
		{&apipb.ListLotsRequest{Verdict: pb.Verdict_VERDICT_FLAGGED, Rule: "TRANSIT_GAIN"}, []string{"L2"}},
	} {
		if got, _ := allLots(t, w, aud, tc.req); !slices.Equal(got, tc.want) {
			t.Errorf("ListLots %v: %v, want %v", tc.req, got, tc.want)
		}
	}
	// The buyer: the lot sent to it and its ancestry, nothing of the
	// other chain, even page by page.
	if got, _ := allLots(t, w, buyer, &apipb.ListLotsRequest{PageSize: 1}); !slices.Equal(got, []string{"L1", "L1a"}) {
		t.Errorf("the buyer's lots: %v, want [L1 L1a]", got)
	}
	// Its pages are not left empty by what it may not read while more
	// remains (a new user's trial: page after empty page): every page
	// with a token to go on holds a lot.
	err := w.callGRPC(t, buyer, func(ctx context.Context, cl *client.Client) error {
		req := &apipb.ListLotsRequest{PageSize: 1}
		for pages := 0; pages < 10; pages++ {
			r, err := cl.Verifier.ListLots(ctx, req)
			if err != nil {
				return err
			}
			if r.GetNextPageToken() == "" {
				return nil
			}
			if len(r.GetLots()) == 0 {
				t.Errorf("page %d of the buyer's lots is empty, with more to come", pages+1)
			}
			req.PageToken = r.GetNextPageToken()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The buyer's page tokens say nothing of the lots left out of its
	// pages: a page of one, scanning past L1b, gives a token that neither
	// names L1b nor can be forged or used for another listing.
	var tok string
	err = w.callGRPC(t, buyer, func(ctx context.Context, cl *client.Client) error {
		r, err := cl.Verifier.ListLots(ctx, &apipb.ListLotsRequest{PageSize: 1, PageToken: ""})
		if err != nil {
			return err
		}
		for r.GetNextPageToken() != "" {
			tok = r.GetNextPageToken()
			for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.StdEncoding} {
				if b, err := enc.DecodeString(tok); err == nil && (bytes.Contains(b, []byte("L1b")) || bytes.Contains(b, []byte("L2"))) {
					t.Errorf("the buyer's page token shows a lot it may not read: %q", b)
				}
			}
			if r, err = cl.Verifier.ListLots(ctx, &apipb.ListLotsRequest{PageSize: 1, PageToken: tok}); err != nil {
				return err
			}
		}
		_, err = cl.Verifier.ListFlags(ctx, &apipb.ListFlagsRequest{PageToken: tok})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("a lots token given to ListFlags: %v, want InvalidArgument", err)
		}
		// Nor for the same listing with other filters (a new user's
		// trial took an unfiltered listing's token on with a verdict);
		// another page size is no other filter.
		_, err = cl.Verifier.ListLots(ctx, &apipb.ListLotsRequest{PageToken: tok, Verdict: pb.Verdict_VERDICT_VERIFIED})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "other filters") {
			t.Errorf("a token given to another filter: %v, want InvalidArgument naming the filters", err)
		}
		if _, err = cl.Verifier.ListLots(ctx, &apipb.ListLotsRequest{PageSize: 5, PageToken: tok}); err != nil {
			t.Errorf("a token with another page size: %v", err)
		}
		forged := base64.RawURLEncoding.EncodeToString([]byte("lots|L1b"))
		_, err = cl.Verifier.ListLots(ctx, &apipb.ListLotsRequest{PageToken: forged})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("a forged token: %v, want InvalidArgument", err)
		}
		return nil
	})
	if err != nil || tok == "" {
		t.Fatalf("the buyer's pages: %v (token %q)", err, tok)
	}
	// REST: /v1/lots with the same filters.
	code, body := w.get(t, aud, "/v1/lots?rule=TRANSIT_GAIN")
	var r apipb.ListLotsResponse
	if code != 200 || protojson.Unmarshal(body, &r) != nil || len(r.GetLots()) != 1 || r.GetLots()[0].GetLot().GetLotId() != "L2" {
		t.Errorf("GET /v1/lots?rule=TRANSIT_GAIN: %d %s", code, body)
	}
	// Bad input is refused.
	for _, req := range []*apipb.ListLotsRequest{{PageToken: "garbage"}, {Rule: "NO_SUCH_RULE"}, {PageSize: -1}, {Verdict: 99}} {
		err := w.callGRPC(t, aud, func(ctx context.Context, cl *client.Client) error {
			_, err := cl.Verifier.ListLots(ctx, req)
			return err
		})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListLots %v: %v, want InvalidArgument", req, err)
		}
	}
	// An enum value a query parameter does not take is refused with the
	// values it takes (a new user's trial: ?verdict=FLAGGED said only
	// that it was not valid).
	for _, c := range []struct{ path, want string }{
		{"/v1/lots?verdict=FLAGGY", "VERDICT_VERIFIED, VERDICT_FLAGGED, VERDICT_INVALID"},
		{"/v1/lots?product=GOLD", "PRODUCT_ORE"},
		{"/v1/flags?minSeverity=DIRE", "SEVERITY_CRITICAL"},
	} {
		code, body := w.get(t, aud, c.path)
		if code != 400 || !bytes.Contains(body, []byte("is not a valid value: want one of")) || !bytes.Contains(body, []byte(c.want)) {
			t.Errorf("GET %s: %d %s; want 400 naming %s", c.path, code, body, c.want)
		}
	}
	// A parameter that names no field is refused with the fields the
	// request takes, not passed over for an unfiltered listing (a new
	// user's trial: ?holder= and ?party= listed everything).
	for _, c := range []struct{ path, want string }{
		{"/v1/lots?holder=exp-1", "holderPartyId"},
		{"/v1/flags?party=exp-1", "partyId"},
		{"/v1/flags?flaggedPartyId=exp-1", "minSeverity"},
	} {
		code, body := w.get(t, aud, c.path)
		if code != 400 || !bytes.Contains(body, []byte("unknown query parameter")) || !bytes.Contains(body, []byte(c.want)) {
			t.Errorf("GET %s: %d %s; want 400 naming %s", c.path, code, body, c.want)
		}
	}
	// A time or a number the gateway cannot parse is refused with what
	// the field takes, not Go's parser's words (a new user's trial).
	for _, c := range []struct{ path, want string }{
		{"/v1/flags?since=2026-12-01", "want an RFC 3339 time such as"},
		{"/v1/lots?pageSize=abc", "want a whole number"},
	} {
		code, body := w.get(t, aud, c.path)
		if code != 400 || !bytes.Contains(body, []byte(c.want)) {
			t.Errorf("GET %s: %d %s; want 400 saying %q", c.path, code, body, c.want)
		}
	}
	_, full := w.get(t, aud, "/v1/lots?verdict=VERDICT_FLAGGED")
	if err := protojson.Unmarshal(full, &r); err != nil || len(r.GetLots()) == 0 {
		t.Fatalf("GET /v1/lots?verdict=VERDICT_FLAGGED: %v %s", err, full)
	}
	flagged := len(r.GetLots())
	// And a value without its enum's prefix, or in lower case, is taken
	// as the one value it ends (the same trial tried FLAGGED, CRITICAL).
	for _, c := range []struct {
		path string
		n    int
	}{
		{"/v1/lots?verdict=FLAGGED", flagged}, {"/v1/lots?verdict=flagged", flagged}, {"/v1/lots?verdict=verdict_flagged", flagged},
		{"/v1/lots?verdict=FLAGGED&rule=TRANSIT_GAIN", 1}, {"/v1/lots?verdict=INVALID", 0}, {"/v1/lots?product=ore", 4},
	} {
		code, body := w.get(t, aud, c.path)
		var got apipb.ListLotsResponse
		if code != 200 || protojson.Unmarshal(body, &got) != nil || len(got.GetLots()) != c.n {
			t.Errorf("GET %s: %d %s; want 200 with %d lots", c.path, code, body, c.n)
		}
	}
	code, body = w.get(t, aud, "/v1/flags?minSeverity=critical")
	var fl apipb.ListFlagsResponse
	if code != 200 || protojson.Unmarshal(body, &fl) != nil || len(fl.GetFlags()) == 0 ||
		slices.ContainsFunc(fl.GetFlags(), func(f *pb.Flag) bool { return f.GetSeverity() < pb.Severity_SEVERITY_CRITICAL }) {
		t.Errorf("GET /v1/flags?minSeverity=critical: %d %s", code, body)
	}
	if code, _ := w.get(t, who{name: "anonymous"}, "/v1/lots"); code != 401 {
		t.Errorf("GET /v1/lots anonymous: %d, want 401", code)
	}
}

// TestListFlagsPages: following the flag listing's pages, one flag at a
// time, gives every flag of one unpaged listing, in the same order, each
// once; a filter by time range and severity applies.
func TestListFlagsPages(t *testing.T) {
	w := newPolicyWorld(t)
	aud := w.as(w.auditor)
	list := func(req *apipb.ListFlagsRequest) []string {
		var keys []string
		err := w.callGRPC(t, aud, func(ctx context.Context, cl *client.Client) error {
			for pages := 0; ; pages++ {
				if pages > 1000 {
					t.Fatal("the tokens do not advance")
				}
				r, err := cl.Verifier.ListFlags(ctx, req)
				if err != nil {
					return err
				}
				if r.GetPendingLots() > 0 || r.GetUnreadRecords() > 0 {
					time.Sleep(50 * time.Millisecond)
					keys, req.PageToken = nil, ""
					continue
				}
				for _, f := range r.GetFlags() {
					keys = append(keys, f.GetRule()+"/"+f.GetLotId()+"/"+f.GetMessage())
				}
				if r.GetNextPageToken() == "" {
					return nil
				}
				req.PageToken = r.GetNextPageToken()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	whole := list(&apipb.ListFlagsRequest{PageSize: 5000})
	if len(whole) < 3 {
		t.Fatalf("only %d flags: the test needs several", len(whole))
	}
	if paged := list(&apipb.ListFlagsRequest{PageSize: 1}); !slices.Equal(paged, whole) {
		t.Errorf("one flag a page:\n%v\nwant\n%v", paged, whole)
	}
	if crit := list(&apipb.ListFlagsRequest{MinSeverity: pb.Severity_SEVERITY_CRITICAL, PageSize: 2}); len(crit) == 0 || len(crit) >= len(whole) {
		t.Errorf("critical flags: %d of %d", len(crit), len(whole))
	}
	if none := list(&apipb.ListFlagsRequest{Until: w.c.At(0)}); len(none) != 0 {
		t.Errorf("flags of events before the chain began: %v", none)
	}
}
