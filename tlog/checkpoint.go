package tlog

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// A Checkpoint is the body of a signed tree head in the C2SP tlog-checkpoint
// format: the log's origin, the tree size and the RFC 6962 root hash at that
// size. It holds no signature; see [OpenCheckpoint].
type Checkpoint struct {
	Origin string   // unique identifier of the log, e.g. "antimony.example/log"
	Size   uint64   // number of entries the root covers
	Root   [32]byte // RFC 6962 Merkle tree hash of the first Size entries
	// Time is when the log signed the checkpoint, to the second, from its
	// timestamped signature line (see [Signer]); zero when the note has
	// none. It is not part of the body.
	Time time.Time
}

// Marshal returns the checkpoint body: three newline-terminated lines, the
// origin, the decimal size and the standard base64 root hash.
func (c Checkpoint) Marshal() string {
	return c.Origin + "\n" + strconv.FormatUint(c.Size, 10) + "\n" +
		base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"
}

// ParseCheckpoint parses a checkpoint body as produced by [Checkpoint.Marshal].
// Optional extension lines after the root hash are accepted and ignored, as
// the C2SP specification allows. The size must be canonical decimal and the
// root canonical base64 of exactly 32 bytes.
func ParseCheckpoint(text string) (Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return Checkpoint{}, errors.New("checkpoint: body does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("checkpoint: %d lines, want at least 3", len(lines))
	}
	for _, ln := range lines {
		if ln == "" {
			return Checkpoint{}, errors.New("checkpoint: empty line in body")
		}
	}
	var c Checkpoint
	c.Origin = lines[0]
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint: malformed tree size %q", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint: malformed root hash %q", lines[2])
	}
	copy(c.Root[:], root)
	return c, nil
}

// OpenCheckpoint verifies the signed note signedNote with v and parses its
// body. It is the one way this module accepts a checkpoint: the server's
// audit, the client and the buyer's verifier all call it. It fails if
//
//   - the signature by v does not verify;
//   - any signature line is not in canonical base64 (the standard decoder
//     ignores the spare bits of the last quantum of a 68-byte note
//     signature, so without this a checkpoint would have several
//     encodings);
//   - the body is malformed ([ParseCheckpoint]);
//   - the origin is not v.Name(): the pinned key names the log, so an
//     operator cannot pass off another tree, signed with the same key under
//     another origin, as a new log that no earlier checkpoint constrains;
//   - v is a [*Verifier] and the note has a timestamp line by the log's key
//     (see [Signer]) that does not verify.
//
// With a [*Verifier], the checkpoint's Time is the time its timestamp line
// states.
func OpenCheckpoint(signedNote []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signedNote, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("opening checkpoint note: %w", err)
	}
	for _, s := range append(slices.Clone(n.Sigs), n.UnverifiedSigs...) {
		raw, err := base64.StdEncoding.Strict().DecodeString(s.Base64)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != s.Base64 {
			return Checkpoint{}, fmt.Errorf("signature by %q is not canonical base64", s.Name)
		}
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint origin %q is not the pinned log %q", c.Origin, v.Name())
	}
	if tv, ok := v.(*Verifier); ok {
		if c.Time, err = tv.signedTime(n.Text, n.UnverifiedSigs); err != nil {
			return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
		}
	}
	return c, nil
}

// SignCheckpoint returns the signed note text of c, signed by s. If s is a
// [*Signer], the note also carries c.Time, in a second signature line.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	text := c.Marshal()
	signers := []note.Signer{s}
	if ts, ok := s.(*Signer); ok {
		// The two signatures are computed side by side (a log signs one
		// checkpoint per commit group, on its commit path), then handed to
		// note.Sign, which asks for them over these same bytes.
		body := []byte(text)
		var noteSig []byte
		done := make(chan struct{})
		go func() {
			noteSig, _ = ts.Sign(body)
			close(done)
		}()
		timeSig := ts.signTime(c.Time, body)
		<-done
		signers = []note.Signer{presigned{ts.name, ts.hash, body, noteSig}, presigned{ts.name, ts.cosigHash, body, timeSig}}
	}
	msg, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		return nil, fmt.Errorf("signing checkpoint: %w", err)
	}
	return msg, nil
}

// GenerateNoteKey generates an Ed25519 note signing key named name (a
// log's origin) and returns its encoded private key (for [note.NewSigner])
// and public verifier key (for [note.NewVerifier]).
func GenerateNoteKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// presigned is a note signer whose signature of msg was computed already.
type presigned struct {
	name string
	hash uint32
	msg  []byte
	sig  []byte
}

func (p presigned) Name() string    { return p.name }
func (p presigned) KeyHash() uint32 { return p.hash }
func (p presigned) Sign(msg []byte) ([]byte, error) {
	if !bytes.Equal(msg, p.msg) {
		return nil, errors.New("tlog: presigned signer asked to sign another message")
	}
	return p.sig, nil
}
