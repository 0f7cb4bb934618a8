// Package authtoken is the credential a party presents to the ledger's
// API: a short-lived statement "party P, holding key K, asks ledger O until
// time T", signed with K, the Ed25519 key P is registered with. There are
// no passwords and no server-side sessions: the server checks the
// signature and that K is a key of P that may sign now, and reads P's
// roles from the registry.
//
// # Format
//
// The signed message is UTF-8 text, one "name: value" line each, in this
// order, every line ending in "\n":
//
//	provenance-auth/v1
//	origin: <the log's origin, the first line of its checkpoints>
//	party: <party id>
//	key: <the 32-byte Ed25519 public key, standard base64>
//	issued: <Unix seconds>
//	expires: <Unix seconds>
//
// The token is base64url(message) "." base64url(signature), both without
// padding, where signature is the Ed25519 signature (RFC 8032) of the
// message. It is sent as "authorization: Bearer <token>": gRPC metadata,
// or the HTTP Authorization header (the REST gateway forwards it).
//
// The first line separates these signatures from every other thing a
// party key signs (DSSE envelopes begin "DSSEv1"). The origin binds a
// token to one ledger. A token lives at most [MaxLifetime]; it is a bearer
// credential for that long, so it must only travel over TLS or loopback.
package authtoken

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header is the first line of every signed message.
const Header = "provenance-auth/v1"

// MaxLifetime bounds expires - issued.
const MaxLifetime = 15 * time.Minute

// DefaultLifetime is how long a token made by [Make] lives.
const DefaultLifetime = 5 * time.Minute

// MaxLen bounds a token's length (a real one is about 400 bytes).
const MaxLen = 2048

// Claims are what a token says.
type Claims struct {
	Origin  string
	Party   string
	Key     ed25519.PublicKey
	Issued  time.Time
	Expires time.Time
}

// Message returns the text the token signs.
func (c Claims) Message() string {
	return fmt.Sprintf("%s\norigin: %s\nparty: %s\nkey: %s\nissued: %d\nexpires: %d\n",
		Header, c.Origin, c.Party, base64.StdEncoding.EncodeToString(c.Key), c.Issued.Unix(), c.Expires.Unix())
}

// Make returns a token for party, signed with key, for the ledger named
// origin, valid from now for lifetime (DefaultLifetime if zero).
func Make(origin, party string, key ed25519.PrivateKey, now time.Time, lifetime time.Duration) (string, error) {
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	if lifetime > MaxLifetime {
		return "", fmt.Errorf("authtoken: lifetime %v is over the limit %v", lifetime, MaxLifetime)
	}
	if strings.ContainsAny(origin+party, "\n") || origin == "" || party == "" {
		return "", errors.New("authtoken: origin and party must be non-empty single lines")
	}
	// The token's times are whole seconds: it expires at the first whole
	// second at or after now+lifetime (so a short one made late in a
	// second is not expired when made), and is issued a little in the
	// past, so that a server whose clock is behind still takes it, but
	// never so far back that it lives longer than MaxLifetime, which a
	// server refuses. (Issued may then be up to a second after now,
	// which a server takes: ClockSkew.)
	expires := now.Add(lifetime).Truncate(time.Second)
	if expires.Before(now.Add(lifetime)) {
		expires = expires.Add(time.Second)
	}
	issued := now.Add(-30 * time.Second).Truncate(time.Second)
	if first := expires.Add(-MaxLifetime); issued.Before(first) {
		issued = first
	}
	c := Claims{Origin: origin, Party: party, Key: key.Public().(ed25519.PublicKey), Issued: issued, Expires: expires}
	msg := c.Message()
	sig := ed25519.Sign(key, []byte(msg))
	return enc.EncodeToString([]byte(msg)) + "." + enc.EncodeToString(sig), nil
}

var enc = base64.RawURLEncoding

// Parse decodes a token and checks its signature and its form: it does
// not check the origin, the times or whom the key belongs to, which
// [Claims.Check] and the registry do.
func Parse(token string) (Claims, error) {
	if len(token) > MaxLen {
		return Claims{}, fmt.Errorf("token is %d bytes, limit %d", len(token), MaxLen)
	}
	m, s, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, errors.New("token is not MESSAGE.SIGNATURE")
	}
	msg, err := enc.DecodeString(m)
	if err != nil {
		return Claims{}, errors.New("token message is not unpadded base64url")
	}
	sig, err := enc.DecodeString(s)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Claims{}, errors.New("token signature is not 64 bytes of unpadded base64url")
	}
	// The decoder skips line breaks and the unused bits of a last
	// character: only the one encoding of the bytes is a token.
	if enc.EncodeToString(msg) != m || enc.EncodeToString(sig) != s {
		return Claims{}, errors.New("token is not in canonical unpadded base64url")
	}
	lines := strings.Split(string(msg), "\n")
	names := []string{"", "origin", "party", "key", "issued", "expires"}
	if len(lines) != len(names)+1 || lines[len(names)] != "" || lines[0] != Header {
		return Claims{}, fmt.Errorf("token message is not a %s message", Header)
	}
	vals := make([]string, len(names))
	for i := 1; i < len(names); i++ {
		v, ok := strings.CutPrefix(lines[i], names[i]+": ")
		if !ok || v == "" {
			return Claims{}, fmt.Errorf("token message line %d is not %q", i+1, names[i]+": ...")
		}
		vals[i] = v
	}
	var c Claims
	c.Origin, c.Party = vals[1], vals[2]
	key, err := base64.StdEncoding.Strict().DecodeString(vals[3])
	if err != nil || len(key) != ed25519.PublicKeySize {
		return Claims{}, errors.New("token key is not a 32-byte Ed25519 key in base64")
	}
	c.Key = key
	for i, t := range []*time.Time{&c.Issued, &c.Expires} {
		n, err := strconv.ParseInt(vals[4+i], 10, 64)
		if err != nil || n < 0 {
			return Claims{}, fmt.Errorf("token %s is not Unix seconds", names[4+i])
		}
		*t = time.Unix(n, 0)
	}
	// The message must be the one Message writes, byte for byte, so one
	// claim has one signed form.
	if c.Message() != string(msg) {
		return Claims{}, errors.New("token message is not in its canonical form")
	}
	if !ed25519.Verify(c.Key, msg, sig) {
		return Claims{}, errors.New("token signature does not verify")
	}
	return c, nil
}

// ClockSkew is how far ahead of the server's clock a token may be issued.
const ClockSkew = 2 * time.Minute

// Check checks that c is for the ledger named origin and valid at now.
func (c Claims) Check(origin string, now time.Time) error {
	switch {
	case c.Origin != origin:
		return fmt.Errorf("token is for ledger %q, not this one (%q)", c.Origin, origin)
	case !c.Expires.After(c.Issued):
		return errors.New("token expires before it is issued")
	case c.Expires.Sub(c.Issued) > MaxLifetime:
		return fmt.Errorf("token lives %v, limit %v", c.Expires.Sub(c.Issued), MaxLifetime)
	case now.Add(ClockSkew).Before(c.Issued):
		return fmt.Errorf("token is issued at %s, in the future (server time %s)", c.Issued.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case !now.Before(c.Expires):
		return fmt.Errorf("token expired at %s (server time %s): make a new one (provctl token)", c.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}
