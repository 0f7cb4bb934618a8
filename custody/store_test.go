package custody_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/custody"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fixture registers a mine, an exporter, a smelter, a buyer and a lab, and
// takes lot L1 from the mine to the exporter.
type fixture struct {
	c                                   *ct.Chain
	s                                   *custody.Store
	mine, exporter, smelter, buyer, lab *ct.Party
	extraction, dispatch, receipt       string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := ct.New()
	f := &fixture{c: c, s: c.OpenStore(t)}
	f.mine = c.AddParty("mine-qa", "Qila Abdullah Mine", "PK", pb.Role_ROLE_MINE)
	f.exporter = c.AddParty("exp-kar", "Karachi Exporter", "PK", pb.Role_ROLE_EXPORTER)
	f.smelter = c.AddParty("smelter", "Smelter", "PK", pb.Role_ROLE_SMELTER)
	f.buyer = c.AddParty("buyer-us", "US Buyer", "US", pb.Role_ROLE_BUYER)
	f.lab = c.AddParty("lab", "Assay Lab", "PK", pb.Role_ROLE_LAB)
	for _, p := range []*ct.Party{f.mine, f.exporter, f.smelter, f.buyer, f.lab} {
		ct.Submit(t, f.s, c.Register(p))
	}
	ext := c.Sign(f.mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L1", MassKg: 10000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE,
		Site: &pb.Location{Lat: 30.7, Lon: 66.6},
	}}})
	f.extraction = ct.Submit(t, f.s, ext)[0]
	disp := c.Sign(f.mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L1", CustodyLink: f.extraction, ToPartyId: f.exporter.ID, MassKg: 10000,
	}}})
	f.dispatch = ct.Submit(t, f.s, disp)[0]
	rec := c.Sign(f.exporter, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
		LotId: "L1", DispatchLink: f.dispatch, MassKg: 9990, SealsIntact: true,
	}}})
	f.receipt = ct.Submit(t, f.s, rec)[0]
	return f
}

func TestCustodyChain(t *testing.T) {
	f := newFixture(t)
	lot, hist, err := f.s.Lot(t.Context(), "L1")
	if err != nil {
		t.Fatal(err)
	}
	if lot.GetHolderPartyId() != f.exporter.ID || lot.GetMassKg() != 9990 || lot.GetHead() != f.receipt {
		t.Fatalf("lot state after receipt = %v", lot)
	}
	if len(hist) != 3 {
		t.Fatalf("history has %d records, want 3", len(hist))
	}
	lots, err := f.s.PartyLots(t.Context(), f.exporter.ID)
	if err != nil || len(lots) != 1 {
		t.Fatalf("exporter lots = %v, %v", lots, err)
	}
	if lots, _ := f.s.PartyLots(t.Context(), f.mine.ID); len(lots) != 0 {
		t.Fatalf("mine still lists %d lots", len(lots))
	}
	// The exporter splits the lot; the rest of L1 stays with it.
	split := f.c.Sign(f.exporter, &pb.Statement{EventTime: f.c.At(4 * ct.Day), Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
		Kind:    pb.TransformationKind_TRANSFORMATION_KIND_SPLIT,
		Inputs:  []*pb.TransformationInput{{LotId: "L1", Link: f.receipt, MassKg: 9990}},
		Outputs: []*pb.TransformationOutput{{LotId: "L1a", MassKg: 5000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}, {LotId: "L1b", MassKg: 4990, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}},
	}}})
	ct.Submit(t, f.s, split)
	if lot, _ := f.s.LotState("L1"); !lot.GetConsumed() {
		t.Fatalf("L1 not consumed after split: %v", lot)
	}
	// Dispatching the consumed lot is refused.
	again := f.c.Sign(f.exporter, &pb.Statement{Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
		LotId: "L1", CustodyLink: f.receipt, ToPartyId: f.smelter.ID, MassKg: 1,
	}}})
	if _, err := f.s.Submit(t.Context(), again); !errors.Is(err, record.ErrConflict) {
		t.Fatalf("dispatch of consumed lot: err = %v, want ErrConflict", err)
	}
}

