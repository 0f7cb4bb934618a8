package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/authtoken"
	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/browsertest"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	"github.com/antimony-ledger/provenance/internal/pdfprint"
	"github.com/antimony-ledger/provenance/internal/refdata"
	"github.com/antimony-ledger/provenance/internal/report"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// screenshotsEnv names a directory (relative to the repository's root, or
// absolute) where TestConsole also writes the README's screenshots:
// CONSOLE_SCREENSHOTS=docs/img go test -run TestConsole ./cmd/provenanced
const screenshotsEnv = "CONSOLE_SCREENSHOTS"

// TestConsole drives headless Chromium through the web console of a real
// provenanced loaded with the Pakistan example, and checks that every page
// shows what the API says: verdicts, rules, untraced shares, and the
// browser's own verification of a VERIFIED and a FLAGGED lot, which must
// equal the server's, and of a tampered bundle, which must be INVALID.
// No page may log a console error.
func TestConsole(t *testing.T) {
	chromium := browsertest.Chromium(t)
	if testing.Short() {
		t.Skip("the browser test takes a minute")
	}
	start := time.Now()

	fx := startConsoleServer(t)
	defer fx.d.stop(t)
	data, d, regPriv, regPEM, rc, lv, auditKeyFile := fx.data, fx.d, fx.regPriv, fx.regPEM, fx.rc, fx.lv, fx.auditKeyFile
	// A mine whose registered name is markup, and a lot it extracted: the
	// lot's report must show the name as text and run nothing.
	hostileLot := registerHostileMine(t, rc, regPriv, d.grpcAddr, lv.Name())
	// A lot whose receipt's TRANSIT_GAIN a correction withdrew.
	correctedLot := logCorrectedLot(t, rc, regPriv, d.grpcAddr, lv.Name())
	rc.Close()
	t.Logf("server and example ready in %s", time.Since(start).Round(time.Millisecond))

	// What the API says, read as the operator.
	logKeyText, err := os.ReadFile(filepath.Join(data, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	logPub, err := os.ReadFile(filepath.Join(data, "log.pub"))
	if err != nil {
		t.Fatal(err)
	}
	a := &apiClient{t: t, base: d.httpURL, logKey: strings.TrimSpace(string(logKeyText))}
	var lots []listedLot
	a.pages("/v1/lots", "lots", func(raw json.RawMessage) {
		var l listedLot
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatal(err)
		}
		lots = append(lots, l)
	})
	var flagCount int
	a.pages("/v1/flags", "flags", func(json.RawMessage) { flagCount++ })
	verified, flagged := "", ""
	nFlagged := 0
	for _, l := range lots {
		switch l.Verdict {
		case "VERDICT_VERIFIED":
			if verified == "" && !l.Lot.Consumed && l.Lot.LotID != hostileLot {
				verified = l.Lot.LotID
			}
		case "VERDICT_FLAGGED":
			nFlagged++
			// The blend: a MASS_SURPLUS with an untraced share.
			if strings.HasPrefix(l.Lot.LotID, "QA-BLEND-1") {
				flagged = l.Lot.LotID
			}
		}
	}
	if verified == "" || flagged == "" || len(lots) < 8 || flagCount == 0 {
		t.Fatalf("the example's lots are not as expected: verified %q, flagged %q, %d lots, %d flags", verified, flagged, len(lots), flagCount)
	}

	// The browser.
	// Every screenshot goes to a directory of the test's, or to
	// $CONSOLE_SCREENSHOTS_ALL to look at them after it.
	shots := filepath.Join(t.TempDir(), "screenshots")
	if all := os.Getenv("CONSOLE_SCREENSHOTS_ALL"); all != "" {
		shots = all
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	readme := os.Getenv(screenshotsEnv)
	if readme != "" && !filepath.IsAbs(readme) {
		readme = filepath.Join("..", "..", readme)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	b := &browser{t: t, ctx: ctx, base: d.httpURL, shots: shots, readme: readme}
	b.watchConsole()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("starting Chromium %s: %v", chromium, err)
	}

	// Anonymous: the overview's checkpoint is public; other pages ask to sign in.
	b.open("/")
	cp := a.get("/v1/checkpoint", false)
	var cpv struct {
		TreeSize string `json:"treeSize"`
		RootHash string `json:"rootHash"`
	}
	mustJSON(t, cp, &cpv)
	if got := b.text("#tree-size"); !strings.HasPrefix(got, cpv.TreeSize+" ") {
		t.Errorf("overview tree size %q, API says %s", got, cpv.TreeSize)
	}
	if got := b.text("#checkpoint"); !strings.Contains(got, cpv.RootHash) {
		t.Errorf("overview lacks the root hash %s", cpv.RootHash)
	}
	b.shot("overview-anonymous")
	b.route("/lots")
	if got := b.text("main"); !strings.Contains(got, "Sign in") {
		t.Errorf("lots page without a token: %q, want a request to sign in", got)
	}

	// Sign in as the auditor with its PEM key file: the tokens are made in
	// the browser's WebAssembly module.
	b.signIn("audit-console", auditKeyFile)

	// Overview with counts.
	b.route("/")
	if got := b.text("#count-lots"); got != fmt.Sprint(len(lots)) {
		t.Errorf("overview: %s lots, API lists %d", got, len(lots))
	}
	if got := b.text("#count-flagged"); got != fmt.Sprint(nFlagged) {
		t.Errorf("overview: %s flagged, API lists %d", got, nFlagged)
	}
	if got := b.text("#count-flags"); got != fmt.Sprint(flagCount) {
		t.Errorf("overview: %s flags, API lists %d", got, flagCount)
	}
	if n := b.count("#recent-flags tbody tr"); n == 0 || n > 10 {
		t.Errorf("overview shows %d recent flags", n)
	}
	// The words are the report's glossary.
	for _, term := range report.Glossary() {
		if got := b.text("#glossary"); !strings.Contains(got, term.Definition) {
			t.Errorf("overview's words lack the report's definition of %s", term.Name)
		}
	}
	b.shot("overview")

	// Lots: every lot's verdict and rules as the API lists them.
	b.route("/lots?pageSize=200")
	rows := b.rows("#lots-table tbody tr", "data-lot", "data-verdict", ".rules")
	if len(rows) != len(lots) {
		t.Errorf("lots page shows %d lots, API lists %d", len(rows), len(lots))
	}
	for _, l := range lots {
		r, ok := rows[l.Lot.LotID]
		if !ok {
			t.Errorf("lots page lacks %s", l.Lot.LotID)
			continue
		}
		if want := strings.TrimPrefix(l.Verdict, "VERDICT_"); r[0] != want {
			t.Errorf("lots page: %s %s, API %s", l.Lot.LotID, r[0], want)
		}
		if want := strings.Join(l.Rules, ", "); r[1] != want {
			t.Errorf("lots page: %s rules %q, API %q", l.Lot.LotID, r[1], want)
		}
	}
	b.shot("lots")
	// Filters and paging.
	b.route("/lots?verdict=VERDICT_FLAGGED&pageSize=200")
	if rows := b.rows("#lots-table tbody tr", "data-lot", "data-verdict"); len(rows) != nFlagged {
		t.Errorf("lots filtered to FLAGGED: %d rows, want %d", len(rows), nFlagged)
	} else {
		for id, r := range rows {
			if r[0] != "FLAGGED" {
				t.Errorf("lots filtered to FLAGGED shows %s %s", id, r[0])
			}
		}
	}
	b.route("/lots?pageSize=3")
	first := b.rows("#lots-table tbody tr", "data-lot")
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("main").dataset.state = "stale"`), chromedp.Click("#page-next"))
	b.waitReady()
	second := b.rows("#lots-table tbody tr", "data-lot")
	if len(first) != 3 || len(second) == 0 {
		t.Errorf("paging: %d then %d lots", len(first), len(second))
	}
	for id := range second {
		if _, ok := first[id]; ok {
			t.Errorf("paging: %s on both pages", id)
		}
	}

	// Flags, filtered by rule: the same flags as the API's.
	var surplus int
	a.pages("/v1/flags?rule=MASS_SURPLUS", "flags", func(json.RawMessage) { surplus++ })
	b.route("/flags?rule=MASS_SURPLUS&pageSize=200")
	if n := b.count("#flags-table tbody tr"); n != surplus || n == 0 {
		t.Errorf("flags page with rule MASS_SURPLUS: %d rows, API %d", n, surplus)
	}
	if n := b.count(`#flags-table tbody tr:not([data-rule="MASS_SURPLUS"])`); n != 0 {
		t.Errorf("flags page with rule MASS_SURPLUS shows %d other flags", n)
	}
	if got := b.text(`#rules-help [data-rule="MASS_SURPLUS"] .explain`); got != report.Explain("MASS_SURPLUS") {
		t.Errorf("flags page explains MASS_SURPLUS as %q, want report.Explain's %q", got, report.Explain("MASS_SURPLUS"))
	}
	b.shot("flags")
	b.route("/flags?minSeverity=SEVERITY_CRITICAL&pageSize=200")
	var critical int
	a.pages("/v1/flags?minSeverity=SEVERITY_CRITICAL", "flags", func(json.RawMessage) { critical++ })
	if n := b.count("#flags-table tbody tr"); n != critical {
		t.Errorf("critical flags: page %d, API %d", n, critical)
	}

	// Parties and a party.
	b.route("/parties")
	if n := b.count("#parties-table tbody tr"); n < 5 {
		t.Errorf("parties page lists %d parties", n)
	}
	b.shot("parties")
	var parties struct {
		Parties []struct {
			Registration struct {
				PartyID string `json:"partyId"`
				Name    string `json:"name"`
			} `json:"registration"`
		} `json:"parties"`
	}
	mustJSON(t, a.get("/v1/parties", true), &parties)
	if n := b.count("#parties-table tbody tr"); n != len(parties.Parties) {
		t.Errorf("parties page lists %d parties, API %d", n, len(parties.Parties))
	}
	// The exporter: a party that holds lots.
	exporter, exporterName := "", ""
	for _, p := range parties.Parties {
		if strings.HasPrefix(p.Registration.PartyID, "indus-exports") {
			exporter, exporterName = p.Registration.PartyID, p.Registration.Name
		}
	}
	if exporter == "" {
		t.Fatal("the example registered no indus-exports")
	}
	var held struct {
		Lots []json.RawMessage `json:"lots"`
	}
	mustJSON(t, a.get("/v1/parties/"+exporter+"/lots", true), &held)
	b.route("/party/" + exporter)
	if got := b.text("#party"); !strings.Contains(got, exporter) || !strings.Contains(got, "exporter") || b.text("h1") != exporterName {
		t.Errorf("party page of %s (%s): %q", exporter, exporterName, got)
	}
	if n := b.count("#party-lots tbody tr"); n != len(held.Lots) || n == 0 {
		t.Errorf("party page of %s lists %d lots, API %d", exporter, n, len(held.Lots))
	}
	b.shot("party")

	// A lot: the server's verdict and the browser's own, first with the
	// server's keys (marked as not independent), then with pinned ones.
	for _, id := range []string{verified, flagged} {
		var ver apiVerification
		mustJSON(t, a.get("/v1/lots/"+id+"/verification", true), &ver)
		rules, _ := ver.rules()
		var flagOrder []string
		for _, f := range ver.Report.Flags {
			flagOrder = append(flagOrder, f.Rule)
		}
		wantVerdict := strings.TrimPrefix(ver.Report.Verdict, "VERDICT_")

		b.do(chromedp.Evaluate[chromedp.Void](`localStorage.clear()`))
		b.route("/lot/" + id)
		b.waitVerdict("true")
		if got := b.attr("#keys", "data-source"); got != "server" {
			t.Errorf("%s: keys from %q, want server before any are pinned", id, got)
		}
		if got := b.text("#keys-source"); !strings.Contains(got, "NOT independent") {
			t.Errorf("%s: the keys' note %q does not say the server's keys are not independent", id, got)
		}
		b.checkLot(id, wantVerdict, rules, ver.Report.UntracedShare)
		b.checkReport(id, wantVerdict, "server", flagOrder, ver.Report.UntracedShare)

		// Pin the keys as a buyer received them: log.pub and registrar.pub.
		b.do(chromedp.SetValue("#pin-log", strings.TrimSpace(string(logPub))),
			chromedp.SetValue("#pin-registrar", string(regPEM)),
			clickJS("#pin-save"))
		b.waitVerdict(`document.querySelector("#keys").dataset.source === "pinned"`)
		b.checkLot(id, wantVerdict, rules, ver.Report.UntracedShare)
		b.checkReport(id, wantVerdict, "pinned", flagOrder, ver.Report.UntracedShare)
		if id == flagged {
			if n := b.count("#records-table tbody tr"); n == 0 {
				t.Errorf("%s: no custody records shown", id)
			}
			// The blend's graph, drawn by the report: the lot and the
			// lot it was merged from.
			if n := b.count("#report svg.graph g.node"); n < 2 {
				t.Errorf("%s: the report's custody graph shows %d boxes", id, n)
			}
			if n := b.count("#lot-parties [data-party]"); n == 0 {
				t.Errorf("%s: no parties shown", id)
			}
			// An evidence link goes to its row of the report's timeline,
			// and leaves the page where it is.
			b.do(chromedp.Click(`#report .flag a[href^="#sbr-rec-"]`))
			if got := b.eval(`location.hash`); got != "#/lot/"+id {
				t.Errorf("%s: an evidence link moved the page to %q", id, got)
			}
			if n := b.count("#report tr.evidence-target"); n != 1 {
				t.Errorf("%s: an evidence link marked %d rows of the timeline, want 1", id, n)
			}
			b.shot("lot-flagged")
			b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#report").scrollIntoView()`))
			b.shotHere("lot-report")
			b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#report svg.graph").scrollIntoView()`))
			b.shotHere("lot-graph")
			b.checkPrint(id)
		} else {
			b.shot("lot-verified")
		}
	}

	// The map of a lot routed through a crossing: its places, with the
	// flagged one marked.
	corridor := ""
	for _, l := range lots {
		if slices.Contains(l.Rules, "BORDER_CORRIDOR") {
			corridor = l.Lot.LotID
		}
	}
	if corridor == "" {
		t.Fatal("no lot with a BORDER_CORRIDOR flag")
	}
	b.route("/lot/" + corridor)
	b.waitVerdict("true")
	if n := b.count("#report svg.map g.place"); n == 0 {
		t.Errorf("%s: the report's map shows no place", corridor)
	}
	if n := b.count("#report svg.map polyline.durand"); n != 1 {
		t.Errorf("%s: the report's map draws the border %d times", corridor, n)
	}
	if n := b.count(`#report .flag`); n == 0 || !strings.Contains(b.text("#report"), "BORDER_CORRIDOR") {
		t.Errorf("%s: the report shows no BORDER_CORRIDOR flag", corridor)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#report svg.map").scrollIntoView()`))
	b.shotHere("lot-map")

	// The corrected lot: the same verdict on both sides, in agreement, its
	// withdrawn flag listed with a "corrected" badge and not among the
	// rules raised (other flags may count: the example's national output
	// leaves the lot an ORIGIN_VOLUME).
	var cver apiVerification
	mustJSON(t, a.get("/v1/lots/"+correctedLot+"/verification", true), &cver)
	crules, withdrawnBy := cver.rules()
	if withdrawn := withdrawnBy["TRANSIT_GAIN"]; withdrawn != 1 || slices.Contains(crules, "TRANSIT_GAIN") {
		t.Errorf("%s: the API's report has %d withdrawn TRANSIT_GAIN flags, rules that count %v", correctedLot, withdrawn, crules)
	}
	b.route("/lot/" + correctedLot)
	b.waitVerdict("true")
	b.checkLot(correctedLot, strings.TrimPrefix(cver.Report.Verdict, "VERDICT_"), crules, cver.Report.UntracedShare)
	if got := b.attr("#agreement", "data-agrees"); got != "true" {
		t.Errorf("%s: the browser and the server disagree: %s", correctedLot, b.text("#agreement"))
	}
	b.route("/flags?lotId=" + correctedLot)
	if n := b.count(`#flags-table tbody tr[data-rule="TRANSIT_GAIN"][data-corrected="true"] .badge.corrected`); n != 1 {
		t.Errorf("%s: the flags page shows %d TRANSIT_GAIN flags marked corrected, want 1: %s", correctedLot, n, b.text("#flags-table"))
	}

	// The lot of the mine named as markup: the name is text in the
	// report, no element is made of it, nothing runs (a dialog or a CSP
	// violation would be caught by watchConsole).
	b.route("/lot/" + hostileLot)
	b.waitVerdict("true")
	b.wait(`document.querySelector("#report").dataset.state !== "running"`)
	if st := b.attr("#report", "data-state"); st != "done" {
		t.Fatalf("%s: the report is not shown (%s): %s", hostileLot, st, b.text("#report"))
	}
	if got := b.text("#report"); !strings.Contains(got, hostileName+" (mine-hostile)") {
		t.Errorf("%s: the report does not show the mine's name %q as text:\n%.2000s", hostileLot, hostileName, got)
	}
	if n := b.count("img, #report script, #report [onerror]"); n != 0 {
		t.Errorf("%s: the page holds %d img/script/handler elements", hostileLot, n)
	}
	b.shotHere("lot-hostile")

	// A pinned registrar key that is not the log's: the browser does not
	// say VERIFIED.
	_, other, _ := record.GenerateKey()
	b.do(chromedp.SetValue("#pin-registrar", string(record.MarshalPublicKey(other.Public().(ed25519.PublicKey)))), clickJS("#pin-save"))
	b.waitVerdict("true")
	if got := b.attr("#browser-verdict", "data-verdict"); got == "VERIFIED" || got == "FLAGGED" {
		t.Errorf("%s with a wrong pinned registrar key: browser says %s", flagged, got)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`localStorage.clear()`))

	// Signed out, the pages ask to sign in again and the key is gone from
	// the tab; a token pasted from provctl token signs in too.
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("main").dataset.state = "stale"`), chromedp.Click("#signout"))
	b.waitReady()
	if got := b.eval(`JSON.stringify([sessionStorage.getItem("console.party"), sessionStorage.getItem("console.token")])`); got != "[null,null]" {
		t.Errorf("after signing out, session storage holds %s", got)
	}
	b.route("/lots")
	if got := b.text("main"); !strings.Contains(got, "Sign in") {
		t.Errorf("lots page after signing out: %q", got)
	}
	ls, err := tlog.NewSigner(a.logKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := authtoken.Make(ls.Name(), record.OperatorPartyID, ls.PrivateKey(), time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Click("#signin-open"), chromedp.SetValue("#signin-token", tok), chromedp.Click("#signin-submit"))
	b.wait(`document.getElementById("who-party") !== null || document.getElementById("signin-error") !== null`)
	if e := b.eval(`(document.getElementById("signin-error") || {}).textContent || ""`); e != "" {
		t.Fatalf("sign-in with a token failed: %s", e)
	}
	b.route("/lots?pageSize=200")
	if n := b.count("#lots-table tbody tr"); n != len(lots) {
		t.Errorf("with a pasted token the lots page shows %d lots, API %d", n, len(lots))
	}
	// And the operator with the log's own key file.
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("main").dataset.state = "stale"`), chromedp.Click("#signout"))
	b.waitReady()
	b.signIn("operator", filepath.Join(data, "log.key"))
	if got := b.text("#who-party"); !strings.Contains(got, "operator") {
		t.Errorf("signed in with log.key: %q", got)
	}
	b.route("/lots?pageSize=200")
	if n := b.count("#lots-table tbody tr"); n != len(lots) {
		t.Errorf("as the operator the lots page shows %d lots, API %d", n, len(lots))
	}

	// A tampered bundle: one byte of one record changed on its way to the
	// page. The server still says VERIFIED; the browser must say INVALID.
	b.tamperBundles()
	b.route("/lot/" + verified)
	b.waitVerdict("true")
	if got := b.attr("#server-verdict", "data-verdict"); got != "VERIFIED" {
		t.Errorf("tampered %s: server verdict %s, want VERIFIED", verified, got)
	}
	if got := b.attr("#browser-verdict", "data-verdict"); got != "INVALID" {
		t.Errorf("tampered bundle of %s: browser says %s, want INVALID", verified, got)
	}
	if b.tampered() == 0 {
		t.Error("no bundle was tampered with")
	}
	if got := b.attr("#report article.sbr", "data-verdict"); got != "INVALID" {
		t.Errorf("tampered bundle of %s: the report says %q, want INVALID", verified, got)
	}
	b.shot("lot-tampered")

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.consoleErrors {
		t.Errorf("console error: %s", e)
	}
	t.Logf("browser test done in %s; screenshots in %s", time.Since(start).Round(time.Millisecond), shots)
}

