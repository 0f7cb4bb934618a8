package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/antimony-ledger/provenance/authtoken"
	"github.com/antimony-ledger/provenance/internal/browsertest"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/testserver"
	"github.com/antimony-ledger/provenance/record"
)

// TestListingNoteCases (review8): the listing note's branches that
// TestListingNoteFollowerOff does not reach, by rewriting the server's
// /v1/flags and /v1/lots answers in the browser: the follower on but
// behind says the list may change (and not that the follower is off);
// the follower off with only lots pending says they wait until it runs;
// nothing pending says nothing.
func TestListingNoteCases(t *testing.T) {
	exe := browsertest.Chromium(t)
	chain := ct.New()
	chain.Clock = ct.RealClock()
	srv := testserver.StartWith(t, chain, t.TempDir(), testserver.Options{})
	tok, err := authtoken.Make(ct.Origin, record.OperatorPartyID, chain.LogSigner.PrivateKey(), time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.HTTPAddr

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	ready := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Poll[chromedp.Void](`["ready", "error"].includes(document.getElementById("main").dataset.state)`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))(ctx, tg); err != nil {
			return err
		}
		if st, err := chromedp.Evaluate[string](`document.getElementById("main").dataset.state`)(ctx, tg); err != nil || st != "ready" {
			return fmt.Errorf("the page's state is %q (%v)", st, err)
		}
		return nil
	})
	tokJS, _ := json.Marshal(tok)
	run("signing in",
		chromedp.Navigate(base+"/"), ready,
		chromedp.Click("#signin-open"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("signin-token").value = `+string(tokJS)),
		chromedp.Click("#signin-submit"),
		chromedp.WaitVisible("#who-party"))

	// The fields the next listing answers carry, in place of the server's.
	var fields atomic.Value
	fields.Store(map[string]any{})
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			body, err := chromedp.Call(ctx, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: ev.RequestID})
			if err != nil {
				chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonFailed})
				continue
			}
			out := body.Body
			var v map[string]any
			if json.Unmarshal(body.Body, &v) == nil {
				for _, k := range []string{"unreadRecords", "pendingLots", "followerOff"} {
					delete(v, k)
				}
				for k, x := range fields.Load().(map[string]any) {
					v[k] = x
				}
				out, _ = json.Marshal(v)
			}
			chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID: ev.RequestID, ResponseCode: ev.ResponseStatusCode, ResponseHeaders: ev.ResponseHeaders, Body: out})
		}
	}()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/v1/flags*", RequestStage: fetch.RequestStageResponse},
		{URLPattern: "*/v1/lots*", RequestStage: fetch.RequestStageResponse}}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name      string
		fields    map[string]any
		want, not []string // "" in want: no note at all
	}{
		{"follower on, behind", map[string]any{"unreadRecords": "7"},
			[]string{"7 records not yet checked", ": the list may change."}, []string{"follower is off", "wait until it runs"}},
		{"follower on, lots pending", map[string]any{"pendingLots": "2"},
			[]string{"2 lots awaiting a full verification", ": the list may change."}, []string{"follower is off"}},
		{"follower off, only lots pending", map[string]any{"pendingLots": "3", "followerOff": true},
			[]string{"3 lots awaiting a full verification", "follower is off", "so they wait until it runs"}, []string{"may change", "records not yet checked"}},
		{"follower off, nothing pending", map[string]any{"followerOff": true}, []string{""}, nil},
		{"follower on, nothing pending", map[string]any{}, []string{""}, nil},
	} {
		fields.Store(tc.fields)
		for _, page := range []string{"/flags", "/lots"} {
			hash, _ := json.Marshal(page)
			run(tc.name+": routing to "+page,
				chromedp.Evaluate[chromedp.Void](`document.getElementById("main").dataset.state = "stale"; location.hash = `+string(hash)),
				ready)
			note, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("listing-note") || {}).innerText || ""`))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if (w == "" && note != "") || !strings.Contains(note, w) {
					t.Errorf("%s, %s: note %q; want it to say %q", tc.name, page, note, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(note, n) {
					t.Errorf("%s, %s: note %q says %q", tc.name, page, note, n)
				}
			}
		}
	}
}
