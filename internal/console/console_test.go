package console_test

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/antimony-ledger/provenance/internal/console"
	"github.com/antimony-ledger/provenance/internal/report"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

func TestHandler(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := console.ServerKeys{Origin: "example.test/log", LogKey: "example.test/log+01234567+AAAA", Registrar: pub}
	srv := httptest.NewServer(console.Handler(keys))
	defer srv.Close()

	for _, tc := range []struct {
		path, contentType, contains string
		status                      int
	}{
		{"/", "text/html; charset=utf-8", `<script src="/console/app.js"`, 200},
		{"/console/app.js", "text/javascript; charset=utf-8", "provenanceReady", 200},
		{"/console/app.css", "text/css; charset=utf-8", "--bg", 200},
		{"/console/wasm_exec.js", "text/javascript; charset=utf-8", "Copied from $(go env GOROOT)/lib/wasm/wasm_exec.js", 200},
		{"/console/console.wasm", "application/wasm", "\x00asm", 200},
		{"/console/server-keys.json", "application/json", `"origin":"example.test/log"`, 200},
		{"/console/rules.json", "application/json", `"MASS_SURPLUS"`, 200},
		{"/console/glossary.json", "application/json", `"untraced share"`, 200},
		// One address for the page, and nothing else.
		{"/console/", "", "", 404},
		{"/console/index.html", "", "", 404},
		{"/console/console.wasm.gz", "", "", 404},
		{"/console/nothing.js", "", "", 404},
		{"/console/map.json", "", "", 404}, // the lot's report draws its own map
		{"/v1/checkpoint", "", "", 404},
		{"/index.html", "", "", 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != console.CSP {
				t.Errorf("CSP %q", got)
			}
			if tc.status != 200 {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
		})
	}

	// The keys are the server's, as the verifier reads them.
	resp, err := http.Get(srv.URL + "/console/server-keys.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Origin, LogKey, RegistrarPem string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	p, err := record.ParsePublicKey([]byte(got.RegistrarPem))
	if err != nil || !p.Equal(pub) || got.LogKey != keys.LogKey || got.Origin != keys.Origin {
		t.Errorf("server keys %+v (%v), want %+v", got, err, keys)
	}
}

// TestWasmGzip: a browser that accepts gzip gets the module gzipped, with
// the same bytes inside; one that does not gets it as it is.
func TestWasmGzip(t *testing.T) {
	srv := httptest.NewServer(console.Handler(console.ServerKeys{Registrar: make(ed25519.PublicKey, ed25519.PublicKeySize)}))
	defer srv.Close()
	get := func(enc string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+"/console/console.wasm", nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		// A transport of its own, which neither asks for gzip nor undoes it.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	plainResp, plain := get("")
	if plainResp.Header.Get("Content-Encoding") != "" || !bytes.HasPrefix(plain, []byte("\x00asm")) {
		t.Fatalf("without Accept-Encoding: encoding %q, %d bytes", plainResp.Header.Get("Content-Encoding"), len(plain))
	}
	for _, enc := range []string{"gzip", "gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.8"} {
		resp, body := get(enc)
		if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "application/wasm" {
			t.Errorf("Accept-Encoding %q: encoding %q, type %q", enc, resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("Accept-Encoding %q: the gzipped module is not the module (%v)", enc, err)
		}
		if len(body) > len(plain)/2 {
			t.Errorf("gzipped module is %d bytes of %d", len(body), len(plain))
		}
	}
	if resp, _ := get("gzip;q=0"); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0: got Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
}

// TestCSP: the policy names no other origin, and allows nothing inline
// but the lot report's style element, by its hash.
func TestCSP(t *testing.T) {
	for _, bad := range []string{"http:", "https:", "*", "'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'"} {
		if strings.Contains(console.CSP, bad) {
			t.Errorf("CSP allows %s: %s", bad, console.CSP)
		}
	}
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "script-src 'self' 'wasm-unsafe-eval';", "frame-ancestors 'none'"} {
		if !strings.Contains(console.CSP, want) {
			t.Errorf("CSP lacks %s", want)
		}
	}
	// The style element of a fragment as the lot page gets it is allowed
	// by its hash; nothing else in style-src but 'self'.
	var frag bytes.Buffer
	in := report.Input{Lot: "L1", Report: &pb.VerificationReport{Verdict: pb.Verdict_VERDICT_INVALID}}
	if err := report.Fragment(&frag, in); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(frag.String(), -1)
	if len(m) != 1 {
		t.Fatalf("the fragment has %d style elements, want 1", len(m))
	}
	sum := sha256.Sum256([]byte(m[0][1]))
	want := "style-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"
	if !strings.Contains(console.CSP, want) {
		t.Errorf("CSP %q lacks %q", console.CSP, want)
	}
}

// TestRulesListed: the page's list of rules is the verifier's.
func TestRulesListed(t *testing.T) {
	srv := httptest.NewServer(console.Handler(console.ServerKeys{Registrar: make(ed25519.PublicKey, ed25519.PublicKeySize)}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/console/rules.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rules []struct{ ID, Severity, Description, Explain string }
	if err := json.NewDecoder(resp.Body).Decode(&rules); err != nil {
		t.Fatal(err)
	}
	want := verifier.Rules()
	if len(rules) != len(want) {
		t.Fatalf("%d rules, verifier has %d", len(rules), len(want))
	}
	for i, r := range want {
		if rules[i].ID != r.ID || rules[i].Description != r.Description || rules[i].Severity != r.Severity.String() {
			t.Errorf("rule %d: %+v, want %+v", i, rules[i], r)
		}
		// The words are the report's, the one explanation of each rule.
		if rules[i].Explain == "" || rules[i].Explain != report.Explain(r.ID) {
			t.Errorf("rule %s explained as %q, want report.Explain's %q", r.ID, rules[i].Explain, report.Explain(r.ID))
		}
	}
}

// TestGlossaryListed: the console's words are the report's glossary.
func TestGlossaryListed(t *testing.T) {
	srv := httptest.NewServer(console.Handler(console.ServerKeys{Registrar: make(ed25519.PublicKey, ed25519.PublicKeySize)}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/console/glossary.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var terms []struct{ Name, Definition string }
	if err := json.NewDecoder(resp.Body).Decode(&terms); err != nil {
		t.Fatal(err)
	}
	want := report.Glossary()
	if len(terms) != len(want) || len(want) == 0 {
		t.Fatalf("%d terms, the report has %d", len(terms), len(want))
	}
	for i, w := range want {
		if terms[i].Name != w.Name || terms[i].Definition != w.Definition {
			t.Errorf("term %d: %+v, want %+v", i, terms[i], w)
		}
	}
}
