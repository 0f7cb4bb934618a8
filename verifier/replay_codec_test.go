package verifier

import (
	"reflect"
	"testing"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// TestReplayCodec: every field of the replay's state comes back as it
// went, and state cut short, or with bytes left over, is refused.
func TestReplayCodec(t *testing.T) {
	n := &node{Lot: "L1", Holder: "exp", Wet: 9990, Moist: 3, Sb: 871.7, Comp: map[string]float64{"": 1.5, "mine-a": 870.2},
		Product: pb.Product_PRODUCT_ORE, Transit: "QmT", Loc: []byte{9, 1, 2}, Gained: 1.5, Lost: map[string]float64{"mine-a": 0.3},
		Flags: []string{"k1", "k2"}, Mines: map[string]extRef{"mine-a": {"QmE", 7}}, National: &extRef{"QmE", 7},
		Next: []nodeRef{{"QmD", "L1"}, {"QmS", "L2"}}}
	l := &ReplayLot{Verdict: pb.Verdict_VERDICT_FLAGGED, Rules: []string{"A", "B"}, Holder: "h", InTransitTo: "t",
		Product: pb.Product_PRODUCT_TRIOXIDE, Keys: []string{"k"}, Derived: []string{"d"}, Extra: []string{"e"}}
	for _, v := range []codable{n, l, &recInfo{Idx: 3, Party: "p", T: -5, LT: 7, St: []byte("x")}, &contInfo{2, "a", "b"},
		&headInfo{"r", "n", true}, &windowFlags{"m", "n"}, &termInfo{"h", []string{"lab"}}} {
		b := encode(v)
		got := reflect.New(reflect.TypeOf(v).Elem()).Interface().(codable)
		if err := decodeInto(b, got); err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("%T: %+v, %v; want %+v", v, got, err, v)
		}
		for cut := range len(b) {
			if err := decodeInto(b[:cut], reflect.New(reflect.TypeOf(v).Elem()).Interface().(codable)); err == nil && cut < len(b) {
				// A shorter prefix may decode when trailing fields are
				// empty; it must not decode into the same value.
				again := reflect.New(reflect.TypeOf(v).Elem()).Interface().(codable)
				decodeInto(b[:cut], again)
				if reflect.DeepEqual(again, v) {
					t.Errorf("%T: cut at %d of %d decodes to the whole", v, cut, len(b))
				}
			}
		}
		if err := decodeInto(append(b, 0), got); err == nil {
			t.Errorf("%T: a byte left over is accepted", v)
		}
	}
}
