package backend

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/index"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
	"github.com/antimony-ledger/provenance/verifier"
)

// BuildBundle collects from a store everything needed to verify a lot
// offline, as of the store's latest checkpoint:
//
//   - every record of the lot's custody history and, through the
//     transformations that produced it, of every lot it came from, back to
//     the extractions (each lot's whole history, so forks show);
//   - the registry records (registration, rotations, revocations) of every
//     party that signed one of them;
//   - the map proofs of each of those lots' and parties' chains (package
//     index), against the map root of the checkpoint's last leaf, which it
//     also holds (without its record), so that a verifier can tell that
//     none of those records is left out;
//   - for each origin mine, and for the national country when an origin
//     mine is there, the leaves (without their records) that start the
//     capacity window's running tally: the key's last extraction before
//     the window and the one after it;
//
// each with its leaf's data and its inclusion proof to the checkpoint,
// sorted by index without duplicates. Records appended after the
// checkpoint are left out.
func BuildBundle(ctx context.Context, s *custody.Store, lotID string, cfg verifier.Config) (*pb.Bundle, error) {
	return buildBundle(ctx, s, lotID, cfg, nil, nil)
}

// buildBundle is BuildBundle for the backend, sharing work with other
// bundles and verifications through cache and proofs (either may be nil).
func (b *Backend) buildBundle(ctx context.Context, lotID string) (*pb.Bundle, error) {
	return buildBundle(ctx, b.store, lotID, b.cfg, b.cache, b.proofs)
}

// WitnessWait bounds how long a bundle waits for its witnesses to cosign a
// checkpoint that covers the log as it stood when asked: a round or two.
const WitnessWait = 5 * time.Second

// witnessedBundle builds the lot's bundle at a checkpoint its witnesses
// cosigned that covers the log as it stands now (waiting up to the
// backend's witness wait for one), and adds the cosigned note: the
// witnesses vouch for the very tree the bundle's proofs lead to, so an
// operator cannot pair an old tree with a fresh cosignature of a later
// one. Without one in time (witnesses down, or none cosigned yet), the
// bundle is built at the latest checkpoint and goes out without, and a
// buyer who requires a witness quorum refuses it.
func (b *Backend) witnessedBundle(ctx context.Context, lotID string) (*pb.Bundle, error) {
	wctx, cancel := context.WithTimeout(ctx, b.witnessWait)
	defer cancel()
	cs, ok := b.witness.AtLeast(wctx, b.store.Log().Size())
	if !ok {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		b.logger.Warn("bundle without witness cosignatures: none covers the log yet", slog.String("lot", lotID))
		return BuildBundle(ctx, b.store, lotID, b.cfg)
	}
	bundle, err := buildBundleAt(ctx, b.store, lotID, b.cfg, nil, nil, cs.Snapshot)
	if err != nil {
		return nil, err
	}
	bundle.WitnessedCheckpoint = string(cs.Signed)
	return bundle, nil
}

func buildBundle(ctx context.Context, s *custody.Store, lotID string, cfg verifier.Config, cache *verifier.Cache, proofs *proofCache) (*pb.Bundle, error) {
	snap, err := s.Log().Snapshot()
	if err != nil {
		return nil, fmt.Errorf("verifier: reading the store's checkpoint: %w", err)
	}
	return buildBundleAt(ctx, s, lotID, cfg, cache, proofs, snap)
}

