package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// lastLineWriter collects the output and cancels when it holds want.
type lastLineWriter struct {
	mu     sync.Mutex
	b      strings.Builder
	want   string
	cancel context.CancelFunc
}

func (w *lastLineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), w.want) {
		w.cancel()
	}
	return len(p), nil
}

// TestServeOutput: with --serve on a temporary directory, the lines to
// paste come in an order that works pasted top to bottom (the operator's
// key with PROVCTL_PARTY unset, then the party's key with its party),
// the web console's address is printed, the output says the keys go with
// the temporary directory, and they do when the example stops, which it
// says.
func TestServeOutput(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := &lastLineWriter{want: "PROVCTL_PARTY=indus-exports\n", cancel: cancel}
	if _, err := play(ctx, options{out: w, serve: true, set: map[string]bool{"serve": true}}); err != nil {
		t.Fatalf("play: %v\n%s", err, w.b.String())
	}
	out := w.b.String()
	m := regexp.MustCompile(`and http://(\S+) \(store (\S+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no server line:\n%s", out)
	}
	httpAddr, dir := m[1], m[2]
	operator := strings.Index(out, "export PROVCTL_KEY="+filepath.Join(dir, "log.key")+"; unset PROVCTL_PARTY\n")
	party := strings.Index(out, "export PROVCTL_KEY="+filepath.Join(dir, "parties", "indus-exports.key")+" PROVCTL_PARTY=indus-exports\n")
	if operator < 0 || party < 0 || party < operator || strings.Count(out, "PROVCTL_PARTY=indus-exports") != 1 {
		t.Errorf("want the operator's export line (unsetting PROVCTL_PARTY), then the party's, once:\n%s", out)
	}
	if !strings.Contains(out, "Web console: http://"+httpAddr+"/\n") {
		t.Errorf("no web console address:\n%s", out)
	}
	if !strings.Contains(out, "deletes") || !strings.Contains(out, "--data DIR") {
		t.Errorf("the output does not say the keys go with the temporary directory:\n%s", out)
	}
	if !strings.HasSuffix(out, "\nInterrupted: the server stops, and its temporary directory "+dir+" goes with it.\n") {
		t.Errorf("the example does not say it stopped on the interrupt:\n%s", out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the temporary directory %s is still there after the example stopped (%v)", dir, err)
	}
}

// TestServeOutputKept: with --data, the interrupt leaves the store and
// keys where they are, and the example says so.
func TestServeOutputKept(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	data := t.TempDir()
	w := &lastLineWriter{want: "PROVCTL_PARTY=indus-exports\n", cancel: cancel}
	if _, err := play(ctx, options{out: w, serve: true, data: data, set: map[string]bool{"serve": true, "data": true}}); err != nil {
		t.Fatalf("play: %v\n%s", err, w.b.String())
	}
	out := w.b.String()
	if want := "\nInterrupted: the server stops; its store and keys stay in " + data + ". `go run ./cmd/provenanced --data " + data + "` serves them (the example run again with --data plays its story again on them, under new ids).\n"; !strings.HasSuffix(out, want) {
		t.Errorf("want the output to end %q:\n%s", want, out)
	}
	if _, err := os.Stat(filepath.Join(data, "log.key")); err != nil {
		t.Errorf("the store's keys are gone after the interrupt: %v", err)
	}
}
