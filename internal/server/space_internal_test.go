package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/antimony-ledger/provenance/ledger"
)

// TestSpaceRefusal: an append refused for want of disk space is
// ResourceExhausted with ErrorInfo INSUFFICIENT_STORAGE, answered 507 over
// REST; other ResourceExhausted errors stay 429.
func TestSpaceRefusal(t *testing.T) {
	err := fmt.Errorf("custody: %w", &ledger.SpaceError{Dir: "/srv/data/ledger", Free: 3 << 20, Min: 256 << 20})
	st, ok := spaceStatus(err)
	if !ok || status.Code(st) != codes.ResourceExhausted || !InsufficientStorage(st) {
		t.Fatalf("spaceStatus = %v, %v", st, ok)
	}
	if msg := status.Convert(st).Message(); !strings.Contains(msg, "/srv/data/ledger") || !strings.Contains(msg, "3.00 MiB free") {
		t.Errorf("message %q does not name the directory and the space left", msg)
	}
	if _, ok := spaceStatus(ledger.ErrClosed); ok {
		t.Errorf("spaceStatus took ErrClosed")
	}
	for _, c := range []struct {
		err  error
		code int
	}{
		{st, http.StatusInsufficientStorage},
		{status.Error(codes.ResourceExhausted, "slow down"), http.StatusTooManyRequests},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v1/envelopes", nil)
		retryAfterErrorHandler(context.Background(), runtime.NewServeMux(), &runtime.JSONPb{}, rec, req, c.err)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), status.Convert(c.err).Message()) {
			t.Errorf("%v: HTTP %d %s, want %d with the message", c.err, rec.Code, rec.Body, c.code)
		}
	}
}
