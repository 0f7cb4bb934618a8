package verifier_test

import (
	"slices"
	"testing"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestUnnamedLab: an assay by a LAB that the lot's holder had not named,
// for its custody when the log took the assay, is flagged (UNNAMED_LAB).
// The records come from a raw log: the store refuses such assays (a log
// from before the rule, or an operator that admitted them).
func TestUnnamedLab(t *testing.T) {
	x := lottest.New(t)
	raw := lottest.NewRawLog(t, x.C)
	for _, p := range []*ct.Party{x.Mine, x.Exp, x.Lab, x.Buyer} {
		raw.Add(x.C.Register(p))
	}
	extract := func(lot string) string {
		return raw.Add(x.C.Sign(x.Mine, &pb.Statement{EventTime: x.Day(1), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: lot, MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Site: lottest.MineSite, Product: pb.Product_PRODUCT_ORE}}}))
	}
	name := func(by *ct.Party, lot, link string, day float64, labs ...*ct.Party) string {
		return raw.Add(x.C.Sign(by, lottest.NameLabs(lot, link, x.Day(day), labs...)))
	}
	assay := func(by *ct.Party, lot, subject string, day float64) string {
		return raw.Add(x.C.Sign(by, &pb.Statement{EventTime: x.Day(day), Body: &pb.Statement_Assay{Assay: &pb.Assay{
			LotId: lot, SubjectLink: subject, SampleId: "S-" + lot, Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: 9}}}}}))
	}
	// L1: a stranger lab, never named.
	e1 := extract("L1")
	stranger := assay(x.Lab, "L1", e1, 1.5)
	// L2: named by the holder; the holder's own assay needs no naming.
	e2 := extract("L2")
	name(x.Mine, "L2", e2, 1.2, x.Lab)
	named := assay(x.Lab, "L2", e2, 1.5)
	own := assay(x.Mine, "L2", e2, 1.6)
	// L3: named by the mine, which dispatches the lot (the nomination
	// still holds in transit), and the exporter receives it: the mine's
	// nomination ends with its custody.
	e3 := extract("L3")
	name(x.Mine, "L3", e3, 1.2, x.Lab)
	d3 := raw.Add(x.C.Sign(x.Mine, &pb.Statement{EventTime: x.Day(2), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L3", CustodyLink: e3, ToPartyId: x.Exp.ID, MassKg: 1000, Seals: []string{"S1"}}}}))
	inTransit := assay(x.Lab, "L3", d3, 2.5)
	r3 := raw.Add(x.C.Sign(x.Exp, &pb.Statement{EventTime: x.Day(3), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
		LotId: "L3", DispatchLink: d3, MassKg: 1000, SealsIntact: true, Location: lottest.Karachi}}}))
	afterMove := assay(x.Lab, "L3", r3, 3.5)
	// L4: "named" by a party that does not hold the lot.
	e4 := extract("L4")
	name(x.Exp, "L4", e4, 1.2, x.Lab)
	byNonHolder := assay(x.Lab, "L4", e4, 1.5)
	// L5: named, then withdrawn by an empty nomination.
	e5 := extract("L5")
	name(x.Mine, "L5", e5, 1.2, x.Lab)
	name(x.Mine, "L5", e5, 1.3)
	withdrawn := assay(x.Lab, "L5", e5, 1.5)
	// L6: a party that is no LAB, named: KEY_MISUSE, as before.
	e6 := extract("L6")
	name(x.Mine, "L6", e6, 1.2, x.Buyer)
	notLab := assay(x.Buyer, "L6", e6, 1.5)

	verify := func(lot string) *pb.VerificationReport {
		return verifier.Verify(raw.Bundle(lot), x.Trust(), verifier.DefaultConfig())
	}
	flaggedRecs := func(rep *pb.VerificationReport) []string {
		var ids []string
		for _, f := range lottest.Flagged(rep, verifier.RuleUnnamedLab) {
			ids = append(ids, f.GetEvidence()[0])
		}
		return ids
	}
	for _, tc := range []struct {
		lot       string
		flag, not []string
	}{
		{"L1", []string{stranger}, nil},
		{"L2", nil, []string{named, own}},
		{"L3", []string{afterMove}, []string{inTransit}},
		{"L4", []string{byNonHolder}, nil},
		{"L5", []string{withdrawn}, nil},
	} {
		rep := verify(tc.lot)
		if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
			t.Fatalf("lot %s: INVALID\n%s", tc.lot, rep.GetText())
		}
		for _, id := range tc.flag {
			f := lottest.WantFlag(t, rep, verifier.RuleUnnamedLab, id)
			if f.GetSeverity() != pb.Severity_SEVERITY_WARNING || f.GetPartyId() != x.Lab.ID {
				t.Errorf("lot %s: flag %v", tc.lot, f)
			}
		}
		got := flaggedRecs(rep)
		if len(got) != len(tc.flag) {
			t.Errorf("lot %s: UNNAMED_LAB on %v, want %v\n%s", tc.lot, got, tc.flag, rep.GetText())
		}
		for _, id := range tc.not {
			if slices.Contains(got, id) {
				t.Errorf("lot %s: record %s flagged UNNAMED_LAB\n%s", tc.lot, id, rep.GetText())
			}
		}
		if len(tc.flag) == 0 {
			lottest.NoFlag(t, rep, verifier.RuleUnnamedLab)
			lottest.NoFlag(t, rep, verifier.RuleKeyMisuse)
		}
	}
	rep := verify("L6")
	lottest.WantFlag(t, rep, verifier.RuleKeyMisuse, notLab)
	lottest.NoFlag(t, rep, verifier.RuleUnnamedLab)
}
