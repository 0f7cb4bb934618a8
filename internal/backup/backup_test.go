package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/internal/datadir"
	"github.com/antimony-ledger/provenance/ledger"
	"github.com/antimony-ledger/provenance/tlog"
)

func testBackup(t *testing.T, private bool) ([]byte, Manifest) {
	t.Helper()
	l, files := testLog(t, private, 300)
	var buf bytes.Buffer
	m, err := Write(context.Background(), &buf, l, files, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), m
}

// testLog opens a log of 10 × per entries (of about 400 bytes) on disk,
// closed at the test's end, and returns it with the key files a backup
// of it holds.
func testLog(t *testing.T, private bool, per int) (*ledger.Log, []File) {
	t.Helper()
	skey, vkey, err := tlog.GenerateNoteKey("backup.example/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(context.Background(), t.TempDir(), ledger.Options{Origin: signer.Name(), Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var wg sync.WaitGroup
	for w := range 10 { // more than one store record
		wg.Go(func() {
			for i := range per {
				if _, _, err := l.Append(context.Background(), fmt.Appendf(nil, "entry %d %0400d", w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	files := []File{{datadir.LogPubFile, []byte(vkey + "\n")}, {datadir.RegistrarPubFile, []byte("registrar public key\n")}}
	if private {
		files = append(files, File{datadir.LogKeyFile, []byte(skey + "\n")})
	}
	return l, files
}

// cancelAfter cancels when the first bytes are written to it.
type cancelAfter struct {
	bytes.Buffer
	cancel func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.cancel()
	return c.Buffer.Write(p)
}

// TestStoppedAfterBegun: a backup whose store stream fails once bytes
// have gone out (here its context is cancelled as they do) ends with a
// record saying why, which Read reports as ErrStopped with the reason,
// not as a file cut short: the reader learns the server's reason (a cold
// review: a failure after the start was only "unexpected EOF").
func TestStoppedAfterBegun(t *testing.T) {
	l, files := testLog(t, false, 700) // a store of several pieces
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelAfter{cancel: cancel}
	_, err := Write(ctx, w, l, files, time.Now())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with its context cancelled as it began: %v", err)
	}
	if w.Len() == 0 {
		t.Fatal("nothing was written before the failure: the test needs a store of more than one piece")
	}
	_, rerr := Read(bytes.NewReader(w.Bytes()), nil)
	if !errors.Is(rerr, ErrStopped) || !strings.Contains(rerr.Error(), "context canceled") {
		t.Fatalf("Read of a backup stopped after it began: %v; want ErrStopped with the writer's reason", rerr)
	}
	t.Logf("Read: %v", rerr)
}

func TestRoundTrip(t *testing.T) {
	b, m := testBackup(t, false)
	var store bytes.Buffer
	c, err := Read(bytes.NewReader(b), &store)
	if err != nil {
		t.Fatal(err)
	}
	if c.Manifest.TreeSize != 3000 || c.Checkpoint.Size != 3000 || c.Manifest.PrivateKeys || len(c.Files) != 2 || c.Files[datadir.LogKeyFile] != nil {
		t.Fatalf("manifest %+v, files %d", c.Manifest, len(c.Files))
	}
	if int64(store.Len()) != m.StoreBytes || store.Len() <= maxPiece {
		t.Fatalf("store stream %d bytes, manifest %d", store.Len(), m.StoreBytes)
	}
	b, _ = testBackup(t, true)
	if c, err := Read(bytes.NewReader(b), nil); err != nil || !c.Manifest.PrivateKeys || c.Files[datadir.LogKeyFile] == nil {
		t.Fatalf("backup with the private key: %v, manifest %+v", err, c.Manifest)
	}
}

// TestDamageRefused flips one byte at many places, cuts the file and
// extends it: each is refused as corrupt.
func TestDamageRefused(t *testing.T) {
	b, _ := testBackup(t, false)
	for _, at := range []int{0, 9, 20, 100, len(b) / 3, len(b) / 2, len(b) - 200, len(b) - 40, len(b) - 1} {
		bad := bytes.Clone(b)
		bad[at] ^= 0x01
		if _, err := Read(bytes.NewReader(bad), nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("byte %d of %d flipped: %v", at, len(b), err)
		}
	}
	for _, n := range []int{0, 5, len(b) / 2, len(b) - 1} {
		if _, err := Read(bytes.NewReader(b[:n]), nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut to %d bytes: %v", n, err)
		}
	}
	if _, err := Read(bytes.NewReader(append(bytes.Clone(b), 0)), nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a byte added: %v", err)
	}
}
