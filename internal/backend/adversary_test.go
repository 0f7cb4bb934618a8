package backend_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

func compareAll(t *testing.T, x *lottest.H, b *backend.Backend) {
	t.Helper()
	for st, err := range x.S.Lots(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		lot := st.GetLotId()
		rep, err := b.VerifyLot(t.Context(), lot)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range rep.GetFlags() {
			want = append(want, verifier.ReplayFlagKey(f))
		}
		sum, ok, err := backend.Summary(b, lot)
		if err != nil || !ok {
			t.Errorf("lot %s: no summary (%v); verifier %v %v", lot, err, rep.GetVerdict(), want)
			continue
		}
		got := slices.Clone(sum.Keys)
		slices.Sort(got)
		slices.Sort(want)
		want = slices.Compact(want)
		if !slices.Equal(got, want) || sum.Verdict != rep.GetVerdict() {
			t.Errorf("lot %s: follower %v\n  %v\nverifier %v\n  %v (errors %v)", lot, sum.Verdict, got, rep.GetVerdict(), want, rep.GetErrors())
		}
	}
}

func replayed(t *testing.T, x *lottest.H) *backend.Backend {
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

func revokeMine(x *lottest.H, day float64) {
	x.Submit(x.C.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: x.Mine.ID, KeyId: x.Mine.KeyID(), RevokedAt: x.Day(day), Reason: "stolen",
	}}}))
}

// The tests below came from a cold review of the follower: each was a
// case where its flags differed from a full verification.

// A backdated revocation of the mine's key: a lot split off (partially)
// by the exporter from the mine's lot, which the mine never held, has
// the mine's records in its history, and their flags.
func TestReplayRevocationReachesDescendants(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "A", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "A", ext, x.Exp, 10000, 2)
	r := x.Receive(x.Exp, "A", d, 10000, 3)
	x.Transform(x.Exp, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		[]*pb.TransformationInput{{LotId: "A", Link: r, MassKg: 4000}},
		[]*pb.TransformationOutput{{LotId: "C", MassKg: 4000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 4)
	revokeMine(x, 0.5)
	b := replayed(t, x)
	compareAll(t, x, b)
}

// A backdated revocation while the mine's lot is in transit; then
// received: the full verification's in-transit flag does not outlive the
// receipt.
func TestReplayRevocationInTransit(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "A", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "A", ext, x.Exp, 10000, 2)
	revokeMine(x, 0.5)
	b := replayed(t, x)
	compareAll(t, x, b)
	x.Receive(x.Exp, "A", d, 10000, 3)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	compareAll(t, x, b)
}

