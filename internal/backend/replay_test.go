package backend_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestReplayMatchesVerifier: for random logs, every lot's flags as the
// follower keeps them, one record at a time, are exactly the flags a full
// verification of the lot's bundle reports, and so is its verdict.
func TestReplayMatchesVerifier(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			x := lottest.New(t)
			lottest.Workload(t, x, seed, 400)
			b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := backend.ReplayAll(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			rules := map[string]int{}
			lots := 0
			for st, err := range x.S.Lots(t.Context(), "") {
				if err != nil {
					t.Fatal(err)
				}
				lot := st.GetLotId()
				lots++
				rep, err := b.VerifyLot(t.Context(), lot)
				if err != nil {
					t.Fatal(err)
				}
				if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
					t.Fatalf("lot %s: INVALID: %v", lot, rep.GetErrors())
				}
				var want []string
				for _, f := range rep.GetFlags() {
					want = append(want, verifier.ReplayFlagKey(f))
					rules[f.GetRule()]++
				}
				sum, ok, err := backend.Summary(b, lot)
				if err != nil || !ok {
					t.Fatalf("lot %s: no summary (%v)", lot, err)
				}
				got := slices.Clone(sum.Keys)
				slices.Sort(got)
				slices.Sort(want)
				want = slices.Compact(want)
				if !slices.Equal(got, want) {
					t.Errorf("lot %s: the follower has flags\n  %v\nthe verifier\n  %v", lot, got, want)
				}
				if sum.Verdict != rep.GetVerdict() {
					t.Errorf("lot %s: verdict %v, the verifier's %v", lot, sum.Verdict, rep.GetVerdict())
				}
			}
			t.Logf("%d records, %d lots, flags by rule %v", x.S.Log().Size(), lots, rules)
			if len(rules) < 5 {
				t.Errorf("the workload raised only %d rules: %v", len(rules), rules)
			}
		})
	}
}

// TestReplayResumes: a follower stopped halfway resumes from its stored
// position, reading none of the records it had replayed, and ends with
// the flags of a follower that replayed the log in one go; a state that
// does not match the log (of a longer log, as after a restore from a
// backup) is dropped and rebuilt.
func TestReplayResumes(t *testing.T) {
	x := lottest.New(t)
	lottest.Workload(t, x, 7, 300)
	dir := t.TempDir()
	b, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.ReplayN(t.Context(), b, x.S.Log().Size()/2); err != nil {
		t.Fatal(err)
	}
	half := b.Replayed()
	b.Close()
	lottest.Workload(t, x, 8, 100)

	b, err = backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Replayed(); got != half {
		t.Fatalf("reopened at %d, stopped at %d", got, half)
	}
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	fresh, err := backend.NewPaused(x.S, x.Trust(), verifier.DefaultConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := backend.ReplayAll(t.Context(), fresh); err != nil {
		t.Fatal(err)
	}
	n := 0
	for st, err := range x.S.Lots(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		got, _, err1 := backend.Summary(b, st.GetLotId())
		want, _, err2 := backend.Summary(fresh, st.GetLotId())
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		slices.Sort(got.Keys)
		slices.Sort(want.Keys)
		if !slices.Equal(got.Keys, want.Keys) || got.Verdict != want.Verdict {
			t.Errorf("lot %s: resumed %v %v, in one go %v %v", st.GetLotId(), got.Verdict, got.Keys, want.Verdict, want.Keys)
		}
		n++
	}
	b.Close()

	// The state of a longer log than the one it is opened against.
	y := lottest.New(t)
	lottest.Workload(t, y, 7, 50)
	b, err = backend.NewPaused(y.S, y.Trust(), verifier.DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Replayed(); got != 0 {
		t.Fatalf("state of a longer log kept: at %d", got)
	}
	if err := backend.ReplayAll(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if b.Replayed() != y.S.Log().Size() {
		t.Fatalf("rebuilt to %d of %d", b.Replayed(), y.S.Log().Size())
	}
	t.Logf("%d lots compared", n)
}

// logRecords returns x's log as the follower replays it.
func logRecords(t *testing.T, x *lottest.H) []verifier.ReplayRecord {
	t.Helper()
	var recs []verifier.ReplayRecord
	for e, err := range x.S.Log().Range(t.Context(), 0, x.S.Log().Size()) {
		if err != nil {
			t.Fatal(err)
		}
		env, st, err := custody.DecodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, verifier.ReplayRecord{Index: e.Index, ID: e.ID, Env: env, St: st, LogTime: e.Time, Extra: e.Extra})
	}
	return recs
}
