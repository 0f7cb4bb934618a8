package ledger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the file in a log's directory that one process at a time
// holds locked (flock) from the start of Open to the end of Close. Badger
// locks its directory too, but reports a lock held elsewhere only as
// text, and releases it (deleting its own file, LOCK) before Close has
// synced Badger's files and retired the journal; this lock covers all of
// it, and lets Open report it as [ErrLocked]. It is never deleted, so the
// lock is always on the file that the next Open opens.
const lockFile = "ledger.lock"

// lockDir creates dir if needed and takes its lock, failing with
// [ErrLocked] if another process (or another open Log) holds it. Closing
// the returned file releases the lock.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("locking log directory: %w", err)
	}
	return f, nil
}