// An assay of the first state of a lot split thousands of times: its
// flag joins every state continuing it, over as many transactions as
// that takes, and no record is passed over.
func TestReplayHugePropagation(t *testing.T) {
	x := lottest.New(t)
	link := x.Extract(x.Mine, "A", 50000, 3, 9, lottest.MineSite, 1)
	ext := link
	const n = 4000
	for i := range n {
		link = x.Transform(x.Mine, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
			[]*pb.TransformationInput{{LotId: "A", Link: link, MassKg: 1}},
			[]*pb.TransformationOutput{{LotId: fmt.Sprintf("C%d", i), MassKg: 1, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 1.5+float64(i)*0.00001)
	}
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	before := backend.Flushes(b)
	x.NameLabs(x.Mine, "A", link, 1.9, x.Lab)
	x.Assay(x.Lab, "A", ext, map[string]float64{"Sb": 9, "As": 3, "Hg": 0.1}, 2)
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if backend.Skipped(b) != 0 || b.Replayed() != x.S.Log().Size() {
		t.Fatalf("replayed %d of %d, passed over %d", b.Replayed(), x.S.Log().Size(), backend.Skipped(b))
	}
	if backend.Flushes(b) == before {
		t.Errorf("the assay's flag went to %d states in one transaction: the test no longer fills one", n)
	}
	for _, lot := range []string{"A", "C0", fmt.Sprintf("C%d", n/2), fmt.Sprintf("C%d", n-1)} {
		sum, _, err := backend.Summary(b, lot)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(sum.Rules, verifier.RuleAssayMismatch) {
			t.Errorf("lot %s: rules %v, want %s from the assay of its first state", lot, sum.Rules, verifier.RuleAssayMismatch)
		}
	}
}

func itoa(i int) string { return fmt.Sprint(i) }

// A transaction that fills up in the middle of a record is committed with
// the position before that record, and a record replayed again (after a
// crash) counts once: no false DOUBLE_SPEND, whatever the batch bounds.
func TestReplayTxnFillsMidRecord(t *testing.T) {
	x := lottest.New(t)
	link := x.Extract(x.Mine, "A", 50000, 3, 9, lottest.MineSite, 1)
	x.NameLabs(x.Mine, "A", link, 1.05, x.Lab)
	for i := range 1500 {
		x.Assay(x.Lab, "A", link, map[string]float64{"Sb": 9, "As": 3, "Hg": 0.1}, 1.1+float64(i)*0.0001)
	}
	x.Transform(x.Mine, pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		[]*pb.TransformationInput{{LotId: "A", Link: link, MassKg: 100}},
		[]*pb.TransformationOutput{{LotId: "C", MassKg: 100, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 1.5)
	end := x.S.Log().Size()
	for _, k := range []uint64{1, 2, 7, 13} {
		t.Run(itoa(int(k)), func(t *testing.T) {
			b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := backend.ReplayN(t.Context(), b, end-k); err != nil {
				t.Fatal(err)
			}
			if err := backend.ReplayAll(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			for _, lot := range []string{"A", "C"} {
				sum, _, _ := backend.Summary(b, lot)
				rep, _ := b.VerifyLot(t.Context(), lot)
				if sum.Verdict != rep.GetVerdict() || len(sum.Keys) != len(rep.GetFlags()) || slices.Contains(sum.Rules, "DOUBLE_SPEND") {
					t.Errorf("k=%d lot %s: follower %v %v %d keys; verifier %v %d flags", k, lot, sum.Verdict, sum.Rules, len(sum.Keys), rep.GetVerdict(), len(rep.GetFlags()))
				}
			}
		})
	}
}

// mapStore is a ReplayStore in a map.
type mapStore map[string][]byte

func (m mapStore) Get(k []byte) ([]byte, error) { return m[string(k)], nil }
func (m mapStore) Set(k, v []byte) error        { m[string(k)] = slices.Clone(v); return nil }
func (m mapStore) Delete(k []byte) error        { delete(m, string(k)); return nil }
func (m mapStore) Last(prefix, before []byte) ([]byte, error) {
	best := ""
	for k := range m {
		if strings.HasPrefix(k, string(prefix)) && k < string(before) && k > best {
			best = k
		}
	}
	if best == "" {
		return nil, nil
	}
	return m[best], nil
}

// TestReplayTwiceIsOnce: a custody record replayed a second time, as the
// record in flight is after a crash that came once part of its writes
// were committed, leaves the state as one replay does.
func TestReplayTwiceIsOnce(t *testing.T) {
	x := lottest.New(t)
	lottest.Workload(t, x, 11, 300)
	once, twice := mapStore{}, mapStore{}
	r1 := verifier.NewReplay(x.C.RegistrarPublic(), verifier.DefaultConfig())
	r2 := verifier.NewReplay(x.C.RegistrarPublic(), verifier.DefaultConfig())
	for _, rec := range logRecords(t, x) {
		st := rec.St
		if _, err := r1.Apply(once, rec); err != nil {
			t.Fatal(err)
		}
		if _, err := r2.Apply(twice, rec); err != nil {
			t.Fatal(err)
		}
		if len(custody.StatementLots(st)) == 0 {
			continue // a registry record: resumed from the stored position, never applied twice
		}
		if _, err := r2.Apply(twice, rec); err != nil {
			t.Fatalf("index %d again: %v", rec.Index, err)
		}
	}
	for k, v := range once {
		if !strings.HasPrefix(k, verifier.ReplayLotPrefix) {
			continue
		}
		if w := twice[k]; string(w) != string(v) {
			t.Errorf("%s: once %s\ntwice %s", k, v, w)
		}
	}
}

// TestPendingLotsAfterRevocation: once a revocation is replayed, listings
// count the revoked party's lots as pending until their full
// verification has added its flags.
func TestPendingLotsAfterRevocation(t *testing.T) {
	x := lottest.New(t)
	for _, lot := range []string{"A", "B"} {
		x.Extract(x.Mine, lot, 1000, 3, 9, lottest.MineSite, 1)
	}
	revokeMine(x, 0.5)
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := backend.ReplayN(t.Context(), b, x.S.Log().Size()); err != nil {
		t.Fatal(err)
	}
	r, err := b.ListFlags(t.Context(), &apipb.ListFlagsRequest{})
	if err != nil || r.GetPendingLots() != 2 || r.GetUnreadRecords() != 0 {
		t.Fatalf("after the revocation: %d lots pending, %d unread (%v); want 2 and 0", r.GetPendingLots(), r.GetUnreadRecords(), err)
	}
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	r, err = b.ListFlags(t.Context(), &apipb.ListFlagsRequest{Rule: verifier.RuleKeyMisuse})
	if err != nil || r.GetPendingLots() != 0 || len(r.GetFlags()) == 0 {
		t.Fatalf("after the full verification: %d lots pending, %d KEY_MISUSE flags (%v)", r.GetPendingLots(), len(r.GetFlags()), err)
	}
	compareAll(t, x, b)
}
