package server_test

import (
	"bytes"
	"testing"
)

// TestQueryNumberOutOfRange_review21: checkScalar (5b44e09) parses an
// int32 field's value as 64 bits, so a whole number past int32 passes it
// and the gateway refuses it with Go's parser's words, which the commit
// meant to replace: `strconv.ParseInt: parsing "3000000000": value out
// of range`.
func TestQueryNumberOutOfRange_review21(t *testing.T) {
	w := newPolicyWorld(t)
	aud := w.as(w.auditor)
	for _, path := range []string{"/v1/lots?pageSize=3000000000", "/v1/flags?pageSize=-3000000000"} {
		code, body := w.get(t, aud, path)
		if code != 400 || bytes.Contains(body, []byte("strconv")) {
			t.Errorf("GET %s: %d %s; want 400 saying what the field takes, not Go's parser's words", path, code, body)
		}
	}
}
