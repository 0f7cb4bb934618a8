package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/testserver"
)

// TestRun drives a real server on loopback briefly, with a Submit call per
// record, over SubmitStream one record at a time, and over SubmitStream
// with records sent ahead, and checks that what provbench reports is what
// the server recorded.
func TestRun(t *testing.T) {
	t.Run("unary", func(t *testing.T) { testRun(t, false, 1) })
	t.Run("stream", func(t *testing.T) { testRun(t, true, 1) })
	t.Run("window", func(t *testing.T) { testRun(t, true, 7) })
}

func testRun(t *testing.T, stream bool, window int) {
	chain := ct.New()
	chain.Clock = ct.RealClock() // the records are dated now
	srv := testserver.Start(t, chain)
	before := srv.Store.Log().Size()
	res, err := Run(t.Context(), Options{Addr: srv.GRPCAddr, RegistrarKey: chain.Registrar, Clients: 4, Duration: 500 * time.Millisecond, Presign: 2, Stream: stream, Window: window})
	if err != nil {
		t.Fatal(err)
	}
	// One record at a time, or sent ahead but never past the window.
	if res.Window != window || window == 1 && res.MaxInFlight != 1 || window > 1 && (res.MaxInFlight < 2 || res.MaxInFlight > window) {
		t.Fatalf("window %d: result says window %d, at most %d in flight", window, res.Window, res.MaxInFlight)
	}
	if res.Errors != 0 || res.FirstError != "" {
		t.Fatalf("%d errors, first %q", res.Errors, res.FirstError)
	}
	// Each client presigned 2 lots of 3 records; the rest were signed
	// while the clock ran.
	if res.InlineSigned < res.Records-4*2*3 || res.InlineSigned%3 != 0 {
		t.Fatalf("%d records, %d of them reported signed inline; each client presigned 6", res.Records, res.InlineSigned)
	}
	if res.Records < 12 { // at least the presigned lots
		t.Fatalf("%d records accepted in %.1fs", res.Records, res.Seconds)
	}
	// Eight registrations plus every accepted record are in the log, and
	// at most a window more per client: records cut off by the end of the
	// run may still have been recorded.
	got := srv.Store.Log().Size() - before
	if want := uint64(res.Records) + 8; got < want || got > want+4*uint64(window) {
		t.Fatalf("log grew by %d, provbench reported %d records (+8 registrations, +up to %d cut off)", got, res.Records, 4*window)
	}
	if !(res.P50ms > 0 && res.P50ms <= res.P90ms && res.P90ms <= res.P99ms) {
		t.Fatalf("percentiles p50 %.3f p90 %.3f p99 %.3f", res.P50ms, res.P90ms, res.P99ms)
	}
	if res.RecordsPerSec <= 0 {
		t.Fatalf("records/s %v", res.RecordsPerSec)
	}
	// Records went through the path asked for: with --stream, the only
	// Submit calls are the eight registrations.
	calls := submitCalls(t, srv.AdminAddr)
	if stream && calls != 8 || !stream && calls < 8+res.Records {
		t.Fatalf("stream=%v: the server handled %d Submit calls for %d records and 8 registrations", stream, calls, res.Records)
	}
}

// submitCalls reads the server's count of unary Submit calls answered OK.
func submitCalls(t *testing.T, adminAddr string) int64 {
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = `provenance_grpc_server_handled_total{code="OK",method="/provenance.v1.LedgerService/Submit"} `
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no Submit count in /metrics")
	return 0
}
