package custody_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hdevalence/ed25519consensus"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/index"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// auditWorld is a chain with mines and exporters, and a generator of
// realistic custody records: per stream, extraction -> dispatch -> receipt
// of one lot after another.
type auditWorld struct {
	c         *ct.Chain
	mines     []*ct.Party
	exporters []*ct.Party
}

func newAuditWorld(pairs int) *auditWorld {
	w := &auditWorld{c: ct.New()}
	for i := range pairs {
		w.mines = append(w.mines, w.c.AddParty(fmt.Sprintf("mine-%d", i), "Mine", "PK", pb.Role_ROLE_MINE))
		w.exporters = append(w.exporters, w.c.AddParty(fmt.Sprintf("exp-%d", i), "Exporter", "PK", pb.Role_ROLE_EXPORTER))
	}
	return w
}

// registrations returns the registry records of every party.
func (w *auditWorld) registrations() []*pb.Envelope {
	var out []*pb.Envelope
	for i := range w.mines {
		out = append(out, w.c.Register(w.mines[i]), w.c.Register(w.exporters[i]))
	}
	return out
}

// stream returns n records of the stream of pair i, in the order they
// must be appended.
func (w *auditWorld) stream(i, n int) []*pb.Envelope {
	mine, exp := w.mines[i], w.exporters[i]
	var out []*pb.Envelope
	prev := ""
	for k := 0; len(out) < n; k++ {
		lot := fmt.Sprintf("%s-lot-%d", mine.ID, k/3)
		t := w.c.At(ct.Day + time.Duration(k)*time.Minute)
		var env *pb.Envelope
		switch k % 3 {
		case 0:
			env = w.c.Sign(mine, &pb.Statement{EventTime: t, Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
				LotId: lot, MassKg: 8000, MoisturePct: 3, SbGradePct: 9.5, Product: pb.Product_PRODUCT_ORE,
				Site: &pb.Location{Lat: 30.7, Lon: 66.6, Name: "Qila Abdullah"}}}})
		case 1:
			env = w.c.Sign(mine, &pb.Statement{EventTime: t, Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
				LotId: lot, CustodyLink: prev, ToPartyId: exp.ID, MassKg: 8000, MoisturePct: 3,
				Seals: []string{"S-" + lot}, Transport: "truck"}}})
		case 2:
			env = w.c.Sign(exp, &pb.Statement{EventTime: t, Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01},
				LotId: lot, DispatchLink: prev, MassKg: 7990, SealsIntact: true}}})
		}
		prev = ct.ID(env)
		out = append(out, env)
	}
	return out
}

