// Package pdfprint prints an HTML page to PDF with a headless Chromium or
// Google Chrome found on PATH: provctl report's PDF path, shared with the
// tests that check the printed report fits one A4 page.
package pdfprint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Names are the browsers, looked up on PATH in this order, that print a
// page to PDF.
var Names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Timeout bounds one run of the browser printing a page.
const Timeout = 2 * time.Minute

// Find returns the path of the first browser of [Names] on PATH, or "".
func Find() string {
	for _, n := range Names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Print has the headless browser print the page to out. The page should
// make no requests (the report's Content Security Policy forbids them):
// the browser is given no network of its own to reach.
func Print(ctx context.Context, browser string, html []byte, out string) error {
	dir, err := os.MkdirTemp("", "provctl-report-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, html, 0o600); err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	// The browser writes the PDF into the temporary directory first, so a
	// failed print leaves no partial file at out.
	tmp := filepath.Join(dir, "report.pdf")
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--print-to-pdf="+tmp, "file://"+page)
	msgs, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("printing PDF with %s: %w\n%s", browser, err, tail(msgs, 800))
	}
	data, err := os.ReadFile(tmp)
	if err != nil || !bytes.HasPrefix(data, []byte("%PDF-")) {
		return errors.Join(fmt.Errorf("printing PDF with %s: no PDF written\n%s", browser, tail(msgs, 800)), err)
	}
	return os.WriteFile(abs, data, 0o644)
}

// pageObject matches a page object's type, not the page tree's (/Pages).
var pageObject = regexp.MustCompile(`/Type\s*/Page\b`)

// Pages counts the page objects of a PDF as Chromium writes it (objects
// not in compressed object streams): how many pages it prints on.
func Pages(pdf []byte) int {
	return len(pageObject.FindAll(pdf, -1))
}

// tail keeps the end of a browser's chatter, where its error is.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
