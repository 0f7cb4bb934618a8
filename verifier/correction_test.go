package verifier_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// typo logs lot L1: 3,000 kg extracted, dispatched to the exporter and
// received as 30,000 kg, a typing slip that raises a CRITICAL
// TRANSIT_GAIN.
func typo(t *testing.T) (x *lottest.H, ext, d1, r1 string) {
	x = lottest.New(t)
	ext = x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.MineSite, 1)
	d1 = x.Dispatch(x.Mine, "L1", ext, x.Exp, 3000, 2)
	r1 = x.Receive(x.Exp, "L1", d1, 30000, 3)
	lottest.WantFlag(t, x.Verify("L1"), verifier.RuleTransitGain, r1)
	return x, ext, d1, r1
}

// corrected checks that rep's verdict is VERIFIED while it keeps the
// TRANSIT_GAIN of receipt r1, CRITICAL and corrected by corr, and shows the
// correction with both masses.
func corrected(t *testing.T, rep *pb.VerificationReport, r1, corr string, movedOn bool) {
	t.Helper()
	if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("verdict %v after the correction, want VERIFIED\n%s", rep.GetVerdict(), rep.GetText())
	}
	gains := lottest.Flagged(rep, verifier.RuleTransitGain)
	if len(gains) != 1 || !slices.Contains(gains[0].GetEvidence(), r1) || !slices.Equal(gains[0].GetCorrectedBy(), []string{corr}) ||
		gains[0].GetSeverity() != pb.Severity_SEVERITY_CRITICAL || !strings.Contains(gains[0].GetMessage(), "30000.0 kg") {
		t.Fatalf("the original TRANSIT_GAIN is not kept as corrected by %s: %v\n%s", corr, gains, rep.GetText())
	}
	for _, f := range rep.GetFlags() {
		if len(f.GetCorrectedBy()) == 0 {
			t.Fatalf("flag %s not corrected, yet the verdict is VERIFIED", f.GetRule())
		}
	}
	cs := rep.GetCorrections()
	if len(cs) != 1 || cs[0].GetRecord() != corr || cs[0].GetCorrects() != r1 || cs[0].GetAfterLotMovedOn() != movedOn ||
		!slices.Equal(cs[0].GetChanges(), []string{"receipt mass 30000.0 kg -> 2995.0 kg"}) || cs[0].GetReason() == "" {
		t.Fatalf("corrections %v, want %s of %s (moved on %t)", cs, corr, r1, movedOn)
	}
	if !strings.Contains(rep.GetText(), "CORRECTED by") || !strings.Contains(rep.GetText(), "30000.0 kg -> 2995.0 kg") {
		t.Fatalf("the text does not show the correction:\n%s", rep.GetText())
	}
}

func TestCorrectionWithdrawsTransitGain(t *testing.T) {
	x, _, _, r1 := typo(t)
	corr := x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(2995)}, 3.5, x.Mine)
	rep := x.Verify("L1")
	corrected(t, rep, r1, corr, false)
	if rep.GetMassKg() != 2995 || rep.GetUntracedShare() > 1e-9 {
		t.Fatalf("mass %v, untraced %v: the corrected mass is not the lot's", rep.GetMassKg(), rep.GetUntracedShare())
	}
}

// A correction made after the lot moved on still applies, and says so.
func TestCorrectionAfterLotMovedOn(t *testing.T) {
	x, _, _, r1 := typo(t)
	d2 := x.Dispatch(x.Exp, "L1", r1, x.Smelter, 2990, 4)
	x.Receive(x.Smelter, "L1", d2, 2985, 5)
	if rep := x.Verify("L1"); rep.GetUntracedShare() < 0.8 {
		t.Fatalf("before the correction the lot is %.0f %% untraced, want about 90 %%", rep.GetUntracedShare()*100)
	}
	corr := x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(2995)}, 6, x.Mine)
	rep := x.Verify("L1")
	corrected(t, rep, r1, corr, true)
	if rep.GetUntracedShare() > 1e-9 || rep.GetMassKg() != 2985 {
		t.Fatalf("untraced %v, mass %v after the correction", rep.GetUntracedShare(), rep.GetMassKg())
	}
}

