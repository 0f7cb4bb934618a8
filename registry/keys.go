package registry

import (
	"fmt"
	"time"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// A KeyProblem is one reason a key may not sign at a position.
type KeyProblem int

const (
	// RevokedBefore: the key's revocation is in the log before the
	// record.
	RevokedBefore KeyProblem = iota + 1
	// RevokedAsOf: the key's revocation, logged after the record, dates
	// the key's compromise (revoked_at) at or before the time the log took
	// the record. Only a registry read after the record (the verifier's,
	// which reads the whole bundle) can find this.
	RevokedAsOf
	// OutsideWindow: the log's time (or, where unknown, the event time)
	// is outside the key's window [not_before, not_after).
	OutsideWindow
)

// A KeyError says why a key may not sign at a position. It wraps
// [record.ErrKeyNotValid].
type KeyError struct {
	Problem KeyProblem
	Key     *pb.KeyStatus
	// What is "record time" (the log's time) or "event time", and Time
	// that time, for OutsideWindow.
	What string
	Time time.Time
}

func (e *KeyError) Error() string { return record.ErrKeyNotValid.Error() + ": " + e.Reason() }

// Reason says what is wrong with the key, in words.
func (e *KeyError) Reason() string {
	k := e.Key
	var reason string
	switch e.Problem {
	case RevokedBefore:
		reason = fmt.Sprintf("key %s was revoked at index %d", k.GetKeyId(), k.GetRevokedIndex())
	case RevokedAsOf:
		reason = fmt.Sprintf("key %s was revoked as of %s (at index %d), not after the %s %s",
			k.GetKeyId(), stamp(k.GetRevokedAt().AsTime()), k.GetRevokedIndex(), e.What, stamp(e.Time))
	default:
		reason = fmt.Sprintf("key %s is not valid at the %s %s (valid %s)", k.GetKeyId(), e.What, stamp(e.Time), Window(k))
	}
	return reason
}

// Unwrap returns [record.ErrKeyNotValid].
func (e *KeyError) Unwrap() error { return record.ErrKeyNotValid }

// CheckKey returns nil if ks may sign at at, and otherwise a refusal, a
// [*record.RejectError] of kind [record.ErrKeyNotValid], giving the first
// of [KeyProblems].
func CheckKey(ks *pb.KeyStatus, at Position) error {
	if ps := KeyProblems(ks, at); len(ps) > 0 {
		return record.Rejectf(record.ErrKeyNotValid, "%s", ps[0].Reason())
	}
	return nil
}

// KeyProblems returns every reason ks may not sign at at, as the registry
// Reader has the key: a revocation (logged before the record, or dating
// the key's compromise at or before the record), then the record outside
// the key's window. Keys are judged by the log's time, which the log
// commits in each leaf: a signer's event time is only its claim (package
// custody bounds it by the log's time, and the verifier flags a record
// dated far earlier than the log took it). Where the log's time is not
// known (a bundle of a log that did not commit it), the event time is used.
// Append-time validation and the audit read the key as it stood before the
// record; the verifier reads it as the whole bundle records it, so it also
// sees revocations logged later.
func KeyProblems(ks *pb.KeyStatus, at Position) []*KeyError {
	t, what := at.LogTime, "record time"
	if t.IsZero() {
		t, what = at.EventTime, "event time"
	}
	var out []*KeyError
	switch {
	case ks.GetRevoked() && ks.GetRevokedIndex() < at.Index:
		out = append(out, &KeyError{Problem: RevokedBefore, Key: ks})
	case ks.GetRevoked() && !t.Before(ks.GetRevokedAt().AsTime()):
		out = append(out, &KeyError{Problem: RevokedAsOf, Key: ks, What: what, Time: t})
	}
	if !ValidAt(ks, t) {
		out = append(out, &KeyError{Problem: OutsideWindow, Key: ks, What: what, Time: t})
	}
	return out
}

// ValidAt reports whether t is in ks's window [not_before, not_after).
func ValidAt(ks *pb.KeyStatus, t time.Time) bool {
	if t.Before(ks.GetNotBefore().AsTime()) {
		return false
	}
	return ks.GetNotAfter() == nil || t.Before(ks.GetNotAfter().AsTime())
}

// Window describes ks's validity window: "from T" or "from T until U".
func Window(ks *pb.KeyStatus) string {
	s := "from " + stamp(ks.GetNotBefore().AsTime())
	if ks.GetNotAfter() != nil {
		s += " until " + stamp(ks.GetNotAfter().AsTime())
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
