package verifier

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// correctedFlagPrefix marks, in a Replay's store, a flag a correction
// withdrew: listed (with Flag.corrected_by), not counted in the verdict.
const correctedFlagPrefix = "cf/"

// ReplayNotFollowedPrefix marks, in a Replay's store, by lot id, that a
// correction of the lot, or of a lot it was made from, was not followed
// (its caller sets it from ReplayResult.Corrected, and for a lot made
// from such a lot when a correction of it comes): the lot's states keep
// values as first signed, so no later correction of it is followed.
const ReplayNotFollowedPrefix = "nf/"

// correct follows correction c (in): it replays the corrected record
// again with the corrected values, as [Verify] does, and the lot's records
// since it, and keeps the flags the values as first signed raised and the
// corrected ones do not, marked corrected. It does so when those records
// are one line of custody of the lot ([replayTx.line]); past a
// transformation, or a state continued twice, it does not follow the
// correction (ReplayResult.Corrected), and the listing keeps the flags of
// the values as first signed until a full verification.
//
// It withdraws the flags on the records from the corrected one up to the
// correction, as [Verify] does: the records logged after it are read
// with the corrected values only, in both.
func (p *Replay) correct(s ReplayStore, in ReplayRecord, c *pb.Correction) (ReplayResult, error) {
	r := p.r
	orig := in.Corrects
	if orig == nil || orig.ID.String() != c.GetCorrects() {
		return ReplayResult{}, fmt.Errorf("index %d: the replay of a correction needs the record it corrects, %s", in.Index, c.GetCorrects())
	}
	lot := c.GetLotId()
	x := &replayTx{p: p, s: s, nodes: map[skey]*node{}, touched: map[string]bool{}}
	r.byID, r.cands = map[string]*entry{}, nil
	// A replay of this correction cut short (a transaction that filled up
	// mid-record, then a crash) left its mark, with the lot as it stood
	// before: replayed again, it starts from that, not from the state the
	// cut-short replay left.
	markKey := []byte(correctingPrefix + in.ID.String())
	var mark correctionMark
	resumed, err := x.get(markKey, &mark)
	if err != nil {
		return ReplayResult{}, err
	}
	h := mark.H
	if !resumed {
		if _, err := x.get([]byte("h/"+lot), &h); err != nil {
			return ReplayResult{}, err
		}
	}
	k := skey{orig.ID.String(), lot}
	before, err := x.node(k)
	if err != nil {
		return ReplayResult{}, err
	}
	// The records to replay again: the corrected one, and the lot's
	// records since, if they are one line of custody of this lot alone.
	chain := []ReplayRecord{*orig}
	chain = append(chain, in.Later...)
	if before == nil || h.Consumed {
		return ReplayResult{Corrected: []string{lot}}, nil
	}
	if ok, err := x.line(chain, lot, h); err != nil || !ok {
		return ReplayResult{Corrected: []string{lot}}, err
	}
	// The flags the lot's head derives (a lot's Sb per mine) are made
	// again by the summary, which deletes those it no longer raises: kept
	// here to keep the withdrawn ones.
	derived, was := mark.Derived, mark.Was
	if !resumed {
		var sum ReplayLot
		if _, err := x.get([]byte(ReplayLotPrefix+lot), &sum); err != nil {
			return ReplayResult{}, err
		}
		derived = map[string][]byte{}
		for _, key := range sum.Derived {
			b, err := x.s.Get([]byte(ReplayFlagPrefix + key))
			if err != nil {
				return ReplayResult{}, err
			}
			if b != nil {
				derived[key] = slices.Clone(b)
			}
		}
		was = map[skey][]string{}
		for _, rr := range chain {
			kk := skey{rr.ID.String(), lot}
			if n, err := x.node(kk); err != nil {
				return ReplayResult{}, err
			} else if n != nil {
				was[kk] = slices.Clone(n.Flags)
			}
		}
		// The mark first: a transaction that fills up commits it before
		// anything this replay changes.
		if err := x.set(markKey, &correctionMark{H: h, Derived: derived, Was: was}); err != nil {
			return ReplayResult{}, err
		}
	}
	if rc := orig.St.GetReceipt(); rc != nil {
		if _, err := x.rec(rc.GetDispatchLink()); err != nil { // correct reads the sender
			return ReplayResult{}, err
		}
	}
	fx, err := r.correct(p.entry(in), p.entry(*orig), c)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("index %d: %w", in.Index, err)
	}
	chain[0].St = fx.corrected
	var res ReplayResult
	for _, rr := range chain {
		if rr.St.GetCorrection() != nil {
			continue // of a record before the chain (line)
		}
		got, err := p.Apply(s, rr)
		if err != nil {
			return ReplayResult{}, err
		}
		res.Lots = union(res.Lots, got.Lots)
	}
	x = &replayTx{p: p, s: s, nodes: map[skey]*node{}, touched: map[string]bool{lot: true}}
	for _, rr := range chain {
		kk := skey{rr.ID.String(), lot}
		old, ok := was[kk]
		if !ok {
			continue
		}
		after, err := x.node(kk)
		if err != nil || after == nil {
			return ReplayResult{}, fmt.Errorf("index %d: replaying record %s again: %v", in.Index, kk.rec, err)
		}
		for _, key := range old {
			idx, _ := strconv.ParseUint(strings.SplitN(key, "|", 2)[0], 10, 64)
			stretch := idx >= orig.Index && idx < in.Index
			if slices.Contains(after.Flags, key) {
				// Raised again by the corrected values on a record of
				// the stretch (not one a state before it passed on): it
				// counts again, if an earlier correction withdrew it (a
				// cold review's case: a correction of a receipt's place
				// made a leg as fast as the one an earlier correction
				// withdrew).
				if stretch {
					if err := x.s.Delete([]byte(correctedFlagPrefix + key)); err != nil {
						return ReplayResult{}, err
					}
				}
				continue
			}
			withdrawn, err := x.s.Get([]byte(correctedFlagPrefix + key))
			if err != nil {
				return ReplayResult{}, err
			}
			if withdrawn != nil {
				// Withdrawn by an earlier correction, and not raised
				// again: kept as it is, withdrawn by that one alone, as
				// a full verification lists it.
				after.Flags = append(after.Flags, key)
				continue
			}
			// Raised by the records as first signed, not as corrected:
			// kept, marked. Flags of earlier records stay as they were;
			// so do the correction's own and later records' (added
			// before this replay: found by a full verification beside the
			// follower, or this correction replayed a second time), and
			// the judgements of keys by registry records logged later,
			// which no replay of the chain raises.
			if stretch && !ReplayedElsewhere(flagKeyRule(key)) {
				if err := x.withdraw(key, in.ID.String()); err != nil {
					return ReplayResult{}, err
				}
			}
			after.Flags = append(after.Flags, key)
		}
		if err := x.set(nodeKey(kk), after); err != nil {
			return ReplayResult{}, err
		}
	}
	if err := x.summarize(lot); err != nil {
		return ReplayResult{}, err
	}
	if err := x.keepDerived(lot, derived, in.ID.String()); err != nil {
		return ReplayResult{}, err
	}
	if err := x.s.Delete(markKey); err != nil {
		return ReplayResult{}, err
	}
	res.Lots = union(res.Lots, []string{lot})
	return res, nil
}