type listedLot struct {
	Lot struct {
		LotID    string `json:"lotId"`
		Consumed bool   `json:"consumed"`
	} `json:"lot"`
	Verdict string   `json:"verdict"`
	Rules   []string `json:"rules"`
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}

// apiClient reads the REST API as the operator.
type apiClient struct {
	t      *testing.T
	base   string
	logKey string
}

func (a *apiClient) get(path string, auth bool) []byte {
	a.t.Helper()
	req, err := http.NewRequest("GET", a.base+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if auth {
		ls, err := tlog.NewSigner(a.logKey)
		if err != nil {
			a.t.Fatal(err)
		}
		tok, err := authtoken.Make(ls.Name(), record.OperatorPartyID, ls.PrivateKey(), time.Now(), 0)
		if err != nil {
			a.t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		a.t.Fatalf("GET %s: %s %v\n%s", path, resp.Status, err, body)
	}
	return body
}

// pages calls f with each item of every page of a listing.
func (a *apiClient) pages(path, field string, f func(json.RawMessage)) {
	a.t.Helper()
	token := ""
	for {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		p := path + sep + "pageSize=100"
		if token != "" {
			p += "&pageToken=" + token
		}
		var page map[string]json.RawMessage
		mustJSON(a.t, a.get(p, true), &page)
		var items []json.RawMessage
		if raw := page[field]; raw != nil {
			mustJSON(a.t, raw, &items)
		}
		for _, it := range items {
			f(it)
		}
		token = ""
		if raw := page["nextPageToken"]; raw != nil {
			mustJSON(a.t, raw, &token)
		}
		if token == "" {
			return
		}
	}
}

// browser is one tab of headless Chromium on the console.
type browser struct {
	t      *testing.T
	ctx    context.Context
	base   string
	shots  string
	readme string

	mu            sync.Mutex
	consoleErrors []string
	nTampered     int
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v\npage: %s", err, b.pageText())
	}
}

func (b *browser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.consoleErrors) > 0 {
		s += "\nconsole errors so far:\n" + strings.Join(b.consoleErrors, "\n")
	}
	return s
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return s
}

