package custody_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// Labs named by the holder (issue 15): a party that does not hold a lot
// may assay it only if it is a LAB that the holder named for its custody.

func (f *fixture) assay(by *ct.Party, lot, subject string, n int) *pb.Envelope {
	return f.c.Sign(by, &pb.Statement{EventTime: f.c.At(4 * ct.Day), Body: &pb.Statement_Assay{Assay: &pb.Assay{
		LotId: lot, SubjectLink: subject, SampleId: fmt.Sprintf("S-%d", n),
		Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: 9}},
	}}})
}

func (f *fixture) nominate(by *ct.Party, lot, link string, labs ...string) *pb.Envelope {
	return f.c.Sign(by, &pb.Statement{EventTime: f.c.At(4 * ct.Day), Body: &pb.Statement_LabNomination{LabNomination: &pb.LabNomination{
		LotId: lot, CustodyLink: link, LabPartyIds: labs,
	}}})
}

// refused submits env and fails unless it is refused with want and the log
// is unchanged.
func (f *fixture) refused(t *testing.T, what string, env *pb.Envelope, want error, phrase string) {
	t.Helper()
	size := f.s.Log().Size()
	before, _ := f.s.LotState("L1")
	_, err := f.s.Submit(t.Context(), env)
	if !errors.Is(err, want) || !strings.Contains(err.Error(), phrase) {
		t.Fatalf("%s: err = %v, want %v saying %q", what, err, want, phrase)
	}
	if got := f.s.Log().Size(); got != size {
		t.Fatalf("%s: refused, but the log grew from %d to %d", what, size, got)
	}
	if after, _ := f.s.LotState("L1"); !slices.Equal(after.GetNamedLabs(), before.GetNamedLabs()) || after.GetHead() != before.GetHead() {
		t.Fatalf("%s: refused, but the lot changed from %v to %v", what, before, after)
	}
}

func TestStrangerLabRefused(t *testing.T) {
	f := newFixture(t) // L1 is held by the exporter
	f.refused(t, "a lab the holder never named", f.assay(f.lab, "L1", f.receipt, 1), record.ErrNotAllowed, `its holder has not named it`)
	// Not even with the lot's first record as its subject.
	f.refused(t, "a lab assaying the extraction", f.assay(f.lab, "L1", f.extraction, 2), record.ErrNotAllowed, "has not named it")
	// A party that is no LAB is refused by its role, named or not.
	f.refused(t, "a buyer", f.assay(f.buyer, "L1", f.receipt, 3), record.ErrNotAllowed, "needs one of roles [ROLE_LAB]")
	// The holder assays its own lot without naming anyone.
	ct.Submit(t, f.s, f.assay(f.exporter, "L1", f.receipt, 4))
}

func TestNamedLabAdmitted(t *testing.T) {
	f := newFixture(t)
	n := ct.Submit(t, f.s, f.nominate(f.exporter, "L1", f.receipt, f.lab.ID))[0]
	lot, hist, err := f.s.Lot(t.Context(), "L1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lot.GetNamedLabs(), []string{f.lab.ID}) || lot.GetHead() != f.receipt {
		t.Fatalf("lot after the nomination: %v", lot)
	}
	if !slices.ContainsFunc(hist, func(e ledger.Entry) bool { return e.ID.String() == n }) {
		t.Fatalf("the nomination %s is not in the lot's history", n)
	}
	ct.Submit(t, f.s, f.assay(f.lab, "L1", f.receipt, 1), f.assay(f.lab, "L1", f.extraction, 2))
	// A later nomination replaces it: an empty one withdraws the lab.
	ct.Submit(t, f.s, f.nominate(f.exporter, "L1", f.receipt))
	f.refused(t, "a lab withdrawn", f.assay(f.lab, "L1", f.receipt, 3), record.ErrNotAllowed, "has not named it")
}

func TestNominationEndsWithCustody(t *testing.T) {
	f := newFixture(t)
	ct.Submit(t, f.s, f.nominate(f.exporter, "L1", f.receipt, f.lab.ID))
	d := ct.Submit(t, f.s, f.c.Sign(f.exporter, &pb.Statement{EventTime: f.c.At(5 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L1", CustodyLink: f.receipt, ToPartyId: f.smelter.ID, MassKg: 9990,
	}}}))[0]
	// In transit the exporter still holds the lot: its lab may assay it.
	ct.Submit(t, f.s, f.assay(f.lab, "L1", d, 1))
	r := ct.Submit(t, f.s, f.c.Sign(f.smelter, &pb.Statement{EventTime: f.c.At(6 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
		LotId: "L1", DispatchLink: d, MassKg: 9990, SealsIntact: true, Location: &pb.Location{Lat: 24.9, Lon: 67.1},
	}}}))[0]
	if lot, _ := f.s.LotState("L1"); len(lot.GetNamedLabs()) != 0 {
		t.Fatalf("the exporter's labs outlived its custody: %v", lot)
	}
	f.refused(t, "the exporter's lab after the smelter took custody", f.assay(f.lab, "L1", r, 2), record.ErrNotAllowed, `its holder has not named it`)
	// The exporter can no longer name labs for the lot; the smelter can.
	f.refused(t, "a nomination by the former holder", f.nominate(f.exporter, "L1", r, f.lab.ID), record.ErrNotAllowed, "only the holder names")
	ct.Submit(t, f.s, f.nominate(f.smelter, "L1", r, f.lab.ID))
	ct.Submit(t, f.s, f.assay(f.lab, "L1", r, 3))
}

