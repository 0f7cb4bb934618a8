package verifier_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"

	"github.com/antimony-ledger/provenance/record"
)

// Sites used by the fixtures. The mine is near Quetta, about 80 km from
// the border line, outside the 15 km corridor.
var (
	mineSite    = &pb.Location{Lat: 30.0, Lon: 67.2, Name: "mine"}
	karachi     = &pb.Location{Lat: 24.85, Lon: 67.0, Name: "Karachi"}
	smelterSite = &pb.Location{Lat: 24.9, Lon: 67.1, Name: "smelter"}
	houston     = &pb.Location{Lat: 29.76, Lon: -95.37, Name: "Houston"}
	chamanGate  = &pb.Location{Lat: 30.92, Lon: 66.45, Name: "Chaman"}
	// nearBorder is about 12 km from the border line and 31 km from
	// Chaman: inside the corridor, outside any crossing's radius.
	nearBorder = &pb.Location{Lat: 30.65, Lon: 66.5, Name: "Qila Abdullah district, near the border"}
	// qilaAbdullahRef is the Qila Abdullah reference site (refdata), 21 km
	// from the line and 29 km from Chaman.
	qilaAbdullahRef = &pb.Location{Lat: 30.7, Lon: 66.6, Name: "Qila Abdullah"}
	afghanSite      = &pb.Location{Lat: 31.3, Lon: 66.2, Name: "Afghan side"}
)

// h is a test harness: a chain of parties, a real custody store, and
// helpers that sign and submit records.
type h struct {
	t                                   testing.TB
	c                                   *ct.Chain
	s                                   *custody.Store
	mine, exp, smelter, buyer, lab, mn2 *ct.Party
}

func newH(t testing.TB, tweak ...func(*h)) *h {
	t.Helper()
	c := ct.New()
	x := &h{t: t, c: c}
	x.mine = c.AddParty("mine-qa", "Quetta Antimony Mine", "PK", pb.Role_ROLE_MINE)
	x.mine.Reg.Site = mineSite
	x.mn2 = c.AddParty("mine-two", "Second Mine", "PK", pb.Role_ROLE_MINE)
	x.mn2.Reg.Site = mineSite
	x.exp = c.AddParty("exp-kar", "Karachi Exporter", "PK", pb.Role_ROLE_EXPORTER)
	x.exp.Reg.Site = karachi
	x.smelter = c.AddParty("smelter", "Smelter", "PK", pb.Role_ROLE_SMELTER)
	x.smelter.Reg.Site = smelterSite
	x.buyer = c.AddParty("buyer-us", "US Buyer", "US", pb.Role_ROLE_BUYER)
	x.buyer.Reg.Site = houston
	x.lab = c.AddParty("lab", "Assay Lab", "PK", pb.Role_ROLE_LAB)
	for _, f := range tweak {
		f(x)
	}
	x.s = c.OpenStore(t)
	for _, p := range []*ct.Party{x.mine, x.mn2, x.exp, x.smelter, x.buyer, x.lab} {
		ct.Submit(t, x.s, c.Register(p))
	}
	return x
}

func (x *h) day(d float64) *timestamppb.Timestamp {
	return x.c.At(time.Duration(d * float64(ct.Day)))
}

func (x *h) submit(env *pb.Envelope) string {
	x.t.Helper()
	return ct.Submit(x.t, x.s, env)[0]
}

func (x *h) extract(m *ct.Party, lot string, kg, moist, grade float64, site *pb.Location, day float64) string {
	x.t.Helper()
	return x.submit(x.c.Sign(m, &pb.Statement{EventTime: x.day(day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: lot, MassKg: kg, MoisturePct: moist, SbGradePct: grade, Site: site, Product: pb.Product_PRODUCT_ORE,
	}}}))
}

