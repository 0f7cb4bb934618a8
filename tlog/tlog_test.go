package tlog

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/multiformats/go-multihash"
	"golang.org/x/mod/sumdb/note"
)

// TestRecordIDOf pins the id to its definition: SHA-256 of 0x00 and the
// bytes, written as a base58btc sha2-256 multihash.
func TestRecordIDOf(t *testing.T) {
	data := []byte(`{"payloadType":"x","payload":"","signatures":[]}`)
	want := sha256.Sum256(append([]byte{0}, data...))
	id := RecordIDOf(data)
	if [32]byte(id) != want {
		t.Fatalf("RecordIDOf = %x, want %x", id, want)
	}
	mh, err := multihash.Cast(must(multihash.Encode(want[:], multihash.SHA2_256)))
	if err != nil {
		t.Fatal(err)
	}
	if got := id.String(); got != mh.B58String() || len(got) != 46 || !strings.HasPrefix(got, "Qm") {
		t.Fatalf("String = %q, want %q", got, mh.B58String())
	}
	back, err := ParseRecordID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseRecordID(String) = %x, %v", back, err)
	}
	text, _ := id.MarshalText()
	var u RecordID
	if err := u.UnmarshalText(text); err != nil || u != id {
		t.Fatalf("text round trip = %x, %v", u, err)
	}
}

func TestParseRecordIDRejects(t *testing.T) {
	sha1, _ := multihash.Sum([]byte("x"), multihash.SHA1, -1)
	short := multihash.Multihash(must(multihash.Encode([]byte{1, 2, 3}, multihash.SHA2_256)))
	for name, s := range map[string]string{
		"empty":      "",
		"not base58": "Qm0OIl",
		"too long":   strings.Repeat("Q", 65),
		"sha1":       sha1.B58String(),
		"short":      short.B58String(),
		"truncated":  RecordIDOf(nil).String()[:40],
	} {
		if _, err := ParseRecordID(s); !errors.Is(err, ErrRecordID) {
			t.Errorf("%s: ParseRecordID(%q) err = %v, want ErrRecordID", name, s, err)
		}
	}
}

// TestOpenCheckpoint: the one opener accepts what the log signs, and
// refuses another key, another origin and a signature line whose base64
// is not canonical (the same signature bytes, with the spare bits of the
// last quantum set).
func TestOpenCheckpoint(t *testing.T) {
	skey, vkey, err := GenerateNoteKey("log.example/a")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	c := Checkpoint{Origin: "log.example/a", Size: 7, Root: sha256.Sum256(nil)}
	signed, err := SignCheckpoint(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenCheckpoint(signed, verifier); err != nil || got != c {
		t.Fatalf("OpenCheckpoint = %+v, %v; want %+v", got, err, c)
	}

	_, otherV, _ := GenerateNoteKey("log.example/a")
	other, _ := note.NewVerifier(otherV)
	if _, err := OpenCheckpoint(signed, other); err == nil {
		t.Error("a checkpoint opened with another key of the same name")
	}

	bSkey, bVkey, _ := GenerateNoteKey("log.example/b")
	bSigner, _ := note.NewSigner(bSkey)
	bVerifier, _ := note.NewVerifier(bVkey)
	wrongOrigin, err := SignCheckpoint(c, bSigner) // body names log.example/a
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(wrongOrigin, bVerifier); err == nil || !strings.Contains(err.Error(), "origin") {
		t.Errorf("checkpoint of origin a under key b: err = %v, want an origin error", err)
	}

	// The signature line is "— name base64(keyhash || sig)", 68 bytes:
	// 92 base64 characters ending "=", whose last character before the
	// padding carries 2 spare bits.
	text := string(signed)
	i := strings.LastIndex(text, " ")
	line := strings.TrimSuffix(text[i+1:], "\n")
	raw, err := base64.StdEncoding.DecodeString(line)
	if err != nil || len(raw) != 68 || !strings.HasSuffix(line, "=") {
		t.Fatalf("unexpected signature line %q", line)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := strings.IndexByte(alphabet, line[len(line)-2])
	bent := line[:len(line)-2] + string(alphabet[last^1]) + "="
	if b, err := base64.StdEncoding.DecodeString(bent); err != nil || string(b) != string(raw) {
		t.Fatalf("the bent line must decode to the same bytes: %v", err)
	}
	nonCanonical := text[:i+1] + bent + "\n"
	if _, err := OpenCheckpoint([]byte(nonCanonical), verifier); err == nil || !strings.Contains(err.Error(), "canonical") {
		t.Errorf("non-canonical signature base64: err = %v, want a canonical-base64 error", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestSignedTime: a Signer's checkpoint carries its time in a
// cosignature/v1 line that plain signed-note verifiers ignore, and that a
// Verifier checks; a tampered time is refused.
func TestSignedTime(t *testing.T) {
	skey, vkey, err := GenerateNoteKey("log.example/t")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	signed, err := SignCheckpoint(Checkpoint{Origin: "log.example/t", Size: 3, Root: sha256.Sum256([]byte("r")), Time: at}, s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(signed, v)
	if err != nil || !c.Time.Equal(at) {
		t.Fatalf("OpenCheckpoint = %v, %v; want time %v", c.Time, err, at)
	}
	// A plain note verifier accepts it and knows nothing of the time.
	plain, _ := note.NewVerifier(vkey)
	if c, err := OpenCheckpoint(signed, plain); err != nil || !c.Time.IsZero() {
		t.Fatalf("plain verifier: %v, %v", c.Time, err)
	}
	if _, err := note.Open(signed, note.VerifierList(plain)); err != nil {
		t.Fatalf("x/mod/sumdb/note rejects the timestamped checkpoint: %v", err)
	}
	// The timestamp line re-signed for another time by another key, or
	// with its time changed, is refused.
	lines := strings.Split(strings.TrimSuffix(string(signed), "\n"), "\n")
	last := lines[len(lines)-1]
	i := strings.LastIndex(last, " ")
	raw, _ := base64.StdEncoding.DecodeString(last[i+1:])
	raw[4+7]++ // one second later
	lines[len(lines)-1] = last[:i+1] + base64.StdEncoding.EncodeToString(raw)
	if _, err := OpenCheckpoint([]byte(strings.Join(lines, "\n")+"\n"), v); err == nil {
		t.Fatal("a checkpoint whose timestamp was changed opened")
	}
}