// wait waits until the JavaScript expression is true.
func (b *browser) wait(expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))); err != nil {
		b.t.Fatalf("waiting for %s: %v\npage: %s", expr, err, b.pageText())
	}
}

// signIn signs in through the page's dialog with a key file.
func (b *browser) signIn(party, keyFile string) {
	b.t.Helper()
	b.do(chromedp.Click("#signin-open"),
		chromedp.SendKeys("#signin-party", party),
		chromedp.SetUploadFiles("#signin-key", []string{keyFile}),
		chromedp.Click("#signin-submit"))
	b.wait(`document.getElementById("who-party") !== null || document.getElementById("signin-error") !== null`)
	if e := b.eval(`(document.getElementById("signin-error") || {}).textContent || ""`); e != "" {
		b.t.Fatalf("signing in as %s: %s", party, e)
	}
	b.waitReady()
	// The private key stays in the module's memory: no storage the
	// site's scripts can read holds it.
	if got := b.eval(`String(JSON.stringify([Object.values(sessionStorage), Object.values(localStorage)]).includes("PRIVATE"))`); got != "false" {
		b.t.Errorf("signed in as %s, the browser's storage holds the private key", party)
	}
}

// waitVerdict waits until the lot page's own verification has finished
// and cond holds, and fails if it ended in an error.
func (b *browser) waitVerdict(cond string) {
	b.t.Helper()
	b.wait(`["done", "error"].includes(document.querySelector("#browser-verdict").dataset.state) && (` + cond + `)`)
	if st := b.attr("#browser-verdict", "data-state"); st != "done" {
		b.t.Fatalf("the browser's verification failed: %s", b.pageText())
	}
}

