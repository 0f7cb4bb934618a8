package custody_test

import (
	"fmt"
	"testing"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// mineLots logs, as a mine on a fresh store, 256 extractions and then,
// if wide, one transformation of all 256 into 256 outputs (the most a
// transformation may list of each: a record of about 32 KB that is the
// first record of 256 lots), or else 256 more extractions: 512 lots of
// the mine either way. It returns the store and the mine.
func mineLots(t *testing.T, wide bool) (*custody.Store, *ct.Party) {
	t.Helper()
	c := ct.New()
	s := c.OpenStore(t)
	mine := c.AddParty("mine-w", "Wide Mine", "PK", pb.Role_ROLE_MINE)
	ct.Submit(t, s, c.Register(mine))
	const n = 256
	extract := func(lot string) string {
		return ct.Submit(t, s, c.Sign(mine, &pb.Statement{EventTime: c.At(ct.Day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: lot, MassKg: 10000, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}}))[0]
	}
	tf := &pb.Transformation{Kind: pb.TransformationKind_TRANSFORMATION_KIND_SPLIT}
	for i := range n {
		in := fmt.Sprintf("IN-%03d", i)
		tf.Inputs = append(tf.Inputs, &pb.TransformationInput{LotId: in, Link: extract(in), MassKg: 10})
		tf.Outputs = append(tf.Outputs, &pb.TransformationOutput{LotId: fmt.Sprintf("OUT-%03d", i), MassKg: 10, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9})
	}
	if wide {
		ct.Submit(t, s, c.Sign(mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Transformation{Transformation: tf}}))
	} else {
		for _, o := range tf.Outputs {
			extract(o.GetLotId())
		}
	}
	return s, mine
}

// TestLotsAndAncestryDecodesEachRecordOnce_review14: LotsAndAncestry
// decoded a lot's first record once for every lot it made: the 256
// outputs of one 32 KB transformation cost 256 decodes of it, where one
// does (a review measured 16 to 19 times as long as for 512 extracted
// lots, and 9.3 s for 40 such records). Now a record is decoded once for
// all the lots it made: 256 extractions and one transformation.
func TestLotsAndAncestryDecodesEachRecordOnce_review14(t *testing.T) {
	s, mine := mineLots(t, true)
	lots, err := s.LotsAndAncestry(t.Context(), mine.ID, 20000)
	if err != nil || len(lots) != 512 {
		t.Fatalf("LotsAndAncestry: %d lots, %v", len(lots), err)
	}
	if n := custody.MadeFromDecodes(s); n != 257 {
		t.Errorf("gathering 512 lots, 256 extracted and 256 made by one transformation, decoded %d records, want 257", n)
	}
	// Gathered again, from memory.
	if _, err := s.LotsAndAncestry(t.Context(), mine.ID, 20000); err != nil {
		t.Fatal(err)
	}
	if n := custody.MadeFromDecodes(s); n != 257 {
		t.Errorf("gathering the same lots again decoded %d records in all, want the first 257", n)
	}
}

// TestMadeFromMemoryBound_review14: the memory of madeFrom held each
// output of a transformation's own copy of its inputs (up to 256 ids):
// after one split of 256 lots into 256, 512 entries held 65,536 ids,
// and its bound in entries would have allowed 512 MB of string headers.
// Now the outputs share one list, and the ids held are bounded too.
func TestMadeFromMemoryBound_review14(t *testing.T) {
	s, mine := mineLots(t, true)
	if _, err := s.LotsAndAncestry(t.Context(), mine.ID, 20000); err != nil {
		t.Fatal(err)
	}
	entries, ids := custody.MadeFromHeld(s)
	if entries != 512 || ids != 256 {
		t.Errorf("the memory of madeFrom holds %d lots and %d ids, want 512 and 256 (one shared list)", entries, ids)
	}
	if custody.MadeFromCacheIDs*16 > 64<<20 {
		t.Errorf("the memory of madeFrom may hold %d ids, %d MB of string headers alone", custody.MadeFromCacheIDs, custody.MadeFromCacheIDs*16>>20)
	}
}