// A correction can raise flags of its own: the verdict follows the
// corrected values, which a correction cannot hide.
func TestCorrectionRaisesFlags(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.MineSite, 1)
	d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 3000, 2)
	r1 := x.Receive(x.Exp, "L1", d1, 2995, 3)
	if rep := x.Verify("L1"); rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("before: %v\n%s", rep.GetVerdict(), rep.GetText())
	}
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(30000), SealsIntact: proto.Bool(false)}, 4, x.Mine)
	rep := x.Verify("L1")
	f := lottest.WantFlag(t, rep, verifier.RuleTransitGain, r1)
	if len(f.GetCorrectedBy()) != 0 {
		t.Fatalf("the corrected values' flag is marked corrected: %v", f)
	}
	lottest.WantFlag(t, rep, verifier.RuleUnconfirmedCustody, r1)
}

// A bundle that leaves the correction out is incomplete: the correction
// is in the lot's chain, which the log's map commits.
func TestCorrectionOmittedIsInvalid(t *testing.T) {
	x, _, _, r1 := typo(t)
	corr := x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(2995)}, 3.5, x.Mine)
	x.Extract(x.Mine, "L9", 1000, 3, 9, lottest.MineSite, 4) // the checkpoint's last leaf is not the correction
	b := x.Bundle("L1")
	n := len(b.GetRecords())
	b.Records = slices.DeleteFunc(b.Records, func(br *pb.BundleRecord) bool { return br.GetIndex() == x.S.Log().Size()-2 })
	if len(b.GetRecords()) != n-1 {
		t.Fatalf("the correction %s is not the bundle's record before the last", corr)
	}
	lottest.WantInvalid(t, verifier.Verify(b, x.Trust(), verifier.DefaultConfig()), "incomplete bundle")
}

