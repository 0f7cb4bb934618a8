package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antimony-ledger/provenance/authtoken"
	"github.com/antimony-ledger/provenance/internal/browsertest"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/internal/testserver"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// TestListingNoteFollowerOff: with the server's flag follower off
// (provenanced --no-flag-follower), the Flags and Lots pages say that the
// records not read wait until it runs, as provctl does, and not that the
// list may change, which would never come true.
func TestListingNoteFollowerOff(t *testing.T) {
	browsertest.Chromium(t) // before the server
	start := time.Now()
	chain := ct.New()
	chain.Clock = ct.RealClock() // the token is dated now, in the browser too
	srv := testserver.StartWith(t, chain, t.TempDir(), testserver.Options{NoFlagFollower: true})
	// Records the follower, being off, does not read.
	ct.Submit(t, srv.Store,
		chain.Register(chain.AddParty("mine-1", "Test Mine", "PK", pb.Role_ROLE_MINE)),
		chain.Register(chain.AddParty("exp-1", "Test Exporter", "PK", pb.Role_ROLE_EXPORTER)))
	tok, err := authtoken.Make(ct.Origin, record.OperatorPartyID, chain.LogSigner.PrivateKey(), time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.HTTPAddr

	// What the API says: the premise of the test.
	for _, path := range []string{"/v1/flags", "/v1/lots"} {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct {
			UnreadRecords string `json:"unreadRecords"`
			FollowerOff   bool   `json:"followerOff"`
		}
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v\n%s", path, resp.Status, err, body)
		}
		if !got.FollowerOff || got.UnreadRecords == "" || got.UnreadRecords == "0" {
			t.Fatalf("GET %s: followerOff %v, unreadRecords %q; want the follower off and records unread", path, got.FollowerOff, got.UnreadRecords)
		}
	}

	p := openConsole(t, base, tok, 60*time.Second)
	for _, tc := range []struct{ page, what string }{{"/flags", "flags"}, {"/lots", "verdicts"}} {
		note := p.listingNote(tc.page)
		want := "the server's flag follower is off (provenanced --no-flag-follower, or a nearly full disk), so they wait until it runs; their " + tc.what + " may be missing or out of date"
		if !strings.Contains(note, "records not yet checked by the server's verifier") || !strings.Contains(note, want) || strings.Contains(note, "may change") {
			t.Errorf("%s page's note with the follower off: %q; want it to say %q, and not that the list may change", tc.page, note, want)
		}
	}
	t.Logf("done in %s", time.Since(start).Round(time.Millisecond))
}

// TestListingNoteCases (review8): the listing note's branches that
// TestListingNoteFollowerOff does not reach, by rewriting the server's
// /v1/flags and /v1/lots answers in the browser: the follower on but
// behind says the list may change (and not that the follower is off);
// the follower off with only lots pending says they wait until it runs;
// nothing pending says nothing.
func TestListingNoteCases(t *testing.T) {
	browsertest.Chromium(t) // before the server
	chain := ct.New()
	chain.Clock = ct.RealClock()
	srv := testserver.StartWith(t, chain, t.TempDir(), testserver.Options{})
	tok, err := authtoken.Make(ct.Origin, record.OperatorPartyID, chain.LogSigner.PrivateKey(), time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.HTTPAddr

	p := openConsole(t, base, tok, 90*time.Second)

	// The fields the next listing answers carry, in place of the server's.
	var fields atomic.Value
	fields.Store(map[string]any{})
	err = browsertest.Rewrite(p.ctx, func(body []byte) []byte {
		var v map[string]any
		if json.Unmarshal(body, &v) != nil {
			return body
		}
		for _, k := range []string{"unreadRecords", "pendingLots", "followerOff"} {
			delete(v, k)
		}
		maps.Copy(v, fields.Load().(map[string]any))
		out, _ := json.Marshal(v)
		return out
	}, "*/v1/flags*", "*/v1/lots*")
	if err != nil {
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
			note := p.listingNote(page)
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

// consolePage is the console of a test server in a headless Chromium,
// signed in with a token.
type consolePage struct {
	t         *testing.T
	ctx, bctx context.Context
}

// openConsole starts a Chromium (or skips, see browsertest.Chromium),
// opens the console at base and signs in with tok. The browser stops
// with the test.
func openConsole(t *testing.T, base, tok string, timeout time.Duration) *consolePage {
	t.Helper()
	exe := browsertest.Chromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))...)
	t.Cleanup(cancelAlloc)
	bctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancelTimeout)
	p := &consolePage{t, ctx, bctx}
	tokJS, _ := json.Marshal(tok)
	p.run("opening the console and signing in with a token",
		chromedp.Navigate(base+"/"), ready,
		chromedp.Click("#signin-open"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("signin-token").value = `+string(tokJS)),
		chromedp.Click("#signin-submit"),
		chromedp.WaitVisible("#who-party"))
	return p
}

// run runs actions, and fails the test with the page's text if one fails.
func (p *consolePage) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		page, _ := chromedp.Run(p.bctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
		p.t.Fatalf("%s: %v\npage: %s", what, err, page)
	}
}

// listingNote routes to page (a listing: "/flags", "/lots") and returns
// the text of its note on what the listing lacks, or "".
func (p *consolePage) listingNote(page string) string {
	p.t.Helper()
	hash, _ := json.Marshal(page)
	p.run("routing to "+page,
		chromedp.Evaluate[chromedp.Void](`document.getElementById("main").dataset.state = "stale"; location.hash = `+string(hash)),
		ready)
	note, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(document.getElementById("listing-note") || {}).innerText || ""`))
	if err != nil {
		p.t.Fatal(err)
	}
	return note
}

// ready waits until the router has rendered a page, and fails on an error
// page.
var ready = chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
	if _, err := chromedp.Poll[chromedp.Void](`["ready", "error"].includes(document.getElementById("main").dataset.state)`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))(ctx, tg); err != nil {
		return err
	}
	if st, err := chromedp.Evaluate[string](`document.getElementById("main").dataset.state`)(ctx, tg); err != nil || st != "ready" {
		return fmt.Errorf("the page's state is %q (%v)", st, err)
	}
	return nil
})
