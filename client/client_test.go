package client_test

import (
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/client"
	ct "github.com/antimony-ledger/provenance/internal/chaintest"
	"github.com/antimony-ledger/provenance/tlog"
)

// memStore is a CheckpointStore in memory.
type memStore map[string][]byte

func (m memStore) Last(origin string) ([]byte, error) { return m[origin], nil }
func (m memStore) Save(origin string, n []byte) error { m[origin] = n; return nil }

// TestCheckpointOriginPinned: the operator holds the log key, so it could
// sign any tree; under another origin line, such a tree would escape the
// consistency check against the checkpoint remembered for the real origin.
// The pinned key's name is the origin, so the forgery is refused and not
// remembered.
func TestCheckpointOriginPinned(t *testing.T) {
	chain := ct.New()
	sign := func(c tlog.Checkpoint) []byte {
		n, err := note.Sign(&note.Note{Text: c.Marshal()}, chain.LogSigner)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cps := memStore{}
	c := &client.Client{} // neither check below needs the server
	if _, err := c.CheckCheckpoint(t.Context(), chain.LogVerifier, cps, sign(tlog.Checkpoint{Origin: ct.Origin, Size: 0})); err != nil {
		t.Fatalf("checkpoint of the pinned log: %v", err)
	}
	forged := sign(tlog.Checkpoint{Origin: ct.Origin + "-other", Size: 0, Root: [32]byte{1}})
	if _, err := c.CheckCheckpoint(t.Context(), chain.LogVerifier, cps, forged); err == nil {
		t.Fatal("a checkpoint under another origin, signed with the log key, was accepted")
	}
	if len(cps) != 1 || cps[ct.Origin+"-other"] != nil {
		t.Fatalf("remembered checkpoints %v", cps)
	}
	// The same origin with a different root at the same size is a fork.
	_, err := c.CheckCheckpoint(t.Context(), chain.LogVerifier, cps, sign(tlog.Checkpoint{Origin: ct.Origin, Size: 0, Root: [32]byte{1}}))
	if !errors.Is(err, client.ErrFork) {
		t.Fatalf("same size, other root: %v, want ErrFork", err)
	}
}
