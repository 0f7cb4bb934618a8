package client

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/tlog"
)

// A DirCheckpointStore keeps one file per log in a directory.
type DirCheckpointStore struct {
	Dir string
	// Log, if set, is the key of the log whose checkpoints are kept: the
	// files are then named by origin and key, so two logs with one origin
	// (two servers started with the default) are remembered apart. Without
	// it, by origin only.
	Log note.Verifier
}

func (d DirCheckpointStore) path(origin string) string {
	name := origin
	if d.Log != nil {
		name = fmt.Sprintf("%s\n%s\n%08x", origin, d.Log.Name(), d.Log.KeyHash())
	}
	h := sha256.Sum256([]byte(name))
	return filepath.Join(d.Dir, "checkpoint-"+hex.EncodeToString(h[:8]))
}

// Last implements [CheckpointStore]. With Log set and no file for origin
// and Log, it falls back to the file kept by origin only, as a store
// without Log wrote it, if Log signed the checkpoint in it: an upgrade
// keeps what the client saw, and another log's checkpoint is not taken
// for this one's.
func (d DirCheckpointStore) Last(origin string) ([]byte, error) {
	b, err := os.ReadFile(d.path(origin))
	if errors.Is(err, fs.ErrNotExist) && d.Log != nil {
		b, err = DirCheckpointStore{Dir: d.Dir}.Last(origin)
		if err != nil || b == nil {
			return nil, err
		}
		if _, err := tlog.OpenCheckpoint(b, d.Log); err != nil {
			return nil, nil
		}
		return b, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Save implements [CheckpointStore]: it writes a temporary file, syncs it
// and renames it over the old one, so a crash leaves one or the other.
func (d DirCheckpointStore) Save(origin string, signedNote []byte) error {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.Dir, ".checkpoint-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(signedNote); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), d.path(origin)); err != nil {
		return fmt.Errorf("saving checkpoint: %w", err)
	}
	return nil
}
