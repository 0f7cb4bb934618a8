package verifier

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// correctedFlagPrefix marks, in a Replay's store, a flag a correction
// withdrew: listed (with Flag.corrected_by), not counted in the verdict.
const correctedFlagPrefix = "cf/"

// correct follows correction c (in) of a lot's head record: it replays the
// corrected record again with the corrected values, as [Verify] does, and
// keeps the flags the original values raised and the corrected ones do
// not, marked corrected. A correction of a record the lot has moved on
// from is not followed: the states that continue the record were made
// from its values as first signed, and the listing keeps the flags they
// raised until a full verification (ReplayResult.Corrected).
func (p *Replay) correct(s ReplayStore, in ReplayRecord, c *pb.Correction) (ReplayResult, error) {
	r := p.r
	orig := in.Corrects
	if orig == nil || orig.ID.String() != c.GetCorrects() {
		return ReplayResult{}, fmt.Errorf("index %d: the replay of a correction needs the record it corrects, %s", in.Index, c.GetCorrects())
	}
	lot := c.GetLotId()
	x := &replayTx{p: p, s: s, nodes: map[skey]*node{}, touched: map[string]bool{}}
	r.byID, r.cands = map[string]*entry{}, nil
	var h headInfo
	if _, err := x.get([]byte("h/"+lot), &h); err != nil {
		return ReplayResult{}, err
	}
	k := skey{orig.ID.String(), lot}
	before, err := x.node(k)
	if err != nil {
		return ReplayResult{}, err
	}
	if h.Rec != k.rec || h.Node != k.rec || h.Consumed || before == nil || len(before.Next) > 0 {
		return ReplayResult{Corrected: []string{lot}}, nil
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
	again := *orig
	again.St = fx.corrected
	res, err := p.Apply(s, again)
	if err != nil {
		return ReplayResult{}, err
	}
	x = &replayTx{p: p, s: s, nodes: map[skey]*node{}, touched: map[string]bool{lot: true}}
	after, err := x.node(k)
	if err != nil || after == nil {
		return ReplayResult{}, fmt.Errorf("index %d: replaying the corrected record %s: %v", in.Index, k.rec, err)
	}
	for _, key := range before.Flags {
		if slices.Contains(after.Flags, key) {
			continue
		}
		// Raised by the record as first signed, not as corrected: kept,
		// marked. (Flags joined to the state later, an assay's, stay
		// as they were.)
		if idx, _ := strconv.ParseUint(strings.SplitN(key, "|", 2)[0], 10, 64); idx == orig.Index {
			if err := x.withdraw(key, in.ID.String()); err != nil {
				return ReplayResult{}, err
			}
		}
		after.Flags = append(after.Flags, key)
	}
	if err := x.set(nodeKey(k), after); err != nil {
		return ReplayResult{}, err
	}
	if err := x.summarize(lot); err != nil {
		return ReplayResult{}, err
	}
	res.Lots = union(res.Lots, []string{lot})
	return res, nil
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