// Corrections the log refuses make a bundle that holds one INVALID.
func TestCorrectionRefusedByVerifier(t *testing.T) {
	x := lottest.New(t)
	// Each case logs L1 anew, without the store's rules: a mine's 3,000 kg
	// received by the exporter as 30,000 kg, then its corrections.
	var r1, ext string
	logged := func(t *testing.T, corrections ...*pb.Envelope) *pb.Bundle {
		raw := lottest.NewRawLog(t, x.C)
		for _, p := range []*ct.Party{x.Mine, x.Exp, x.Smelter} {
			raw.Add(x.C.Register(p))
		}
		sign := func(p *ct.Party, day float64, st *pb.Statement) string {
			st.EventTime = x.Day(day)
			return raw.Add(x.C.Sign(p, st))
		}
		ext = sign(x.Mine, 1, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{LotId: "L1", MassKg: 3000, SbGradePct: 9, Site: lottest.MineSite, Product: pb.Product_PRODUCT_ORE}}})
		d1 := sign(x.Mine, 2, &pb.Statement{Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{LotId: "L1", CustodyLink: ext, ToPartyId: x.Exp.ID, MassKg: 3000}}})
		r1 = sign(x.Exp, 3, &pb.Statement{Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: lottest.Karachi, LotId: "L1", DispatchLink: d1, MassKg: 30000, SealsIntact: true}}})
		for _, env := range corrections {
			raw.Add(env)
		}
		return raw.Bundle("L1")
	}
	lottest.WantFlag(t, verifier.Verify(logged(t), x.Trust(), verifier.DefaultConfig()), verifier.RuleTransitGain, r1)
	fix := func(by *ct.Party, c *pb.Correction, cosigners ...*ct.Party) *pb.Envelope {
		if c.MassKg == nil {
			c.MassKg = lottest.Kg(2995)
		}
		c.LotId = "L1"
		return x.Correction(by, c, 3.5, cosigners...)
	}
	good := fix(x.Exp, &pb.Correction{Corrects: r1, CounterpartyId: x.Mine.ID}, x.Mine)
	for _, tc := range []struct {
		name string
		envs []*pb.Envelope
		want string
	}{
		{"by someone else than the signer", []*pb.Envelope{fix(x.Mine, &pb.Correction{Corrects: r1, CounterpartyId: x.Exp.ID}, x.Exp)},
			"only its signer corrects a record"},
		{"a handoff's without the counterparty's signature", []*pb.Envelope{fix(x.Exp, &pb.Correction{Corrects: r1, CounterpartyId: x.Mine.ID})},
			`co-signed by the counterparty "mine-qa"`},
		{"a handoff's naming no counterparty", []*pb.Envelope{fix(x.Exp, &pb.Correction{Corrects: r1})},
			`the other side of the handoff, who must co-sign, is "mine-qa"`},
		{"a correction of the correction", []*pb.Envelope{good, fix(x.Exp, &pb.Correction{Corrects: ct.ID(good), MassKg: lottest.Kg(2990)})},
			"not corrected in turn"},
		// The log's running totals of the mine and the country count an
		// extraction as logged: raised, it would escape the capacity and
		// national-volume rules (a cold review's laundering path).
		{"an extraction's mass raised", []*pb.Envelope{fix(x.Mine, &pb.Correction{Corrects: ext, MassKg: lottest.Kg(9000)})},
			"corrected only downwards"},
		{"a second correction", []*pb.Envelope{good, fix(x.Exp, &pb.Correction{Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(2990), Reason: "again"}, x.Mine)},
			"corrected again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lottest.WantInvalid(t, verifier.Verify(logged(t, tc.envs...), x.Trust(), verifier.DefaultConfig()), tc.want)
		})
	}
	// The good one alone is taken.
	rep := verifier.Verify(logged(t, good), x.Trust(), verifier.DefaultConfig())
	if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED || len(rep.GetCorrections()) != 1 {
		t.Fatalf("the good correction: %v\n%s", rep.GetVerdict(), rep.GetText())
	}
}

// An extraction's correction needs no counterparty: a site mistyped near
// the border, corrected to the mine's, withdraws the border flag.
func TestCorrectionOfExtractionSite(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.NearBorder, 1)
	lottest.WantFlag(t, x.Verify("L1"), verifier.RuleBorderCorridor, ext)
	corr := x.Correct(x.Mine, &pb.Correction{LotId: "L1", Corrects: ext, Location: lottest.MineSite}, 1.5)
	rep := x.Verify("L1")
	if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
		t.Fatalf("verdict %v after the site's correction\n%s", rep.GetVerdict(), rep.GetText())
	}
	for _, f := range lottest.Flagged(rep, verifier.RuleBorderCorridor) {
		if !slices.Equal(f.GetCorrectedBy(), []string{corr}) {
			t.Fatalf("border flag not marked corrected by %s: %v", corr, f)
		}
	}
	if len(lottest.Flagged(rep, verifier.RuleBorderCorridor)) == 0 || len(rep.GetCorrections()) != 1 || !strings.Contains(rep.GetCorrections()[0].GetChanges()[0], "extraction site") {
		t.Fatalf("the withdrawn border flag or the correction is not shown\n%s", rep.GetText())
	}
}

