// Package lottest is the test harness of the verifier and of the server's
// flag backend: a chain of parties with a real custody store, helpers that
// sign and submit custody records, bundles built as the server builds
// them, and assertions on reports. It is for tests only.
package lottest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/index"
	"github.com/antimony-ledger/provenance/internal/backend"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// Sites used by the fixtures. The mine is near Quetta, about 80 km from
// the border line, outside the 15 km corridor.
var (
	MineSite    = &pb.Location{Lat: 30.0, Lon: 67.2, Name: "mine"}
	Karachi     = &pb.Location{Lat: 24.85, Lon: 67.0, Name: "Karachi"}
	SmelterSite = &pb.Location{Lat: 24.9, Lon: 67.1, Name: "smelter"}
	Houston     = &pb.Location{Lat: 29.76, Lon: -95.37, Name: "Houston"}
	ChamanGate  = &pb.Location{Lat: 30.92, Lon: 66.45, Name: "Chaman"}
	// NearBorder is about 12 km from the border line and 31 km from
	// Chaman: inside the corridor, outside any crossing's radius.
	NearBorder = &pb.Location{Lat: 30.65, Lon: 66.5, Name: "Qila Abdullah district, near the border"}
	// QilaAbdullahRef is the Qila Abdullah reference site (refdata), 21 km
	// from the line and 29 km from Chaman.
	QilaAbdullahRef = &pb.Location{Lat: 30.7, Lon: 66.6, Name: "Qila Abdullah"}
	AfghanSite      = &pb.Location{Lat: 31.3, Lon: 66.2, Name: "Afghan side"}
)

// An H is a test harness: a chain of parties, a real custody store, and
// helpers that sign and submit records.
type H struct {
	T                                   testing.TB
	C                                   *ct.Chain
	S                                   *custody.Store
	Mine, Exp, Smelter, Buyer, Lab, Mn2 *ct.Party
}

func New(t testing.TB, tweak ...func(*H)) *H {
	t.Helper()
	c := ct.New()
	x := &H{T: t, C: c}
	x.Mine = c.AddParty("mine-qa", "Quetta Antimony Mine", "PK", pb.Role_ROLE_MINE)
	x.Mine.Reg.Site = MineSite
	x.Mn2 = c.AddParty("mine-two", "Second Mine", "PK", pb.Role_ROLE_MINE)
	x.Mn2.Reg.Site = MineSite
	x.Exp = c.AddParty("exp-kar", "Karachi Exporter", "PK", pb.Role_ROLE_EXPORTER)
	x.Exp.Reg.Site = Karachi
	x.Smelter = c.AddParty("smelter", "Smelter", "PK", pb.Role_ROLE_SMELTER)
	x.Smelter.Reg.Site = SmelterSite
	x.Buyer = c.AddParty("buyer-us", "US Buyer", "US", pb.Role_ROLE_BUYER)
	x.Buyer.Reg.Site = Houston
	x.Lab = c.AddParty("lab", "Assay Lab", "PK", pb.Role_ROLE_LAB)
	for _, f := range tweak {
		f(x)
	}
	x.S = c.OpenStore(t)
	for _, p := range []*ct.Party{x.Mine, x.Mn2, x.Exp, x.Smelter, x.Buyer, x.Lab} {
		ct.Submit(t, x.S, c.Register(p))
	}
	return x
}

func (x *H) Day(d float64) *timestamppb.Timestamp {
	return x.C.At(time.Duration(d * float64(ct.Day)))
}

func (x *H) Submit(env *pb.Envelope) string {
	x.T.Helper()
	return ct.Submit(x.T, x.S, env)[0]
}

func (x *H) Extract(m *ct.Party, lot string, kg, moist, grade float64, site *pb.Location, day float64) string {
	x.T.Helper()
	return x.Submit(x.C.Sign(m, &pb.Statement{EventTime: x.Day(day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: lot, MassKg: kg, MoisturePct: moist, SbGradePct: grade, Site: site, Product: pb.Product_PRODUCT_ORE,
	}}}))
}

func (x *H) Dispatch(from *ct.Party, lot, link string, to *ct.Party, kg, day float64, mod ...func(*pb.Dispatch)) string {
	x.T.Helper()
	d := &pb.Dispatch{LotId: lot, CustodyLink: link, ToPartyId: to.ID, MassKg: kg, Seals: []string{"S1"}, Transport: "truck"}
	for _, f := range mod {
		f(d)
	}
	return x.Submit(x.C.Sign(from, &pb.Statement{EventTime: x.Day(day), Body: &pb.Statement_Dispatch{Dispatch: d}}))
}

func (x *H) Receive(by *ct.Party, lot, dlink string, kg, day float64, mod ...func(*pb.Receipt)) string {
	x.T.Helper()
	r := &pb.Receipt{LotId: lot, DispatchLink: dlink, MassKg: kg, SealsIntact: true, Location: by.Reg.Site}
	for _, f := range mod {
		f(r)
	}
	return x.Submit(x.C.Sign(by, &pb.Statement{EventTime: x.Day(day), Body: &pb.Statement_Receipt{Receipt: r}}))
}

