package backend

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/antimony-ledger/provenance/ledger"
)

// rebuildMarker is a file in the state's directory that asks the next
// start to rebuild the state from the log's start: checkTables found a
// table block that fails its checksum.
const rebuildMarker = "REBUILD"

// checkTables checks the checksum of every table block of the replay's
// store once, in the background after start, paced while appends come in,
// as the log's check is. It alone finds a damaged block: a read through
// one does not fail, Badger answers "not found" for the keys it holds.
// The state is a projection of the log, so damage loses nothing the log
// cannot give again, but listings would leave out what a damaged block
// hides: from the moment damage is found listings refuse with
// ErrDataLoss, saying a restart rebuilds the state, and the next start
// does.
func (b *Backend) checkTables(ctx context.Context, dir string) {
	defer close(b.tablesDone)
	if beforeTableCheck != nil {
		beforeTableCheck(dir)
	}
	start := time.Now()
	err := ledger.VerifyTablesPaced(ctx, b.db, ledger.CheckIdle, b.store.Log().Appending)
	var td *ledger.TableDamage
	switch {
	case errors.As(err, &td):
	case ctx.Err() != nil:
		return
	case err != nil:
		// A table that could not be read is not known to be damaged:
		// no rebuild (minutes on a large log) for an error of a moment.
		b.logger.Error("verifier: could not check every table block of the flags' state; it is not known to be damaged, and the next start checks again", "error", err)
		return
	default:
		b.logger.Debug("verifier: every table block's checksum of the flags' state verified", "took", time.Since(start).Round(time.Millisecond))
		return
	}
	err = &stateDamage{dir: dir, err: err}
	b.damaged.Store(&err)
	if werr := os.WriteFile(filepath.Join(dir, rebuildMarker), []byte(err.Error()+"\n"), 0o600); werr != nil {
		b.logger.Error("verifier: marking the flags' state for a rebuild", "error", werr)
	}
	b.logger.Error("verifier: the flags' state is damaged; listings are refused until a restart rebuilds it", "error", err)
}

// beforeTableCheck, if set, runs as checkTables begins, the store open
// (tests make a table unreadable there).
var beforeTableCheck func(dir string)

// A stateDamage is the damage checkTables found in the flags' state: an
// [ledger.ErrDataLoss], which a client is told is the flags' state's, not
// the ledger's, and mended by a restart, not an audit.
type stateDamage struct {
	dir string
	err error
}

func (e *stateDamage) Error() string {
	return fmt.Sprintf("%v: the flags' state in %s is damaged (%v); restart the server to rebuild it from the log", ledger.ErrDataLoss, e.dir, e.err)
}

func (e *stateDamage) Unwrap() error { return e.err }

// Is makes a stateDamage an [ledger.ErrDataLoss].
func (e *stateDamage) Is(target error) bool { return target == ledger.ErrDataLoss }

// ClientMessage is what a client is told (the server's errors.go).
func (e *stateDamage) ClientMessage() string {
	return "the flags' state (data/" + filepath.Base(e.dir) + "/, which the server derives from the ledger) is damaged: listings are refused until the operator restarts the server, which rebuilds it from the ledger; the ledger itself is not affected"
}

// Damage returns the damage the check of the flags' state's tables found
// (listings are refused until a restart rebuilds the state), or nil.
func (b *Backend) Damage() error { return b.damage() }

// damage returns the error checkTables found, or nil.
func (b *Backend) damage() error {
	if p := b.damaged.Load(); p != nil {
		return *p
	}
	return nil
}

// markedForRebuild reports whether an earlier run found the state in dir
// damaged.
func markedForRebuild(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, rebuildMarker))
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
