package report_test

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/internal/report"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// FuzzHTML renders arbitrary bundles (in the protobuf wire format, which
// mutations keep parseable more often than JSON), as a report of an INVALID lot shows
// what a bundle claims: whatever the bundle holds, rendering does not fail
// or panic, and no markup of the bundle's reaches the page.
func FuzzHTML(f *testing.F) {
	// The seeds (testdata/fuzz/FuzzHTML) are the bundles of the lots
	// TestCleanLot and TestFlaggedLot render, in the wire format. They are
	// large for a fuzzer: run with -fuzzminimizetime 2s, or a worker
	// spends minutes minimizing each new input and looks hung.
	f.Fuzz(func(t *testing.T, lot string, data []byte) {
		b := &pb.Bundle{}
		if err := proto.Unmarshal(data, b); err != nil {
			return
		}
		rep := &pb.VerificationReport{LotId: lot, Verdict: pb.Verdict_VERDICT_INVALID, Errors: []string{"not verified: fuzzing"}}
		var out bytes.Buffer
		if err := report.HTML(&out, report.Input{Lot: lot, Bundle: b, Report: rep}); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(out.String()), "<script") {
			t.Fatal("a bundle put <script on the page")
		}
	})
}
