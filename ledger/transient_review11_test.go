package ledger

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// lowFiles lowers the process's soft limit on open files so that no new
// file can be opened (a server at its descriptor limit under load: EMFILE,
// transient), and returns a func that puts it back.
func lowFiles(t *testing.T) func() {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = 3
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	restore := func() {
		once.Do(func() {
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				panic(err)
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

// onMessage is a slog handler that runs fn once when a record's message
// contains sub.
type onMessage struct {
	sub  string
	fn   func()
	once *sync.Once
}

func (h onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h onMessage) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.sub) {
		h.once.Do(h.fn)
	}
	return nil
}
func (h onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h onMessage) WithGroup(string) slog.Handler      { return h }

// TestTransientErrorIsNotDamage_review11: checkTablesNow (Backup) and
// verifyTables wrap every error of VerifyTables but ctx's as a
// DamageError, "a table block ... fails its checksum", an ErrDataLoss.
// An error opening a table file that is no damage at all (EMFILE at the
// descriptor limit, EACCES, EIO of a moment) thus (1) makes Backup of a
// sound store say the store is damaged, and (2) since this change, has
// the background check write data/ledger/DAMAGED, so that every later
// start of the sound store refuses appends until the operator removes it.
func TestTransientErrorIsNotDamage_review11(t *testing.T) {
	k := newTestKey(t)
	t.Run("backup", func(t *testing.T) {
		dir, _ := damageStore(t, k, 300, 200)
		l := openTest(t, dir, k, func(o *Options) { o.OpenCheck = -1 })
		restore := lowFiles(t)
		var buf bytes.Buffer
		_, err := l.Backup(t.Context(), &buf)
		restore()
		if errors.Is(err, ErrDataLoss) {
			t.Fatalf("Backup of a sound store that could not open a file (EMFILE): %v; the store is called damaged", err)
		}
		t.Logf("Backup: %v", err)
	})
	t.Run("marker", func(t *testing.T) {
		dir, _ := damageStore(t, k, 300, 200)
		var restore func()
		h := onMessage{sub: "the store is damaged", fn: func() { restore() }, once: &sync.Once{}}
		l := openTest(t, dir, k, func(o *Options) { o.OpenCheck = -1; o.Logger = slog.New(h) })
		restore = lowFiles(t)
		l.verifyTables(context.Background()) // the check after a start, at a moment the process is at its file limit
		restore()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, DamageMarker)); err == nil {
			t.Logf("%s: %s", DamageMarker, b)
		}
		l = openTest(t, dir, k, func(o *Options) { o.OpenCheck = -1 })
		if _, _, err := l.Append(t.Context(), []byte("a sound store, restarted")); err != nil {
			t.Fatalf("append after restarting a sound store whose check once hit EMFILE: %v", err)
		}
	})
}
