package custody_test

import (
	"fmt"
	"testing"
	"time"

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

// gather times a first (cold) LotsAndAncestry of the mine's lots.
func gather(t *testing.T, s *custody.Store, mine *ct.Party) time.Duration {
	t.Helper()
	start := time.Now()
	lots, err := s.LotsAndAncestry(t.Context(), mine.ID, 20000)
	took := time.Since(start)
	if err != nil || len(lots) != 512 {
		t.Fatalf("LotsAndAncestry: %d lots, %v", len(lots), err)
	}
	return took
}

// TestLotsAndAncestryDecodesEachRecordOnce_review14: LotsAndAncestry
// (madeFrom, readMadeFrom) decodes a lot's first record once for every
// lot it made: the 256 outputs of one 32 KB transformation cost 256
// decodes of it, where one would do. Gathering a mine's 512 lots, 256 of
// them made by one such record, takes 16 to 19 times as long as
// gathering 512 extracted lots (about 470 ms against 25 ms here). A
// party whose lots come from wide transformations waits for all of that
// on its first scoped listing page (40 such records, 10,496 lots:
// LotsAndAncestry alone took 9.3 s here; the scan path reads no record
// for a party's own lots, HadLot answering), and again whenever the
// memory of madeFrom starts over (madeFromCacheSize).
func TestLotsAndAncestryDecodesEachRecordOnce_review14(t *testing.T) {
	s, mine := mineLots(t, false)
	narrow := gather(t, s, mine)
	s, mine = mineLots(t, true)
	wide := gather(t, s, mine)
	t.Logf("gathering 512 lots: %v if all extracted, %v if 256 come from one transformation", narrow, wide)
	if wide > 3*narrow {
		t.Errorf("gathering 512 lots, 256 made by one transformation, took %v, %.1f times the %v of 512 extracted lots: the transformation is decoded once for each lot it made",
			wide, float64(wide)/float64(narrow), narrow)
	}
}

// TestMadeFromMemoryBound_review14: madeFromCacheSize bounds the number
// of lots the memory of madeFrom holds, not its memory: each output of
// a transformation holds its own copy of the transformation's inputs (up
// to 256 ids). After one split of 256 lots into 256, the cache's 512
// entries hold 65,536 ids; at that rate the cache at its bound of 2^18
// entries would hold 33.5 million ids, 512 MB in string headers alone
// (5.7 KB an entry measured, with 40 such records: 1.4 GB), where
// entries of a lot id or two would take some 30 MB.
func TestMadeFromMemoryBound_review14(t *testing.T) {
	s, mine := mineLots(t, true)
	if _, err := s.LotsAndAncestry(t.Context(), mine.ID, 20000); err != nil {
		t.Fatal(err)
	}
	entries, ids := custody.MadeFromHeld(s)
	if entries == 0 {
		t.Fatal("the memory of madeFrom holds nothing")
	}
	const stringHeader = 16
	atBound := int64(ids) * custody.MadeFromCacheSize / int64(entries) * stringHeader
	t.Logf("%d entries hold %d ids: at %d entries, %d MB of string headers", entries, ids, custody.MadeFromCacheSize, atBound>>20)
	if atBound > 64<<20 {
		t.Errorf("the memory of madeFrom, full, would hold %d MB of string headers alone (%d ids in %d entries): madeFromCacheSize does not bound its memory", atBound>>20, ids, entries)
	}
}
