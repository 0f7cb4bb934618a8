package verifier_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/verifier"
)

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// endless is a JSON string that never ends: `{"lotId":"aaaa…`.
type endless struct{ started bool }

func (e *endless) Read(p []byte) (int, error) {
	if !e.started {
		e.started = true
		return copy(p, `{"lotId":"`), nil
	}
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// TestReadBundleLimits (issue 18): the limits hold while the file streams
// in, before it is decoded: an endless file stops at the byte limit, a
// file of zeros at its first byte, and a file of many empty records at the
// record after the limit.
func TestReadBundleLimits(t *testing.T) {
	x := lottest.New(t)
	x.CleanChain()
	b := x.Bundle("T1")
	data, err := verifier.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := verifier.ReadBundle(bytes.NewReader(data), 1000)
	if err != nil || !proto.Equal(got, b) {
		t.Fatalf("a bundle file: %v", err)
	}
	if _, err := verifier.ReadBundle(bytes.NewReader(data), 2); err == nil || !strings.Contains(err.Error(), "more than 2 records, the limit") {
		t.Fatalf("a bundle over the record limit: %v", err)
	}
	many := `{"lotId":"L","checkpoint":"c","records":[` + strings.Repeat("{},", 99) + `{}]}`
	if _, err := verifier.ReadBundle(strings.NewReader(many), 50); err == nil || !strings.Contains(err.Error(), "more than 50 records") {
		t.Fatalf("100 empty records, limit 50: %v", err)
	}
	if _, err := verifier.ReadBundleWithin(&endless{}, 1<<20, 0); err == nil || !strings.Contains(err.Error(), "larger than the limit of 1048576 bytes") {
		t.Fatalf("an endless string: %v", err)
	}
	if _, err := verifier.ReadBundle(io.LimitReader(zeros{}, 1<<40), 0); err == nil || !strings.Contains(err.Error(), "decoding bundle") {
		t.Fatalf("zeros: %v", err)
	}
	// From a cold review: every list is bounded, and the nesting, and the
	// keys, before anything is decoded.
	for _, tc := range []struct{ name, file, want string }{
		{"100,001 map proofs", `{"lotId":"L","mapProofs":[` + strings.Repeat("{},", 100_000) + `{}]}`, "more than 100000 map proofs"},
		{"a proof of 257 hashes", `{"lotId":"L","records":[{"inclusionProof":[` + strings.Repeat(`"",`, 256) + `""]}]}`, "more than 256 items in one list"},
		{"deep nesting", `{"records":[` + strings.Repeat("[", 1000), "nested more than 6 deep"},
		{"an unknown key", `{"lotId":"L","x":` + strings.Repeat("[", 1000), `unknown field "x"`},
	} {
		if _, err := verifier.ReadBundle(strings.NewReader(tc.file), 1000); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, bad := range []string{"[]", `{"lotId":"L"`, `{"lotId":"L","checkpoint":"c"} {}`, `"x"`} {
		if _, err := verifier.ReadBundle(strings.NewReader(bad), 0); err == nil {
			t.Errorf("ReadBundle(%s) succeeded", bad)
		}
	}
}
