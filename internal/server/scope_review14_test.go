package server_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// waitFlag lists flags as the operator until one has rule and a message
// containing substr.
func waitFlag(t *testing.T, w *policyWorld, x *lottest.H, rule, substr string) {
	t.Helper()
	op := who{"the operator", server.OperatorPartyID, x.C.LogSigner.PrivateKey()}
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, f := range allFlags(t, w, op, &apipb.ListFlagsRequest{Rule: rule}) {
			if strings.Contains(f, substr) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s flag mentioning %q listed", rule, substr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestScopedFlagsOfACorrectionRecord_review14: a flag that a full
// verification finds on a correction record (here KEY_MISUSE: the
// mine's key revoked, backdated to before the correction) is stored by
// AddFlags under F/ but propagated to no node (verifier's statementLots
// has no lot for a correction), so it is in no lot summary's Keys. The
// scan path lists it to the exporter, which may read lot X; the scoped
// path (flagKeysOf) never sees it.
func TestScopedFlagsOfACorrectionRecord_review14(t *testing.T) {
	x, w := lottestWorld(t)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 10000, 2)
	x.Receive(x.Exp, "X", d, 10000, 3)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 4)
	// The mine's key, revoked as of day 3.5, logged after the correction
	// and within the revocation reach: the correction is signed by a key
	// revoked as of its time.
	x.Submit(x.C.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: x.Mine.ID, KeyId: x.Mine.KeyID(), RevokedAt: x.Day(3.5), Reason: "stolen"}}}))
	waitFlag(t, w, x, "KEY_MISUSE", " X ")
	exp := who{x.Exp.ID, x.Exp.ID, x.Exp.Key}
	server.SetScope(false)
	want := allFlags(t, w, exp, &apipb.ListFlagsRequest{})
	server.SetScope(true)
	before := server.Scoped()
	got := allFlags(t, w, exp, &apipb.ListFlagsRequest{})
	if server.Scoped() == before {
		t.Fatal("the exporter's listing was not scoped")
	}
	if !slices.ContainsFunc(want, func(f string) bool { return strings.Contains(f, "KEY_MISUSE X") }) {
		t.Fatalf("the scan does not list the KEY_MISUSE flag on X: %q", want)
	}
	if !slices.Equal(got, want) {
		t.Errorf("the exporter's flags, scoped:\n%q\nwant, from a scan:\n%q", got, want)
	}
	// And X's verdict counts it, as a full verification of X reports it.
	_, sums := allLots(t, w, exp, &apipb.ListLotsRequest{})
	if x := sums["X"]; x.GetVerdict() != pb.Verdict_VERDICT_FLAGGED || !slices.Contains(x.GetRules(), "KEY_MISUSE") {
		t.Errorf("X's summary: %v, want FLAGGED with KEY_MISUSE", x)
	}
	if rep := x.Verify("X"); len(lottest.Flagged(rep, "KEY_MISUSE")) == 0 {
		t.Errorf("a full verification of X does not report KEY_MISUSE: %v", rep.GetFlags())
	}
}

// TestScopedFlagPageCost_review14: a scoped flag page read every scoped
// summary's keys, whatever its size: a mine that assayed its lot A 200
// times (ASSAY_MISMATCH each) and split 1,999 lots off it has 2,000 lots
// whose summaries hold 400,000 keys, read for every page of 10 (a
// review: some 55 ms a page against 0.4 ms from the scan). Past a bound
// on the keys (backend's TestScopedFlagKeysBounded) the page is read from
// a scan; here (120 assays, 999 lots), through the server and its read
// policy, the mine's pages of 10 are those of the scan.
func TestScopedFlagPageCost_review14(t *testing.T) {
	x, w := lottestWorld(t)
	lottest.AssayedSplit(x, 120, 999)
	mine := who{x.Mine.ID, x.Mine.ID, x.Mine.Key}
	server.SetScope(false)
	want := allFlags(t, w, mine, &apipb.ListFlagsRequest{PageSize: 5000}) // and waits for the follower
	server.SetScope(true)
	if len(want) < 120 {
		t.Fatalf("the mine's flags: %d, want at least 120", len(want))
	}
	before := server.Scoped()
	got := allFlags(t, w, mine, &apipb.ListFlagsRequest{PageSize: 10})
	if server.Scoped() == before {
		t.Fatal("the mine's flag listing was not scoped")
	}
	if !slices.Equal(got, want) {
		t.Errorf("the mine's flags 10 at a time, scoped: %d, want the scan's %d", len(got), len(want))
	}
}
