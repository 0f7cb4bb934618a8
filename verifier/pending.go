package verifier

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/index"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// Previewing records before they are written: a clerk who types 30,000
// kg for 3,000 learns of the CRITICAL flag before it is permanent.

// A Preview says which flags lots would carry if pending records, signed
// but not yet in the log, were appended to it next. It is not a
// verification and carries no verdict: the pending records have no
// inclusion proof, and nothing in a Preview vouches for them.
type Preview struct {
	// Before holds [VerifyLot]'s report of each bundle as it is.
	Before []*pb.VerificationReport
	// Flags are the previewed lots' flags with the pending records
	// appended.
	Flags []*pb.Flag
	// New are the flags of Flags that no report of Before carries (by
	// rule, lot and record index), those the pending records would raise,
	// except those of Expected.
	New []*pb.Flag
	// Expected are the flags of Flags, not in Before, that say only what
	// state the pending records leave a lot in, as they should: the
	// UNCONFIRMED_CUSTODY of a pending dispatch, whose lot is in transit
	// until its addressee signs the receipt. They are not problems the
	// records cause.
	Expected []*pb.Flag
	// Errors say why there is no preview: a bundle that does not verify
	// as it is, bundles of different checkpoints, a pending record that
	// does not decode or whose signatures do not verify with keys the
	// bundles register, or a lot that would not verify with the records.
	Errors []string
}

// PreviewLots verifies each bundle with [VerifyLot] as it is; if all
// verify (VERIFIED or FLAGGED) and are of one checkpoint, it appends the
// pending envelopes to their records, as the log would next (at the
// indexes after the checkpoint's last, integrated at cfg.Now or after the
// last leaf), checks the pending records' signatures with the keys the
// bundles register, and verifies each of lots against the whole. The
// bundles' records are checked as [Verify] checks them, and their
// completeness by VerifyLot before anything is appended; only the pending
// records go without an inclusion proof. The bundles are not modified.
//
// A party whose registration is not in any bundle (an addressee who has
// signed nothing in the lot's history) cannot sign a pending record: give
// a bundle that holds its registry records, or its registration record
// with an inclusion proof to the same checkpoint among a bundle's records.
func PreviewLots(lots []string, bundles []*pb.Bundle, pending []*pb.Envelope, trust Trust, cfg Config) *Preview {
	p := &Preview{}
	if len(bundles) == 0 {
		p.Errors = append(p.Errors, "no bundle to preview against")
		return p
	}
	before := map[string]bool{}
	for _, b := range bundles {
		rep := VerifyLot(b.GetLotId(), b, trust, cfg)
		p.Before = append(p.Before, rep)
		if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
			p.Errors = append(p.Errors, fmt.Sprintf("lot %s does not verify as it is: %s", b.GetLotId(), strings.Join(rep.GetErrors(), "; ")))
			continue
		}
		for _, f := range rep.GetFlags() {
			before[flagKey(f)] = true
		}
		if b.GetCheckpoint() != bundles[0].GetCheckpoint() {
			p.Errors = append(p.Errors, fmt.Sprintf("the bundles of lots %s and %s are of different checkpoints: fetch them again", bundles[0].GetLotId(), b.GetLotId()))
		}
	}
	if len(p.Errors) > 0 {
		return p
	}
	merged := proto.Clone(bundles[0]).(*pb.Bundle)
	merged.Records = mergeRecords(bundles)
	seen := map[string]bool{}
	for _, lot := range lots {
		merged.LotId = lot
		r := newRun(merged, trust, cfg, nil)
		r.preview = true
		rep := &pb.VerificationReport{LotId: lot}
		if r.crypto() && r.appendPending(pending) {
			r.analyse(rep)
		}
		if len(r.errs) > 0 {
			p.Errors = append(p.Errors, fmt.Sprintf("lot %s with the pending records: %s", lot, strings.Join(r.errs, "; ")))
			continue
		}
		for _, f := range rep.GetFlags() {
			k := flagKey(f)
			if seen[k] {
				continue
			}
			seen[k] = true
			p.Flags = append(p.Flags, f)
			switch {
			case before[k]:
			case r.expected(f):
				p.Expected = append(p.Expected, f)
			default:
				p.New = append(p.New, f)
			}
		}
	}
	p.Flags, p.New, p.Expected = sortFlags(p.Flags), sortFlags(p.New), sortFlags(p.Expected)
	return p
}

// expected reports whether f, of r's verification with pending records
// appended after the checkpoint, says only the state a pending record
// leaves its lot in: the flag inTransit raised (and no other check, such
// as a custody break of the same rule) for a lot whose head is a pending
// dispatch. One raised on a dispatch in the log is not: a lot left in
// transit that a pending record does not receive.
func (r *run) expected(f *pb.Flag) bool {
	return r.transit[f] && f.GetIndex() >= r.ckpt.Size
}

