// Package ledger is an append-only, durable, verifiable log stored in Badger.
//
// The log knows nothing of what it stores: entries are opaque byte strings
// (in this project, signed envelopes). It keeps a Merkle tree over them,
// signs a checkpoint of that tree after every write, and serves inclusion
// and consistency proofs so that clients need not trust the operator.
//
// # Merkle tree
//
// The tree is the one of RFC 6962 section 2.1: the hash of entry d is
// SHA-256(0x00 || d) and the hash of an interior node is
// SHA-256(0x01 || left || right). Every node of every complete subtree is
// stored once, when its last leaf is appended, so a proof for any tree size
// up to the current one needs O(log n) reads and reopening the log needs no
// replay. [tlog.VerifyInclusion] and [tlog.VerifyConsistency] are the client
// side of those proofs.
//
// Each entry is known by its id, a [tlog.RecordID]: the entry's RFC 6962 leaf
// hash, written as a sha2-256 multihash. Appending bytes that are already in
// the log returns the existing entry: appends are idempotent.
//
// # Checkpoints
//
// After every commit the log signs a checkpoint in the C2SP tlog-checkpoint
// format (https://c2sp.org/tlog-checkpoint): a signed note
// (golang.org/x/mod/sumdb/note) whose body is the log's origin line, the tree
// size in decimal and the base64 root hash. [tlog.Checkpoint] is the pure
// representation; [tlog.OpenCheckpoint] verifies and parses one. A client that
// keeps the last checkpoint it saw and checks a consistency proof to each
// newer one detects any rewrite, deletion or fork of history.
//
// # Durability and group commit
//
// [Log.Append] returns only once the entry is synced to disk. Concurrent
// appends are gathered by a single committer goroutine into one Badger
// transaction per group; the entries, the tree nodes, the new checkpoint and
// any index state of the group are committed atomically, so a crash leaves
// either all of a group or none of it. Each group is first written to the
// log's journal, with one fdatasync, and only then given to Badger, which
// does not sync its own files on each commit; after an unclean stop, Open
// writes the groups still in the journal back into Badger (see journal.go).
// The committer plans the next group (Apply, staging) while the previous one
// is being made durable, but commits it, and answers its appends, only after
// the previous one is. If that one fails, the log stops and the next one's
// appends fail too; as its journal record may be written already, its
// entries may be back after reopening (see [Log.Append]).
//
// # Damage
//
// Badger checks the checksum of each table block it reads from disk and of
// each value it reads from its value log. Open re-hashes the newest
// entries ([Options.OpenCheck]) against the stored tree and checkpoint, and
// refuses, before Badger opens, a Badger log file that Badger would cut at
// a damaged entry with data after it (see damage.go). Reads that meet
// damage fail with [ErrDataLoss] naming what is damaged ([Damaged]). After
// Open, every table block's checksum is checked once in the background;
// a damaged one makes appends fail with ErrDataLoss. Nothing is repaired.
//
// # Index state
//
// A higher layer keeps its indexes in the same transaction as each entry
// through [Options.Apply]: an [ApplyFunc] runs in log order for every new
// entry and may read and stage key/value writes through a [StateTx], or
// reject the entry. Those writes live in their own key space and are read
// back with [Log.StateGet] and [Log.StateScan].
package ledger