// waitReady waits until the router has rendered a page, and fails on an
// error page.
func (b *browser) waitReady() {
	b.t.Helper()
	b.wait(`["ready", "error"].includes(document.getElementById("main").dataset.state)`)
	if st := b.attr("#main", "data-state"); st != "ready" {
		b.t.Fatalf("page %s failed: %s", b.eval(`location.hash`), b.pageText())
	}
}

// open loads the console at path; route moves its router to a page.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
	b.waitReady()
}

func (b *browser) route(hash string) {
	b.t.Helper()
	js, _ := json.Marshal(hash)
	// Setting the hash it already has fires no hashchange: fire one.
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("main").dataset.state = "stale";
		if (location.hash === "#" + ` + string(js) + `) window.dispatchEvent(new HashChangeEvent("hashchange"));
		else location.hash = ` + string(js)))
	b.waitReady()
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	js, _ := json.Marshal(sel)
	return strings.TrimSpace(b.eval(`(document.querySelector(` + string(js) + `) || {}).innerText || ""`))
}

func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	s, _ := json.Marshal(sel)
	n, _ := json.Marshal(name)
	return b.eval(`(document.querySelector(` + string(s) + `) || {getAttribute: () => ""}).getAttribute(` + string(n) + `) || ""`)
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	s, _ := json.Marshal(sel)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+string(s)+`).length`))
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// rows returns, for each element matching sel, keyed by its attribute
// key, the other attributes (or, for a name starting with ".", the text
// of that child).
func (b *browser) rows(sel, key string, fields ...string) map[string][]string {
	b.t.Helper()
	s, _ := json.Marshal(sel)
	k, _ := json.Marshal(key)
	f, _ := json.Marshal(append([]string{}, fields...))
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][]string](`(() => {
		const out = {};
		for (const el of document.querySelectorAll(`+string(s)+`)) {
			out[el.getAttribute(`+string(k)+`)] = `+string(f)+`.map((f) => f.startsWith(".") ? (el.querySelector(f) || {}).innerText || "" : el.getAttribute(f) || "");
		}
		return out;
	})()`))
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

// checkLot checks the lot page against the API's report: both verdicts,
// the browser's rules and both untraced shares.
func (b *browser) checkLot(id, verdict string, rules []string, untraced float64) {
	b.t.Helper()
	keys := b.attr("#keys", "data-source")
	if got := b.attr("#server-verdict", "data-verdict"); got != verdict {
		b.t.Errorf("%s: server verdict shown %s, API %s", id, got, verdict)
	}
	if got := b.attr("#browser-verdict", "data-verdict"); got != verdict {
		b.t.Errorf("%s (keys from %s): browser's verdict %s, server's %s\n%s", id, keys, got, verdict, b.text("#browser-verdict"))
	}
	want := strings.Join(rules, ", ")
	if want == "" {
		want = "none"
	}
	if got := b.text("#browser-rules"); got != want {
		b.t.Errorf("%s (keys from %s): browser's rules %q, server's %q", id, keys, got, want)
	}
	for _, sel := range []string{"#server-untraced", "#browser-untraced"} {
		var got float64
		if _, err := fmt.Sscan(b.attr(sel, "data-share"), &got); err != nil || math.Abs(got-untraced) > 1e-9 {
			b.t.Errorf("%s: %s %v (%v), API %v", id, sel, got, err, untraced)
		}
		if wantText := fmt.Sprintf("%.1f %%", untraced*100); b.text(sel) != wantText {
			b.t.Errorf("%s: %s shows %q, want %q", id, sel, b.text(sel), wantText)
		}
	}
}

// checkReport checks the report the lot page shows (report.Fragment of the
// browser's own verification) against the API's: its verdict, each flag's
// rule with report.Explain's words for it, the untraced share, and which
// keys it says it was verified against; and that the Print button is there.
func (b *browser) checkReport(id, verdict, keys string, rules []string, untraced float64) {
	b.t.Helper()
	b.wait(`document.querySelector("#report").dataset.state !== "running"`)
	if st := b.attr("#report", "data-state"); st != "done" {
		b.t.Errorf("%s (keys %s): no report shown (%s): %s", id, keys, st, b.text("#report"))
		return
	}
	if got := b.attr("#report article.sbr", "data-verdict"); got != verdict {
		b.t.Errorf("%s (keys %s): the report's verdict %q, API %q", id, keys, got, verdict)
	}
	if got := b.attr("#report article.sbr", "data-lot"); got != id {
		b.t.Errorf("%s: the report is of lot %q", id, got)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll("#report .flag")].map((f) => [f.querySelector("strong").innerText, f.innerText])`))
	if err != nil {
		b.t.Fatal(err)
	}
	if len(shown) != len(rules) {
		b.t.Errorf("%s (keys %s): the report shows %d flags, API %d", id, keys, len(shown), len(rules))
	}
	for i, r := range rules {
		if i >= len(shown) {
			break
		}
		if shown[i][0] != r {
			b.t.Errorf("%s: the report's flag %d is %s, API %s", id, i, shown[i][0], r)
		}
		if e := report.Explain(r); e == "" || !strings.Contains(shown[i][1], e) {
			b.t.Errorf("%s: the report's %s flag lacks report.Explain's words %q:\n%s", id, r, e, shown[i][1])
		}
	}
	got := b.eval(`(() => { for (const dt of document.querySelectorAll("#report dl.kv dt")) if (dt.innerText === "Untraced share") return dt.nextElementSibling.innerText; return ""; })()`)
	if want := fmt.Sprintf("%.1f %%", untraced*100); !strings.HasPrefix(got, want+" ") {
		b.t.Errorf("%s: the report's untraced share %q, API %s", id, got, want)
	}
	source := b.text("#report article.sbr header .muted")
	if !strings.Contains(source, "Verified in this browser") || (keys == "pinned") != strings.Contains(source, "trusting only the keys pinned in this browser") ||
		(keys == "server") != strings.Contains(source, "NOT independent") {
		b.t.Errorf("%s: keys %s, the report says %q", id, keys, source)
	}
	if n := b.count("#print:not([disabled])"); n != 1 {
		b.t.Errorf("%s: %d enabled Print buttons", id, n)
	}
}

