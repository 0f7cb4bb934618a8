package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/tlog"
)

// Audit checks the stored log against a signed checkpoint. It verifies
// checkpoint with v, then re-reads every entry below the checkpoint's size,
// re-hashes it, checks it against its stored leaf hash, its hash index and
// every stored tree node it completes, compares the recomputed root with
// the checkpoint's, and finally checks the checksum of every block of
// Badger's tables.
//
// It returns an [*AuditError] naming the first entry that disagrees with the
// stored tree, or another error if the checkpoint does not verify, names
// another origin, is larger than the log or has a root the stored entries do
// not produce. progress, if not nil, is called periodically with the number
// of entries checked and the total.
func (l *Log) Audit(ctx context.Context, checkpoint []byte, v note.Verifier, progress func(done, total uint64)) error {
	c, err := tlog.OpenCheckpoint(checkpoint, v)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if c.Origin != l.opts.Origin {
		return fmt.Errorf("audit: checkpoint origin %q is not this log's %q", c.Origin, l.opts.Origin)
	}
	if size := l.Size(); c.Size > size {
		return fmt.Errorf("audit: checkpoint size %d is larger than the log (size %d)", c.Size, size)
	}
	rng := rangeFactory.NewEmptyRange(0)
	for next := uint64(0); next < c.Size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if next, err = auditChunk(l.view, rng, next, c.Size); err != nil {
			return err
		}
		if progress != nil {
			progress(next, c.Size)
		}
	}
	if root := rangeRoot(rng); root != c.Root {
		return fmt.Errorf("audit: the stored entries produce root %x at size %d, the checkpoint says %x", root, c.Size, c.Root)
	}
	// A damaged block of state or index keys hides them (Badger answers
	// "not found"), which the entries' checks above cannot see.
	if err := l.view(func(*badger.Txn) error { return VerifyTables(context.Background(), l.db) }); err != nil {
		return fmt.Errorf("audit: %w", &DamageError{What: "a table block", Err: err})
	}
	return nil
}

// auditChunk reads the entries from next (one chunk at most, below end)
// in one read transaction of view and audits each into rng, in order:
// entries read before a bad one are audited first, so the error names the
// first entry that is wrong. It returns where the next chunk starts.
func auditChunk(view func(func(*badger.Txn) error) error, rng *compact.Range, next, end uint64) (uint64, error) {
	err := view(func(txn *badger.Txn) error {
		chunk, readErr := readEntries(txn, next, end)
		for _, e := range chunk {
			if err := auditEntry(txn, rng, e); err != nil {
				return err
			}
		}
		next += uint64(len(chunk))
		return readErr
	})
	return next, err
}

// auditEntry appends e to rng, checking every node this completes and the
// hash index against what is stored.
func auditEntry(txn *badger.Txn, rng *compact.Range, e Entry) error {
	bad := func(format string, a ...any) error {
		return &AuditError{Index: e.Index, Reason: fmt.Sprintf(format, a...)}
	}
	var nodes []compact.NodeID
	var hashes [][]byte
	leaf := e.Leaf().Hash()
	if err := rng.Append(leaf[:], func(id compact.NodeID, h []byte) {
		nodes, hashes = append(nodes, id), append(hashes, h)
	}); err != nil {
		return fmt.Errorf("audit: extending tree: %w", err)
	}
	for i, id := range nodes {
		stored, err := getValue(txn, nodeKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return bad("tree node (level %d, index %d) %v", id.Level, id.Index, errUnreadable)
		}
		if err != nil {
			return bad("reading tree node (level %d, index %d): %v", id.Level, id.Index, err)
		}
		if !bytes.Equal(stored, hashes[i]) {
			if id.Level == 0 {
				return bad("entry and its leaf data hash to %x, stored leaf hash is %x", hashes[i], stored)
			}
			return bad("stored tree node (level %d, index %d) is %x, recomputed %x", id.Level, id.Index, stored, hashes[i])
		}
	}
	idx, err := getValue(txn, hashKey(e.ID))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return bad("hash index %v", errUnreadable)
	}
	if err != nil {
		return bad("reading hash index: %v", err)
	}
	if len(idx) != 8 || binary.BigEndian.Uint64(idx) != e.Index {
		return bad("hash index points to %x, not to this entry", idx)
	}
	return nil
}
