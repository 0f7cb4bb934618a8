package verifier_test

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// TestPreviewCustodyBreakIsNew: Preview.Expected holds only the
// in-transit WARNING a pending dispatch leaves; a pending record that
// breaks custody (a second dispatch of a lot in transit, a dispatch by a
// party that does not hold the lot), a CRITICAL UNCONFIRMED_CUSTODY of the
// same rule, is New, so provctl asks before writing it.
func TestPreviewCustodyBreakIsNew(t *testing.T) {
	x, d, cfg := previewSetup(t) // L1 is in transit from the mine to the exporter
	bundles := []*pb.Bundle{x.Bundle("L1"), x.Bundle("L9")}
	for _, tt := range []struct {
		name string
		env  *pb.Envelope
	}{
		// The mine dispatches L1 a second time, while the first dispatch
		// has no receipt.
		{"second dispatch while in transit", x.C.Sign(x.Mine, &pb.Statement{EventTime: x.Day(3), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
			LotId: "L1", CustodyLink: d, ToPartyId: x.Exp.ID, MassKg: 3000, Seals: []string{"S1"}, Transport: "truck"}}})},
		// The addressee dispatches onward before it has signed a receipt:
		// it does not hold the lot.
		{"dispatch by the addressee before its receipt", x.C.Sign(x.Exp, &pb.Statement{EventTime: x.Day(3), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
			LotId: "L1", CustodyLink: d, ToPartyId: x.Mine.ID, MassKg: 3000, Seals: []string{"S1"}, Transport: "truck"}}})},
		// The mine dispatches L9, which the exporter holds (received):
		// "acts on lot held by": a custody break with no transit at all.
		{"dispatch by a non-holder", x.C.Sign(x.Mine, &pb.Statement{EventTime: x.Day(3), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
			LotId: "L9", CustodyLink: x.Verify("L9").GetHeadRecord(), ToPartyId: x.Exp.ID, MassKg: 1000, Seals: []string{"S1"}, Transport: "truck"}}})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := verifier.PreviewLots([]string{"L1", "L9"}, bundles, []*pb.Envelope{tt.env}, x.Trust(), cfg)
			if len(p.Errors) > 0 {
				t.Fatalf("errors: %v", p.Errors)
			}
			// The full verification of the lot with the record appended
			// would be CRITICAL: the preview must say so in New.
			var critical bool
			for _, f := range p.New {
				critical = critical || f.GetSeverity() == pb.Severity_SEVERITY_CRITICAL
			}
			if !critical {
				t.Errorf("no CRITICAL flag in New; New %v\nExpected (hidden from the user): %v", p.New, p.Expected)
			}
			for _, f := range p.Expected {
				if f.GetSeverity() == pb.Severity_SEVERITY_CRITICAL {
					t.Errorf("a CRITICAL custody break is filed as Expected: %s", f.GetMessage())
				}
			}
		})
	}
}

// TestPreviewBrokenSealsIsNew: a receipt with seals not intact raises a
// WARNING UNCONFIRMED_CUSTODY that is New (provctl notes it): a receipt
// leaves no lot in transit, so nothing of it is Expected.
func TestPreviewBrokenSealsIsNew(t *testing.T) {
	x, d, cfg := previewSetup(t)
	bundles := []*pb.Bundle{x.Bundle("L1"), x.Bundle("L9")}
	env := x.C.Sign(x.Exp, &pb.Statement{EventTime: x.Day(3), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
		LotId: "L1", DispatchLink: d, MassKg: 2995, SealsIntact: false, Location: lottest.Karachi}}})
	p := verifier.PreviewLots([]string{"L1"}, bundles, []*pb.Envelope{env}, x.Trust(), cfg)
	if len(p.Errors) > 0 {
		t.Fatalf("errors: %v", p.Errors)
	}
	for _, f := range p.Expected {
		t.Errorf("a receipt leaves no lot in transit, yet Expected holds: %s %s: %s", f.GetSeverity(), f.GetRule(), f.GetMessage())
	}
	if len(p.New) == 0 {
		t.Errorf("the broken-seals UNCONFIRMED_CUSTODY is not in New")
	}
}
