package verifier

import (
	"slices"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// Ancestry: which records of a bundle are the lot's own history, walked
// back along the custody links from the lot's head record. Only they raise
// flags; a link to a record not in the bundle makes it incomplete.

// ancestry walks back from the lot's head record along the custody links
// and returns the (record, lot) pairs of the lot's history and the set of
// records in it. A link to a record not in the bundle makes it incomplete.
func (r *run) ancestry(head *entry, lot string) (map[skey]bool, map[*entry]bool) {
	anc := map[skey]bool{}
	recs := map[*entry]bool{}
	type item struct {
		rec *entry
		lot string
	}
	stack := []item{{head, lot}}
	follow := func(from *entry, link, lot, field string) {
		tgt := r.byID[link]
		if tgt == nil {
			r.fail("index %d: %s %s names a record not in the bundle (incomplete bundle)", from.idx, field, link)
			return
		}
		stack = append(stack, item{tgt, lot})
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := skey{it.rec.id, it.lot}
		if anc[k] {
			continue
		}
		anc[k] = true
		recs[it.rec] = true
		switch b := it.rec.st.GetBody().(type) {
		case *pb.Statement_Dispatch:
			if b.Dispatch.GetLotId() == it.lot {
				follow(it.rec, b.Dispatch.GetCustodyLink(), it.lot, "dispatch.custody_link")
			}
		case *pb.Statement_Receipt:
			if b.Receipt.GetLotId() == it.lot {
				follow(it.rec, b.Receipt.GetDispatchLink(), it.lot, "receipt.dispatch_link")
			}
		case *pb.Statement_Transformation:
			t := b.Transformation
			isOut := slices.ContainsFunc(t.GetOutputs(), func(o *pb.TransformationOutput) bool { return o.GetLotId() == it.lot })
			for _, in := range t.GetInputs() {
				if isOut || in.GetLotId() == it.lot {
					follow(it.rec, in.GetLink(), in.GetLotId(), "transformation input link")
				}
			}
		}
	}
	// Assays of the lots in the history, drawn from a record in it, and
	// corrections of its records.
	for _, rec := range r.recs {
		if a := rec.st.GetAssay(); a != nil && anc[skey{a.GetSubjectLink(), a.GetLotId()}] {
			anc[skey{rec.id, a.GetLotId()}] = true
			recs[rec] = true
		}
		if c := rec.st.GetCorrection(); c != nil && anc[skey{c.GetCorrects(), c.GetLotId()}] {
			anc[skey{rec.id, c.GetLotId()}] = true
			recs[rec] = true
		}
	}
	return anc, recs
}

// head returns the last record in the bundle that names lot as its
// subject, an output or an input.
func (r *run) head(lot string) *entry {
	for i := len(r.recs) - 1; i >= 0; i-- {
		rec := r.recs[i]
		switch b := rec.st.GetBody().(type) {
		case *pb.Statement_Extraction:
			if b.Extraction.GetLotId() == lot {
				return rec
			}
		case *pb.Statement_Dispatch:
			if b.Dispatch.GetLotId() == lot {
				return rec
			}
		case *pb.Statement_Receipt:
			if b.Receipt.GetLotId() == lot {
				return rec
			}
		case *pb.Statement_Transformation:
			for _, o := range b.Transformation.GetOutputs() {
				if o.GetLotId() == lot {
					return rec
				}
			}
			for _, in := range b.Transformation.GetInputs() {
				if in.GetLotId() == lot {
					return rec
				}
			}
		}
	}
	return nil
}
