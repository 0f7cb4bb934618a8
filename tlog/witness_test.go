package tlog

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// testWitness is a witness key pair and its vkey.
type testWitness struct {
	name string
	key  ed25519.PrivateKey
	vkey string
}

func newTestWitness(name string) testWitness {
	key := ed25519.NewKeyFromSeed(append([]byte(name), make([]byte, 32-len(name))...))
	pub := key.Public().(ed25519.PublicKey)
	raw := append([]byte{algCosignature}, pub...)
	return testWitness{name, key, fmt.Sprintf("%s+%08x+%s", name, keyHash(name, algCosignature, pub), base64.StdEncoding.EncodeToString(raw))}
}

// cosign returns w's cosignature of body at time t.
func (w testWitness) cosign(body string, t int64) note.Signature {
	raw := binary.BigEndian.AppendUint32(nil, keyHash(w.name, algCosignature, w.key.Public().(ed25519.PublicKey)))
	raw = binary.BigEndian.AppendUint64(raw, uint64(t))
	raw = append(raw, ed25519.Sign(w.key, cosignedMessage(t, []byte(body)))...)
	return note.Signature{Name: w.name, Hash: binary.BigEndian.Uint32(raw), Base64: base64.StdEncoding.EncodeToString(raw)}
}

func TestParsePolicyErrors(t *testing.T) {
	a, b := newTestWitness("a.example"), newTestWitness("b.example")
	for _, tc := range []struct{ text, want string }{
		{"", "no quorum line"},
		{"witness a " + a.vkey + "\n", "no quorum line"},
		{"witness a " + a.vkey + "\nquorum b\n", `quorum "b" is not a witness or group`},
		{"witness a " + a.vkey + "\nwitness a " + b.vkey + "\nquorum a\n", `name "a" is used already`},
		{"witness a " + a.vkey + "\nwitness b " + a.vkey + "\nquorum a\n", "listed twice"},
		{"witness a " + a.vkey + "\ngroup g 2 a\nquorum g\n", "threshold"},
		{"witness a " + a.vkey + "\ngroup g 0 a\nquorum g\n", "threshold"},
		{"witness a " + a.vkey + "\ngroup g any a c\nquorum g\n", `member "c"`},
		{"witness a " + a.vkey + "\ngroup g any a a\nquorum g\n", "member twice"},
		{"witness a " + a.vkey + "\nquorum a\nquorum none\n", "second quorum"},
		{"witness a a.example+00000000+AQ==\nquorum a\n", "not an Ed25519 cosignature"},
		{"witness a " + strings.Replace(a.vkey, "+", "+0", 1)[:len(a.vkey)] + "\nquorum a\n", "witness key"},
		{"witnesses a " + a.vkey + "\nquorum a\n", "unknown keyword"},
		// One key under two names is one witness: it cannot meet 2 of 2.
		{"witness a " + a.vkey + "\nwitness b " + renamed(a, "b.example") + "\ngroup g all a b\nquorum g\n", "listed twice"},
	} {
		if _, err := ParsePolicy(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePolicy(%q): %v, want %q", tc.text, err, tc.want)
		}
	}
}

// TestPolicyCheck: numeric thresholds count (a 2-of-3 group is not met by
// one), nested groups, forged and misattributed cosignatures do not count,
// and the missing witnesses are named.
func TestPolicyCheck(t *testing.T) {
	a, b, c := newTestWitness("a.example"), newTestWitness("b.example"), newTestWitness("c.example")
	p, err := ParsePolicy(fmt.Sprintf(`# three witnesses
witness a %s https://a.example/
witness b %s
witness c %s
group two 2 a b c   # two of three
group q all two
quorum q
`, a.vkey, b.vkey, c.vkey))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Witnesses) != 3 || p.Witnesses[0].URL != "https://a.example/" || p.Witnesses[1].URL != "" {
		t.Fatalf("witnesses %+v", p.Witnesses)
	}
	body := "example/log\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"
	forged := a.cosign(body, 100)
	forged.Base64 = b.cosign(body, 100).Base64 // b's signature under a's name
	other := a.cosign("example/log\n6\n"+base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n", 100)
	for _, tc := range []struct {
		name     string
		sigs     []note.Signature
		ok       bool
		cosigned []string
		missing  []string
	}{
		{"none", nil, false, nil, []string{"a.example", "b.example", "c.example"}},
		{"one of two", []note.Signature{a.cosign(body, 1)}, false, []string{"a.example"}, []string{"b.example", "c.example"}},
		{"two", []note.Signature{c.cosign(body, 1), a.cosign(body, 2)}, true, []string{"a.example", "c.example"}, nil},
		{"forged", []note.Signature{forged, c.cosign(body, 1)}, false, []string{"c.example"}, []string{"a.example", "b.example"}},
		{"another checkpoint's", []note.Signature{other, c.cosign(body, 1)}, false, []string{"c.example"}, []string{"a.example", "b.example"}},
	} {
		ok, cosigned, missing := p.Check(body, tc.sigs, nil)
		if ok != tc.ok || !slices.Equal(cosigned, tc.cosigned) || !slices.Equal(missing, tc.missing) {
			t.Errorf("%s: ok %v cosigned %v missing %v; want %v %v %v", tc.name, ok, cosigned, missing, tc.ok, tc.cosigned, tc.missing)
		}
	}
	none, err := ParsePolicy("witness a " + a.vkey + "\nquorum none\n")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := none.Check(body, nil, nil); !ok {
		t.Error("quorum none needs no cosignature")
	}
}

func TestPolicyCheckLog(t *testing.T) {
	a := newTestWitness("a.example")
	p, err := ParsePolicy("log example/log+01234567+AQ==\nwitness a " + a.vkey + "\nquorum a\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.CheckLog("example/log+01234567+AQ==") != nil || p.CheckLog("other/log+01234567+AQ==") == nil {
		t.Error("CheckLog")
	}
}

// renamed returns w's key under another name.
func renamed(w testWitness, name string) string {
	pub := w.key.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", name, keyHash(name, algCosignature, pub), base64.StdEncoding.EncodeToString(append([]byte{algCosignature}, pub...)))
}
