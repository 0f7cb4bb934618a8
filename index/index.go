// Package index is the log's verifiable index of records, with no I/O: it
// says which records belong to which key, and what the log commits for
// each key so that a bundle can prove it holds all of a key's records and
// a verifier can sum other parties' records without seeing them. The
// custody store writes it as records are appended; the verifier reads it
// from a bundle. Both call this package, so they cannot disagree.
//
// # Chains
//
// Every lot and every party is a key of the log's verifiable map
// ([tlog.Map]), whose root the last leaf of each commit group commits. A
// lot's value is the [Chain] of every record naming the lot (its
// extraction or making, assays, lab nominations, dispatches, receipts,
// transformations); a party's, the chain of its registry records
// (registration, rotations, revocations); the registrar's (party id "registrar"), the chain of the
// registrar rotations. A chain is a count and a hash over the records' indexes
// and ids in log order, so a bundle that leaves one out, or holds one
// that is not there, gives another chain: given the map value at a
// checkpoint, the bundle is complete or the verifier says what is missing.
//
// # Tallies
//
// Every extraction's leaf carries two running [Tally] values: its mine's
// and its mine's country's, each counting and summing every extraction of
// that key up to and including this one, with the index of the one before.
// The sum over a window of integration time is the difference of two
// tallies: at the lot's extraction, and at the last extraction before the
// window, which its successor's Prev proves to be the last. So the
// capacity and national-volume rules need no competitor's record.
//
// The log's operator computes both; anyone replaying the log recomputes
// them (custody.Store.Audit), so a wrong value is evidence against the
// operator.
package index

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// LotKey is the map key of a lot's chain.
func LotKey(lot string) []byte { return []byte("lot\x00" + lot) }

// PartyKey is the map key of a party's chain of registry records.
func PartyKey(party string) []byte { return []byte("party\x00" + party) }

// Lots returns the lots a statement names, each once, in the order it
// names them: every record naming a lot is in that lot's chain.
func Lots(st *pb.Statement) []string {
	var lots []string
	add := func(l string) {
		if l != "" && !slices.Contains(lots, l) {
			lots = append(lots, l)
		}
	}
	switch b := st.GetBody().(type) {
	case *pb.Statement_Extraction:
		add(b.Extraction.GetLotId())
	case *pb.Statement_Assay:
		add(b.Assay.GetLotId())
	case *pb.Statement_Dispatch:
		add(b.Dispatch.GetLotId())
	case *pb.Statement_Receipt:
		add(b.Receipt.GetLotId())
	case *pb.Statement_LabNomination:
		add(b.LabNomination.GetLotId())
	case *pb.Statement_Correction:
		add(b.Correction.GetLotId())
	case *pb.Statement_Transformation:
		for _, in := range b.Transformation.GetInputs() {
			add(in.GetLotId())
		}
		for _, out := range b.Transformation.GetOutputs() {
			add(out.GetLotId())
		}
	}
	return lots
}

// Party returns the party a registry statement is about, and whether st
// is one: its record is in that party's chain.
func Party(st *pb.Statement) (string, bool) {
	switch b := st.GetBody().(type) {
	case *pb.Statement_PartyRegistration:
		return b.PartyRegistration.GetPartyId(), true
	case *pb.Statement_KeyRotation:
		return b.KeyRotation.GetPartyId(), true
	case *pb.Statement_KeyRevocation:
		return b.KeyRevocation.GetPartyId(), true
	case *pb.Statement_RegistrarRotation:
		return record.RegistrarPartyID, true
	}
	return "", false
}

// A Chain is a key's value in the map: the number of its records, the
// index of the latest, and a hash over all of them in log order.
type Chain struct {
	Count uint64
	Head  uint64 // index of the latest record; 0 when Count is 0
	Hash  [32]byte
}

// Append returns the chain with one more record, at index with id:
//
//	Hash' = SHA-256("antimony chain v1" || Hash || BE8(index) || id)
func (c Chain) Append(index uint64, id tlog.RecordID) Chain {
	var b [len(chainDomain) + 32 + 8 + 32]byte
	n := copy(b[:], chainDomain)
	n += copy(b[n:], c.Hash[:])
	binary.BigEndian.PutUint64(b[n:], index)
	copy(b[n+8:], id[:])
	return Chain{Count: c.Count + 1, Head: index, Hash: sha256.Sum256(b[:])}
}

const chainDomain = "antimony chain v1"

// Marshal encodes a chain as BE8(Count) || BE8(Head) || Hash.
func (c Chain) Marshal() []byte {
	b := binary.BigEndian.AppendUint64(nil, c.Count)
	b = binary.BigEndian.AppendUint64(b, c.Head)
	return append(b, c.Hash[:]...)
}

// ErrEncoding is wrapped by the errors of the parsers of this package.
var ErrEncoding = errors.New("index: malformed")

// ParseChain decodes a chain encoded by [Chain.Marshal].
func ParseChain(b []byte) (Chain, error) {
	if len(b) != 48 {
		return Chain{}, fmt.Errorf("%w chain of %d bytes", ErrEncoding, len(b))
	}
	return Chain{Count: binary.BigEndian.Uint64(b), Head: binary.BigEndian.Uint64(b[8:]), Hash: [32]byte(b[16:])}, nil
}

// NoPrev is a Tally's Prev when it is the key's first.
const NoPrev = math.MaxUint64

