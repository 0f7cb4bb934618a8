package backend_test

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/registry"
	"github.com/antimony-ledger/provenance/verifier"
)

// opStore records the writes made through it on top of a mapStore.
type opStore struct {
	m   mapStore
	ops []op
}

type op struct {
	del  bool
	k, v []byte
}

func (s *opStore) Get(k []byte) ([]byte, error) { return s.m.Get(k) }
func (s *opStore) Set(k, v []byte) error {
	s.ops = append(s.ops, op{false, slices.Clone(k), slices.Clone(v)})
	return s.m.Set(k, v)
}
func (s *opStore) Delete(k []byte) error {
	s.ops = append(s.ops, op{true, slices.Clone(k), nil})
	return s.m.Delete(k)
}
func (s *opStore) Last(p, b []byte) ([]byte, error) { return s.m.Last(p, b) }

// TestReplayCrashMidRecord (from a second cold review) models a
// transaction that fills up: it commits any prefix of the in-flight
// record's writes (with the position before the record); a crash then
// replays the whole record again on that state, with a Replay whose
// memory is rebuilt from the registry records before it. The state must
// equal one clean replay's, for every prefix of every record.
//
// The random workloads log no correction, whose replay (Replay.correct)
// rewrites the lot's states and head: the case "correction" is reviews 16
// and 17's (TestReplayCrashMidCorrection), where 31 of its 46 prefixes
// left another state before the replay resumed from its mark.
func TestReplayCrashMidRecord(t *testing.T) {
	logs := map[string]func(t *testing.T, x *lottest.H) []verifier.ReplayRecord{
		"correction": func(t *testing.T, x *lottest.H) []verifier.ReplayRecord {
			ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
			d := x.Dispatch(x.Mine, "X", ext, x.Exp, 10000, 2)
			x.Receive(x.Exp, "X", d, 30000, 3)
			x.Correct(x.Mine, &pb.Correction{LotId: "X", Corrects: ext, MassKg: lottest.Kg(9900)}, 3.5)
			return correctionRecords(t, x)
		},
	}
	for _, seed := range []uint64{1, 11} {
		logs[fmt.Sprint(seed)] = func(t *testing.T, x *lottest.H) []verifier.ReplayRecord {
			lottest.Workload(t, x, seed, 250)
			return logRecords(t, x)
		}
	}
	for name, log := range logs {
		t.Run(name, func(t *testing.T) {
			x := lottest.New(t)
			recs := log(t, x)
			clean := mapStore{}
			r := verifier.NewReplay(x.C.RegistrarPublic(), verifier.DefaultConfig())
			reported := 0
			for i, rec := range recs {
				before := maps.Clone(clean)
				os := &opStore{m: clean}
				if _, err := r.Apply(os, rec); err != nil {
					t.Fatal(err)
				}
				if registry.IsRegistryStatement(rec.St) {
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
						t.Errorf("index %d, prefix %d/%d: %v", rec.Index, k, len(os.ops), err)
						continue
					}
					if d := diff(clean, crashed); d != "" && reported < 8 {
						reported++
						t.Errorf("index %d (%T), crash after %d of %d writes (op %d: del=%v %q):\n%s", rec.Index, rec.St.GetBody(), k, len(os.ops), k-1, os.ops[k-1].del, os.ops[k-1].k, d)
					}
				}
			}
		})
	}
}

func diff(want, got mapStore) string {
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("  missing %q", k))
		} else if string(g) != string(v) {
			out = append(out, fmt.Sprintf("  differs %q", k))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("  extra   %q", k))
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("  ... %d more", len(out)-10))
	}
	s := ""
	for _, l := range out {
		s += l + "\n"
	}
	return s
}
