package ledger

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/antimony-ledger/provenance/tlog"
)

var (
	// ErrNotFound means the requested entry or state key does not exist.
	// Callers should treat it as a definitive answer, not retry.
	ErrNotFound = errors.New("not found")

	// ErrInvalidInput means the request itself is wrong: an empty or
	// oversized entry, a malformed ID, an index or tree size beyond the
	// log, or a bad range. Nothing was written; retrying the same request
	// fails the same way, so callers should fix the input.
	ErrInvalidInput = errors.New("invalid input")

	// ErrLocked means the log's directory is in use: another process (a
	// server, an audit) or another open [Log] holds it. Nothing was
	// opened; stop the other user, or wait for it, and open again.
	ErrLocked = errors.New("log directory is in use by another process")

	// ErrClosed means the log was closed (or its context cancelled) before
	// the request could be served. Nothing was written by the failed call.
	ErrClosed = errors.New("ledger closed")
)

// An AuditError reports the first entry found to disagree with the tree
// during [Log.Audit]: its bytes no longer hash to the stored leaf, or a stored
// tree node built from it is wrong. It means the store was altered or
// corrupted; the log should not be served until restored.
type AuditError struct {
	Index  uint64 // index of the first bad entry
	Reason string // what did not match
}

// Error returns a message naming the bad index.
func (e *AuditError) Error() string {
	return fmt.Sprintf("audit failed at index %d: %s", e.Index, e.Reason)
}

// A missingError is [ErrNotFound] naming what was looked up. Misses are
// routine on the commit path (every new lot, every new record's hash), so
// its message is formatted only if read.
type missingError struct {
	what string // "state key" or "entry"
	key  []byte
}

func (e *missingError) Error() string {
	if e.what == "entry" {
		return fmt.Sprintf("entry %x: %v", e.key, ErrNotFound)
	}
	return fmt.Sprintf("%s %q: %v", e.what, e.key, ErrNotFound)
}

func (e *missingError) Unwrap() error { return ErrNotFound }

func missingState(key []byte) error { return &missingError{what: "state key", key: bytes.Clone(key)} }

func missingEntry(id tlog.RecordID) error { return &missingError{what: "entry", key: id[:]} }