// checkPrint checks what printing the lot page prints: the report, none of
// the console (navigation, verdict boxes, keys, buttons); and that the
// Print button prints.
func (b *browser) checkPrint(id string) {
	b.t.Helper()
	// Whether each is laid out (a box of its own): not, under a parent
	// that is not displayed.
	display := func() map[string]string {
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		out, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries(["header", "nav", "footer", "#print", "#server-verdict", "#browser-verdict", "#keys", "#records", "#report", "#report article.sbr", "#report article.sbr .verdict"].map((s) => [s, document.querySelector(s).getClientRects().length === 0 ? "hidden" : "shown"]))`))
		if err != nil {
			b.t.Fatal(err)
		}
		return out
	}
	if d := display(); d["header"] != "shown" || d["#print"] != "shown" || d["#report"] != "shown" {
		b.t.Errorf("%s on screen: %v", id, d)
	}
	b.media("print")
	d := display()
	for sel, want := range map[string]string{"header": "hidden", "nav": "hidden", "footer": "hidden", "#print": "hidden", "#server-verdict": "hidden",
		"#browser-verdict": "hidden", "#keys": "hidden", "#records": "hidden", "#report": "shown", "#report article.sbr": "shown", "#report article.sbr .verdict": "shown"} {
		if d[sel] != want {
			b.t.Errorf("%s printed: %s is %s, want %s", id, sel, d[sel], want)
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	// The report's @page (A4) sets the paper, as in a browser's print.
	preferCSS := true
	pdf, err := chromedp.Call(ctx, page.PrintToPDF, page.PrintToPDFParams{PreferCSSPageSize: &preferCSS})
	if err != nil || !bytes.HasPrefix(pdf.Data, []byte("%PDF")) {
		b.t.Errorf("%s: printing to PDF: %v (%d bytes)", id, err, len(pdf.Data))
	} else if err := os.WriteFile(filepath.Join(b.shots, "console-lot-printed.pdf"), pdf.Data, 0o644); err != nil {
		b.t.Fatal(err)
	} else if n := pdfprint.Pages(pdf.Data); n != 1 {
		b.t.Errorf("%s: the console's Print prints the lot's report on %d pages, want 1 (as provctl report)", id, n)
	}
	b.media("")
	// The button calls the browser's print (a headless browser has no
	// dialog for it: counted instead).
	b.do(chromedp.Evaluate[chromedp.Void](`window.printed = 0; window.print = () => { window.printed++; }`), chromedp.Click("#print"))
	if got := b.eval(`String(window.printed)`); got != "1" {
		b.t.Errorf("%s: the Print button printed %s times", id, got)
	}
}

// media emulates a CSS media type ("print"), or none ("").
func (b *browser) media(m string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m}); err != nil {
		b.t.Fatalf("emulating media %q: %v", m, err)
	}
}

// hostileName is the registered name of a mine: markup that would run a
// script if a page took it for HTML.
const hostileName = "<img src=x onerror=alert(1)>"

// registerHostileMine registers mine-hostile, named hostileName, with the
// profile and site of the Krinj reference mine, and has it extract a lot,
// whose id it returns.
func registerHostileMine(t *testing.T, rc *client.Client, regPriv ed25519.PrivateKey, grpcAddr, origin string) string {
	t.Helper()
	m := krinj(t)
	prof := &pb.MineProfile{Deposit: m.Name, AnnualOreCapacityKg: m.AnnualOreCapacityKg, GradeMinPct: m.GradeMinPct, GradeMaxPct: m.GradeMaxPct}
	for _, e := range m.Envelope {
		prof.AssayEnvelope = append(prof.AssayEnvelope, &pb.ElementRange{Element: e.Element, MinPct: e.MinPct, MaxPct: e.MaxPct})
	}
	site := &pb.Location{Name: m.Name, Lat: m.Lat, Lon: m.Lon}
	pub, priv, err := record.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := record.Sign(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: timestamppb.Now(),
		Body: &pb.Statement_PartyRegistration{PartyRegistration: &pb.PartyRegistration{
			PartyId: "mine-hostile", Name: hostileName, Roles: []pb.Role{pb.Role_ROLE_MINE}, Country: "PK", Site: site, Mine: prof, Licence: "ML-HOSTILE",
			Keys: []*pb.PartyKey{{PublicKey: pub, NotBefore: timestamppb.New(time.Now().Add(-time.Minute))}}}}}, regPriv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Submit(t.Context(), reg); err != nil {
		t.Fatalf("registering mine-hostile: %v", err)
	}
	mc, err := client.DialAs(t.Context(), grpcAddr, nil, &client.Credentials{PartyID: "mine-hostile", Key: priv, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	const lot = "HOSTILE-1"
	if _, err := mc.SignAndSubmit(t.Context(), &client.Signer{PartyID: "mine-hostile", Key: priv}, &pb.Statement{EventTime: timestamppb.Now(),
		Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{LotId: lot, MassKg: 2000, MoisturePct: 4, SbGradePct: (m.GradeMinPct + m.GradeMaxPct) / 2, Site: site, Product: pb.Product_PRODUCT_ORE}}}); err != nil {
		t.Fatalf("mine-hostile's extraction: %v", err)
	}
	return lot
}

// krinj returns the Krinj reference mine (internal/refdata).
func krinj(t *testing.T) refdata.Mine {
	t.Helper()
	ref, err := refdata.Load()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := ref.MineByID("PK-KP-KRINJ")
	if !ok {
		t.Fatal("no reference mine PK-KP-KRINJ")
	}
	return m
}

// logCorrectedLot registers a mine and an exporter at the same site; the
// mine extracts 2,000 kg and dispatches it, the exporter receives 20,000
// kg (TRANSIT_GAIN) and corrects the receipt to 1,995 kg, co-signed by
// the mine. It returns the lot's id.
func logCorrectedLot(t *testing.T, rc *client.Client, regPriv ed25519.PrivateKey, grpcAddr, origin string) string {
	t.Helper()
	m := krinj(t)
	site := &pb.Location{Name: m.Name, Lat: m.Lat, Lon: m.Lon}
	register := func(id string, role pb.Role, mine *pb.MineProfile) (*client.Client, *client.Signer) {
		pub, priv, err := record.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		reg, err := record.Sign(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: timestamppb.Now(),
			Body: &pb.Statement_PartyRegistration{PartyRegistration: &pb.PartyRegistration{
				PartyId: id, Name: id, Roles: []pb.Role{role}, Country: "PK", Site: site, Mine: mine, Licence: "L-" + id,
				Keys: []*pb.PartyKey{{PublicKey: pub, NotBefore: timestamppb.New(time.Now().Add(-time.Minute))}}}}}, regPriv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rc.Submit(t.Context(), reg); err != nil {
			t.Fatalf("registering %s: %v", id, err)
		}
		c, err := client.DialAs(t.Context(), grpcAddr, nil, &client.Credentials{PartyID: id, Key: priv, Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, &client.Signer{PartyID: id, Key: priv}
	}
	prof := &pb.MineProfile{Deposit: m.Name, AnnualOreCapacityKg: m.AnnualOreCapacityKg, GradeMinPct: m.GradeMinPct, GradeMaxPct: m.GradeMaxPct}
	for _, e := range m.Envelope {
		prof.AssayEnvelope = append(prof.AssayEnvelope, &pb.ElementRange{Element: e.Element, MinPct: e.MinPct, MaxPct: e.MaxPct})
	}
	mc, ms := register("zz-corr-mine", pb.Role_ROLE_MINE, prof)
	ec, es := register("zz-corr-exporter", pb.Role_ROLE_EXPORTER, nil)
	const lot = "ZZ-CORRECTED-1"
	submit := func(c *client.Client, s *client.Signer, st *pb.Statement, cosigner ...*client.Signer) string {
		t.Helper()
		st.EventTime = timestamppb.Now()
		env, err := s.Sign(st)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range cosigner {
			env = record.Cosign(env, o.Key)
		}
		r, err := c.Submit(t.Context(), env)
		if err != nil {
			t.Fatalf("%s's %T: %v", s.PartyID, st.GetBody(), err)
		}
		return r.GetLeafHash()
	}
	ext := submit(mc, ms, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{LotId: lot, MassKg: 2000, MoisturePct: 4,
		SbGradePct: (m.GradeMinPct + m.GradeMaxPct) / 2, Site: site, Product: pb.Product_PRODUCT_ORE}}})
	d := submit(mc, ms, &pb.Statement{Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{LotId: lot, CustodyLink: ext, ToPartyId: es.PartyID, MassKg: 2000, Seals: []string{"S1"}, Transport: "truck"}}})
	r := submit(ec, es, &pb.Statement{Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{LotId: lot, DispatchLink: d, MassKg: 20000, SealsIntact: true, Location: site}}})
	kg := 1995.0
	submit(ec, es, &pb.Statement{Body: &pb.Statement_Correction{Correction: &pb.Correction{LotId: lot, Corrects: r, CounterpartyId: ms.PartyID, MassKg: &kg, Reason: "typed a zero too many"}}}, ms)
	return lot
}

// clickJS clicks the element sel names through the page's own click(),
// not at its coordinates: a page still filling in above it cannot move the
// button from under the click.
func clickJS(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.querySelector(` + strconv.Quote(sel) + `).click()`)
}

