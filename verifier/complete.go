package verifier

import (
	"fmt"
	"maps"
	"slices"

	"github.com/antimony-ledger/provenance/index"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// Completeness: a bundle must hold every record that bears on the lot,
// not only records that are authentic. The log's verifiable map commits,
// for each lot and each party, the chain of its records (package index);
// the bundle carries the map's values, proved against the root that the
// checkpoint's last leaf commits. A record left out of a lot of the
// ancestry, or of a signer's registry records (a revocation, say), makes
// the chain differ: the bundle is INVALID, and the error says what the log
// holds that the bundle does not.

// complete checks that the bundle holds every record of each lot in the
// lot's ancestry (anc) and every registry record of each party that signed
// one of its records (ancRecs).
func (r *run) complete(anc map[skey]bool, ancRecs map[*entry]bool) {
	if r.preview {
		return // the log's map knows nothing of pending records
	}
	if r.mapRoot == nil {
		r.fail("the bundle lacks the checkpoint's last leaf (index %d), whose map root shows which records the log holds (incomplete bundle)", r.ckpt.Size-1)
		return
	}
	proofs := map[string]*pb.MapProof{}
	for _, p := range r.b.GetMapProofs() {
		proofs[string(p.GetKey())] = p
	}
	lots := map[string]bool{}
	for k := range anc {
		lots[k.lot] = true
	}
	// Every bundle must hold the registrar's rotations: one left out
	// would let a retired registrar key go on signing.
	parties := map[string]bool{record.RegistrarPartyID: true}
	for rec := range ancRecs {
		parties[rec.st.GetPartyId()] = true
		if cp := rec.st.GetCorrection().GetCounterpartyId(); cp != "" {
			parties[cp] = true // its co-signer: a revocation of the key must not be left out
		}
	}
	// The chain of the bundle's records of each key, in one pass.
	got := map[string]index.Chain{}
	for _, rec := range r.recs {
		for _, lot := range index.Lots(rec.st) {
			if lots[lot] {
				k := string(index.LotKey(lot))
				got[k] = got[k].Append(rec.idx, rec.rid)
			}
		}
		if p, ok := index.Party(rec.st); ok && parties[p] {
			k := string(index.PartyKey(p))
			got[k] = got[k].Append(rec.idx, rec.rid)
		}
	}
	for _, lot := range slices.Sorted(maps.Keys(lots)) {
		key := index.LotKey(lot)
		r.completeKey(proofs, key, "lot "+lot, got[string(key)])
	}
	for _, party := range slices.Sorted(maps.Keys(parties)) {
		key := index.PartyKey(party)
		r.completeKey(proofs, key, "the registry records of party "+party, got[string(key)])
	}
}

// completeKey checks the chain of the bundle's records of one key, got,
// against the key's chain in the map.
func (r *run) completeKey(proofs map[string]*pb.MapProof, key []byte, what string, got index.Chain) {
	p := proofs[string(key)]
	if p == nil {
		r.fail("the bundle has no map proof for %s, so it cannot show that it holds all of them (incomplete bundle)", what)
		return
	}
	mp := tlog.MapProof{}
	for _, s := range p.GetSiblings() {
		if len(s) != 32 {
			r.fail("the map proof for %s has a sibling of %d bytes", what, len(s))
			return
		}
		mp.Siblings = append(mp.Siblings, [32]byte(s))
	}
	if k, v := p.GetOtherKey(), p.GetOtherValue(); len(k) > 0 || len(v) > 0 {
		if len(k) != 32 || len(v) != 32 {
			r.fail("the map proof for %s is malformed", what)
			return
		}
		ok, ov := [32]byte(k), [32]byte(v)
		mp.OtherKey, mp.OtherValue = &ok, &ov
	}
	value := p.GetValue()
	if p.GetAbsent() {
		value = nil
	} else if value == nil {
		value = []byte{}
	}
	if err := tlog.VerifyMapProof(*r.mapRoot, key, value, mp); err != nil {
		r.fail("the map proof for %s does not verify against the map root the checkpoint commits: %v", what, err)
		return
	}
	var want index.Chain
	if value != nil {
		var err error
		if want, err = index.ParseChain(value); err != nil {
			r.fail("the log's value for %s: %v", what, err)
			return
		}
	}
	if got == want {
		return
	}
	msg := fmt.Sprintf("the log holds %d records of %s, the latest at index %d; the bundle holds %d", want.Count, what, want.Head, got.Count)
	if want.Count > 0 && !r.hasRecord(want.Head) {
		msg += fmt.Sprintf(", without the latest (index %d)", want.Head)
	} else if got.Count == want.Count {
		msg += ", not the same ones"
	}
	r.fail("%s (incomplete bundle: a record is missing or does not belong)", msg)
}

// hasRecord reports whether the bundle holds the record at index idx.
func (r *run) hasRecord(idx uint64) bool { return r.idAt(idx) != "" }