func (x *H) Transform(by *ct.Party, kind pb.TransformationKind, ins []*pb.TransformationInput, outs []*pb.TransformationOutput, day float64) string {
	x.T.Helper()
	return x.Submit(x.C.Sign(by, &pb.Statement{EventTime: x.Day(day), Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
		Kind: kind, Inputs: ins, Outputs: outs, Site: by.Reg.Site,
	}}}))
}

func (x *H) Assay(by *ct.Party, lot, subject string, el map[string]float64, day float64) string {
	x.T.Helper()
	a := &pb.Assay{LotId: lot, SubjectLink: subject, SampleId: "S-" + lot}
	for _, k := range slices.Sorted(maps.Keys(el)) {
		a.Elements = append(a.Elements, &pb.ElementConcentration{Element: k, Pct: el[k]})
	}
	return x.Submit(x.C.Sign(by, &pb.Statement{EventTime: x.Day(day), Body: &pb.Statement_Assay{Assay: a}}))
}

// NameLabs signs by's lab nomination of lot, linking to its custody
// record link: the labs that may then assay the lot.
func (x *H) NameLabs(by *ct.Party, lot, link string, day float64, labs ...*ct.Party) string {
	x.T.Helper()
	return x.Submit(x.C.Sign(by, NameLabs(lot, link, x.Day(day), labs...)))
}

// NameLabs is the statement of a lab nomination of lot, linking to its
// custody record link, at event time at.
func NameLabs(lot, link string, at *timestamppb.Timestamp, labs ...*ct.Party) *pb.Statement {
	n := &pb.LabNomination{LotId: lot, CustodyLink: link}
	for _, l := range labs {
		n.LabPartyIds = append(n.LabPartyIds, l.ID)
	}
	return &pb.Statement{EventTime: at, Body: &pb.Statement_LabNomination{LabNomination: n}}
}

func (x *H) Trust() verifier.Trust {
	return verifier.Trust{Log: x.C.LogVerifier, Registrar: x.C.RegistrarPublic()}
}

func (x *H) Bundle(lot string) *pb.Bundle {
	x.T.Helper()
	b, err := backend.BuildBundle(context.Background(), x.S, lot, verifier.DefaultConfig())
	if err != nil {
		x.T.Fatalf("BuildBundle(%q): %v", lot, err)
	}
	return b
}

func (x *H) Verify(lot string) *pb.VerificationReport {
	x.T.Helper()
	return verifier.Verify(x.Bundle(lot), x.Trust(), verifier.DefaultConfig())
}

// A Chain holds the ids of the clean chain's records.
type Chain struct {
	Ext, D1, R1, D2, R2, Smelt, D3, R3 string
}

// cleanChain takes lot L1 from the mine to the exporter, to the smelter,
// smelts it to trioxide T1 and ships T1 to the US buyer.
// L1: 10,000 kg wet, 3 % moisture, 9 % Sb: 873.0 kg Sb.
func (x *H) CleanChain() Chain {
	x.T.Helper()
	var c Chain
	c.Ext = x.Extract(x.Mine, "L1", 10000, 3, 9, MineSite, 1)
	c.D1 = x.Dispatch(x.Mine, "L1", c.Ext, x.Exp, 10000, 2, func(d *pb.Dispatch) {
		d.Route = []*pb.Waypoint{{Location: &pb.Location{Lat: 27.7, Lon: 68.0}, Time: x.Day(2.5)}}
	})
	c.R1 = x.Receive(x.Exp, "L1", c.D1, 9990, 3)
	c.D2 = x.Dispatch(x.Exp, "L1", c.R1, x.Smelter, 9990, 4)
	c.R2 = x.Receive(x.Smelter, "L1", c.D2, 9985, 5)
	// 9985 x 0.97 x 9 % = 871.7 kg Sb in; 990 kg Sb2O3 at 83 % = 821.7 kg
	// Sb out: 94.3 % recovery.
	c.Smelt = x.Transform(x.Smelter, pb.TransformationKind_TRANSFORMATION_KIND_SMELT,
		[]*pb.TransformationInput{{LotId: "L1", Link: c.R2, MassKg: 9985}},
		[]*pb.TransformationOutput{{LotId: "T1", MassKg: 990, Product: pb.Product_PRODUCT_TRIOXIDE, SbGradePct: 83}}, 8)
	c.D3 = x.Dispatch(x.Smelter, "T1", c.Smelt, x.Buyer, 990, 10)
	c.R3 = x.Receive(x.Buyer, "T1", c.D3, 989, 40)
	return c
}

// Flagged returns the flags of rule in rep.
func Flagged(rep *pb.VerificationReport, rule string) []*pb.Flag {
	var out []*pb.Flag
	for _, f := range rep.GetFlags() {
		if f.GetRule() == rule {
			out = append(out, f)
		}
	}
	return out
}

