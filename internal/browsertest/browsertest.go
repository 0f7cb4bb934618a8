// Package browsertest finds the Chromium that the web console's browser
// tests drive.
package browsertest

import (
	"os"
	"os/exec"
	"testing"
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
