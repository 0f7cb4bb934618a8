package tlog

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Signature algorithm bytes of signed-note keys (c2sp.org/signed-note):
// an Ed25519 note signature, and an Ed25519 timestamped cosignature
// (c2sp.org/tlog-cosignature).
const (
	algEd25519     = 0x01
	algCosignature = 0x04
)

// A Signer signs a log's checkpoints with its Ed25519 key: a signed-note
// signature, which every C2SP checkpoint parser checks, and a second line
// with the same key in the cosignature/v1 format of
// c2sp.org/tlog-cosignature, which carries the time the checkpoint was
// signed. A parser that does not know the second line's key id ignores
// it, as the signed-note format requires. A Signer is a [note.Signer] for
// the first line.
type Signer struct {
	name            string
	hash, cosigHash uint32
	key             ed25519.PrivateKey
}

// NewSigner parses a signed-note private key, as [GenerateNoteKey] makes
// it: "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || 32-byte seed)>".
func NewSigner(skey string) (*Signer, error) {
	priv, rest, ok := strings.Cut(skey, "+")
	if !ok || priv != "PRIVATE" {
		return nil, errors.New("tlog: malformed signer key")
	}
	v, err := note.NewSigner(skey) // checks the format and the key hash
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(keyMaterial(strings.TrimPrefix(rest, "KEY+")))
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != algEd25519 {
		return nil, errors.New("tlog: signer key is not an Ed25519 signed-note key")
	}
	key := ed25519.NewKeyFromSeed(raw[1:])
	pub := key.Public().(ed25519.PublicKey)
	return &Signer{name: v.Name(), hash: v.KeyHash(), cosigHash: keyHash(v.Name(), algCosignature, pub), key: key}, nil
}

// Name returns the key's name: the log's origin.
func (s *Signer) Name() string { return s.name }

// KeyHash returns the signed-note key hash of the Ed25519 note key.
func (s *Signer) KeyHash() uint32 { return s.hash }

// Sign signs msg as a signed-note Ed25519 signature.
func (s *Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// Verifier returns the verifier of s's signatures.
func (s *Signer) Verifier() *Verifier {
	pub := s.key.Public().(ed25519.PublicKey)
	raw := append([]byte{algEd25519}, pub...)
	vkey := fmt.Sprintf("%s+%08x+%s", s.name, s.hash, base64.StdEncoding.EncodeToString(raw))
	return &Verifier{name: s.name, hash: s.hash, cosigHash: s.cosigHash, key: pub, vkey: vkey}
}

// signTime returns the value of the cosignature/v1 line of a checkpoint
// with body, signed at t: BE8(t in seconds) || the Ed25519 signature.
func (s *Signer) signTime(t time.Time, body []byte) []byte {
	sec := t.Unix()
	sig := ed25519.Sign(s.key, cosignedMessage(sec, body))
	return append(binary.BigEndian.AppendUint64(nil, uint64(sec)), sig...)
}

// cosignedMessage is what a cosignature/v1 signature covers: a header
// line, the time line, and the checkpoint body.
func cosignedMessage(t int64, body []byte) []byte {
	return append([]byte("cosignature/v1\ntime "+strconv.FormatInt(t, 10)+"\n"), body...)
}

// A Verifier verifies a log's checkpoint signatures, and, through
// [OpenCheckpoint], the time a checkpoint was signed. It is a
// [note.Verifier] for the signed-note line.
type Verifier struct {
	name            string
	hash, cosigHash uint32
	key             ed25519.PublicKey
	vkey            string
}

// NewVerifier parses a signed-note verifier key:
// "<name>+<hash>+<base64(0x01 || 32-byte public key)>".
func NewVerifier(vkey string) (*Verifier, error) {
	v, err := note.NewVerifier(vkey) // checks the format and the key hash
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(keyMaterial(vkey))
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algEd25519 {
		return nil, errors.New("tlog: verifier key is not an Ed25519 signed-note key")
	}
	pub := ed25519.PublicKey(raw[1:])
	return &Verifier{name: v.Name(), hash: v.KeyHash(), cosigHash: keyHash(v.Name(), algCosignature, pub), key: pub, vkey: vkey}, nil
}

// VKey returns the verifier key as written: what witness policies' log
// lines name.
func (v *Verifier) VKey() string { return v.vkey }

// Name returns the key's name: the log's origin.
func (v *Verifier) Name() string { return v.name }

// KeyHash returns the signed-note key hash of the Ed25519 note key.
func (v *Verifier) KeyHash() uint32 { return v.hash }

// Verify reports whether sig is the key's Ed25519 signature of msg.
func (v *Verifier) Verify(msg, sig []byte) bool { return ed25519.Verify(v.key, msg, sig) }

// PublicKey returns the log's Ed25519 public key.
func (v *Verifier) PublicKey() ed25519.PublicKey { return v.key }

// signedTime finds the cosignature/v1 line by the log's own key among a
// checkpoint's other signatures and returns the time it states, or the
// zero time if there is none. A line with the key's id that does not
// verify is an error.
func (v *Verifier) signedTime(body string, sigs []note.Signature) (time.Time, error) {
	for _, s := range sigs {
		if s.Name != v.name || s.Hash != v.cosigHash {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(s.Base64)
		if err != nil || len(raw) != 4+8+ed25519.SignatureSize {
			return time.Time{}, errors.New("malformed timestamp signature")
		}
		t := binary.BigEndian.Uint64(raw[4:12])
		if t > 1<<63-1 || !ed25519.Verify(v.key, cosignedMessage(int64(t), []byte(body)), raw[12:]) {
			return time.Time{}, errors.New("the timestamp signature does not verify")
		}
		return time.Unix(int64(t), 0).UTC(), nil
	}
	return time.Time{}, nil
}

// keyMaterial returns the base64 key of "<name>+<hash>+<key>": names hold
// no '+', hashes are hex, and base64 may hold '+'.
func keyMaterial(k string) string {
	_, rest, _ := strings.Cut(k, "+")
	_, key, _ := strings.Cut(rest, "+")
	return key
}

// keyHash is the signed-note key hash: the first four bytes of
// SHA-256(name || "\n" || alg || key), big-endian.
func keyHash(name string, alg byte, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{alg})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// PrivateKey returns the Ed25519 key behind s. The operator signs its
// API tokens with it (package authtoken), which proves it holds the log
// key without a second secret.
func (s *Signer) PrivateKey() ed25519.PrivateKey { return s.key }
