package client

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A DirCheckpointStore keeps one file per log origin in a directory.
type DirCheckpointStore struct{ Dir string }

func (d DirCheckpointStore) path(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(d.Dir, "checkpoint-"+hex.EncodeToString(h[:8]))
}

// Last implements [CheckpointStore].
func (d DirCheckpointStore) Last(origin string) ([]byte, error) {
	b, err := os.ReadFile(d.path(origin))
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
