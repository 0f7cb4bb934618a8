package verifier_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// previewSetup dispatches 3,000 kg of L1 to the exporter, and gives the
// exporter a lot of its own (L9), whose bundle holds its registration.
func previewSetup(t *testing.T) (x *lottest.H, dispatch string, cfg verifier.Config) {
	x = lottest.New(t)
	ext := x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.MineSite, 1)
	dispatch = x.Dispatch(x.Mine, "L1", ext, x.Exp, 3000, 2)
	e9 := x.Extract(x.Mine, "L9", 1000, 3, 9, lottest.MineSite, 1)
	d9 := x.Dispatch(x.Mine, "L9", e9, x.Exp, 1000, 2)
	x.Receive(x.Exp, "L9", d9, 1000, 3)
	cfg = verifier.DefaultConfig()
	cfg.Now = func() time.Time { return x.Day(3).AsTime() } // the log's clock when the receipt is written
	return x, dispatch, cfg
}

func receipt(x *lottest.H, dispatch string, kg float64) *pb.Envelope {
	return x.C.Sign(x.Exp, &pb.Statement{EventTime: x.Day(3), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
		LotId: "L1", DispatchLink: dispatch, MassKg: kg, SealsIntact: true, Location: lottest.Karachi}}})
}

// TestPreviewTypingSlip: a receipt of 30,000 kg against a 3,000 kg
// dispatch would raise CRITICAL TRANSIT_GAIN; the receipt of 2,995 kg
// raises nothing new.
func TestPreviewTypingSlip(t *testing.T) {
	x, d, cfg := previewSetup(t)
	bundles := []*pb.Bundle{x.Bundle("L1"), x.Bundle("L9")}
	p := verifier.PreviewLots([]string{"L1"}, bundles, []*pb.Envelope{receipt(x, d, 30000)}, x.Trust(), cfg)
	if len(p.Errors) > 0 {
		t.Fatalf("errors: %v", p.Errors)
	}
	if len(p.New) == 0 || p.New[0].GetRule() != verifier.RuleTransitGain || p.New[0].GetSeverity() != pb.Severity_SEVERITY_CRITICAL {
		t.Fatalf("new flags %v, want CRITICAL TRANSIT_GAIN first", p.New)
	}
	if p.New[0].GetIndex() != uint64(checkpointSize(t, bundles[0])) {
		t.Errorf("the flag is at index %d, want the next index %d", p.New[0].GetIndex(), checkpointSize(t, bundles[0]))
	}
	// Before, the lot was in transit: UNCONFIRMED_CUSTODY, which is not new.
	if len(p.Before) != 2 || len(lottest.Flagged(p.Before[0], verifier.RuleUnconfirmedCustody)) != 1 {
		t.Fatalf("before: %v", p.Before)
	}
	p = verifier.PreviewLots([]string{"L1"}, bundles, []*pb.Envelope{receipt(x, d, 2995)}, x.Trust(), cfg)
	if len(p.Errors) > 0 || len(p.New) != 0 {
		t.Fatalf("an honest receipt: new %v, errors %v", p.New, p.Errors)
	}
	// Without a bundle that registers the exporter, its signature cannot
	// be checked: no preview, rather than one that skips the signature.
	p = verifier.PreviewLots([]string{"L1"}, bundles[:1], []*pb.Envelope{receipt(x, d, 2995)}, x.Trust(), cfg)
	if len(p.Errors) == 0 || !strings.Contains(strings.Join(p.Errors, " "), "pending record 1") {
		t.Fatalf("an unregistered signer: errors %v", p.Errors)
	}
}

