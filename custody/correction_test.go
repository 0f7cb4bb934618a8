package custody_test

import (
	"slices"
	"testing"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// Corrections: a party corrects its own extraction, dispatch or receipt,
// co-signed by the other side of a handoff, once per record.

func (f *fixture) correction(by *ct.Party, c *pb.Correction, cosigners ...*ct.Party) *pb.Envelope {
	if c.Reason == "" {
		c.Reason = "weighbridge ticket misread"
	}
	env := f.c.Sign(by, &pb.Statement{EventTime: f.c.At(4 * ct.Day), Body: &pb.Statement_Correction{Correction: c}})
	for _, p := range cosigners {
		env = record.Cosign(env, p.Key)
	}
	return env
}

func TestCorrectionRefused(t *testing.T) {
	f := newFixture(t) // L1: extraction by the mine, dispatch to the exporter, receipt of 9,990 kg
	mass := func(kg float64) *float64 { return &kg }
	intact := false
	// The lot's other records, which a correction must not name.
	assay := ct.Submit(t, f.s, f.assay(f.exporter, "L1", f.receipt, 1))[0]
	for _, tc := range []struct {
		name   string
		env    *pb.Envelope
		want   error
		phrase string
	}{
		{"by someone else than the signer", f.correction(f.exporter, &pb.Correction{LotId: "L1", Corrects: f.dispatch, CounterpartyId: f.mine.ID, MassKg: mass(9000)}, f.mine),
			record.ErrNotAllowed, `signed by "mine-qa"; only its signer corrects it`},
		{"a receipt's without the sender", f.correction(f.exporter, &pb.Correction{LotId: "L1", Corrects: f.receipt, MassKg: mass(9000)}),
			record.ErrMalformed, `not the other side of the handoff, "mine-qa"`},
		{"a receipt's naming the sender, not co-signed", f.correction(f.exporter, &pb.Correction{LotId: "L1", Corrects: f.receipt, CounterpartyId: f.mine.ID, MassKg: mass(9000)}),
			record.ErrNotAllowed, `co-signed by the counterparty "mine-qa"`},
		{"a receipt's co-signed by a stranger", f.correction(f.exporter, &pb.Correction{LotId: "L1", Corrects: f.receipt, CounterpartyId: f.buyer.ID, MassKg: mass(9000)}, f.buyer),
			record.ErrMalformed, `"buyer-us" is not the other side of the handoff`},
		{"a dispatch's without the addressee", f.correction(f.mine, &pb.Correction{LotId: "L1", Corrects: f.dispatch, MassKg: mass(9000)}),
			record.ErrMalformed, `not the other side of the handoff, "exp-kar"`},
		{"an extraction's naming a counterparty", f.correction(f.mine, &pb.Correction{LotId: "L1", Corrects: f.extraction, CounterpartyId: f.exporter.ID, MassKg: mass(9000)}, f.exporter),
			record.ErrMalformed, "an extraction has no counterparty"},
		{"an extraction's mass raised", f.correction(f.mine, &pb.Correction{LotId: "L1", Corrects: f.extraction, MassKg: mass(1e6)}),
			record.ErrNotAllowed, "corrected only downwards"},
		{"an assay", f.correction(f.exporter, &pb.Correction{LotId: "L1", Corrects: assay, MassKg: mass(9000)}),
			record.ErrNotAllowed, "not an extraction, dispatch or receipt"},
		{"of another lot", f.correction(f.mine, &pb.Correction{LotId: "L2", Corrects: f.extraction, MassKg: mass(9000)}),
			record.ErrMalformed, `record ` + f.extraction + ` is of lot "L1"`},
		{"a dispatch's seals", f.correction(f.mine, &pb.Correction{LotId: "L1", Corrects: f.dispatch, CounterpartyId: f.exporter.ID, SealsIntact: &intact}, f.exporter),
			record.ErrMalformed, "only a receipt's seal state"},
		{"of no record", f.correction(f.mine, &pb.Correction{LotId: "L1", Corrects: ct.ID(f.assay(f.mine, "L1", f.receipt, 9)), MassKg: mass(9000)}),
			record.ErrNotFound, "no record"},
	} {
		t.Run(tc.name, func(t *testing.T) { f.refused(t, tc.name, tc.env, tc.want, tc.phrase) })
	}
}

func TestCorrectionAdmitted(t *testing.T) {
	f := newFixture(t)
	mass := 9890.0
	c := f.correction(f.exporter, &pb.Correction{LotId: "L1", Corrects: f.receipt, CounterpartyId: f.mine.ID, MassKg: &mass}, f.mine)
	id := ct.Submit(t, f.s, c)[0]
	lot, hist, err := f.s.Lot(t.Context(), "L1")
	if err != nil {
		t.Fatal(err)
	}
	if lot.GetMassKg() != mass || lot.GetHead() != f.receipt || lot.GetHolderPartyId() != f.exporter.ID {
		t.Fatalf("lot after the correction of its head receipt: %v", lot)
	}
	if !slices.ContainsFunc(hist, func(e ledger.Entry) bool { return e.ID.String() == id }) {
		t.Fatalf("the correction %s is not in the lot's history", id)
	}
	// Once per record: a second correction is refused, and so is a
	// correction of the correction.
	mass2 := 9000.0
	f.refused(t, "a second correction", f.correction(f.exporter, &pb.Correction{LotId: "L1", Corrects: f.receipt, CounterpartyId: f.mine.ID, MassKg: &mass2, Reason: "again"}, f.mine),
		record.ErrAlreadyExists, "was already corrected by "+id)
	f.refused(t, "a correction of the correction", f.correction(f.exporter, &pb.Correction{LotId: "L1", Corrects: id, MassKg: &mass2}),
		record.ErrNotAllowed, "is a correction, which is not corrected in turn")
	// The dispatch's own correction, by its signer with the addressee,
	// after the lot moved on: taken, and the lot's mass stays the
	// receipt's.
	dm := 9995.0
	ct.Submit(t, f.s, f.correction(f.mine, &pb.Correction{LotId: "L1", Corrects: f.dispatch, CounterpartyId: f.exporter.ID, MassKg: &dm}, f.exporter))
	if lot, _ := f.s.LotState("L1"); lot.GetMassKg() != mass {
		t.Fatalf("lot mass after a dispatch's correction = %v, want the receipt's %v", lot.GetMassKg(), mass)
	}
}

// An audit of a log with co-signed corrections finds it sound: it
// resolves the counterparty's key as the store did.
func TestCorrectionAudited(t *testing.T) {
	f := newFixture(t)
	mass := 9890.0
	ct.Submit(t, f.s, f.correction(f.exporter, &pb.Correction{LotId: "L1", Corrects: f.receipt, CounterpartyId: f.mine.ID, MassKg: &mass}, f.mine))
	rep, err := f.s.Audit(t.Context(), f.s.Log().Checkpoint(), f.c.LogVerifier, nil)
	if err != nil {
		t.Fatalf("audit of a log with a correction: %v", err)
	}
	if size := f.s.Log().Size(); rep.Entries != size || rep.Signatures != size+1 {
		t.Fatalf("audit report %+v, want %d entries and %d signatures (the correction has two)", rep, size, size+1)
	}
}