func (x *h) dispatch(from *ct.Party, lot, link string, to *ct.Party, kg, day float64, mod ...func(*pb.Dispatch)) string {
	x.t.Helper()
	d := &pb.Dispatch{LotId: lot, CustodyLink: link, ToPartyId: to.ID, MassKg: kg, Seals: []string{"S1"}, Transport: "truck"}
	for _, f := range mod {
		f(d)
	}
	return x.submit(x.c.Sign(from, &pb.Statement{EventTime: x.day(day), Body: &pb.Statement_Dispatch{Dispatch: d}}))
}

func (x *h) receive(by *ct.Party, lot, dlink string, kg, day float64, mod ...func(*pb.Receipt)) string {
	x.t.Helper()
	r := &pb.Receipt{LotId: lot, DispatchLink: dlink, MassKg: kg, SealsIntact: true, Location: by.Reg.Site}
	for _, f := range mod {
		f(r)
	}
	return x.submit(x.c.Sign(by, &pb.Statement{EventTime: x.day(day), Body: &pb.Statement_Receipt{Receipt: r}}))
}

func (x *h) transform(by *ct.Party, kind pb.TransformationKind, ins []*pb.TransformationInput, outs []*pb.TransformationOutput, day float64) string {
	x.t.Helper()
	return x.submit(x.c.Sign(by, &pb.Statement{EventTime: x.day(day), Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
		Kind: kind, Inputs: ins, Outputs: outs, Site: by.Reg.Site,
	}}}))
}

func (x *h) assay(by *ct.Party, lot, subject string, el map[string]float64, day float64) string {
	x.t.Helper()
	a := &pb.Assay{LotId: lot, SubjectLink: subject, SampleId: "S-" + lot}
	for _, k := range slices.Sorted(maps.Keys(el)) {
		a.Elements = append(a.Elements, &pb.ElementConcentration{Element: k, Pct: el[k]})
	}
	return x.submit(x.c.Sign(by, &pb.Statement{EventTime: x.day(day), Body: &pb.Statement_Assay{Assay: a}}))
}

func (x *h) trust() verifier.Trust {
	return verifier.Trust{Log: x.c.LogVerifier, Registrar: x.c.RegistrarPublic()}
}

func (x *h) bundle(lot string) *pb.Bundle {
	x.t.Helper()
	b, err := verifier.BuildBundle(context.Background(), x.s, lot, verifier.DefaultConfig())
	if err != nil {
		x.t.Fatalf("BuildBundle(%q): %v", lot, err)
	}
	return b
}

func (x *h) verify(lot string) *pb.VerificationReport {
	x.t.Helper()
	return verifier.Verify(x.bundle(lot), x.trust(), verifier.DefaultConfig())
}

// ids of the clean chain's records.
type chain struct {
	ext, d1, r1, d2, r2, smelt, d3, r3 string
}

// cleanChain takes lot L1 from the mine to the exporter, to the smelter,
// smelts it to trioxide T1 and ships T1 to the US buyer.
// L1: 10,000 kg wet, 3 % moisture, 9 % Sb: 873.0 kg Sb.
func (x *h) cleanChain() chain {
	x.t.Helper()
	var c chain
	c.ext = x.extract(x.mine, "L1", 10000, 3, 9, mineSite, 1)
	c.d1 = x.dispatch(x.mine, "L1", c.ext, x.exp, 10000, 2, func(d *pb.Dispatch) {
		d.Route = []*pb.Waypoint{{Location: &pb.Location{Lat: 27.7, Lon: 68.0}, Time: x.day(2.5)}}
	})
	c.r1 = x.receive(x.exp, "L1", c.d1, 9990, 3)
	c.d2 = x.dispatch(x.exp, "L1", c.r1, x.smelter, 9990, 4)
	c.r2 = x.receive(x.smelter, "L1", c.d2, 9985, 5)
	// 9985 x 0.97 x 9 % = 871.7 kg Sb in; 990 kg Sb2O3 at 83 % = 821.7 kg
	// Sb out: 94.3 % recovery.
	c.smelt = x.transform(x.smelter, pb.TransformationKind_TRANSFORMATION_KIND_SMELT,
		[]*pb.TransformationInput{{LotId: "L1", Link: c.r2, MassKg: 9985}},
		[]*pb.TransformationOutput{{LotId: "T1", MassKg: 990, Product: pb.Product_PRODUCT_TRIOXIDE, SbGradePct: 83}}, 8)
	c.d3 = x.dispatch(x.smelter, "T1", c.smelt, x.buyer, 990, 10)
	c.r3 = x.receive(x.buyer, "T1", c.d3, 989, 40)
	return c
}

