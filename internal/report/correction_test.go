package report_test

import (
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/lottest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// A corrected typing slip: the report shows the correction with both
// masses and the reason, keeps the original TRANSIT_GAIN marked corrected,
// and does not count it.
func TestCorrectedLot(t *testing.T) {
	x := lottest.New(t)
	ext := x.Extract(x.Mine, "L1", 3000, 3, 9, lottest.MineSite, 1)
	d1 := x.Dispatch(x.Mine, "L1", ext, x.Exp, 3000, 2)
	r1 := x.Receive(x.Exp, "L1", d1, 30000, 3)
	x.Correct(x.Exp, &pb.Correction{LotId: "L1", Corrects: r1, CounterpartyId: x.Mine.ID, MassKg: lottest.Kg(2995), Reason: "typed 30000 for 2995"}, 3.5, x.Mine)
	doc, rep := render(t, x, "L1", x.Bundle("L1"))
	selfContained(t, doc)
	if rep.GetVerdict() != pb.Verdict_VERDICT_VERIFIED || len(rep.GetCorrections()) != 1 {
		t.Fatalf("verdict %v, corrections %v", rep.GetVerdict(), rep.GetCorrections())
	}
	words := text(doc)
	for _, want := range []string{
		"<h2>Corrections</h2>",
		"receipt mass 30000.0 kg -> 2995.0 kg",
		"typed 30000 for 2995",
		"TRANSIT_GAIN</strong> <strong class=\"corrected\">CORRECTED by",
		"1 corrected (shown, not counted)",
	} {
		if !strings.Contains(words, want) {
			t.Errorf("the report of a corrected lot lacks %q", want)
		}
	}
	if strings.Contains(words, "1 critical") {
		t.Errorf("the corrected flag is counted as critical")
	}
}