// buildBundleAt builds the bundle as of snap, a checkpoint of the log with
// its map (the latest, or an earlier one its witnesses cosigned).
func buildBundleAt(ctx context.Context, s *custody.Store, lotID string, cfg verifier.Config, cache *verifier.Cache, proofs *proofCache, snap ledger.Snapshot) (*pb.Bundle, error) {
	log := s.Log()
	c := snap.Checkpoint
	full := map[uint64]ledger.Entry{}     // records the bundle holds
	leafOnly := map[uint64]ledger.Entry{} // leaves it shows without their record
	add := func(es []ledger.Entry) []ledger.Entry {
		var kept []ledger.Entry
		for _, e := range es {
			if e.Index < c.Size {
				full[e.Index] = e
				kept = append(kept, e)
			}
		}
		return kept
	}
	var keys [][]byte // map keys whose chains the bundle holds
	signers := map[string]bool{}
	lastByMine := map[string]ledger.Entry{}
	seen := map[string]bool{lotID: true}
	queue := []string{lotID}
	for len(queue) > 0 {
		lot := queue[0]
		queue = queue[1:]
		_, hist, err := s.Lot(ctx, lot)
		if err != nil {
			return nil, fmt.Errorf("verifier: reading lot %q: %w", lot, err)
		}
		keys = append(keys, index.LotKey(lot))
		for _, e := range add(hist) {
			st, err := cache.Statement(e.ID, e.Data)
			if err != nil {
				return nil, fmt.Errorf("verifier: decoding entry %d: %w", e.Index, err)
			}
			signers[st.GetPartyId()] = true
			if cp := st.GetCorrection().GetCounterpartyId(); cp != "" {
				signers[cp] = true // a handoff's correction: the counterparty co-signs
			}
			switch b := st.GetBody().(type) {
			case *pb.Statement_Extraction:
				if b.Extraction.GetLotId() == lot {
					if l, ok := lastByMine[st.GetPartyId()]; !ok || e.Index > l.Index {
						lastByMine[st.GetPartyId()] = e
					}
				}
			case *pb.Statement_Transformation:
				t := b.Transformation
				if slices.ContainsFunc(t.GetOutputs(), func(o *pb.TransformationOutput) bool { return o.GetLotId() == lot }) {
					for _, in := range t.GetInputs() {
						if !seen[in.GetLotId()] {
							seen[in.GetLotId()] = true
							queue = append(queue, in.GetLotId())
						}
					}
				}
			}
		}
	}
	if len(full) == 0 {
		return nil, fmt.Errorf("verifier: lot %q has no records at checkpoint size %d: %w", lotID, c.Size, record.ErrNotFound)
	}
	// Every bundle holds the registrar's rotations, which lead from the
	// registrar key clients pin to the one that signed the registry
	// records it holds.
	signers[record.RegistrarPartyID] = true
	for _, p := range slices.Sorted(maps.Keys(signers)) {
		rs, err := s.PartyRecords(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("verifier: reading registry records of %q: %w", p, err)
		}
		add(rs)
		keys = append(keys, index.PartyKey(p))
	}
	// The checkpoint's last leaf commits the map root.
	tip, err := log.Get(ctx, c.Size-1)
	if err != nil {
		return nil, fmt.Errorf("verifier: reading the checkpoint's last entry: %w", err)
	}
	leafOnly[tip.Index] = tip
	// The leaves that start each running tally's window.
	var national *ledger.Entry
	for _, m := range slices.Sorted(maps.Keys(lastByMine)) {
		e := lastByMine[m]
		p, err := s.Party(m)
		if err != nil {
			continue // not a registered party: ORPHAN_INPUT, no tally
		}
		if err := windowStart(ctx, log, e, index.MineTally(m), cfg.CapacityWindow, leafOnly); err != nil {
			return nil, err
		}
		if p.GetRegistration().GetCountry() == cfg.NationalCountry && (national == nil || e.Index > national.Index) {
			national = &e
		}
	}
	if national != nil {
		if err := windowStart(ctx, log, *national, index.CountryTally(cfg.NationalCountry), cfg.CapacityWindow, leafOnly); err != nil {
			return nil, err
		}
	}
	b := &pb.Bundle{LotId: lotID, Checkpoint: string(snap.Signed)}
	for idx := range leafOnly {
		if _, ok := full[idx]; ok {
			delete(leafOnly, idx)
		}
	}
	all := maps.Clone(full)
	maps.Copy(all, leafOnly)
	for _, idx := range slices.Sorted(maps.Keys(all)) {
		e := all[idx]
		proof, err := proofs.inclusionProof(ctx, log, idx, c.Size)
		if err != nil {
			return nil, fmt.Errorf("verifier: inclusion proof of entry %d: %w", idx, err)
		}
		_, withData := full[idx]
		b.Records = append(b.Records, BundleRecord(e, withData, proof))
	}
	for _, k := range keys {
		b.MapProofs = append(b.MapProofs, MapProof(snap.Map, k))
	}
	return b, nil
}

// BundleRecord returns a bundle's record of entry e, with its data or (if
// not withData) its record id only, its leaf's data and its inclusion
// proof.
func BundleRecord(e ledger.Entry, withData bool, proof [][32]byte) *pb.BundleRecord {
	br := &pb.BundleRecord{Index: e.Index, IntegratedTime: timestamppb.New(e.Time), Extra: e.Extra}
	if e.MapRoot != nil {
		br.MapRoot = bytes.Clone(e.MapRoot[:])
	}
	if withData {
		br.Data = e.Data
	} else {
		br.RecordId = bytes.Clone(e.ID[:])
	}
	for _, h := range proof {
		br.InclusionProof = append(br.InclusionProof, bytes.Clone(h[:]))
	}
	return br
}

// MapProof returns a bundle's proof of key's value in m, or of its
// absence.
func MapProof(m tlog.Map, key []byte) *pb.MapProof {
	p := m.Prove(key)
	out := &pb.MapProof{Key: key}
	if v, ok := m.Get(key); ok {
		out.Value = v
	} else {
		out.Absent = true
	}
	for _, s := range p.Siblings {
		out.Siblings = append(out.Siblings, bytes.Clone(s[:]))
	}
	if p.OtherKey != nil {
		out.OtherKey, out.OtherValue = bytes.Clone(p.OtherKey[:]), bytes.Clone(p.OtherValue[:])
	}
	return out
}

// windowStart adds to leaves the leaves that start the running tally key's
// window of the log's time before end: walking back along the tally's
// Prev links from end, the key's last extraction taken before the window
// and the one after it, or the key's first extraction if none precedes
// the window.
func windowStart(ctx context.Context, log *ledger.Log, end ledger.Entry, key string, window time.Duration, leaves map[uint64]ledger.Entry) error {
	start := end.Time.Add(-window)
	cur := end
	for {
		ts, err := index.ParseExtra(cur.Extra)
		if err != nil {
			return fmt.Errorf("verifier: entry %d: %w", cur.Index, err)
		}
		t, ok := index.Find(ts, key)
		if !ok {
			return nil // a leaf without the tally: the verifier says so
		}
		if t.Prev == index.NoPrev {
			leaves[cur.Index] = cur
			return nil
		}
		prev, err := log.Get(ctx, t.Prev)
		if err != nil {
			return fmt.Errorf("verifier: entry %d: %w", t.Prev, err)
		}
		if prev.Time.Before(start) {
			leaves[cur.Index], leaves[prev.Index] = cur, prev
			return nil
		}
		cur = prev
	}
}
