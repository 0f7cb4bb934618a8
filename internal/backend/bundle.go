package backend

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

// BuildBundle collects from a store everything needed to verify a lot
// offline, as of the store's latest checkpoint:
//
//   - every record of the lot's custody history and, through the
//     transformations that produced it, of every lot it came from, back to
//     the extractions (each lot's whole history, so forks show);
//   - the registry records (registration, rotations, revocations) of every
//     party that signed one of them and of every origin mine;
//   - the extractions of each origin mine within cfg.CapacityWindow before
//     the lot's latest extraction, for the capacity and volume rules, and,
//     when an origin mine is in cfg.NationalCountry, the extractions of
//     every mine registered there in that window (at most
//     cfg.MaxNationalRecords), for the national volume;
//
// each with its inclusion proof to the checkpoint, sorted by index without
// duplicates. Records appended after the checkpoint are left out.
func BuildBundle(ctx context.Context, s *custody.Store, lotID string, cfg verifier.Config) (*pb.Bundle, error) {
	return buildBundle(ctx, s, lotID, cfg, nil, nil)
}

// buildBundle is BuildBundle for the backend, sharing work with other
// bundles and verifications through cache and proofs (either may be nil).
func (b *Backend) buildBundle(ctx context.Context, lotID string) (*pb.Bundle, error) {
	return buildBundle(ctx, b.store, lotID, b.cfg, b.cache, b.proofs)
}

func buildBundle(ctx context.Context, s *custody.Store, lotID string, cfg verifier.Config, cache *verifier.Cache, proofs *proofCache) (*pb.Bundle, error) {
	log := s.Log()
	c, ckpt, err := log.LatestCheckpoint()
	if err != nil {
		return nil, fmt.Errorf("verifier: reading the store's checkpoint: %w", err)
	}
	entries := map[uint64]ledger.Entry{}
	add := func(es []ledger.Entry) []ledger.Entry {
		var kept []ledger.Entry
		for _, e := range es {
			if e.Index < c.Size {
				entries[e.Index] = e
				kept = append(kept, e)
			}
		}
		return kept
	}
	signers := map[string]bool{}
	mines := map[string]bool{}
	var latestExt time.Time
	seen := map[string]bool{lotID: true}
	queue := []string{lotID}
	for len(queue) > 0 {
		lot := queue[0]
		queue = queue[1:]
		_, hist, err := s.Lot(ctx, lot)
		if err != nil {
			return nil, fmt.Errorf("verifier: reading lot %q: %w", lot, err)
		}
		for _, e := range add(hist) {
			st, err := cache.Statement(e.ID, e.Data)
			if err != nil {
				return nil, fmt.Errorf("verifier: decoding entry %d: %w", e.Index, err)
			}
			signers[st.GetPartyId()] = true
			switch b := st.GetBody().(type) {
			case *pb.Statement_Extraction:
				if b.Extraction.GetLotId() == lot {
					mines[st.GetPartyId()] = true
					if t := st.GetEventTime().AsTime(); t.After(latestExt) {
						latestExt = t
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
	if len(entries) == 0 {
		return nil, fmt.Errorf("verifier: lot %q has no records at checkpoint size %d", lotID, c.Size)
	}
	start := latestExt.Add(-cfg.CapacityWindow)
	// The national volume is the country's, not the lot's: the extractions
	// of every mine registered there, up to a bound.
	national := false
	for mine := range mines {
		if p, err := s.Party(mine); err == nil && p.GetRegistration().GetCountry() == cfg.NationalCountry {
			national = true
		}
	}
	if national {
		xs, _, err := s.CountryExtractions(ctx, cfg.NationalCountry, start, latestExt, cfg.MaxNationalRecords)
		if err != nil {
			return nil, fmt.Errorf("verifier: reading extractions in %s: %w", cfg.NationalCountry, err)
		}
		for _, e := range add(xs) {
			st, err := cache.Statement(e.ID, e.Data)
			if err != nil {
				return nil, fmt.Errorf("verifier: decoding entry %d: %w", e.Index, err)
			}
			signers[st.GetPartyId()] = true // its registration says it is a mine there
		}
	}
	for mine := range mines {
		xs, err := s.MineExtractions(ctx, mine)
		if err != nil {
			return nil, fmt.Errorf("verifier: reading extractions of mine %q: %w", mine, err)
		}
		for _, e := range xs {
			st, err := cache.Statement(e.ID, e.Data)
			if err != nil {
				return nil, fmt.Errorf("verifier: decoding entry %d: %w", e.Index, err)
			}
			if t := st.GetEventTime().AsTime(); t.After(start) && !t.After(latestExt) {
				add([]ledger.Entry{e})
			}
		}
	}
	for p := range signers {
		if p == record.RegistrarPartyID {
			continue
		}
		rs, err := s.PartyRecords(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("verifier: reading registry records of %q: %w", p, err)
		}
		add(rs)
	}
	b := &pb.Bundle{LotId: lotID, Checkpoint: string(ckpt)}
	for _, idx := range slices.Sorted(maps.Keys(entries)) {
		e := entries[idx]
		proof, err := proofs.inclusionProof(ctx, log, idx, c.Size)
		if err != nil {
			return nil, fmt.Errorf("verifier: inclusion proof of entry %d: %w", idx, err)
		}
		br := &pb.BundleRecord{Index: idx, Data: e.Data}
		for _, h := range proof {
			br.InclusionProof = append(br.InclusionProof, bytes.Clone(h[:]))
		}
		b.Records = append(b.Records, br)
	}
	return b, nil
}
