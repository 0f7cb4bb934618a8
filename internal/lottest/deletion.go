package lottest

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// A Deletion is one cut of a bundle and the verdict on what was left.
type Deletion struct {
	What   string // what was removed
	Report *pb.VerificationReport
}

// DeletionMatrix takes a bundle of lot that verifies, removes each record
// in turn (each leaf shown without its record, too) and each map proof in
// turn, verifies what is left as lot, and checks that no cut is VERIFIED
// and that each report says what is missing: the errors of an INVALID
// report name the incomplete chain or the missing leaf. It returns every
// cut with its report.
func DeletionMatrix(t testing.TB, b *pb.Bundle, lot string, trust verifier.Trust) []Deletion {
	t.Helper()
	cfg := verifier.DefaultConfig()
	if rep := verifier.VerifyLot(lot, b, trust, cfg); rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
		t.Fatalf("the whole bundle of %s is INVALID:\n%s", lot, rep.GetText())
	}
	var cuts []Deletion
	for i, br := range b.GetRecords() {
		cut := proto.Clone(b).(*pb.Bundle)
		cut.Records = append(cut.Records[:i:i], cut.Records[i+1:]...)
		cuts = append(cuts, Deletion{What: describeRecord(br), Report: verifier.VerifyLot(lot, cut, trust, cfg)})
	}
	for i, mp := range b.GetMapProofs() {
		cut := proto.Clone(b).(*pb.Bundle)
		cut.MapProofs = append(cut.MapProofs[:i:i], cut.MapProofs[i+1:]...)
		cuts = append(cuts, Deletion{What: fmt.Sprintf("the map proof of %q", mp.GetKey()), Report: verifier.VerifyLot(lot, cut, trust, cfg)})
	}
	for _, c := range cuts {
		rep := c.Report
		switch {
		case rep.GetVerdict() == pb.Verdict_VERDICT_VERIFIED:
			t.Errorf("lot %s without %s: VERIFIED", lot, c.What)
		case rep.GetVerdict() != pb.Verdict_VERDICT_INVALID:
			t.Errorf("lot %s without %s: %v, want INVALID naming what is missing\n%s", lot, c.What, rep.GetVerdict(), rep.GetText())
		case !namesMissing(rep.GetErrors()):
			t.Errorf("lot %s without %s: INVALID, but the errors do not say what is missing: %q", lot, c.What, rep.GetErrors())
		}
	}
	return cuts
}

// namesMissing reports whether errors say which records or proofs the
// bundle lacks.
func namesMissing(errs []string) bool {
	for _, e := range errs {
		for _, s := range []string{"incomplete bundle", "the bundle lacks", "the bundle has no"} {
			if strings.Contains(e, s) {
				return true
			}
		}
	}
	return false
}

func describeRecord(br *pb.BundleRecord) string {
	if len(br.GetData()) == 0 {
		return fmt.Sprintf("the leaf at index %d (shown without its record)", br.GetIndex())
	}
	_, st, err := record.Decode(br.GetData())
	if err != nil {
		return fmt.Sprintf("the record at index %d", br.GetIndex())
	}
	kind := strings.TrimPrefix(fmt.Sprintf("%T", st.GetBody()), "*recordpb.Statement_")
	return fmt.Sprintf("the %s by %s at index %d", kind, st.GetPartyId(), br.GetIndex())
}