// correctingPrefix holds, by a correction's record id, a correctionMark
// while the replay follows it.
const correctingPrefix = "cx/"

// A correctionMark is what correct read of a lot before following a
// correction: its head, its derived flags, and the flags of the chain's
// states.
type correctionMark struct {
	H       headInfo
	Derived map[string][]byte
	Was     map[skey][]string
}

func (m *correctionMark) marshal(e *enc) {
	m.H.marshal(e)
	e.u(uint64(len(m.Derived)))
	for _, k := range slices.Sorted(maps.Keys(m.Derived)) {
		e.s(k)
		e.s(string(m.Derived[k]))
	}
	e.u(uint64(len(m.Was)))
	for _, k := range slices.SortedFunc(maps.Keys(m.Was), func(a, b skey) int { return strings.Compare(a.rec+"\x00"+a.lot, b.rec+"\x00"+b.lot) }) {
		e.s(k.rec)
		e.s(k.lot)
		e.ss(m.Was[k])
	}
}

func (m *correctionMark) unmarshal(d *dec) {
	m.H.unmarshal(d)
	m.Derived = map[string][]byte{}
	for range d.count() {
		k := d.s()
		m.Derived[k] = []byte(d.s())
	}
	m.Was = map[skey][]string{}
	for range d.count() {
		k := skey{rec: d.s(), lot: d.s()}
		m.Was[k] = d.ss()
	}
}