// PreviewNewLot says which flags pending records that start lot, a lot the
// log does not hold yet (an extraction), would raise on it if appended to
// the log next. There is no bundle of such a lot to verify first: base
// gives the checkpoint and, each with its inclusion proof to it, the
// records the rules need: the registry records of the pending records'
// signers (at least their registrations) and, as for a bundle, the latest
// extraction leaf of each running tally the pending extractions add to
// (their mine's and its country's) with the leaves back along the tally
// to the capacity window's start; base's lot_id is not read. Its records
// are checked as [Verify] checks a bundle's, but nothing shows that base is
// complete (it needs no map proofs): a tally's latest leaf left out makes
// the volume rules count less, and a registry record left out can hide a
// rotation or a revocation. Every flag on lot is new, or expected.
func PreviewNewLot(lot string, base *pb.Bundle, pending []*pb.Envelope, trust Trust, cfg Config) *Preview {
	p := &Preview{}
	if base == nil {
		p.Errors = append(p.Errors, "no records to preview against")
		return p
	}
	b := proto.Clone(base).(*pb.Bundle)
	b.LotId = lot
	r := newRun(b, trust, cfg, nil)
	r.preview = true
	rep := &pb.VerificationReport{LotId: lot}
	if r.crypto() {
		for _, rec := range r.recs {
			if slices.Contains(index.Lots(rec.st), lot) {
				r.fail("index %d names lot %q: the log holds it already", rec.idx, lot)
				break
			}
		}
	}
	if len(r.errs) == 0 && r.appendPending(pending) {
		r.analyse(rep)
	}
	if len(r.errs) > 0 {
		p.Errors = append(p.Errors, fmt.Sprintf("lot %s with the pending records: %s", lot, strings.Join(r.errs, "; ")))
		return p
	}
	for _, f := range rep.GetFlags() {
		if r.expected(f) {
			p.Expected = append(p.Expected, f)
		} else {
			p.New = append(p.New, f)
		}
	}
	p.Flags, p.New, p.Expected = sortFlags(rep.GetFlags()), sortFlags(p.New), sortFlags(p.Expected)
	return p
}

// flagKey identifies a flag across two verifications of one log, whose
// messages may differ (a total that grew).
func flagKey(f *pb.Flag) string {
	return fmt.Sprintf("%s|%v|%s|%d", f.GetRule(), f.GetSeverity(), f.GetLotId(), f.GetIndex())
}

// mergeRecords returns the union of the bundles' records by index,
// sorted; a record shown with its data wins over its leaf alone.
func mergeRecords(bundles []*pb.Bundle) []*pb.BundleRecord {
	byIdx := map[uint64]*pb.BundleRecord{}
	for _, b := range bundles {
		for _, br := range b.GetRecords() {
			if have := byIdx[br.GetIndex()]; have == nil || len(have.GetData()) == 0 {
				byIdx[br.GetIndex()] = br
			}
		}
	}
	out := make([]*pb.BundleRecord, 0, len(byIdx))
	for _, br := range byIdx {
		out = append(out, br)
	}
	slices.SortFunc(out, func(a, b *pb.BundleRecord) int { return cmp.Compare(a.GetIndex(), b.GetIndex()) })
	return out
}

// appendPending appends the pending envelopes after the checkpoint's
// last leaf, resolves their signers in the registry the bundle built and
// verifies their signatures. Only a run with preview set may hold them:
// complete skips what the log's map cannot show.
func (r *run) appendPending(envs []*pb.Envelope) bool {
	now := time.Now()
	if r.cfg.Now != nil {
		now = r.cfg.Now()
	}
	if n := len(r.order); n > 0 {
		if last := r.leaves[r.order[n-1]].Time; now.Before(last) {
			now = last
		}
	}
	var sigs []pending
	for i, env := range envs {
		idx := r.ckpt.Size + uint64(i)
		data, err := record.EncodeEnvelope(env)
		if err != nil {
			return r.fail("pending record %d: %v", i+1, err)
		}
		env, st, err := record.Decode(data)
		if err == nil {
			err = record.CheckDisplaySafe(st)
		}
		if err != nil {
			return r.fail("pending record %d: %v", i+1, err)
		}
		rid := tlog.RecordIDOf(data)
		if r.byID[rid.String()] != nil {
			return r.fail("pending record %d is in the log already (record %s)", i+1, rid)
		}
		leaf := tlog.Leaf{Time: now, Record: rid, Extra: r.pendingTallies(st)}
		rec := &entry{idx: idx, rid: rid, id: rid.String(), env: env, st: st, time: st.GetEventTime().AsTime(), leaf: leaf}
		r.recs = append(r.recs, rec)
		r.byID[rec.id] = rec
		r.leaves[idx] = leaf
		r.order = append(r.order, idx)
		if sigs, err = r.applyRegistry(rec, sigs); err != nil {
			return r.fail("pending record %d: %v", i+1, err)
		}
	}
	return r.verifySigs(sigs)
}

// pendingTallies returns the leaf extra data the log would give a pending
// record (index.Add): for an extraction, the running tallies
// of its mine and of the mine's registered country, each the latest tally
// of the key among the run's leaves plus this extraction (the key's first
// if no leaf carries it). A tally the bundle does not hold the latest leaf
// of is counted from the latest it holds.
func (r *run) pendingTallies(st *pb.Statement) []byte {
	x := st.GetExtraction()
	if x == nil {
		return nil
	}
	country := r.party(st.GetPartyId()).GetRegistration().GetCountry()
	var ts []index.Tally
	for _, key := range []string{index.MineTally(st.GetPartyId()), index.CountryTally(country)} {
		prev, prevAt := index.Tally{Key: key}, uint64(index.NoPrev)
		for _, i := range r.order {
			if t, err := index.ParseExtra(r.leaves[i].Extra); err == nil {
				if t, ok := index.Find(t, key); ok { // r.order is ascending: the last is the latest
					prev, prevAt = t, i
				}
			}
		}
		ts = append(ts, prev.Add(prevAt, x))
	}
	return index.MarshalExtra(ts)
}
