package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestAdminBackupCutShortLooksWholeOverHTTP10_review19: the handler cuts a
// backup that meets damage mid-stream short by aborting the response
// (panic(http.ErrAbortHandler)), "so that a plain download fails too
// rather than look whole". That holds for HTTP/1.1 (chunked: the last
// chunk never comes) and HTTP/2, not for an HTTP/1.0 request: Go's server
// then delimits the body by closing the connection, and the abort closes
// it, so the client reads a 200 whose body ends cleanly, exactly as a
// whole backup's would. HTTP/1.0 is what nginx speaks to an upstream by
// default (proxy_http_version 1.0), so behind such a proxy every client
// got a clean, complete-looking download of a cut-short backup. The
// handler now refuses an HTTP/1.0 request (it cannot give a length).
func TestAdminBackupCutShortLooksWholeOverHTTP10_review19(t *testing.T) {
	h, _ := damagedMidStream(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.admin, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /admin/backup HTTP/1.0\r\nHost: backup\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusHTTPVersionNotSupported || !strings.Contains(string(got), "HTTP/1.1") {
		t.Fatalf("GET /admin/backup over HTTP/1.0: %d, %d bytes (%.200q); want 505 asking for HTTP/1.1: over HTTP/1.0 a backup cut short mid-stream reads as whole", resp.StatusCode, len(got), got)
	}
}