// apiVerification is what the tests read of /v1/lots/{lot}/verification.
type apiVerification struct {
	Report struct {
		Verdict       string  `json:"verdict"`
		UntracedShare float64 `json:"untracedShare"`
		Flags         []struct {
			Rule        string   `json:"rule"`
			CorrectedBy []string `json:"correctedBy"`
		} `json:"flags"`
	} `json:"report"`
}

// rules returns the rules raised, sorted: those of the flags that count (a
// flag a correction withdrew is in the report, not in its rules); and how
// many withdrawn flags each rule has.
func (v apiVerification) rules() (rules []string, withdrawn map[string]int) {
	rules, withdrawn = []string{}, map[string]int{}
	for _, f := range v.Report.Flags {
		if len(f.CorrectedBy) > 0 {
			withdrawn[f.Rule]++
		} else if !slices.Contains(rules, f.Rule) {
			rules = append(rules, f.Rule)
		}
	}
	sort.Strings(rules)
	return rules, withdrawn
}

// readmeShots are the screenshots the README shows (docs/img).
var readmeShots = map[string]bool{"overview": true, "lot-flagged": true, "lot-report": true}

// shot saves a screenshot of the top of the page (see shotHere).
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		b.t.Fatal(err)
	}
	b.shotHere(name)
}

