package backend_test

import (
	"maps"
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/registry"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestReplayCrashMidCorrection_review17 is review 16's
// TestReplayCrashMidCorrection_review16, which 0227905 deleted ("left
// out: see the closing note", a note in no file of the repository)
// without a fix: Replay.correct is not idempotent under a crash part-way
// through a correction's writes, as TestReplayCrashMidRecord requires of
// every record. Unchanged but for its name; it still fails.
// TestReplayCrashMidCorrection_review17 (older than these commits):
// TestReplayCrashMidRecord's model (a transaction that fills up commits a
// prefix of the in-flight record's writes with the position before it; a
// crash replays the whole record again on that state) for a correction,
// which that test's workload never logs. Replay.correct writes the lot's
// head (h/X) as it replays the corrected record anew; replayed again from
// there, it finds the head at the corrected record, not at the last
// record of the chain (line: h.Rec == last), takes the correction for one
// it does not follow (ReplayResult.Corrected), and leaves the lot's state
// as the cut-short replay left it: for most prefixes the head and nodes
// differ from one replay's, and from the summary's write on X's summary
// is made from the extraction's new node: VERIFIED, held by the mine,
// without the TRANSIT_GAIN the receipt still raises.
func TestReplayCrashMidCorrection_review17(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, "X", ext, x.Exp, 10000, 2)
	x.Receive(x.Exp, "X", d, 30000, 3)
	x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 3.5)
	recs := correctionRecords(t, x)
	clean := mapStore{}
	r := verifier.NewReplay(x.C.RegistrarPublic(), verifier.DefaultConfig())
	reported, bad := 0, 0
	for i, rec := range recs {
		before := maps.Clone(clean)
		os := &opStore{m: clean}
		if _, err := r.Apply(os, rec); err != nil {
			t.Fatal(err)
		}
		if rec.St.GetCorrection() == nil {
			continue
		}
		for k := 1; k <= len(os.ops); k++ {
			crashed := maps.Clone(before)
			for _, o := range os.ops[:k] {
				if o.del {
					delete(crashed, string(o.k))
				} else {
					crashed[string(o.k)] = o.v
				}
			}
			r2 := verifier.NewReplay(x.C.RegistrarPublic(), verifier.DefaultConfig())
			for _, p := range recs[:i] {
				if registry.IsRegistryStatement(p.St) {
					if err := r2.ApplyRegistry(p); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := r2.Apply(crashed, rec); err != nil {
				t.Errorf("crash after %d of %d writes: %v", k, len(os.ops), err)
				continue
			}
			d := diff(clean, crashed)
			if d == "" {
				continue
			}
			bad++
			want, _ := verifier.DecodeReplayLot(clean[verifier.ReplayLotPrefix+"X"])
			got, _ := verifier.DecodeReplayLot(crashed[verifier.ReplayLotPrefix+"X"])
			if (got.Verdict != want.Verdict || got.Holder != want.Holder) && reported < 2 {
				reported++
				t.Errorf("the correction, crash after %d of %d writes (op %q), replayed again: X %v %v held by %s, want %v %v held by %s; state:\n%s",
					k, len(os.ops), os.ops[k-1].k, got.Verdict, got.Rules, got.Holder, want.Verdict, want.Rules, want.Holder, d)
			}
		}
	}
	if bad > 0 {
		t.Errorf("the correction replayed again after a crash leaves a state unlike one replay's after %d of its prefixes", bad)
	}
}