// flagged returns the flags of rule in rep.
func flagged(rep *pb.VerificationReport, rule string) []*pb.Flag {
	var out []*pb.Flag
	for _, f := range rep.GetFlags() {
		if f.GetRule() == rule {
			out = append(out, f)
		}
	}
	return out
}

// wantFlag fails unless rep has a flag of rule whose evidence includes id.
func wantFlag(t *testing.T, rep *pb.VerificationReport, rule, id string) *pb.Flag {
	t.Helper()
	if rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
		t.Errorf("verdict %v, want FLAGGED\n%s", rep.GetVerdict(), rep.GetText())
	}
	for _, f := range flagged(rep, rule) {
		if slices.Contains(f.GetEvidence(), id) {
			return f
		}
	}
	t.Fatalf("no %s flag with evidence %s\n%s", rule, id, rep.GetText())
	return nil
}

// noFlag fails if rep has a flag of rule.
func noFlag(t *testing.T, rep *pb.VerificationReport, rule string) {
	t.Helper()
	if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
		t.Fatalf("verdict INVALID\n%s", rep.GetText())
	}
	if fs := flagged(rep, rule); len(fs) > 0 {
		t.Fatalf("unexpected %s flag\n%s", rule, rep.GetText())
	}
}

func wantInvalid(t *testing.T, rep *pb.VerificationReport, substr string) {
	t.Helper()
	if rep.GetVerdict() != pb.Verdict_VERDICT_INVALID {
		t.Fatalf("verdict %v, want INVALID\n%s", rep.GetVerdict(), rep.GetText())
	}
	if !slices.ContainsFunc(rep.GetErrors(), func(e string) bool { return strings.Contains(e, substr) }) {
		t.Fatalf("errors %q do not mention %q", rep.GetErrors(), substr)
	}
}

// rawLog is a log without custody's append-time rules, for bundles the
// store would refuse to produce: forks, unregistered signers, bad roles.
type rawLog struct {
	t   testing.TB
	c   *ct.Chain
	l   *ledger.Log
	out []ledger.Entry
}

func newRawLog(t testing.TB, c *ct.Chain) *rawLog {
	l, err := ledger.Open(t.Context(), "", ledger.Options{Origin: ct.Origin, Signer: c.LogSigner, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &rawLog{t: t, c: c, l: l}
}

func (r *rawLog) add(env *pb.Envelope) string {
	r.t.Helper()
	data, err := record.EncodeEnvelope(env)
	if err != nil {
		r.t.Fatal(err)
	}
	e, _, err := r.l.Append(context.Background(), data)
	if err != nil {
		r.t.Fatal(err)
	}
	r.out = append(r.out, e)
	return custody.RecordID(e)
}

// bundle returns a bundle of every record appended, except skip.
func (r *rawLog) bundle(lot string, skip ...string) *pb.Bundle {
	r.t.Helper()
	size := r.l.Size()
	b := &pb.Bundle{LotId: lot, Checkpoint: string(r.l.Checkpoint())}
	for _, e := range r.out {
		if slices.Contains(skip, custody.RecordID(e)) {
			continue
		}
		p, err := r.l.InclusionProof(context.Background(), e.Index, size)
		if err != nil {
			r.t.Fatal(err)
		}
		br := &pb.BundleRecord{Index: e.Index, Data: e.Data}
		for _, x := range p {
			br.InclusionProof = append(br.InclusionProof, append([]byte(nil), x[:]...))
		}
		b.Records = append(b.Records, br)
	}
	return b
}