// shotHere saves a screenshot of the viewport as it is scrolled, and also,
// for the README's, to $CONSOLE_SCREENSHOTS when it is set.
func (b *browser) shotHere(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{b.shots}
	if readmeShots[name] && b.readme != "" {
		dirs = append(dirs, b.readme)
	}
	for _, dir := range dirs {
		if err := os.WriteFile(filepath.Join(dir, "console-"+name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// watchConsole records console errors, uncaught exceptions and the
// browser's own error entries (a failed load, a CSP violation).
func (b *browser) watchConsole() {
	b.t.Helper()
	add := func(s string) {
		b.mu.Lock()
		b.consoleErrors = append(b.consoleErrors, s)
		b.mu.Unlock()
	}
	consoleEvents := chromedp.Events(b.ctx, cdpruntime.ConsoleAPICalled)
	exceptions := chromedp.Events(b.ctx, cdpruntime.ExceptionThrown)
	entries := chromedp.Events(b.ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range consoleEvents {
			if err != nil {
				return
			}
			if ev.Type == cdpruntime.ConsoleAPICalledTypeError || ev.Type == cdpruntime.ConsoleAPICalledTypeWarning || ev.Type == cdpruntime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				add(fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			add(fmt.Sprintf("exception: %s %v", ev.ExceptionDetails.Text, ev.ExceptionDetails.Exception))
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				add(fmt.Sprintf("browser %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		}
	}()
	// A dialog (alert, confirm...) is an error too: nothing on the
	// console opens one. It is dismissed, so the page goes on.
	dialogs := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			add(fmt.Sprintf("dialog %s: %q", ev.Type, ev.Message))
			go chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	if _, err := chromedp.Call(b.ctx, cdplog.Enable, struct{}{}); err != nil {
		b.t.Fatalf("enabling the log domain: %v", err)
	}
}

// tamperBundles changes one byte of one record in every bundle the page
// fetches from now on: a character of the signed payload, so the record
// still parses but its signature and leaf hash no longer hold.
func (b *browser) tamperBundles() {
	b.t.Helper()
	paused := chromedp.Events(b.ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			body, err := chromedp.Call(b.ctx, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: ev.RequestID})
			if err != nil {
				b.t.Logf("reading the intercepted %s: %v", ev.Request.URL, err)
				chromedp.Call(b.ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonFailed})
				continue
			}
			out, ok := tamperBundle(body.Body)
			b.t.Logf("intercepted %s: %d bytes, tampered %v", ev.Request.URL, len(body.Body), ok)
			if ok {
				b.mu.Lock()
				b.nTampered++
				b.mu.Unlock()
			}
			chromedp.Call(b.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID: ev.RequestID, ResponseCode: ev.ResponseStatusCode, ResponseHeaders: ev.ResponseHeaders, Body: out})
		}
	}()
	if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/bundle", RequestStage: fetch.RequestStageResponse}}}); err != nil {
		b.t.Fatalf("enabling request interception: %v", err)
	}
}

func (b *browser) tampered() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nTampered
}

// tamperBundle changes one byte of the last stored envelope of a bundle:
// a character inside its base64 payload.
func tamperBundle(body []byte) ([]byte, bool) {
	var bundle map[string]json.RawMessage
	if json.Unmarshal(body, &bundle) != nil {
		return body, false
	}
	var recs []map[string]any
	if json.Unmarshal(bundle["records"], &recs) != nil || len(recs) == 0 {
		return body, false
	}
	// The last record that carries its envelope (a bundle also holds
	// leaves without their records).
	for k := len(recs) - 1; k >= 0; k-- {
		r := recs[k]
		s, _ := r["data"].(string)
		data, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			continue
		}
		i := bytes.Index(data, []byte(`"payload":"`))
		if i < 0 {
			continue
		}
		i += len(`"payload":"`) + 10
		if data[i] == 'A' {
			data[i] = 'B'
		} else {
			data[i] = 'A'
		}
		r["data"] = base64.StdEncoding.EncodeToString(data)
		raw, err := json.Marshal(recs)
		if err != nil {
			return body, false
		}
		bundle["records"] = raw
		out, err := json.Marshal(bundle)
		return out, err == nil
	}
	return body, false
}

// TestConsoleRoutes: the console is mounted at "/" and "/console/" on the
// public listener without shadowing the API, the OpenAPI document, health
// or the admin surface (which stays off the public port).
func TestConsoleRoutes(t *testing.T) {
	regArgs, _ := offlineRegistrar(t)
	d := startDaemon(t, append([]string{"--data", filepath.Join(t.TempDir(), "data"), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "warn"}, regArgs...)...)
	defer d.stop(t)
	for _, tc := range []struct {
		path        string
		status      int
		contentType string
		contains    string
		console     bool // served by the console, with its CSP
	}{
		{"/", 200, "text/html; charset=utf-8", "/console/app.js", true},
		{"/console/console.wasm", 200, "application/wasm", "\x00asm", true},
		{"/console/wasm_exec.js", 200, "text/javascript; charset=utf-8", "Go Authors", true},
		{"/console/server-keys.json", 200, "application/json", d.verifierKey, true},
		{"/v1/checkpoint", 200, "application/json", `"treeSize"`, false},
		{"/v1/lots", 401, "application/json", `"code":16`, false},
		{"/v1/nothing", 404, "application/json", `"code":5`, false},
		{"/openapi.json", 200, "application/json", `"swagger"`, false},
		{"/healthz", 200, "text/plain; charset=utf-8", "ok", false},
		{"/admin/backup", 404, "", "", false},
		{"/metrics", 404, "", "", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(d.httpURL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tc.status, body)
			}
			if tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.contentType)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q: %.200s", tc.contains, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); (csp != "") != tc.console {
				t.Errorf("Content-Security-Policy %q; want one only on the console's responses", csp)
			}
		})
	}
}