// TestPartyChangesSeenAtOnce: a party's checks use its registry record as
// of each statement, however often the party was read before: a key added
// by rotation signs at once, and a revoked key is refused at once.
func TestPartyChangesSeenAtOnce(t *testing.T) {
	f := newFixture(t) // the mine has signed twice
	_, k2, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	extract := func(lot string, key ed25519.PrivateKey) *pb.Envelope {
		f.c.Clock.Advance(f.c.Start.Add(4*ct.Day + time.Minute)) // signed outside the chain
		env, err := record.Sign(&pb.Statement{PartyId: f.mine.ID, EventTime: f.c.At(4 * ct.Day), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: lot, MassKg: 1000, MoisturePct: 3, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6},
		}}}, key)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	ct.Submit(t, f.s, f.c.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
		PartyId: f.mine.ID, NewKey: &pb.PartyKey{PublicKey: k2.Public().(ed25519.PublicKey), NotBefore: f.c.At(0)},
	}}}))
	ct.Submit(t, f.s, extract("L2", k2))
	before := extract("L2b", f.mine.Key)
	beforeID := ct.ID(before)
	ct.Submit(t, f.s, before)
	ct.Submit(t, f.s, f.c.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: f.mine.ID, KeyId: record.KeyID(f.mine.Key.Public().(ed25519.PublicKey)), RevokedAt: f.c.At(0),
	}}}))
	if _, err := f.s.Submit(t.Context(), extract("L3", f.mine.Key)); !errors.Is(err, record.ErrKeyNotValid) {
		t.Fatalf("extraction signed by the revoked key: got %v, want %v", err, record.ErrKeyNotValid)
	}
	ct.Submit(t, f.s, extract("L3", k2))
	// A record the revoked key signed before is still an idempotent replay.
	if r, err := f.s.Submit(t.Context(), before); err != nil || !r.Duplicate || r.ID != beforeID || r.Entry.ID.String() != beforeID {
		t.Fatalf("replay of a record signed before the revocation: %+v, %v; want the duplicate %s", r, err, beforeID)
	}
}

// TestStaleLinkInSameGroup: a link to a record that is in the log but is
// not the lot's current custody record is a conflict, not a missing
// record, also when that record is still in the commit group being
// planned or in flight: apply reads entries through its state
// transaction (ledger.StateTx.Entry), as the ApplyFunc contract requires,
// not through the committed log. Each lot's assay and a dispatch linking
// to it (not to the lot's head) go one right behind the other in a
// sequence, so most pairs share a group.
func TestStaleLinkInSameGroup(t *testing.T) {
	f := newFixture(t)
	const lots = 40
	var assays, dispatches []*pb.Envelope
	for i := range lots {
		lot := fmt.Sprintf("S%d", i)
		ext := ct.Submit(t, f.s, f.c.Sign(f.mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: lot, MassKg: 1000, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6},
		}}}))[0]
		a := f.c.Sign(f.mine, &pb.Statement{Note: lot, Body: &pb.Statement_Assay{Assay: &pb.Assay{
			LotId: lot, SubjectLink: ext, Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: 9}},
		}}})
		assays = append(assays, a)
		dispatches = append(dispatches, f.c.Sign(f.mine, &pb.Statement{EventTime: f.c.At(ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
			LotId: lot, CustodyLink: ct.ID(a), ToPartyId: f.exporter.ID, MassKg: 1000,
		}}}))
	}
	var seq ledger.Sequence
	errs := make([]error, 2*lots)
	var wg sync.WaitGroup
	for i := range lots {
		for j, env := range []*pb.Envelope{assays[i], dispatches[i]} {
			turn := seq.Next()
			wg.Go(func() { _, errs[2*i+j] = f.s.SubmitInTurn(t.Context(), env, turn) })
		}
	}
	wg.Wait()
	for i := range lots {
		if err := errs[2*i]; err != nil {
			t.Fatalf("assay %d: %v", i, err)
		}
		if err := errs[2*i+1]; !errors.Is(err, record.ErrConflict) || errors.Is(err, record.ErrNotFound) {
			t.Errorf("dispatch %d linking to the lot's assay: %v, want a conflict (the record exists)", i, err)
		}
	}
}

// TestEventAhead: an event time up to custody.MaxEventAhead after the log's
// clock is accepted; a second more is refused as malformed, naming both
// times, and nothing is written.
func TestEventAhead(t *testing.T) {
	f := newFixture(t)
	now := f.c.Clock.Now()
	assay := func(ahead time.Duration, sample string) *pb.Envelope {
		st := &pb.Statement{PartyId: f.exporter.ID, EventTime: timestamppb.New(now.Add(ahead)), Body: &pb.Statement_Assay{Assay: &pb.Assay{
			LotId: "L1", SubjectLink: f.receipt, SampleId: sample, Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: 9}},
		}}}
		return ct.Must(record.Sign(st, f.exporter.Key)) // outside the chain, whose clock would follow
	}
	size := f.s.Log().Size()
	_, err := f.s.Submit(t.Context(), assay(custody.MaxEventAhead+time.Second, "late"))
	if !errors.Is(err, record.ErrMalformed) || !strings.Contains(err.Error(), now.Add(custody.MaxEventAhead+time.Second).Format(time.RFC3339)) ||
		!strings.Contains(err.Error(), now.Format(time.RFC3339)) {
		t.Fatalf("an event %v ahead: %v, want ErrMalformed naming both times", custody.MaxEventAhead+time.Second, err)
	}
	if f.s.Log().Size() != size {
		t.Fatalf("the refused record was written")
	}
	if _, err := f.s.Submit(t.Context(), assay(custody.MaxEventAhead, "edge")); err != nil {
		t.Fatalf("an event exactly %v ahead: %v", custody.MaxEventAhead, err)
	}
}

