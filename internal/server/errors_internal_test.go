package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/antimony-ledger/provenance/ledger"
)

// TestDataLossStatus: a read that meets damage in the store is DATA_LOSS
// (HTTP 500) naming what is damaged, not a bare INTERNAL; what Badger said
// goes to the log only.
func TestDataLossStatus(t *testing.T) {
	var logged strings.Builder
	s := &Server{log: slog.New(slog.NewTextHandler(&logged, nil))}
	for _, tc := range []struct {
		err  error
		name string
	}{
		{&ledger.DamageError{What: "entry 5", Err: errors.New("checksum mismatch: value corrupted for vp {Fid:1}")}, "entry 5"},
		{fmt.Errorf("reading: %w", &ledger.AuditError{Index: 37, Reason: "entry missing from store"}), "entry 37"},
	} {
		st := status.Convert(s.toStatus(context.Background(), tc.err))
		if st.Code() != codes.DataLoss || !strings.Contains(st.Message(), tc.name) || strings.Contains(st.Message(), "Fid") {
			t.Errorf("toStatus(%v) = %v %q; want DataLoss naming %s, without Badger's details", tc.err, st.Code(), st.Message(), tc.name)
		}
	}
	if !strings.Contains(logged.String(), "Fid:1") {
		t.Errorf("the log does not say what failed: %s", logged.String())
	}
}