// consoleFixture is a provenanced loaded with the Pakistan example, and an
// auditor registered for the browser to sign in as.
type consoleFixture struct {
	dir, data, auditKeyFile string
	d                       *daemon
	regPriv                 ed25519.PrivateKey
	regPEM                  []byte
	rc                      *client.Client
	lv                      *tlog.Verifier
}

// startConsoleServer starts the fixture's server; the caller stops it
// and closes rc.
func startConsoleServer(t *testing.T) consoleFixture {
	t.Helper()
	// A provenanced with a registrar whose private key the example signs with.
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	regPriv := ed25519Key(t)
	regKeyFile, regPubFile := filepath.Join(dir, "registrar.key"), filepath.Join(dir, "registrar.pub")
	if err := keyfile.WritePrivate(regKeyFile, regPriv); err != nil {
		t.Fatal(err)
	}
	regPEM := record.MarshalPublicKey(regPriv.Public().(ed25519.PublicKey))
	if err := os.WriteFile(regPubFile, regPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--data", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "warn", "--registrar-pub", regPubFile)

	// The Pakistan example, played against it.
	example := filepath.Join(dir, "pakistan")
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(gotool, "build", "-o", example, "../../examples/pakistan").CombinedOutput(); err != nil {
		t.Fatalf("building the example: %v\n%s", err, out)
	}
	exampleOut := &bytes.Buffer{}
	cmd := exec.Command(example, "--addr", d.grpcAddr, "--registrar-key", regKeyFile, "--log-key", filepath.Join(data, "log.pub"), "--registrar-pub", regPubFile)
	cmd.Stdout, cmd.Stderr = exampleOut, exampleOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("the example: %v\n%s", err, exampleOut.String())
	}
	// An auditor, whose PEM key file the browser signs in with.
	auditPub, auditPriv, err := record.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	auditKeyFile := filepath.Join(dir, "audit.key")
	if err := keyfile.WritePrivate(auditKeyFile, auditPriv); err != nil {
		t.Fatal(err)
	}
	reg, err := record.Sign(&pb.Statement{PartyId: record.RegistrarPartyID, EventTime: timestamppb.Now(),
		Body: &pb.Statement_PartyRegistration{PartyRegistration: &pb.PartyRegistration{
			PartyId: "audit-console", Name: "Console Audit Office", Roles: []pb.Role{pb.Role_ROLE_AUDITOR}, Country: "PK",
			Keys: []*pb.PartyKey{{PublicKey: auditPub, NotBefore: timestamppb.New(time.Now().Add(-time.Minute))}}}}}, regPriv)
	if err != nil {
		t.Fatal(err)
	}
	lv, err := tlog.NewVerifier(d.verifierKey)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := client.DialAs(t.Context(), d.grpcAddr, nil, &client.Credentials{PartyID: record.RegistrarPartyID, Key: regPriv, Origin: lv.Name()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Submit(t.Context(), reg); err != nil {
		t.Fatalf("registering the auditor: %v", err)
	}
	return consoleFixture{dir: dir, data: data, auditKeyFile: auditKeyFile, d: d, regPriv: regPriv, regPEM: regPEM, rc: rc, lv: lv}
}
