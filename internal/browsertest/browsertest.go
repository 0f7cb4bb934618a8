// Package browsertest serves the web console's browser tests: it finds the
// Chromium they drive, and rewrites the server's answers in it.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// RequireEnv, when set (.ci/run sets it), makes a browser test fail rather
// than skip when no Chromium is found.
const RequireEnv = "CONSOLE_E2E_REQUIRE_BROWSER"

// names are the binaries looked for on PATH, after $CHROMIUM.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// Find returns the path of a Chromium or Chrome: $CHROMIUM, else the first
// of names on PATH, else "".
func Find() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Chromium returns Find's browser, and otherwise skips the test, or fails
// it where RequireEnv is set.
func Chromium(t testing.TB) string {
	t.Helper()
	p := Find()
	if p == "" {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("no Chromium found (looked for $CHROMIUM and %v on PATH) and %s is set", names, RequireEnv)
		}
		t.Skip("no Chromium found ($CHROMIUM, chromium, chromium-browser or google-chrome): the console's browser tests need one; on Debian: apt-get install chromium (.ci/run installs it)")
	}
	return p
}

// Rewrite has the browser of ctx pass the body of each response whose URL
// matches one of patterns (fetch.RequestPattern's, e.g. "*/v1/flags*")
// through edit before the page reads it: a server that lies, or answers
// what a test needs. A response whose body cannot be read fails, as a
// network error, rather than reach the page unedited.
func Rewrite(ctx context.Context, edit func(body []byte) []byte, patterns ...string) error {
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
			chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID: ev.RequestID, ResponseCode: ev.ResponseStatusCode, ResponseHeaders: ev.ResponseHeaders, Body: edit(body.Body)})
		}
	}()
	var ps []*fetch.RequestPattern
	for _, p := range patterns {
		ps = append(ps, &fetch.RequestPattern{URLPattern: p, RequestStage: fetch.RequestStageResponse})
	}
	_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: ps})
	return err
}
