// Package record is the format of the ledger's records, with no I/O: what
// a party signs, how it is enveloped and stored, how its signatures are
// checked and what it is called. The server's append-time validation, the
// offline audit, the buyer's verifier and the client all use it, so none of
// them can read a record differently. docs/FORMAT.md specifies the same
// for implementers in other languages.
//
// # Statements and envelopes
//
// A record is a signed statement: a [pb.Statement] (protobuf), signed as
// the payload of a DSSE envelope (https://github.com/secure-systems-lab/dsse)
// of payload type [StatementPayloadType]. Every signature covers
// [PAE](payload type, payload). [Sign] signs; [DecodeStatement] decodes a
// payload and checks its structure ([ValidateStatement]): ids, times,
// finite masses and percentages, links, list and string sizes.
//
// The ledger stores an envelope as DSSE JSON in one canonical form
// ([EncodeEnvelope]; [DecodeEnvelope] refuses any other), so a record has
// exactly one encoding, and its id ([IDOf]) is the [tlog.RecordID] of
// those bytes: the RFC 6962 leaf hash, written as a base58 sha2-256
// multihash. Statements that continue a record carry its id as their link.
//
// # Keys and signatures
//
// Keys are Ed25519. A key id ([KeyID]) is the base58 sha2-256 multihash of
// the 32-byte public key. A registered key must be sound
// ([CheckPublicKey]): the canonical encoding of a point of prime order.
// Signing is RFC 8032 (crypto/ed25519). Every verification of stored
// records, single ([VerifySignature]) or batched ([VerifySignatures],
// [BatchValid]), applies the ZIP-215 rules of
// github.com/hdevalence/ed25519consensus, so a batch and one-by-one
// verification never disagree on whether a record is valid, and no verdict
// depends on the library that signed. Admission to the log
// ([AdmitSignature]) is stricter: a signature must verify under both
// ZIP-215 and RFC 8032 as crypto/ed25519 applies it, so that any standard
// verifier also accepts every record the log holds.
//
// # Refusals
//
// Every refusal of a record, here or in the packages that judge records
// against the log's state (registry, custody), wraps exactly one of the
// sentinel errors of this package ([ErrMalformed], [ErrBadSignature],
// [ErrUnknownKey], [ErrKeyNotValid], [ErrNotAllowed], [ErrNotFound],
// [ErrConflict], [ErrAlreadyExists]), so the transport maps a refusal to a
// status code with errors.Is, in one place.
package record
