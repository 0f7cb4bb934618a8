// Package custody is the custody ledger: a [ledger.Log] of signed records
// (package record) with the append-time validation that depends on the
// log's state, and the indexes that project lots and parties from it. A
// [Store] is what the server serves; [Store.Audit] re-checks a store
// offline.
//
// # The submit path
//
// [Store.Submit] (and [Store.SubmitInTurn], for a stream's records in a
// [ledger.Sequence]) runs in the caller's goroutine as far as it can:
//
//  1. the envelope's shape (record.CheckEnvelopeShape), its canonical
//     bytes (record.EncodeEnvelope: what the log stores and what the
//     record's id hashes) and its statement (record.DecodeStatement);
//  2. the signatures by keys already committed, checked in the caller's
//     goroutine, off the committer's path, by the rule of admission
//     (record.AdmitSignature): valid under ZIP-215 and under RFC 8032 as
//     crypto/ed25519 checks it, so every verifier accepts what the log
//     holds. That is one crypto/ed25519.Verify per signature, not a batch:
//     no batch checks the cofactorless equation, and a batch plus a
//     per-signature check of R costs more (record.Signed.Admissible);
//  3. [ledger.Log.AppendWith], with the decoded record and the set of
//     signatures already verified as the entry's value, so nothing is
//     decoded or verified twice and nothing waits in a side table.
//
// If the statement does not decode or a signature fails, but these exact
// bytes are already in the log, the existing entry is returned: an
// identical resubmission is idempotent whatever the rules say now.
//
// # Apply, in log order
//
// The ledger's single committer calls the store's ApplyFunc for each new
// entry, in log order, with a [ledger.StateTx] that sees every entry and
// state write before it, including those of the commit group in flight.
// There, and only there, the store decides what depends on the log's
// state, so two racing dispatches of one lot cannot both pass:
//
//   - a statement already recorded in another envelope is refused;
//   - the signers are authorized by the one rulebook, package registry
//     (the acting party's keys, their windows and revocations, the
//     registrar for registry statements), and any signature not verified
//     in step 2 (its key is newer) is checked now, by the same rule;
//   - registry statements change the registry (registry.Registry.Apply),
//     which refuses a key that is not sound (record.CheckPublicKey);
//   - custody statements must fit the lot's state: a dispatch or a
//     transformation input by the holder, linking to the lot's current
//     custody record; a receipt by the addressee, linking to the pending
//     dispatch; a lab nomination by the holder, linking to the lot's
//     current custody record; an assay by the holder or by a LAB the
//     holder named (below); roles as the registry says. A link that is not
//     the current record is a conflict if the record is in the log and a
//     missing record otherwise, decided through the StateTx.
//
// A refused entry gets no index and writes nothing. Authentic but
// implausible claims (more consumed than held, a heavy receipt) are
// recorded, not refused: the verifier flags them.
//
// # Labs named by the holder
//
// A party that does not hold a lot may assay it only if it is a LAB that
// the lot's holder named (issue 15): otherwise any registered lab could
// flood another party's lot with assays, until its bundle outgrows what a
// buyer can fetch, or pin an Afghan-pattern assay on a competitor's lot.
// The rule, as [Store.Submit] applies it in log order
// (registry.RequireAssay):
//
//   - the holder (pb.LotState.holder_party_id) may always assay its lot;
//   - any other signer must have a role that allows an unheld assay
//     (ROLE_LAB, registry.AssayUnheld), and be in the lot's named_labs;
//   - named_labs is the lab_party_ids of the holder's latest lab
//     nomination (pb.LabNomination). A nomination must be signed by the
//     lot's holder, link to the lot's current custody record (head, as a
//     dispatch does), and name only registered parties with ROLE_LAB,
//     each once, not the signer, at most record.MaxNamedLabs (16); it
//     replaces the labs named before, and an empty list withdraws them.
//     The lot must not be used up. It may be made, and the labs named
//     may assay, while a dispatch of the lot awaits its receipt: the
//     sender still holds the lot;
//   - a receipt clears named_labs: the nomination ends with the custody
//     it was made in. A transformation that uses part of a lot leaves the
//     holder, and so the labs it named, unchanged (its head moves, so a
//     new nomination links to the transformation); its outputs start with
//     no labs named.
//
// The rule judges the lot's custody when the log takes the assay, whatever
// record its subject_link names. A nomination is in the lot's history and
// chain (package index), so a lot's bundle carries it, and a buyer's
// verifier judges assays the same way (verifier, UNNAMED_LAB).
//
// A store whose log took assays by unnamed labs before the rule keeps
// them: the rule is decided once, when a record is appended (the ledger
// does not re-apply records when it opens, and the audit does not replay
// custody rules), so such a log still opens, reads and audits. Its lots
// start with no labs named: from the upgrade on, only their holders, and
// the labs they name, may assay them. A buyer's verifier reports the old
// assays (UNNAMED_LAB, a warning).
//
// # State
//
// Every index is a projection of the log, written in the same Badger
// transaction as the entry it comes from. Keys, under the ledger's state
// space:
//
//	p/<party>                          pb.Party: registration and key status
//	k/<key id>                         owning party id
//	l/<lot>                            pb.LotState
//	lh/<lot> 0x00 <index BE8>          the lot's records
//	pl/<party> 0x00 <lot>              lots the party held or was sent
//	sp/<sha256(statement)>             index of the statement's record
//	ph/<party> 0x00 <index BE8>        registry records about the party
//	tl/<mine or country tally key>     BE8(index) and the latest running
//	                                   tally (package index)
//
// and, in the ledger's index space, each lot's and party's record chain,
// the values of the log's verifiable map (package index).
//
// # Refusals
//
// Every refusal wraps one sentinel error of package record, which the
// transport maps to a status code in one place (internal/server):
//
//	record.ErrMalformed      InvalidArgument     fix the input
//	record.ErrBadSignature   Unauthenticated     re-sign
//	record.ErrUnknownKey     Unauthenticated     register or rotate the key
//	record.ErrKeyNotValid    PermissionDenied    sign with a current key
//	record.ErrNotAllowed     PermissionDenied    role or custody forbids it
//	record.ErrNotFound       NotFound            party, lot or record missing
//	record.ErrAlreadyExists  AlreadyExists       use a new id
//	record.ErrConflict       FailedPrecondition  re-read the state and sign anew
//	ledger.ErrInvalidInput   InvalidArgument
//	ledger.ErrClosed         Unavailable         the server is shutting down
package custody