// A downward correction of an extraction's mass that brings the lot below
// a year of its mine's capacity withdraws the lot-year ORIGIN_VOLUME (a
// rule of the lot's final state, not of one record): the flag stays in
// the report, marked corrected, and the verdict is judged as corrected.
func TestCorrectionWithdrawsLotYearOriginVolume(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "L1", 800_000, 3, 9, lottest.MineSite, 1)
	lotYear := func(rep *pb.VerificationReport) *pb.Flag {
		t.Helper()
		for _, f := range lottest.Flagged(rep, verifier.RuleOriginVolume) {
			if strings.Contains(f.GetMessage(), "more than a year of its capacity") {
				return f
			}
		}
		return nil
	}
	if lotYear(x.Verify("L1")) == nil {
		t.Fatalf("the 800 t extraction raises no lot-year ORIGIN_VOLUME: the test's premise")
	}
	corr := x.Correct(x.Mine, &pb.Correction{LotId: "L1", Corrects: ext, MassKg: lottest.Kg(30_000)}, 1.5)
	rep := x.Verify("L1")
	f := lotYear(rep)
	if f == nil {
		t.Fatalf("the lot-year ORIGIN_VOLUME of the extraction as signed vanished; flags: %v", rep.GetFlags())
	}
	if !slices.Equal(f.GetCorrectedBy(), []string{corr}) {
		t.Errorf("lot-year ORIGIN_VOLUME corrected_by = %v, want [%s]", f.GetCorrectedBy(), corr)
	}
	if !strings.Contains(f.GetMessage(), "holds 69840 kg Sb") {
		t.Errorf("the withdrawn flag should state the lot as signed (800 t wet, 3 %% moisture, 9 %% Sb: 69840 kg Sb): %s", f.GetMessage())
	}
	for _, g := range rep.GetFlags() {
		if g != f && g.GetRule() == verifier.RuleOriginVolume && len(g.GetCorrectedBy()) == 0 && strings.Contains(g.GetMessage(), "more than a year") {
			t.Errorf("the corrected lot still raises the lot-year flag uncorrected: %s", g.GetMessage())
		}
	}
}

// A correction withdraws the flags the log held when it took it: a record
// logged after the correction was judged on the corrected values, so a
// flag the values as first signed would raise on it is not listed, not
// even withdrawn (it was never the log's). Here a dispatch of 1,000 kg of
// a 10,000 kg lot is corrected, co-signed, to 10,000 kg while in transit,
// then received as 10,000 kg: no TRANSIT_GAIN. Logged the other way round
// (received, then the dispatch corrected), the receipt's TRANSIT_GAIN
// against the dispatch as first signed is listed, withdrawn.
func TestCorrectionWithdrawsOnlyFlagsLoggedBeforeIt(t *testing.T) {
	for _, receivedFirst := range []bool{false, true} {
		x := lottest.New(t)
		ext := x.Extract(x.Mine, "X", 10000, 3, 9, lottest.MineSite, 1)
		d := x.Dispatch(x.Mine, "X", ext, x.Exp, 1000, 2)
		var r, corr string
		fix := &pb.Correction{LotId: "X", Corrects: d, CounterpartyId: x.Exp.ID, MassKg: lottest.Kg(10000)}
		if receivedFirst {
			r = x.Receive(x.Exp, "X", d, 10000, 2.5)
			corr = x.Correct(x.Mine, fix, 3, x.Exp)
		} else {
			corr = x.Correct(x.Mine, fix, 2.5, x.Exp)
			r = x.Receive(x.Exp, "X", d, 10000, 3)
		}
		rep := x.Verify("X")
		if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED {
			t.Fatalf("received first %t: verdict %v, want VERIFIED\n%s", receivedFirst, rep.GetVerdict(), rep.GetText())
		}
		if cs := rep.GetCorrections(); len(cs) != 1 || cs[0].GetRecord() != corr {
			t.Fatalf("received first %t: corrections %v, want %s", receivedFirst, cs, corr)
		}
		gains := lottest.Flagged(rep, verifier.RuleTransitGain)
		if !receivedFirst {
			if len(gains) != 0 {
				t.Fatalf("the receipt logged after the correction has a TRANSIT_GAIN of the dispatch as first signed: %v\n%s", gains, rep.GetText())
			}
			continue
		}
		if len(gains) != 1 || !slices.Contains(gains[0].GetEvidence(), r) || !slices.Equal(gains[0].GetCorrectedBy(), []string{corr}) {
			t.Fatalf("the receipt logged before the correction: TRANSIT_GAIN %v, want one on it withdrawn by %s\n%s", gains, corr, rep.GetText())
		}
	}
}
