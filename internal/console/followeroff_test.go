package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
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
	exe := browsertest.Chromium(t)
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

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(bctx, 60*time.Second)
	defer cancelTimeout()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			page, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
			t.Fatalf("%s: %v\npage: %s", what, err, page)
		}
	}
	// ready waits until the router has rendered a page, and fails on an
	// error page.
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
	run("opening the console and signing in with a token",
		chromedp.Navigate(base+"/"), ready,
		chromedp.Click("#signin-open"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("signin-token").value = `+string(tokJS)),
		chromedp.Click("#signin-submit"),
		chromedp.WaitVisible("#who-party"))

	for _, tc := range []struct{ page, what string }{{"/flags", "flags"}, {"/lots", "verdicts"}} {
		hash, _ := json.Marshal(tc.page)
		run("routing to "+tc.page,
			chromedp.Evaluate[chromedp.Void](`document.getElementById("main").dataset.state = "stale"; location.hash = `+string(hash)),
			ready)
		note, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("listing-note") || {}).innerText || ""`))
		if err != nil {
			t.Fatal(err)
		}
		want := "the server's flag follower is off (provenanced --no-flag-follower, or a nearly full disk), so they wait until it runs; their " + tc.what + " may be missing or out of date"
		if !strings.Contains(note, "records not yet checked by the server's verifier") || !strings.Contains(note, want) || strings.Contains(note, "may change") {
			t.Errorf("%s page's note with the follower off: %q; want it to say %q, and not that the list may change", tc.page, note, want)
		}
	}
	t.Logf("done in %s", time.Since(start).Round(time.Millisecond))
}