// TestCaseFoldLegacyStore (issue 18): in a store written before the fold
// index, the ids created then are folded at open, so "kr-100" is refused
// beside an earlier "KR-100", and a party "MINE-QA" beside "mine-qa".
func TestCaseFoldLegacyStore(t *testing.T) {
	c := ct.New()
	mine := c.AddParty("mine-qa", "Mine", "PK", pb.Role_ROLE_MINE)
	dir := t.TempDir()
	open := func() *custody.Store {
		s, err := custody.Open(t.Context(), dir, custody.Config{Origin: ct.Origin, LogSigner: c.LogSigner, Registrar: c.RegistrarPublic(), Now: c.Clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	extract := func(lot string) *pb.Envelope {
		return c.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
			LotId: lot, MassKg: 1000, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}})
	}
	restore := custody.WithoutFoldIndex()
	s := open()
	ct.Submit(t, s, c.Register(mine), extract("KR-100"))
	s.Close()
	restore()

	s = open()
	defer s.Close()
	if _, err := s.Submit(t.Context(), extract("kr-100")); !errors.Is(err, record.ErrAlreadyExists) || !strings.Contains(err.Error(), `differs only in letter case from the existing lot "KR-100"`) {
		t.Fatalf("kr-100 beside a KR-100 from before the fold index: %v", err)
	}
	twin := proto.CloneOf(mine.Reg)
	twin.PartyId = "MINE-QA"
	twin.Keys[0].PublicKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)).Public().(ed25519.PublicKey)
	if _, err := s.Submit(t.Context(), c.RegistrarSign(&pb.Statement{Body: &pb.Statement_PartyRegistration{PartyRegistration: twin}})); !errors.Is(err, record.ErrAlreadyExists) {
		t.Fatalf("MINE-QA beside a mine-qa from before the fold index: %v", err)
	}
	ct.Submit(t, s, extract("KR-101"))
	if _, err := s.Submit(t.Context(), extract("Kr-101")); !errors.Is(err, record.ErrAlreadyExists) {
		t.Fatalf("Kr-101 beside a KR-101 created after the upgrade: %v", err)
	}
}

// TestOldRecordsStillAudit (from a cold review): a receipt without a
// location, logged before new receipts needed one (here appended past
// Submit's rules, as the log then took it), still reads and audits: the
// rules for new records do not rewrite the log's past.
func TestOldRecordsStillAudit(t *testing.T) {
	c := ct.New()
	mine := c.AddParty("mine-qa", "Mine", "PK", pb.Role_ROLE_MINE)
	exp := c.AddParty("exp-kar", "Exporter", "PK", pb.Role_ROLE_EXPORTER)
	s := c.OpenStore(t)
	ids := ct.Submit(t, s, c.Register(mine), c.Register(exp), c.Sign(mine, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "L1", MassKg: 1000, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}}))
	d := ct.Submit(t, s, c.Sign(mine, &pb.Statement{EventTime: c.At(2 * ct.Day), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{LotId: "L1", CustodyLink: ids[2], ToPartyId: exp.ID, MassKg: 1000}}}))[0]
	old := c.Sign(exp, &pb.Statement{EventTime: c.At(3 * ct.Day), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{LotId: "L1", DispatchLink: d, MassKg: 1000}}})
	if _, err := s.Submit(t.Context(), old); !errors.Is(err, record.ErrMalformed) {
		t.Fatalf("a new receipt without a location: %v", err)
	}
	data, err := record.EncodeEnvelope(old)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := s.Log().Append(t.Context(), data)
	if err != nil {
		t.Fatalf("the log's own append of a receipt without a location: %v", err)
	}
	if _, _, err := custody.DecodeEntry(e); err != nil {
		t.Fatalf("reading it back: %v", err)
	}
	if _, err := s.Audit(t.Context(), s.Log().Checkpoint(), c.LogVerifier, nil); err != nil {
		t.Fatalf("audit: %v", err)
	}
}