// checkpointSize reads the tree size, the second line of a checkpoint.
func checkpointSize(t *testing.T, b *pb.Bundle) int {
	t.Helper()
	n, err := strconv.Atoi(strings.SplitN(b.GetCheckpoint(), "\n", 3)[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPreviewCannotPassABundle: the pending records are the only ones
// without proofs, and they cannot stand in for a bundle's own: a bundle
// that does not verify as it is gives no preview, whatever is pending; a
// pending record with a bad signature gives none either; and the bundles
// are left as they were.
func TestPreviewCannotPassABundle(t *testing.T) {
	x, d, cfg := previewSetup(t)
	good := receipt(x, d, 2995)
	b1, b9 := x.Bundle("L1"), x.Bundle("L9")
	keep := proto.Clone(b1)

	// L1's dispatch left out of its bundle and offered as pending instead.
	cut := proto.Clone(b1).(*pb.Bundle)
	var dispatched *pb.Envelope
	for i, br := range cut.GetRecords() {
		if env, st, err := record.Decode(br.GetData()); err == nil && st.GetDispatch() != nil {
			dispatched = env
			cut.Records = append(cut.Records[:i], cut.Records[i+1:]...)
			break
		}
	}
	if dispatched == nil {
		t.Fatal("no dispatch in L1's bundle")
	}
	for _, tt := range []struct {
		name    string
		bundles []*pb.Bundle
		pending []*pb.Envelope
		want    string
	}{
		{"record left out", []*pb.Bundle{cut, b9}, []*pb.Envelope{dispatched, good}, "does not verify as it is"},
		{"tampered record", []*pb.Bundle{tamper(b1), b9}, []*pb.Envelope{good}, "does not verify as it is"},
		{"bad pending signature", []*pb.Bundle{b1, b9}, []*pb.Envelope{badSig(good)}, "does not verify"},
		{"other checkpoint", []*pb.Bundle{b1, staleBundle(x)}, []*pb.Envelope{good}, "different checkpoints"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := verifier.PreviewLots([]string{"L1"}, tt.bundles, tt.pending, x.Trust(), cfg)
			if len(p.Errors) == 0 || !strings.Contains(strings.Join(p.Errors, " "), tt.want) {
				t.Fatalf("errors %v, want %q", p.Errors, tt.want)
			}
			if len(p.Flags) != 0 || len(p.New) != 0 {
				t.Fatalf("flags %v with errors", p.Flags)
			}
		})
	}
	if !proto.Equal(b1, keep) {
		t.Fatal("PreviewLots modified a bundle")
	}
	if rep := verifier.VerifyLot("L1", cut, x.Trust(), cfg); rep.GetVerdict() != pb.Verdict_VERDICT_INVALID {
		t.Fatalf("the cut bundle verifies: %v", rep.GetVerdict())
	}
}

// tamper returns b with one byte of its last record with data changed.
func tamper(b *pb.Bundle) *pb.Bundle {
	b = proto.Clone(b).(*pb.Bundle)
	for i := len(b.Records) - 1; i >= 0; i-- {
		if d := b.Records[i].GetData(); len(d) > 40 {
			d[40] ^= 1
			return b
		}
	}
	panic("no record with data")
}

func badSig(env *pb.Envelope) *pb.Envelope {
	env = proto.Clone(env).(*pb.Envelope)
	env.Signatures[0].Sig[0] ^= 1
	return env
}

// staleBundle returns a bundle of L9 at a later checkpoint than the
// bundles made before.
func staleBundle(x *lottest.H) *pb.Bundle {
	x.Extract(x.Mn2, "L10", 100, 3, 9, lottest.MineSite, 3)
	return x.Bundle("L9")
}

// TestPreviewDispatchInTransit: a pending dispatch leaves its lot in
// transit until the addressee signs the receipt; the UNCONFIRMED_CUSTODY
// that says so is expected of it, not a flag it raises.
func TestPreviewDispatchInTransit(t *testing.T) {
	x, _, cfg := previewSetup(t)
	bundles := []*pb.Bundle{x.Bundle("L9")}
	head := x.Verify("L9").GetHeadRecord()
	d := x.C.Sign(x.Exp, &pb.Statement{EventTime: x.Day(3), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L9", CustodyLink: head, ToPartyId: x.Mine.ID, MassKg: 1000, MoisturePct: 3}}})
	p := verifier.PreviewLots([]string{"L9"}, bundles, []*pb.Envelope{d}, x.Trust(), cfg)
	if len(p.Errors) > 0 {
		t.Fatalf("errors: %v", p.Errors)
	}
	if len(p.New) != 0 {
		t.Errorf("new flags %v, want none", p.New)
	}
	if len(p.Expected) != 1 || p.Expected[0].GetRule() != verifier.RuleUnconfirmedCustody || p.Expected[0].GetLotId() != "L9" ||
		p.Expected[0].GetIndex() != uint64(checkpointSize(t, bundles[0])) {
		t.Errorf("expected flags %v, want the dispatch's UNCONFIRMED_CUSTODY", p.Expected)
	}
	if len(p.Flags) != 1 {
		t.Errorf("flags %v, want the UNCONFIRMED_CUSTODY", p.Flags)
	}
}

// TestPreviewNewLot: an extraction starts a lot, with no bundle of its
// own; previewed against the bundle of the mine's latest extraction, it is
// counted with the mine's running tally: 500 t is within the mine's
// 500 t a year (+5 %) by itself, not after the 30 t before it. Without
// that extraction's leaf the tally starts from nothing.
func TestPreviewNewLot(t *testing.T) {
	x := lottest.New(t)
	x.Extract(x.Mine, "L1", 30000, 3, 9, lottest.MineSite, 1)
	cfg := verifier.DefaultConfig()
	cfg.NationalOutputKgSbPerYear = 0 // the mine's capacity alone
	cfg.Now = func() time.Time { return x.Day(2).AsTime() }
	ext := func(lot string, kg float64) *pb.Envelope {
		return x.C.Sign(x.Mine, &pb.Statement{EventTime: x.Day(2), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: lot, MassKg: kg, MoisturePct: 3, SbGradePct: 9, Site: lottest.MineSite, Product: pb.Product_PRODUCT_ORE}}})
	}
	base := x.Bundle("L1")
	p := verifier.PreviewNewLot("L2", base, []*pb.Envelope{ext("L2", 500000)}, x.Trust(), cfg)
	if len(p.Errors) > 0 {
		t.Fatalf("errors: %v", p.Errors)
	}
	if len(p.New) != 1 || p.New[0].GetRule() != verifier.RuleMineOverCapacity || p.New[0].GetLotId() != "L2" ||
		!strings.Contains(p.New[0].GetMessage(), "530000 kg ore") || !strings.Contains(p.New[0].GetMessage(), "2 extractions") {
		t.Fatalf("new flags %v, want MINE_OVER_CAPACITY for 530 t in 2 extractions", p.New)
	}
	if p := verifier.PreviewNewLot("L2", base, []*pb.Envelope{ext("L2", 400000)}, x.Trust(), cfg); len(p.Errors) > 0 || len(p.New) != 0 {
		t.Fatalf("430 t: new %v, errors %v", p.New, p.Errors)
	}
	// The registry records alone: no tally to add to.
	regOnly := proto.Clone(base).(*pb.Bundle)
	regOnly.Records = nil
	for _, br := range base.GetRecords() {
		if _, st, err := record.Decode(br.GetData()); err == nil && st.GetExtraction() == nil {
			regOnly.Records = append(regOnly.Records, br)
		}
	}
	if p := verifier.PreviewNewLot("L2", regOnly, []*pb.Envelope{ext("L2", 500000)}, x.Trust(), cfg); len(p.Errors) > 0 || len(p.New) != 0 {
		t.Fatalf("500 t, no tally before it: new %v, errors %v", p.New, p.Errors)
	}
	// A lot the log holds already is not new.
	if p := verifier.PreviewNewLot("L1", base, []*pb.Envelope{ext("L1", 1000)}, x.Trust(), cfg); len(p.Errors) == 0 || !strings.Contains(p.Errors[0], "the log holds it already") {
		t.Fatalf("an existing lot: new %v, errors %v", p.New, p.Errors)
	}
}
