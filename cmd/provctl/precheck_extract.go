package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/index"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// An extraction starts a lot: there is no bundle of it to check it
// against. The rules that can fire on it are about its mine: the grade
// and site the mine registered, its licensed yearly capacity, and the
// country's recorded output. The server keeps the log's running tallies
// of each mine and country (package index) but has no call that serves
// them: they are in the leaves of the extractions that carry them, and a
// party may read only its own (others' entries are served without them).
// So provctl reads back from the log's end for the mine's latest
// extraction, takes the bundle of its lot (its
// registry records and the registrar's rotations come with it), whose
// leaf carries the mine's tally and the country's as of then, and walks
// back along the tallies to the start of the capacity window, as a
// bundle's leaves do; verifier.PreviewNewLot verifies the extraction
// against that. The country's tally is thus counted up to the mine's own
// latest extraction: other mines' extractions since are not readable by
// the mine, and the check can miss what they add (the verification of
// the lot once written counts them).

// extractionBase gathers the records verifier.PreviewNewLot needs to
// preview extraction st, with inclusion proofs to one checkpoint that
// extends the last this client saw.
func (k *checkFlags) extractionBase(ctx context.Context, e *env, c *client.Client, trust verifier.Trust, st *pb.Statement) (*pb.Bundle, error) {
	cfg := verifier.DefaultConfig()
	mine := st.GetPartyId()
	pr, err := c.Custody.GetParty(ctx, &apipb.GetPartyRequest{PartyId: mine})
	if err != nil {
		return nil, fmt.Errorf("not submitted: reading party %s to check the extraction: %w", mine, err)
	}
	country := pr.GetParty().GetRegistration().GetCountry()
	head, err := c.Ledger.GetCheckpoint(ctx, &apipb.GetCheckpointRequest{})
	if err != nil {
		return nil, err
	}
	mineLot, all, err := latestExtraction(ctx, c, mine, head.GetTreeSize())
	if err != nil {
		return nil, err
	}
	if !all {
		fmt.Fprintf(e.stderr, "note: %s's latest extraction is not among the log's last %d entries: the check counts this extraction alone against its yearly capacity\n", mine, maxExtractionScan)
	}
	keys := []string{index.MineTally(mine)}
	if country == cfg.NationalCountry && cfg.NationalOutputKgSbPerYear > 0 {
		keys = append(keys, index.CountryTally(country))
	}
	base := &pb.Bundle{Checkpoint: head.GetCheckpoint()}
	if mineLot != "" {
		b, err := c.Bundle(ctx, mineLot)
		if err != nil {
			return nil, err
		}
		base = &pb.Bundle{Checkpoint: b.GetCheckpoint(), Records: b.GetRecords()}
	}
	// As provctl verify: the log must extend what this client saw.
	cp, err := c.CheckCheckpoint(ctx, trust.Log, client.DirCheckpointStore{Dir: k.trust.stateDir, Log: trust.Log}, []byte(base.GetCheckpoint()))
	if err != nil {
		return nil, &exitError{code: exitInvalid, err: fmt.Errorf("not submitted: %w", err)}
	}
	if err := addRegistration(ctx, c, trust, []*pb.Bundle{base}, mine); err != nil {
		return nil, err
	}
	start := time.Now().Add(-cfg.CapacityWindow)
	for _, key := range keys {
		if err := windowLeaves(ctx, c, base, key, start, cp.Size); err != nil {
			return nil, err
		}
	}
	if len(keys) > 1 {
		// The country's running total as of the mine's latest extraction:
		// say how much of the log it cannot see.
		latest, _ := latestTally(base, keys[1])
		seen, at := latest != nil, latest.GetIndex()
		size := max(cp.Size, head.GetTreeSize()) // the bundle's checkpoint may be an earlier one
		if since := size - min(size, at+1); !seen || since > 0 {
			where := "no running total of the country's is readable by " + mine
			if seen {
				where = fmt.Sprintf("the country's running total is counted up to log index %d, and the log took %d entries since, which %s may not read", at, since, mine)
			}
			fmt.Fprintf(e.stderr, "note: the national output check (ORIGIN_VOLUME, %s) may miss other mines' extractions: %s; the log counts them all, so it may raise a flag this check did not\n", country, where)
		}
	}
	return base, nil
}