// Tally keys.
func MineTally(party string) string      { return "mine\x00" + party }
func CountryTally(country string) string { return "country\x00" + country }

// A Tally is a running total over a key's extractions (a mine's, or a
// country's), as of the extraction whose leaf carries it.
type Tally struct {
	Key   string
	Prev  uint64 // index of the key's extraction before this one, or NoPrev
	Count uint64 // extractions of the key up to and including this one
	// OreG sums the mass of ore extractions, grams; SbG the contained Sb
	// of all, grams; OtherSbG the contained Sb of extractions of other
	// products (concentrate and beyond), grams.
	OreG, SbG, OtherSbG uint64
}

// Add returns the tally after one more extraction x, at index prev's
// successor, given the tally of the key's previous extraction (the zero
// Tally, with Prev NoPrev, for the first).
func (t Tally) Add(prevIndex uint64, x *pb.Extraction) Tally {
	ore, sb := Grams(x)
	n := Tally{Key: t.Key, Prev: prevIndex, Count: t.Count + 1, OreG: t.OreG, SbG: t.SbG + sb, OtherSbG: t.OtherSbG}
	if x.GetProduct() == pb.Product_PRODUCT_ORE {
		n.OreG += ore
	} else {
		n.OtherSbG += sb
	}
	return n
}

// Grams returns an extraction's wet mass and contained Sb in whole grams:
// round(mass_kg x 1000) and round(mass_kg x (1 - moisture_pct / 100) x
// sb_grade_pct / 100 x 1000), evaluated in that order in IEEE 754 double
// precision.
func Grams(x *pb.Extraction) (massG, sbG uint64) {
	m := x.GetMassKg()
	return uint64(math.Round(m * 1000)), uint64(math.Round(m * (1 - x.GetMoisturePct()/100) * x.GetSbGradePct() / 100 * 1000))
}

// MarshalExtra encodes the tallies an extraction's leaf carries: for each,
// uvarint(len(key)) || key || BE8(Prev) || BE8(Count) || BE8(OreG) ||
// BE8(SbG) || BE8(OtherSbG).
func MarshalExtra(ts []Tally) []byte {
	var b []byte
	for _, t := range ts {
		b = binary.AppendUvarint(b, uint64(len(t.Key)))
		b = append(b, t.Key...)
		for _, v := range []uint64{t.Prev, t.Count, t.OreG, t.SbG, t.OtherSbG} {
			b = binary.BigEndian.AppendUint64(b, v)
		}
	}
	return b
}

// ParseExtra decodes a leaf's extra data, as [MarshalExtra] encodes it.
func ParseExtra(b []byte) ([]Tally, error) {
	var ts []Tally
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > 256 || uint64(len(b)-k) < n+40 {
			return nil, fmt.Errorf("%w leaf extra", ErrEncoding)
		}
		t := Tally{Key: string(b[k : k+int(n)])}
		b = b[k+int(n):]
		t.Prev, t.Count, t.OreG, t.SbG, t.OtherSbG = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]),
			binary.BigEndian.Uint64(b[16:]), binary.BigEndian.Uint64(b[24:]), binary.BigEndian.Uint64(b[32:])
		b = b[40:]
		ts = append(ts, t)
	}
	return ts, nil
}

// Find returns the tally of key among ts.
func Find(ts []Tally, key string) (Tally, bool) {
	for _, t := range ts {
		if t.Key == key {
			return t, true
		}
	}
	return Tally{}, false
}

// A Store is where a log keeps its index as records are appended: the
// chains, in the log's verifiable map, and each tally key's latest tally
// with the index of its extraction.
type Store interface {
	// Chain returns key's chain; the zero Chain if the key has none.
	Chain(key []byte) (Chain, error)
	SetChain(key []byte, c Chain)
	// Tally returns key's latest tally and the index of its extraction;
	// ok is false if the key has none.
	Tally(key string) (t Tally, at uint64, ok bool, err error)
	SetTally(key string, at uint64, t Tally)
}

// Add indexes the record at index with id and statement st in s: it
// appends it to the chain of every lot it names and, for a registry
// statement, of its party; for an extraction, it adds it to the tallies of
// its mine (the signer) and of country (the mine's registered country),
// and returns the leaf extra data that carries them. Records must be
// added in log order.
func Add(s Store, at uint64, id tlog.RecordID, st *pb.Statement, country string) (extra []byte, err error) {
	chain := func(key []byte) error {
		c, err := s.Chain(key)
		if err != nil {
			return err
		}
		s.SetChain(key, c.Append(at, id))
		return nil
	}
	for _, lot := range Lots(st) {
		if err := chain(LotKey(lot)); err != nil {
			return nil, err
		}
	}
	if party, ok := Party(st); ok {
		if err := chain(PartyKey(party)); err != nil {
			return nil, err
		}
	}
	x := st.GetExtraction()
	if x == nil {
		return nil, nil
	}
	var ts []Tally
	for _, key := range []string{MineTally(st.GetPartyId()), CountryTally(country)} {
		prev, prevAt, ok, err := s.Tally(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			prev, prevAt = Tally{Key: key}, NoPrev
		}
		t := prev.Add(prevAt, x)
		s.SetTally(key, at, t)
		ts = append(ts, t)
	}
	return MarshalExtra(ts), nil
}
