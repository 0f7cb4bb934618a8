package record

import (
	"errors"
	"fmt"
)

// The errors below form a tree: every rejection wraps exactly one of them, so
// the transport maps a rejection to a status code with errors.Is, in one
// place, and the message says what was wrong with the submission.
var (
	// ErrMalformed means the input could not be decoded or breaks a limit
	// (size, length, range). Fix the input; retrying it unchanged will fail.
	ErrMalformed = errors.New("malformed")
	// ErrBadSignature means a signature does not verify, or the envelope is
	// not signed. Re-sign with the party's registered key.
	ErrBadSignature = errors.New("bad signature")
	// ErrUnknownKey means a signature's key id is not registered to the
	// acting party. Register or rotate the key first.
	ErrUnknownKey = errors.New("unknown key")
	// ErrKeyNotValid means the key is revoked or used outside its validity
	// window. Sign with a current key.
	ErrKeyNotValid = errors.New("key not valid")
	// ErrNotAllowed means the signer's role or custody does not allow the
	// statement: a non-mine extracting, a party acting on a lot it does not
	// hold, a receipt by someone other than the addressee.
	ErrNotAllowed = errors.New("not allowed")
	// ErrNotFound means a referenced party, lot or record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the statement collides with the log's state: the lot
	// or party already exists, a link is not the lot's current custody
	// record, the lot is in transit. Re-read the lot and sign anew.
	ErrConflict = errors.New("conflict")
	// ErrAlreadyExists is the conflict of creating what exists: a lot id or
	// party already in the log, a key already registered, a statement
	// already recorded in another envelope. It wraps ErrConflict. Use a
	// new id; an identical resubmission is not an error but idempotent.
	ErrAlreadyExists = fmt.Errorf("already exists: %w", ErrConflict)
)

// A RejectError is a rejection with the reason in words. It wraps one of
// the sentinel errors above.
type RejectError struct {
	Kind   error
	Reason string
}

func (e *RejectError) Error() string {
	if errors.Is(e.Kind, ErrAlreadyExists) {
		return "already exists: " + e.Reason
	}
	return e.Kind.Error() + ": " + e.Reason
}

// Unwrap returns the sentinel kind.
func (e *RejectError) Unwrap() error { return e.Kind }

// Rejectf returns a [*RejectError] of kind with the reason formatted.
func Rejectf(kind error, format string, args ...any) error {
	return &RejectError{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}
