package verifier

import (
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"slices"

	"github.com/antimony-ledger/provenance/index"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// The replay's state is written in a compact binary form of its own:
// varints, little-endian floats, length-prefixed strings, maps in key
// order. It is a projection of the log, rebuilt from it when its format
// changes, so the form carries no version of its own.

type enc struct{ b []byte }

func (e *enc) u(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) f(v float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }
func (e *enc) s(v string)  { e.u(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) t(v bool) {
	if v {
		e.u(1)
	} else {
		e.u(0)
	}
}

func (e *enc) ss(v []string) {
	e.u(uint64(len(v)))
	for _, s := range v {
		e.s(s)
	}
}

func (e *enc) fm(m map[string]float64) {
	e.u(uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e.s(k)
		e.f(m[k])
	}
}

var errCodec = errors.New("verifier: replay state cut short")

type dec struct {
	b   []byte
	err error
}

func (d *dec) u() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errCodec
	}
	d.b = nil
}

func (d *dec) f() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *dec) s() string {
	n := d.u()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *dec) t() bool { return d.u() == 1 }

// count reads a length, refusing one that cannot fit in what is left.
func (d *dec) count() int {
	n := d.u()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *dec) ss() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, d.s())
	}
	return out
}

func (d *dec) fm() map[string]float64 {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]float64, n)
	for range n {
		k := d.s()
		m[k] = d.f()
	}
	return m
}

// A codable is a value of the replay's state.
type codable interface {
	marshal(*enc)
	unmarshal(*dec)
}

func (n *node) marshal(e *enc) {
	e.s(n.Lot)
	e.s(n.Holder)
	e.f(n.Wet)
	e.f(n.Moist)
	e.f(n.Sb)
	e.fm(n.Comp)
	e.u(uint64(n.Product))
	e.s(n.Transit)
	e.s(string(n.Loc))
	e.f(n.Gained)
	e.fm(n.Lost)
	e.ss(n.Flags)
	e.u(uint64(len(n.Mines)))
	for _, m := range slices.Sorted(maps.Keys(n.Mines)) {
		e.s(m)
		e.s(n.Mines[m].ID)
		e.u(n.Mines[m].Idx)
	}
	e.t(n.National != nil)
	if n.National != nil {
		e.s(n.National.ID)
		e.u(n.National.Idx)
	}
	e.u(uint64(len(n.Next)))
	for _, k := range n.Next {
		e.s(k.Rec)
		e.s(k.Lot)
	}
}

func (n *node) unmarshal(d *dec) {
	n.Lot, n.Holder = d.s(), d.s()
	n.Wet, n.Moist, n.Sb = d.f(), d.f(), d.f()
	n.Comp = d.fm()
	n.Product = pb.Product(d.u())
	n.Transit = d.s()
	if loc := d.s(); loc != "" {
		n.Loc = []byte(loc)
	}
	n.Gained = d.f()
	n.Lost = d.fm()
	n.Flags = d.ss()
	if k := d.count(); k > 0 {
		n.Mines = make(map[string]extRef, k)
		for range k {
			m := d.s()
			n.Mines[m] = extRef{ID: d.s(), Idx: d.u()}
		}
	}
	if d.t() {
		n.National = &extRef{ID: d.s(), Idx: d.u()}
	}
	for k := d.count(); k > 0; k-- {
		n.Next = append(n.Next, nodeRef{Rec: d.s(), Lot: d.s()})
	}
}

func (r *recInfo) marshal(e *enc) {
	e.u(r.Idx)
	e.s(r.Party)
	e.u(uint64(r.T))
	e.u(uint64(r.LT))
	e.s(string(r.St))
}

func (r *recInfo) unmarshal(d *dec) {
	r.Idx, r.Party = d.u(), d.s()
	r.T, r.LT = int64(d.u()), int64(d.u())
	if st := d.s(); st != "" {
		r.St = []byte(st)
	}
}

func (c *contInfo) marshal(e *enc)   { e.u(uint64(c.N)); e.s(c.First); e.s(c.Last) }
func (c *contInfo) unmarshal(d *dec) { c.N, c.First, c.Last = int(d.u()), d.s(), d.s() }

func (h *headInfo) marshal(e *enc)   { e.s(h.Rec); e.s(h.Node); e.t(h.Consumed) }
func (h *headInfo) unmarshal(d *dec) { h.Rec, h.Node, h.Consumed = d.s(), d.s(), d.t() }

func (w *windowFlags) marshal(e *enc)   { e.s(w.Mine); e.s(w.National) }
func (w *windowFlags) unmarshal(d *dec) { w.Mine, w.National = d.s(), d.s() }

// termInfo is a lot's custody term as stored.
type termInfo struct {
	Holder string
	Labs   []string
}

func (t *termInfo) marshal(e *enc)   { e.s(t.Holder); e.ss(t.Labs) }
func (t *termInfo) unmarshal(d *dec) { t.Holder, t.Labs = d.s(), d.ss() }

// tallyInfo is a running tally after one extraction, as stored.
type tallyInfo struct {
	T   index.Tally
	Rec string
}

func (t *tallyInfo) marshal(e *enc) {
	e.s(t.T.Key)
	for _, v := range []uint64{t.T.Prev, t.T.Count, t.T.OreG, t.T.SbG, t.T.OtherSbG} {
		e.u(v)
	}
	e.s(t.Rec)
}

func (t *tallyInfo) unmarshal(d *dec) {
	t.T.Key = d.s()
	t.T.Prev, t.T.Count, t.T.OreG, t.T.SbG, t.T.OtherSbG = d.u(), d.u(), d.u(), d.u(), d.u()
	t.Rec = d.s()
}

func (l *ReplayLot) marshal(e *enc) {
	e.u(uint64(l.Verdict))
	e.ss(l.Rules)
	e.s(l.Holder)
	e.s(l.InTransitTo)
	e.u(uint64(l.Product))
	e.ss(l.Keys)
	e.ss(l.Derived)
	e.ss(l.Extra)
	e.ss(l.Held)
	e.s(l.HeldAt)
}

func (l *ReplayLot) unmarshal(d *dec) {
	l.Verdict = pb.Verdict(d.u())
	l.Rules = d.ss()
	l.Holder, l.InTransitTo = d.s(), d.s()
	l.Product = pb.Product(d.u())
	l.Keys, l.Derived, l.Extra = d.ss(), d.ss(), d.ss()
	l.Held, l.HeldAt = d.ss(), d.s()
}

func encode(v codable) []byte {
	e := &enc{b: make([]byte, 0, 128)}
	v.marshal(e)
	return e.b
}

func decodeInto(b []byte, v codable) error {
	d := &dec{b: b}
	v.unmarshal(d)
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("verifier: replay state has bytes left over")
	}
	return d.err
}

// DecodeReplayLot decodes a lot's summary as a Replay stores it under
// [ReplayLotPrefix].
func DecodeReplayLot(b []byte) (ReplayLot, error) {
	var l ReplayLot
	err := decodeInto(b, &l)
	return l, err
}