// maxExtractionScan bounds the log entries provctl reads back from the
// log's end for a mine's latest extraction.
const maxExtractionScan = 100_000

// latestExtraction returns the lot of party's latest extraction among the
// last entries of a log of size entries, reading back from its end (a
// party's own entries are served in full, others' without their records);
// none if it has none there. all is false if it stopped at
// maxExtractionScan entries without finding one.
func latestExtraction(ctx context.Context, c *client.Client, party string, size uint64) (lot string, all bool, err error) {
	const chunk = 1000
	for end := size; end > 0; {
		if size-end >= maxExtractionScan {
			return "", false, nil
		}
		start := end - min(end, chunk)
		s, err := c.Ledger.StreamEntries(ctx, &apipb.StreamEntriesRequest{Start: start, End: end})
		if err != nil {
			return "", false, err
		}
		for {
			r, err := s.Recv()
			if err == io.EOF {
				break
			} else if err != nil {
				return "", false, fmt.Errorf("reading the log for %s's latest extraction: %w", party, err)
			}
			st := r.GetEntry().GetStatement()
			if x := st.GetExtraction(); x != nil && st.GetPartyId() == party {
				lot = x.GetLotId() // in log order: the last is the latest
			}
		}
		if lot != "" {
			return lot, true, nil
		}
		end = start
	}
	return "", true, nil
}

// windowLeaves adds to base, as leaves without their records, the leaves
// of running tally key from its latest in base back to the last one taken
// before start (or the key's first), each with its inclusion proof to a
// tree of size: the leaves whose tallies the capacity window of an
// extraction appended now starts from. It stops at a leaf the caller may
// not read.
func windowLeaves(ctx context.Context, c *client.Client, base *pb.Bundle, key string, start time.Time, size uint64) error {
	cur, t := latestTally(base, key)
	for cur != nil && t.Prev != index.NoPrev && !cur.GetIntegratedTime().AsTime().Before(start) {
		r, err := c.Ledger.GetEntry(ctx, &apipb.GetEntryRequest{Index: t.Prev})
		if err != nil {
			return fmt.Errorf("reading log entry %d to check the extraction: %w", t.Prev, err)
		}
		ent := r.GetEntry()
		if len(ent.GetData()) == 0 {
			return nil // another party's extraction, served without its tallies
		}
		leaf, err := client.EntryLeaf(ent)
		if err != nil {
			return err
		}
		proof, err := c.Ledger.GetInclusionProof(ctx, &apipb.GetInclusionProofRequest{Index: ent.GetIndex(), TreeSize: size})
		if err != nil {
			return err
		}
		cur = &pb.BundleRecord{Index: ent.GetIndex(), RecordId: leaf.Record[:], InclusionProof: proof.GetHashes(),
			IntegratedTime: ent.GetRecordTime(), Extra: ent.GetExtra(), MapRoot: ent.GetMapRoot()}
		base.Records = addRecord(base.Records, cur)
		ts, err := index.ParseExtra(ent.GetExtra())
		if err != nil {
			return fmt.Errorf("log entry %d: %w", ent.GetIndex(), err)
		}
		var ok bool
		if t, ok = index.Find(ts, key); !ok {
			return nil // the verifier says which tally it lacks
		}
	}
	return nil
}

// latestTally returns base's latest record whose leaf carries running
// tally key, and the tally; nil if none does.
func latestTally(base *pb.Bundle, key string) (*pb.BundleRecord, index.Tally) {
	var cur *pb.BundleRecord
	var t index.Tally
	for _, br := range base.GetRecords() { // sorted: the last is the latest
		if ts, err := index.ParseExtra(br.GetExtra()); err == nil {
			if tt, ok := index.Find(ts, key); ok {
				cur, t = br, tt
			}
		}
	}
	return cur, t
}

// addRecord adds br to records, sorted by index, unless a record of its
// index is there with its data.
func addRecord(records []*pb.BundleRecord, br *pb.BundleRecord) []*pb.BundleRecord {
	i, found := slices.BinarySearchFunc(records, br.GetIndex(), func(r *pb.BundleRecord, idx uint64) int { return cmp.Compare(r.GetIndex(), idx) })
	switch {
	case !found:
		return slices.Insert(records, i, br)
	case len(records[i].GetData()) == 0 && len(br.GetData()) > 0:
		records[i] = br
	}
	return records
}
