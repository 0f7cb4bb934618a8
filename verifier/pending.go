package verifier

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

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
	// rule, lot and record index): those the pending records would raise.
	New []*pb.Flag
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
			if !before[k] {
				p.New = append(p.New, f)
			}
		}
	}
	p.Flags, p.New = sortFlags(p.Flags), sortFlags(p.New)
	return p
}

// flagKey identifies a flag across two verifications of one log, whose
// messages may differ (a total that grew).
func flagKey(f *pb.Flag) string {
	return fmt.Sprintf("%s|%s|%d", f.GetRule(), f.GetLotId(), f.GetIndex())
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
		rec := &entry{idx: idx, rid: rid, id: rid.String(), env: env, st: st, time: st.GetEventTime().AsTime(), leaf: tlog.Leaf{Time: now, Record: rid}}
		r.recs = append(r.recs, rec)
		r.byID[rec.id] = rec
		if sigs, err = r.applyRegistry(rec, sigs); err != nil {
			return r.fail("pending record %d: %v", i+1, err)
		}
	}
	return r.verifySigs(sigs)
}
