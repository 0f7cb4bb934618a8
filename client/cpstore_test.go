package client_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/tlog"
)

// newLog returns a signer and verifier of a log named origin, with a key
// of its own.
func newLog(t *testing.T, origin string) (*tlog.Signer, *tlog.Verifier) {
	t.Helper()
	skey, vkey, err := tlog.GenerateNoteKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func signedCheckpoint(t *testing.T, s *tlog.Signer, origin string, size uint64) []byte {
	t.Helper()
	n, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: origin, Size: size, Time: time.Now().Truncate(time.Second)}, s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDirCheckpointStorePerLog: with Log set, two logs of one origin keep
// their checkpoints apart, and a checkpoint kept by origin only (before
// Log) is read back for the log that signed it and for no other.
func TestDirCheckpointStorePerLog(t *testing.T) {
	const origin = "example.test/log"
	dir := t.TempDir()
	s1, v1 := newLog(t, origin)
	s2, v2 := newLog(t, origin)
	legacy := signedCheckpoint(t, s1, origin, 5)
	if err := (client.DirCheckpointStore{Dir: dir}).Save(origin, legacy); err != nil {
		t.Fatal(err)
	}
	a, b := client.DirCheckpointStore{Dir: dir, Log: v1}, client.DirCheckpointStore{Dir: dir, Log: v2}
	if got, err := a.Last(origin); err != nil || !bytes.Equal(got, legacy) {
		t.Fatalf("log 1 does not find its checkpoint kept by origin only: %q, %v", got, err)
	}
	if got, err := b.Last(origin); err != nil || got != nil {
		t.Fatalf("log 2 finds log 1's checkpoint: %q, %v", got, err)
	}
	n2 := signedCheckpoint(t, s2, origin, 3)
	if err := b.Save(origin, n2); err != nil {
		t.Fatal(err)
	}
	n1 := signedCheckpoint(t, s1, origin, 7)
	if err := a.Save(origin, n1); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Last(origin); !bytes.Equal(got, n1) {
		t.Errorf("log 1: %q, want its own latest", got)
	}
	if got, _ := b.Last(origin); !bytes.Equal(got, n2) {
		t.Errorf("log 2: %q, want its own", got)
	}
}