// WantFlag fails unless rep has a flag of rule whose evidence includes id.
func WantFlag(t testing.TB, rep *pb.VerificationReport, rule, id string) *pb.Flag {
	t.Helper()
	if rep.GetVerdict() != pb.Verdict_VERDICT_FLAGGED {
		t.Errorf("verdict %v, want FLAGGED\n%s", rep.GetVerdict(), rep.GetText())
	}
	for _, f := range Flagged(rep, rule) {
		if slices.Contains(f.GetEvidence(), id) {
			return f
		}
	}
	t.Fatalf("no %s flag with evidence %s\n%s", rule, id, rep.GetText())
	return nil
}

// NoFlag fails if rep has a flag of rule.
func NoFlag(t testing.TB, rep *pb.VerificationReport, rule string) {
	t.Helper()
	if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
		t.Fatalf("verdict INVALID\n%s", rep.GetText())
	}
	if fs := Flagged(rep, rule); len(fs) > 0 {
		t.Fatalf("unexpected %s flag\n%s", rule, rep.GetText())
	}
}

func WantInvalid(t testing.TB, rep *pb.VerificationReport, substr string) {
	t.Helper()
	if rep.GetVerdict() != pb.Verdict_VERDICT_INVALID {
		t.Fatalf("verdict %v, want INVALID\n%s", rep.GetVerdict(), rep.GetText())
	}
	if !slices.ContainsFunc(rep.GetErrors(), func(e string) bool { return strings.Contains(e, substr) }) {
		t.Fatalf("errors %q do not mention %q", rep.GetErrors(), substr)
	}
}

// A RawLog is a log without custody's append-time rules, for bundles the
// store would refuse to produce: forks, unregistered signers, bad roles.
// It keeps the log's index as the store does (custody.IndexStore), so its
// bundles can show they are complete.
type RawLog struct {
	t         testing.TB
	c         *ct.Chain
	l         *ledger.Log
	out       []ledger.Entry
	keys      [][]byte          // map keys of the records appended
	countries map[string]string // party -> country, from registrations
}

func NewRawLog(t testing.TB, c *ct.Chain) *RawLog {
	r := &RawLog{t: t, c: c, countries: map[string]string{}}
	l, err := ledger.Open(t.Context(), "", ledger.Options{Origin: ct.Origin, Signer: c.LogSigner, InMemory: true, Now: c.Clock.Now, Apply: r.apply})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r.l = l
	return r
}

// apply indexes every record, whatever the rules would say of it.
func (r *RawLog) apply(tx *ledger.StateTx, e ledger.Entry, _ any) error {
	_, st, err := record.Decode(e.Data)
	if err != nil {
		return nil // indexed by nothing
	}
	if reg := st.GetPartyRegistration(); reg != nil {
		r.countries[reg.GetPartyId()] = reg.GetCountry()
	}
	extra, err := index.Add(custody.IndexStore(tx), e.Index, e.ID, st, r.countries[st.GetPartyId()])
	if err != nil {
		return err
	}
	if extra != nil {
		tx.SetExtra(extra)
	}
	for _, lot := range index.Lots(st) {
		r.keys = append(r.keys, index.LotKey(lot))
	}
	if p, ok := index.Party(st); ok {
		r.keys = append(r.keys, index.PartyKey(p))
	}
	return nil
}

func (r *RawLog) Add(env *pb.Envelope) string {
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
	return e.ID.String()
}

// bundle returns a bundle of every record appended, except skip.
func (r *RawLog) Bundle(lot string, skip ...string) *pb.Bundle {
	r.t.Helper()
	snap, err := r.l.Snapshot()
	if err != nil {
		r.t.Fatal(err)
	}
	size := snap.Checkpoint.Size
	b := &pb.Bundle{LotId: lot, Checkpoint: string(snap.Signed)}
	for _, e := range r.out {
		skipped := slices.Contains(skip, e.ID.String())
		if skipped && e.Index != size-1 {
			continue
		}
		p, err := r.l.InclusionProof(context.Background(), e.Index, size)
		if err != nil {
			r.t.Fatal(err)
		}
		b.Records = append(b.Records, backend.BundleRecord(e, !skipped, p))
	}
	// Every bundle proves the registrar's chain, empty or not.
	for _, k := range append(r.keys, index.PartyKey(record.RegistrarPartyID)) {
		b.MapProofs = append(b.MapProofs, backend.MapProof(snap.Map, k))
	}
	return b
}

// Correction is the envelope of by's correction c, signed by by and then
// co-signed by each of cosigners, with a reason if c has none.
func (x *H) Correction(by *ct.Party, c *pb.Correction, day float64, cosigners ...*ct.Party) *pb.Envelope {
	if c.Reason == "" {
		c.Reason = "weighbridge ticket misread"
	}
	env := x.C.Sign(by, &pb.Statement{EventTime: x.Day(day), Body: &pb.Statement_Correction{Correction: c}})
	for _, p := range cosigners {
		env = record.Cosign(env, p.Key)
	}
	return env
}

// Correct submits by's correction c, co-signed by cosigners.
func (x *H) Correct(by *ct.Party, c *pb.Correction, day float64, cosigners ...*ct.Party) string {
	x.T.Helper()
	return x.Submit(x.Correction(by, c, day, cosigners...))
}

// Kg returns a pointer to kg, for a correction's mass.
func Kg(kg float64) *float64 { return &kg }