// keepDerived keeps, marked corrected by corr and with the lot for good
// (ReplayLot.Extra), the flags of derived (the lot's derived flags just
// before the correction, by key) that the summary just after it no longer
// raises, as [Verify] keeps them (withdrawnLotYear): a derived flag is of
// the lot's state, which a correction of any of its records may change.
func (x *replayTx) keepDerived(lot string, derived map[string][]byte, corr string) error {
	var sum ReplayLot
	if _, err := x.get([]byte(ReplayLotPrefix+lot), &sum); err != nil {
		return err
	}
	var kept []string
	for _, key := range slices.Sorted(maps.Keys(derived)) {
		if slices.Contains(sum.Keys, key) {
			continue
		}
		f := &pb.Flag{}
		if err := proto.Unmarshal(derived[key], f); err != nil {
			return err
		}
		if _, err := x.putFlag(f); err != nil {
			return err
		}
		if err := x.withdraw(key, corr); err != nil {
			return err
		}
		kept = append(kept, key)
	}
	if len(kept) == 0 {
		return nil
	}
	sum.Extra = union(sum.Extra, kept)
	if err := x.set([]byte(ReplayLotPrefix+lot), &sum); err != nil {
		return err
	}
	return x.summarize(lot) // the keys, rules and verdict, with them
}

// line reports whether chain (a corrected record and the records of lot
// since) is one line of custody of lot alone, ending at its head h, so
// that replaying it again in order remakes the lot's states: dispatches,
// receipts, assays and lab nominations of lot only, each state continued
// once, and corrections of the lot's records before the chain.
func (x *replayTx) line(chain []ReplayRecord, lot string, h headInfo) (bool, error) {
	// A lot with a correction not followed keeps states as first signed:
	// no later correction of it is followed from them either (its caller
	// marks the lots made from such a lot too).
	if nf, err := x.s.Get([]byte(ReplayNotFollowedPrefix + lot)); err != nil || nf != nil {
		return false, err
	}
	last := chain[0].ID.String()
	for i, rr := range chain {
		switch b := rr.St.GetBody().(type) {
		case *pb.Statement_Extraction, *pb.Statement_Dispatch, *pb.Statement_Receipt:
			if i > 0 && rr.St.GetExtraction() != nil {
				return false, nil
			}
			last = rr.ID.String()
			var c contInfo
			if _, err := x.get([]byte("c/"+last+"\x00"+lot), &c); err != nil {
				return false, err
			}
			if c.N > 1 {
				return false, nil // continued twice: a DOUBLE_SPEND the replay counts by continuation
			}
		case *pb.Statement_Assay:
			if b.Assay.GetLotId() != lot {
				return false, nil
			}
		case *pb.Statement_LabNomination:
			if b.LabNomination.GetLotId() != lot {
				return false, nil
			}
		case *pb.Statement_Correction:
			// An earlier correction of the lot, of a record before the
			// chain (a dispatch corrected, then its receipt), which the
			// follower followed: the states the chain starts from
			// already hold it, and it changes none of the chain's, so
			// the replay passes over it. Not one of a record in the
			// chain, nor while a correction of the lot was not followed
			// (the states would not hold it: a cold review's case).
			if i == 0 || b.Correction.GetLotId() != lot || slices.ContainsFunc(chain, func(c ReplayRecord) bool { return c.ID.String() == b.Correction.GetCorrects() }) {
				return false, nil
			}
			continue // (and the lot had none not followed: above)
		default:
			return false, nil
		}
		if l := statementLots(rr.St); len(l) > 1 || (len(l) == 1 && l[0] != lot) {
			return false, nil
		}
	}
	return h.Rec == last && h.Node == last, nil
}

// withdraw marks the flag listed under key as withdrawn by correction
// corr.
func (x *replayTx) withdraw(key, corr string) error {
	b, err := x.s.Get([]byte(ReplayFlagPrefix + key))
	if err != nil || b == nil {
		return err
	}
	f := &pb.Flag{}
	if err := proto.Unmarshal(b, f); err != nil {
		return err
	}
	if !slices.Contains(f.CorrectedBy, corr) {
		f.CorrectedBy = append(f.CorrectedBy, corr)
	}
	if _, err := x.putFlag(f); err != nil {
		return err
	}
	return x.s.Set([]byte(correctedFlagPrefix+key), []byte(corr))
}