func TestNominationRules(t *testing.T) {
	f := newFixture(t) // L1 is held by the exporter, whose custody record is the receipt
	for _, tc := range []struct {
		what   string
		env    *pb.Envelope
		want   error
		phrase string
	}{
		{"by a party that does not hold the lot", f.nominate(f.mine, "L1", f.receipt, f.lab.ID), record.ErrNotAllowed, "only the holder names"},
		{"by the lab itself", f.nominate(f.lab, "L1", f.receipt, f.lab.ID), record.ErrMalformed, "is the signer"},
		{"of a party that is not a LAB", f.nominate(f.exporter, "L1", f.receipt, f.buyer.ID), record.ErrNotAllowed, "is not a LAB"},
		{"of a party not registered", f.nominate(f.exporter, "L1", f.receipt, "ghost-lab"), record.ErrNotFound, `party "ghost-lab" is not registered`},
		{"naming a lab twice", f.nominate(f.exporter, "L1", f.receipt, f.lab.ID, f.lab.ID), record.ErrMalformed, "named twice"},
		{"naming the signer", f.nominate(f.exporter, "L1", f.receipt, f.exporter.ID), record.ErrMalformed, "is the signer"},
		{"linking to a stale custody record", f.nominate(f.exporter, "L1", f.extraction, f.lab.ID), record.ErrConflict, "is not the lot's current custody record"},
		{"of a lot that does not exist", f.nominate(f.exporter, "L9", f.receipt, f.lab.ID), record.ErrNotFound, `lot "L9" does not exist`},
		{"naming too many", f.nominate(f.exporter, "L1", f.receipt, manyLabs(record.MaxNamedLabs+1)...), record.ErrMalformed, "limit 16"},
	} {
		f.refused(t, "a nomination "+tc.what, tc.env, tc.want, tc.phrase)
	}
}

func manyLabs(n int) []string {
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("lab-%d", i))
	}
	return ids
}

// TestUnnamedAssaysFromBefore: a store whose log took assays by labs no
// holder named (before the rule) still opens, reads and audits; from then
// on such assays are refused. (A buyer's verifier flags the old one,
// UNNAMED_LAB: verifier's TestUnnamedLab.)
func TestUnnamedAssaysFromBefore(t *testing.T) {
	c := ct.New()
	dir := t.TempDir()
	open := func() *custody.Store {
		s, err := custody.Open(t.Context(), dir, custody.Config{Origin: ct.Origin, LogSigner: c.LogSigner, Registrar: c.RegistrarPublic(), Now: c.Clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	f := &fixture{c: c}
	f.mine = c.AddParty("mine-qa", "Mine", "PK", pb.Role_ROLE_MINE)
	f.lab = c.AddParty("lab", "Assay Lab", "PK", pb.Role_ROLE_LAB)
	restore := custody.WithoutNamedLabs()
	s := open()
	ids := ct.Submit(t, s, c.Register(f.mine), c.Register(f.lab), c.Sign(f.mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L1", MassKg: 1000, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}}))
	old := ct.Submit(t, s, f.assay(f.lab, "L1", ids[2], 1))[0]
	s.Close()
	restore()

	s = open()
	defer s.Close()
	if _, hist, err := s.Lot(t.Context(), "L1"); err != nil || len(hist) != 2 {
		t.Fatalf("reading the lot: %d records, %v", len(hist), err)
	}
	if _, err := s.Audit(t.Context(), s.Log().Checkpoint(), c.LogVerifier, nil); err != nil {
		t.Fatalf("audit: %v", err)
	}
	if _, err := s.Submit(t.Context(), f.assay(f.lab, "L1", ids[2], 2)); !errors.Is(err, record.ErrNotAllowed) {
		t.Fatalf("a new assay by the unnamed lab: %v", err)
	}
	if _, hist, _ := s.Lot(t.Context(), "L1"); hist[1].ID.String() != old {
		t.Fatalf("the lot's history lost the old assay %s", old)
	}
}

// TestNominationAndPartialUse: a transformation that uses part of a lot
// leaves its holder, and the labs it named, in place (a new nomination
// links to the transformation, the lot's head now); the lots it makes
// start with no lab named.
func TestNominationAndPartialUse(t *testing.T) {
	f := newFixture(t)
	ct.Submit(t, f.s, f.nominate(f.exporter, "L1", f.receipt, f.lab.ID))
	split := ct.Submit(t, f.s, f.c.Sign(f.exporter, &pb.Statement{EventTime: f.c.At(4 * ct.Day), Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
		Kind:    pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		Inputs:  []*pb.TransformationInput{{LotId: "L1", Link: f.receipt, MassKg: 5000}},
		Outputs: []*pb.TransformationOutput{{LotId: "L1a", MassKg: 5000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}},
	}}}))[0]
	ct.Submit(t, f.s, f.assay(f.lab, "L1", split, 1))
	f.refused(t, "a nomination linking to the custody record before the split", f.nominate(f.exporter, "L1", f.receipt), record.ErrConflict, "not the lot's current custody record")
	if _, err := f.s.Submit(t.Context(), f.assay(f.lab, "L1a", split, 2)); !errors.Is(err, record.ErrNotAllowed) {
		t.Fatalf("the lab on the split's output, not named for it: %v", err)
	}
	ct.Submit(t, f.s, f.nominate(f.exporter, "L1", split))
	f.refused(t, "the lab withdrawn after the split", f.assay(f.lab, "L1", split, 3), record.ErrNotAllowed, "has not named it")
}
