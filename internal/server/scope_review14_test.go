package server_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/internal/server"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// review14World starts a server over a lottest harness's store, with a
// running follower, and returns the harness and the policy world.
func review14World(t *testing.T) (*lottest.H, *policyWorld) {
	t.Helper()
	x := lottest.New(t)
	h := start(t, x.C, t.TempDir(), func(o *server.Options) {
		o.Store = x.S
		b := backend.New(x.S, x.Trust(), verifier.DefaultConfig())
		t.Cleanup(b.Close)
		o.Verifier = b
	})
	return x, &policyWorld{h: h, c: x.C, idx: map[string]uint64{}}
}

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
	x, w := review14World(t)
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
}
