package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/browsertest"
	"github.com/chromedp/chromedp"
)

// The lot page against a server that lies in its /verification answer
// (the server is the adversary here; a cold review's test): it keeps the
// verdict FLAGGED but drops every flag and says nothing is untraced. The
// browser verifies the bundle itself with the buyer's pinned keys, shows
// its own report (its flags), and says it differs from the server's. The
// keys panel does not offer the server's keys for pinning with one click.
func TestConsoleLyingServer(t *testing.T) {
	chromium := browsertest.Chromium(t)
	fx := startConsoleServer(t)
	defer fx.d.stop(t)
	fx.rc.Close()
	d, data, regPEM := fx.d, fx.data, fx.regPEM
	logPub, _ := os.ReadFile(filepath.Join(data, "log.pub"))
	logKeyText, _ := os.ReadFile(filepath.Join(data, "log.key"))
	a := &apiClient{t: t, base: d.httpURL, logKey: strings.TrimSpace(string(logKeyText))}
	flagged := ""
	a.pages("/v1/lots", "lots", func(raw json.RawMessage) {
		var l listedLot
		json.Unmarshal(raw, &l)
		if l.Verdict == "VERDICT_FLAGGED" && strings.HasPrefix(l.Lot.LotID, "QA-BLEND-1") {
			flagged = l.Lot.LotID
		}
	})
	if flagged == "" {
		t.Fatal("no flagged blend")
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	b := &browser{t: t, ctx: ctx, base: d.httpURL}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	b.open("/")
	b.signIn("audit-console", fx.auditKeyFile)

	// The keys panel starts empty: pinning nothing is refused, and the
	// page still verifies with the server's keys, saying so.
	b.do(chromedp.Evaluate[chromedp.Void](`localStorage.clear()`))
	b.route("/lot/" + flagged)
	b.waitVerdict("true")
	if got := b.eval(`document.querySelector("#pin-log").value + document.querySelector("#pin-registrar").value`); got != "" {
		t.Errorf("the keys panel is prefilled with %q", got)
	}
	b.do(clickJS("#pin-save"))
	b.wait(`document.querySelector("#pin-error").textContent !== ""`) // the click's handler runs after Click returns
	if got := b.text("#pin-error"); !strings.Contains(got, "Paste both keys") {
		t.Errorf("pinning empty keys: %q", got)
	}
	if got := b.attr("#keys", "data-source"); got != "server" {
		t.Errorf("after pinning nothing the keys are from %q", got)
	}

	// Part 2: the buyer's real keys pinned; the server lies in /verification.
	b.do(chromedp.SetValue("#pin-log", strings.TrimSpace(string(logPub))),
		chromedp.SetValue("#pin-registrar", string(regPEM)), clickJS("#pin-save"))
	// Saved, and the page verified again with them, before the next route
	// (a verdict of the server's keys is already there: "true" would not
	// wait, and a route taken before the save lost the pin under load).
	b.waitVerdict(`document.querySelector("#keys").dataset.source === "pinned"`)
	err := browsertest.Rewrite(ctx, func(body []byte) []byte {
		var v map[string]map[string]any
		if json.Unmarshal(body, &v) != nil || v["report"] == nil {
			return body
		}
		v["report"]["flags"] = []any{}
		v["report"]["untracedShare"] = 0
		out, _ := json.Marshal(v)
		return out
	}, "*/verification")
	if err != nil {
		t.Fatal(err)
	}
	b.route("/lot/" + flagged)
	b.waitVerdict(`document.querySelector("#keys").dataset.source === "pinned"`)
	bv, brules := b.attr("#browser-verdict", "data-verdict"), b.text("#browser-rules")
	if bv != "FLAGGED" || brules == "none" {
		t.Fatalf("the browser's own verification of %s: %s, rules %q", flagged, bv, brules)
	}
	if got := b.attr("#agreement", "data-agrees"); got != "false" {
		t.Errorf("the server dropped every flag; the page says it agrees (%q): %q", got, b.text("#agreement"))
	}
	if got := b.text("#agreement"); !strings.Contains(got, "rules raised: none") || !strings.Contains(got, "untraced share") {
		t.Errorf("the difference is not named: %q", got)
	}
	// The report shown is the browser's: it carries the flags the server
	// dropped.
	for _, rule := range strings.Split(brules, ", ") {
		if !strings.Contains(b.text("#report"), rule) {
			t.Errorf("the report shown lacks %s, which the browser found", rule)
		}
	}
}
