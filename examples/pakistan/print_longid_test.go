package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/antimony-ledger/provenance/internal/lottest"
	"github.com/antimony-ledger/provenance/internal/pdfprint"
	"github.com/antimony-ledger/provenance/internal/report"
)

// TestPrintLongLotID: a lot id of the longest length an id may have (128
// ASCII bytes, record/statement.go maxIDLen), without a break, does not
// push the printed report wider than the A4 page's printable width: no
// column of the timeline is cut off the page. (TestReportsOnePage reads
// innerText, which includes text the page clips: this measures the layout.)
func TestPrintLongLotID(t *testing.T) {
	browser := needChromium(t)
	lot := "L" + strings.Repeat("0123456789ABCDEF", 7) + "0123456789ABCDE" // 128 bytes, no break
	if len(lot) != 128 {
		t.Fatalf("lot id of %d bytes", len(lot))
	}
	x := lottest.New(t)
	ext := x.Extract(x.Mine, lot, 3000, 3, 9, lottest.MineSite, 1)
	d := x.Dispatch(x.Mine, lot, ext, x.Exp, 3000, 2)
	x.Receive(x.Exp, lot, d, 2995, 3)
	var w bytes.Buffer
	if err := report.HTML(&w, report.Input{Lot: lot, Bundle: x.Bundle(lot), Report: x.Verify(lot), Generated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "r.html")
	if err := os.WriteFile(page, w.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("REPORT_LONG_ID_PDF"); out != "" {
		if err := pdfprint.Print(t.Context(), browser, w.Bytes(), out); err != nil {
			t.Fatal(err)
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, time.Minute)
	defer cancelT()
	// A4 less the @page margins (9 mm each side): 192 mm = 726 CSS px.
	const printable = 726
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(printable, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page)); err != nil {
		t.Fatal(err)
	}
	right, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`Math.max(...[...document.querySelectorAll("table.timeline td")].map(e => e.getBoundingClientRect().right))`))
	if err != nil {
		t.Fatal(err)
	}
	if right > printable+1 {
		t.Errorf("the printed timeline reaches %.0f px, past the page's printable width of %d px: its last columns are cut off the page", right, printable)
	}
}
