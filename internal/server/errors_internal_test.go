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

// ownDamage is damage outside the ledger, with its own message for
// clients (as the flags' state's, internal/backend).
type ownDamage struct{}

func (ownDamage) Error() string {
	return "the flags' state in /srv/data/verifier is damaged: checksum mismatch"
}
func (ownDamage) Is(target error) bool  { return target == ledger.ErrDataLoss }
func (ownDamage) ClientMessage() string { return "the flags' state is damaged: a restart rebuilds it" }

// TestDataLossOwnMessage: damage outside the ledger is DATA_LOSS with
// its own message for clients, not one blaming the ledger and an audit
// (a new user's trial: a damaged flags' state answered "the ledger's
// stored data is damaged (a read)").
func TestDataLossOwnMessage(t *testing.T) {
	var logged strings.Builder
	s := &Server{log: slog.New(slog.NewTextHandler(&logged, nil))}
	st := status.Convert(s.toStatus(context.Background(), fmt.Errorf("listing: %w", ownDamage{})))
	if st.Code() != codes.DataLoss || st.Message() != "the flags' state is damaged: a restart rebuilds it" {
		t.Fatalf("toStatus = %v %q; want DataLoss with the error's own message", st.Code(), st.Message())
	}
	if !strings.Contains(logged.String(), "/srv/data/verifier") {
		t.Errorf("the log does not say what failed: %s", logged.String())
	}
}