// fill submits the registrations and then n records spread over the
// streams, each stream from its own goroutine.
func (w *auditWorld) fill(tb testing.TB, s *custody.Store, n int) {
	tb.Helper()
	ct.Submit(tb, s, w.registrations()...)
	streams := len(w.mines)
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		envs := w.stream(i, n/streams+boolInt(i < n%streams))
		wg.Go(func() {
			for _, env := range envs {
				if _, err := s.Submit(context.Background(), env); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// indexLie is how a dishonest operator's log indexes its records: extra,
// if set, replaces a leaf's running tallies; unchained, if set, says which
// records are left out of their lots' chains.
type indexLie struct {
	extra     func(e ledger.Entry, extra []byte) []byte
	unchained func(e ledger.Entry) bool
}

// indexing returns a ledger Apply function that keeps the log's index as
// the store does (or as lie makes it), so that the audit's index replay
// passes and a case's own fault is what fails.
func indexing(lie indexLie) ledger.ApplyFunc {
	countries := map[string]string{}
	return func(tx *ledger.StateTx, e ledger.Entry, _ any) error {
		_, st, err := record.Decode(e.Data)
		if err != nil {
			return nil
		}
		if reg := st.GetPartyRegistration(); reg != nil {
			countries[reg.GetPartyId()] = reg.GetCountry()
		}
		var s index.Store = custody.IndexStore(tx)
		if lie.unchained != nil && lie.unchained(e) {
			s = unchained{s}
		}
		extra, err := index.Add(s, e.Index, e.ID, st, countries[st.GetPartyId()])
		if lie.extra != nil {
			extra = lie.extra(e, extra)
		}
		if extra != nil {
			tx.SetExtra(extra)
		}
		return err
	}
}

// unchained is an index store that drops chain updates.
type unchained struct{ index.Store }

func (unchained) SetChain([]byte, index.Chain) {}

// rawStore appends envs, unvalidated, straight to a ledger.Log (as a
// compromised operator or a bug could), then opens the directory as a
// custody store.
func (w *auditWorld) rawStore(t *testing.T, envs []*pb.Envelope) *custody.Store {
	t.Helper()
	return w.lyingStore(t, envs, indexLie{})
}

// lyingStore is rawStore with the log's index kept as lie makes it.
func (w *auditWorld) lyingStore(t *testing.T, envs []*pb.Envelope, lie indexLie) *custody.Store {
	t.Helper()
	dir := t.TempDir()
	l, err := ledger.Open(t.Context(), dir, ledger.Options{Origin: ct.Origin, Signer: w.c.LogSigner, Apply: indexing(lie)})
	if err != nil {
		t.Fatal(err)
	}
	for i, env := range envs {
		data, err := record.EncodeEnvelope(env)
		if err != nil {
			t.Fatal(err)
		}
		e, _, err := l.Append(t.Context(), data)
		if err != nil {
			t.Fatal(err)
		}
		if e.Index != uint64(i) {
			t.Fatalf("envelope %d appended at index %d", i, e.Index)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := custody.Open(t.Context(), dir, custody.Config{Origin: ct.Origin, LogSigner: w.c.LogSigner, Registrar: w.c.RegistrarPublic(), Now: w.c.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// audit audits s against its latest checkpoint.
func (w *auditWorld) audit(t *testing.T, s *custody.Store) (custody.AuditReport, error) {
	t.Helper()
	return s.Audit(t.Context(), s.Log().Checkpoint(), w.c.LogVerifier, nil)
}

// wantBadIndex checks that err is an *ledger.AuditError at index whose
// reason contains reason.
func wantBadIndex(t *testing.T, err error, index uint64, reason string) {
	t.Helper()
	var ae *ledger.AuditError
	if !errors.As(err, &ae) {
		t.Fatalf("audit error = %v, want *ledger.AuditError at index %d", err, index)
	}
	if ae.Index != index || !strings.Contains(ae.Reason, reason) {
		t.Fatalf("audit error = %v, want index %d and reason containing %q", err, index, reason)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(index)) {
		t.Fatalf("message %q does not name index %d", err, index)
	}
}

func TestAuditSoundStore(t *testing.T) {
	w := newAuditWorld(4)
	s := w.c.OpenStore(t)
	w.fill(t, s, 600)
	size := s.Log().Size()
	var mu sync.Mutex
	var calls, last [2]uint64
	rep, err := s.Audit(t.Context(), s.Log().Checkpoint(), w.c.LogVerifier, func(done, total uint64) {
		mu.Lock()
		defer mu.Unlock()
		if done < last[0] || done > total {
			t.Errorf("progress(%d, %d) after %d", done, total, last[0])
		}
		calls[0]++
		last = [2]uint64{done, total}
	})
	if err != nil {
		t.Fatalf("audit of a sound store: %v", err)
	}
	if rep.Entries != size || rep.Signatures != size || rep.Elapsed <= 0 {
		t.Fatalf("report = %+v, want %d entries and signatures", rep, size)
	}
	if calls[0] == 0 || last != [2]uint64{size, size} {
		t.Fatalf("progress called %d times, last (%d, %d), want last (%d, %d)", calls[0], last[0], last[1], size, size)
	}
}

func TestAuditEmptyStore(t *testing.T) {
	w := newAuditWorld(1)
	s := w.c.OpenStore(t)
	rep, err := w.audit(t, s)
	if err != nil || rep.Entries != 0 || rep.Signatures != 0 {
		t.Fatalf("audit of an empty store = %+v, %v", rep, err)
	}
}

// An older checkpoint covers a prefix of the log: the audit checks just
// that prefix, even while appends go on.
func TestAuditOlderCheckpointDuringAppends(t *testing.T) {
	w := newAuditWorld(2)
	s := w.c.OpenStore(t)
	ct.Submit(t, s, w.registrations()...)
	envs := w.stream(0, 300)
	ct.Submit(t, s, envs[:150]...)
	old, oldSize := s.Log().Checkpoint(), s.Log().Size()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, env := range envs[150:] {
			if _, err := s.Submit(context.Background(), env); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	rep, err := w.audit(t, s) // against whatever checkpoint is latest now
	if err != nil {
		t.Fatalf("audit during appends: %v", err)
	}
	<-done
	rep, err = s.Audit(t.Context(), old, w.c.LogVerifier, nil)
	if err != nil || rep.Entries != oldSize || rep.Signatures != oldSize {
		t.Fatalf("audit against the older checkpoint = %+v, %v; want %d entries", rep, err, oldSize)
	}
}

func TestAuditBadCheckpoint(t *testing.T) {
	w := newAuditWorld(1)
	s := w.c.OpenStore(t)
	ct.Submit(t, s, w.registrations()...)
	ckpt := s.Log().Checkpoint()
	tampered := []byte(strings.Replace(string(ckpt), "\n2\n", "\n1\n", 1))
	for name, c := range map[string][]byte{"tampered": tampered, "garbage": []byte("not a note")} {
		_, err := s.Audit(t.Context(), c, w.c.LogVerifier, nil)
		var ae *ledger.AuditError
		if err == nil || errors.As(err, &ae) {
			t.Errorf("%s checkpoint: err = %v, want a checkpoint error", name, err)
		}
	}
}

// A record whose signature does not verify, appended behind the store's
// back, is named by index, also when it sits in the middle of a batch.
func TestAuditBadSignature(t *testing.T) {
	w := newAuditWorld(2)
	envs := append(w.registrations(), w.stream(0, 150)...)
	envs = append(envs, w.stream(1, 150)...)
	const bad = 4 + 100 // well inside the second batch of 64
	sig := envs[bad].Signatures[0]
	sig.Sig = append([]byte(nil), sig.Sig...)
	sig.Sig[5] ^= 1
	s := w.rawStore(t, envs)
	rep, err := w.audit(t, s)
	wantBadIndex(t, err, bad, "does not verify")
	if rep.Entries != bad {
		t.Errorf("report says %d entries checked, want %d (those before the bad one)", rep.Entries, bad)
	}
}

// Two bad records: the first one is named, whichever worker finds it.
func TestAuditFirstOfTwoBadSignatures(t *testing.T) {
	w := newAuditWorld(2)
	envs := append(w.registrations(), w.stream(0, 400)...)
	for _, i := range []int{300, 37} {
		sig := envs[i].Signatures[0]
		sig.Sig = append([]byte(nil), sig.Sig...)
		sig.Sig[40] ^= 0x80
	}
	s := w.rawStore(t, envs)
	_, err := w.audit(t, s)
	wantBadIndex(t, err, 37, "does not verify")
}

// Keys are resolved as of each record: a record signed before its signer
// was registered is bad even though the key is registered later.
func TestAuditKeyNotYetRegistered(t *testing.T) {
	w := newAuditWorld(2)
	regs := w.registrations()
	recs := w.stream(1, 3)
	envs := append(append(append([]*pb.Envelope{}, regs[:2]...), recs...), regs[2:]...)
	s := w.rawStore(t, envs)
	_, err := w.audit(t, s)
	wantBadIndex(t, err, 2, "not registered")
}

// A valid signature by another party's key does not make a record good.
func TestAuditKeyOfAnotherParty(t *testing.T) {
	w := newAuditWorld(2)
	envs := w.registrations()
	envs = append(envs, w.stream(0, 2)...)
	forged := w.c.Sign(w.mines[1], &pb.Statement{PartyId: w.mines[0].ID, Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: "forged", MassKg: 100, SbGradePct: 9, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30, Lon: 66}}}})
	envs = append(envs, forged)
	s := w.rawStore(t, envs)
	_, err := w.audit(t, s)
	wantBadIndex(t, err, uint64(len(envs)-1), "belongs to party")
}

// Registry records must be signed by the store's registrar key.
func TestAuditRegistryNotByRegistrar(t *testing.T) {
	w := newAuditWorld(1)
	envs := w.registrations()
	rogue := w.c.AddParty("rogue", "Rogue", "PK", pb.Role_ROLE_MINE)
	reg := w.c.Sign(w.mines[0], &pb.Statement{PartyId: record.RegistrarPartyID, Body: &pb.Statement_PartyRegistration{PartyRegistration: rogue.Reg}})
	envs = append(envs, reg)
	s := w.rawStore(t, envs)
	_, err := w.audit(t, s)
	wantBadIndex(t, err, 2, "not the registrar key")
}

// Records signed with a key after its revocation are bad; those before
// are good.
func TestAuditRevokedKey(t *testing.T) {
	w := newAuditWorld(1)
	envs := append(w.registrations(), w.stream(0, 3)...)
	envs = append(envs, w.c.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: w.mines[0].ID, KeyId: w.mines[0].KeyID(), RevokedAt: w.c.At(ct.Day), Reason: "lost"}}}))
	s := w.rawStore(t, w.appendCopy(envs, w.stream(0, 4)[3])) // the next extraction, after the revocation
	_, err := w.audit(t, s)
	wantBadIndex(t, err, uint64(len(envs)), "revoked")

	s = w.rawStore(t, envs)
	if rep, err := w.audit(t, s); err != nil || rep.Signatures != uint64(len(envs)) {
		t.Fatalf("audit up to the revocation = %+v, %v", rep, err)
	}
}

func (w *auditWorld) appendCopy(envs []*pb.Envelope, more ...*pb.Envelope) []*pb.Envelope {
	return append(append([]*pb.Envelope{}, envs...), more...)
}

// An entry that does not decode (here: not even JSON) is named.
func TestAuditUndecodableEntry(t *testing.T) {
	w := newAuditWorld(1)
	dir := t.TempDir()
	l, err := ledger.Open(t.Context(), dir, ledger.Options{Origin: ct.Origin, Signer: w.c.LogSigner, Apply: indexing(indexLie{})})
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range w.registrations() {
		if _, _, err := l.Append(t.Context(), ct.Must(record.EncodeEnvelope(env))); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := l.Append(t.Context(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	s, err := custody.Open(t.Context(), dir, custody.Config{Origin: ct.Origin, LogSigner: w.c.LogSigner, Registrar: w.c.RegistrarPublic(), Now: w.c.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = w.audit(t, s)
	wantBadIndex(t, err, 2, "decoding record")
}

func TestAuditCancelled(t *testing.T) {
	w := newAuditWorld(2)
	s := w.c.OpenStore(t)
	w.fill(t, s, 200)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Audit(ctx, s.Log().Checkpoint(), w.c.LogVerifier, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("audit with a cancelled context: err = %v", err)
	}
}

// BenchmarkStoreAudit audits a store of 10,000 custody records (about 450
// bytes each) and reports entries/s.
func BenchmarkStoreAudit(b *testing.B) {
	w := newAuditWorld(16)
	s := w.c.OpenStore(b)
	w.fill(b, s, 10_000-32)
	ckpt, size := s.Log().Checkpoint(), s.Log().Size()
	var rep custody.AuditReport
	var total time.Duration
	n := 0
	for b.Loop() {
		var err error
		rep, err = s.Audit(context.Background(), ckpt, w.c.LogVerifier, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += rep.Elapsed
		n++
	}
	if rep.Entries != size {
		b.Fatalf("audited %d entries, want %d", rep.Entries, size)
	}
	secs := total.Seconds() / float64(n)
	b.ReportMetric(float64(size)/secs, "entries/s")
	b.ReportMetric(float64(rep.Signatures)/secs, "sigs/s")
}

// BenchmarkAuditVerifyFloor measures the Ed25519 verification rates the
// audit is bounded by, on every core (RunParallel): one-by-one ZIP-215
// verification, and batches of 64 as the audit verifies them. Compare
// BenchmarkStoreAudit's entries/s with these.
func BenchmarkAuditVerifyFloor(b *testing.B) {
	w := newAuditWorld(4)
	var msgs, sigs [][]byte
	var pubs []ed25519.PublicKey
	for i, env := range w.stream(0, 64) {
		p := w.mines[0]
		if i%3 == 2 {
			p = w.exporters[0]
		}
		msgs = append(msgs, record.PAE(env.GetPayloadType(), env.GetPayload()))
		sigs = append(sigs, env.GetSignatures()[0].GetSig())
		pubs = append(pubs, p.Key.Public().(ed25519.PublicKey))
	}
	b.Run("single", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if !ed25519consensus.Verify(pubs[i%64], msgs[i%64], sigs[i%64]) {
					b.Error("signature does not verify")
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
	})
	b.Run("batch64", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				bv := ed25519consensus.NewPreallocatedBatchVerifier(64)
				for i := range 64 {
					bv.Add(pubs[i], msgs[i], sigs[i])
				}
				if !bv.Verify() {
					b.Error("batch does not verify")
				}
			}
		})
		b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "sigs/s")
	})
}

// TestAuditWrongTally: an operator whose log under-reports a mine's
// extraction in the running tally it commits (so a buyer's capacity rule
// sees less than the mine declared) is caught by the audit at that leaf.
func TestAuditWrongTally(t *testing.T) {
	w := newAuditWorld(1)
	envs := append(w.registrations(), w.stream(0, 9)...)
	victim := uint64(len(w.registrations()) + 3) // the second extraction
	s := w.lyingStore(t, envs, indexLie{extra: func(e ledger.Entry, extra []byte) []byte {
		if e.Index != victim {
			return extra
		}
		ts, err := index.ParseExtra(extra)
		if err != nil || len(ts) != 2 {
			t.Fatalf("extraction %d: tallies %v, %v", e.Index, ts, err)
		}
		ts[0].OreG /= 2
		return index.MarshalExtra(ts)
	}})
	_, err := w.audit(t, s)
	wantBadIndex(t, err, victim, "running tallies")

	// The honest log of the same records audits clean.
	if _, err := w.audit(t, w.rawStore(t, envs)); err != nil {
		t.Fatalf("audit of the honest log: %v", err)
	}
}

// TestAuditWrongChain: an operator whose log leaves a record out of its
// lot's chain (so that a bundle without it would pass the completeness
// check) commits a map root the records do not give; the audit names the
// leaf.
func TestAuditWrongChain(t *testing.T) {
	w := newAuditWorld(1)
	envs := append(w.registrations(), w.stream(0, 6)...)
	victim := uint64(len(w.registrations()) + 4) // the second lot's dispatch
	s := w.lyingStore(t, envs, indexLie{unchained: func(e ledger.Entry) bool { return e.Index == victim }})
	_, err := w.audit(t, s)
	wantBadIndex(t, err, victim, "map root")
}

// The audit replays the registry as the server applied it: a registrar
// rotation (after it only the new key signs), a consented rotation, a
// recovery, and a revocation reaching back further than the reach. A
// registry record signed by the retired registrar key is bad.
func TestAuditRegistrarRotation(t *testing.T) {
	w := newAuditWorld(2)
	next := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	envs := append(w.registrations(), w.stream(0, 3)...)
	rot := w.c.RegistrarSign(&pb.Statement{Body: &pb.Statement_RegistrarRotation{RegistrarRotation: &pb.RegistrarRotation{NewKey: next.Public().(ed25519.PublicKey)}}})
	envs = append(envs, record.Cosign(rot, next))
	old := w.c.Registrar
	w.c.Registrar = next
	k2 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{10}, 32))
	consented := w.c.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
		PartyId: w.mines[0].ID, NewKey: &pb.PartyKey{PublicKey: k2.Public().(ed25519.PublicKey), NotBefore: w.c.At(0)}}}})
	envs = append(envs, record.Cosign(consented, w.mines[0].Key))
	k3 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{11}, 32))
	envs = append(envs, w.c.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRotation{KeyRotation: &pb.KeyRotation{
		PartyId: w.mines[1].ID, NewKey: &pb.PartyKey{PublicKey: k3.Public().(ed25519.PublicKey), NotBefore: w.c.At(0)}}}}))
	envs = append(envs, w.c.RegistrarSign(&pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: w.exporters[0].ID, KeyId: w.exporters[0].KeyID(), RevokedAt: w.c.At(-300 * ct.Day)}}}))
	w.c.Registrar = old // the store pins the first registrar key
	s := w.rawStore(t, envs)
	if _, err := w.audit(t, s); err != nil {
		t.Fatalf("audit of an honest registry history: %v", err)
	}
	// The retired registrar key signs once more.
	rogue := w.c.AddParty("rogue", "Rogue", "PK", pb.Role_ROLE_MINE)
	envs = append(envs, w.c.Register(rogue))
	s = w.rawStore(t, envs)
	_, err := w.audit(t, s)
	wantBadIndex(t, err, uint64(len(envs)-1), "not the registrar key")
}
