// Package tlog holds the formats of the ledger's transparency log, with no
// I/O: how a record is named, what a checkpoint says and how it is signed,
// and how inclusion and consistency proofs are checked. The server
// ([ledger]), the offline audit, the buyer's verifier and the client all
// use this one implementation, so they cannot disagree on what a valid
// checkpoint or proof is.
//
// # Record ids
//
// The log is the Merkle tree of RFC 6962 section 2.1
// (https://www.rfc-editor.org/rfc/rfc6962#section-2.1). A record's id is
// its leaf hash, SHA-256(0x00 || stored bytes): a [RecordID]. Written down
// (in statements that link to a record, in the API, in reports) it is a
// multihash (https://github.com/multiformats/multihash) of code sha2-256
// (0x12), length 32, in base58btc with no multibase prefix, so a record id
// is a 46-character string starting "Qm". Anyone can compute a record's id
// from its bytes, before the log has answered.
//
// # Checkpoints
//
// A [Checkpoint] is a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint)
// body: the log's origin line, the tree size in decimal and the base64 root
// hash. The operator signs it as a signed note
// (golang.org/x/mod/sumdb/note) with an Ed25519 key whose name is the
// origin. [OpenCheckpoint] is the one way to accept a checkpoint.
//
// # Proofs
//
// [VerifyInclusion], [InclusionRoot] and [VerifyConsistency] check RFC 6962
// proofs, through github.com/transparency-dev/merkle.
package tlog

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/multiformats/go-multihash"
	"github.com/transparency-dev/merkle/rfc6962"
)

// A RecordID names a log record: the RFC 6962 leaf hash of its stored
// bytes, SHA-256(0x00 || data). Its text form ([RecordID.String]) is the
// base58btc sha2-256 multihash of those 32 bytes.
type RecordID [32]byte

// RecordIDOf returns the id a record with these stored bytes has, or would
// have once appended.
func RecordIDOf(data []byte) RecordID {
	h := sha256.New()
	h.Write([]byte{rfc6962.RFC6962LeafHashPrefix})
	h.Write(data)
	var id RecordID
	h.Sum(id[:0])
	return id
}

// Multihash returns the id as a sha2-256 multihash.
func (id RecordID) Multihash() multihash.Multihash {
	mh, err := multihash.Encode(id[:], multihash.SHA2_256)
	if err != nil {
		panic("tlog: encoding sha2-256 multihash: " + err.Error()) // cannot happen for 32 bytes
	}
	return mh
}

// String returns the id's text form: its base58btc sha2-256 multihash.
func (id RecordID) String() string { return id.Multihash().B58String() }

// MarshalText implements [encoding.TextMarshaler] with the text form.
func (id RecordID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseRecordID].
func (id *RecordID) UnmarshalText(text []byte) error {
	v, err := ParseRecordID(string(text))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// maxMultihashLen bounds the text a parser looks at: a 34-byte multihash
// is 46 base58 characters.
const maxMultihashLen = 64

// ErrRecordID is wrapped by every error of [ParseRecordID] and
// [ParseSHA256Multihash].
var ErrRecordID = errors.New("not a base58 sha2-256 multihash")

// ParseRecordID parses the text form of a record id: a base58btc multihash
// of code sha2-256 and length 32.
func ParseRecordID(s string) (RecordID, error) {
	d, err := ParseSHA256Multihash(s)
	return RecordID(d), err
}

// ParseSHA256Multihash parses a base58btc multihash of code sha2-256 and
// length 32, the text form of record ids and of key ids, and returns its
// digest.
func ParseSHA256Multihash(s string) ([32]byte, error) {
	if len(s) > maxMultihashLen {
		return [32]byte{}, parseError(fmt.Sprintf("%q is not a base58 sha2-256 multihash", trunc(s)))
	}
	mh, err := multihash.FromB58String(s)
	if err != nil {
		return [32]byte{}, parseError(fmt.Sprintf("%q is not a base58 multihash: %v", trunc(s), err))
	}
	d, err := multihash.Decode(mh)
	if err != nil || d.Code != multihash.SHA2_256 || d.Length != 32 || len(d.Digest) != 32 {
		return [32]byte{}, parseError(fmt.Sprintf("%q is not a sha2-256 multihash", trunc(s)))
	}
	return [32]byte(d.Digest), nil
}

// A parseError says why text is not a sha2-256 multihash; it wraps
// [ErrRecordID].
type parseError string

func (e parseError) Error() string { return string(e) }
func (e parseError) Unwrap() error { return ErrRecordID }

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
