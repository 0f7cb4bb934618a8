package authtoken

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

var (
	key    = ed25519.NewKeyFromSeed([]byte("authtoken test key 0123456789abc"))
	other  = ed25519.NewKeyFromSeed([]byte("authtoken other key 0123456789ab"))
	now    = time.Unix(1_800_000_000, 0)
	origin = "ledger.example/log"
)

func TestRoundTrip(t *testing.T) {
	tok, err := Make(origin, "buyer-a", key, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Origin != origin || c.Party != "buyer-a" || !c.Key.Equal(key.Public()) || c.Expires.Sub(now) != DefaultLifetime {
		t.Errorf("claims %+v", c)
	}
	if err := c.Check(origin, now); err != nil {
		t.Errorf("Check now: %v", err)
	}
	for _, tc := range []struct {
		origin string
		at     time.Time
		phrase string
	}{
		{"other.example/log", now, "not this one"},
		{origin, now.Add(DefaultLifetime), "expired"},
		{origin, now.Add(-30*time.Second - ClockSkew - time.Second), "in the future"},
	} {
		if err := c.Check(tc.origin, tc.at); err == nil || !strings.Contains(err.Error(), tc.phrase) {
			t.Errorf("Check(%q, %v): %v, want %q", tc.origin, tc.at, err, tc.phrase)
		}
	}
}

// TestMakeEveryLifetimeChecks: a token made for any lifetime Make takes
// passes Check, up to MaxLifetime itself (a new user's trial: provctl
// token --lifetime 15m, which its help allows, made a token every server
// refused, "token lives 15m30s, limit 15m0s").
func TestMakeEveryLifetimeChecks(t *testing.T) {
	for _, life := range []time.Duration{time.Second, DefaultLifetime, MaxLifetime - 31*time.Second, MaxLifetime - 30*time.Second, MaxLifetime - time.Second, MaxLifetime} {
		tok, err := Make(origin, "buyer-a", key, now, life)
		if err != nil {
			t.Fatalf("Make for %v: %v", life, err)
		}
		c, err := Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Check(origin, now); err != nil {
			t.Errorf("a token made for %v: Check: %v", life, err)
		}
		if got := c.Expires.Sub(now); got != life {
			t.Errorf("a token made for %v expires %v from now", life, got)
		}
	}
}

func TestMakeRefuses(t *testing.T) {
	for _, tc := range []struct {
		origin, party string
		life          time.Duration
	}{
		{origin, "buyer-a\nparty: auditor", 0},
		{origin + "\nparty: auditor", "buyer-a", 0},
		{"", "buyer-a", 0},
		{origin, "", 0},
		{origin, "buyer-a", MaxLifetime + time.Second},
	} {
		if tok, err := Make(tc.origin, tc.party, key, now, tc.life); err == nil {
			t.Errorf("Make(%q, %q, %v) = %s, want an error", tc.origin, tc.party, tc.life, tok)
		}
	}
}

// TestOneForm: each token has exactly one accepted spelling, and no
// message but the canonical one parses, so a claim cannot be smuggled in
// a second form (nor a cache keyed by the token text be filled with
// copies of one).
func TestOneForm(t *testing.T) {
	tok, err := Make(origin, "buyer-a", key, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The signature's 64 bytes are 86 characters: the last carries 2 bits
	// and 4 that must be zero. Every other last character is refused.
	last := tok[len(tok)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	pos := strings.IndexByte(alphabet, last)
	for i := range 64 {
		if i == pos {
			continue
		}
		alt := tok[:len(tok)-1] + string(alphabet[i])
		if _, err := Parse(alt); err == nil {
			t.Errorf("the token with its last character %q for %q parses", alphabet[i], last)
		}
	}
	// Padding, standard base64, whitespace.
	m, s, _ := strings.Cut(tok, ".")
	for _, alt := range []string{m + "=." + s, m + "." + s + "==", strings.ReplaceAll(tok, "-", "+"), tok + " ", " " + tok, m + ".\n" + s, tok + "." + s} {
		if alt == tok {
			continue
		}
		if _, err := Parse(alt); err == nil {
			t.Errorf("%q parses", alt)
		}
	}
	// Messages signed by the key but not in the canonical form.
	c := Claims{Origin: origin, Party: "buyer-a", Key: key.Public().(ed25519.PublicKey), Issued: now, Expires: now.Add(time.Minute)}
	msg := c.Message()
	for _, bad := range []string{
		strings.Replace(msg, "issued: ", "issued: +", 1),
		strings.Replace(msg, "issued: ", "issued: 0", 1),
		strings.Replace(msg, "party: buyer-a\n", "party: buyer-a\nparty: auditor\n", 1),
		strings.TrimSuffix(msg, "\n"),
		msg + "\n",
		strings.Replace(msg, Header, "provenance-auth/v2", 1),
		strings.Replace(msg, "\n", "\r\n", -1),
		strings.Replace(msg, "expires: ", "expires: -", 1),
		strings.Replace(msg, "key: ", "key:  ", 1),
	} {
		sig := ed25519.Sign(key, []byte(bad))
		if _, err := Parse(enc.EncodeToString([]byte(bad)) + "." + enc.EncodeToString(sig)); err == nil {
			t.Errorf("a non-canonical message parses:\n%s", bad)
		}
	}
	// Signed by another key than the one it names.
	sig := ed25519.Sign(other, []byte(msg))
	if _, err := Parse(enc.EncodeToString([]byte(msg)) + "." + enc.EncodeToString(sig)); err == nil {
		t.Errorf("a message signed by another key than its own parses")
	}
	// Too long.
	if _, err := Parse(strings.Repeat("A", MaxLen+1)); err == nil {
		t.Errorf("an over-long token parses")
	}
}

func TestCheckTimes(t *testing.T) {
	c := Claims{Origin: origin, Party: "p", Key: key.Public().(ed25519.PublicKey)}
	for _, tc := range []struct {
		issued, expires time.Time
		ok              bool
	}{
		{now.Add(-time.Minute), now.Add(time.Minute), true},
		{now.Add(-time.Minute), now.Add(-time.Minute), false},                       // expires when issued
		{now.Add(time.Minute), now.Add(-time.Minute), false},                        // before issued
		{now.Add(-time.Minute), now.Add(MaxLifetime), false},                        // lives too long
		{time.Unix(0, 0), time.Unix(1<<62, 0), false},                               // the far future
		{now.Add(ClockSkew + time.Second), now.Add(ClockSkew + time.Minute), false}, // issued ahead of the skew
	} {
		c.Issued, c.Expires = tc.issued, tc.expires
		if err := c.Check(origin, now); (err == nil) != tc.ok {
			t.Errorf("issued %v expires %v: %v, want ok %v", tc.issued, tc.expires, err, tc.ok)
		}
	}
}

// FuzzParse: no input panics Parse, and what parses is in its one form.
func FuzzParse(f *testing.F) {
	tok, _ := Make(origin, "buyer-a", key, now, 0)
	f.Add(tok)
	f.Add("a.b")
	f.Add(strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		if s != enc.EncodeToString([]byte(c.Message()))+"."+strings.SplitN(s, ".", 2)[1] {
			t.Errorf("%q parses but is not its claims' one form", s)
		}
		_ = c.Check(origin, now)
	})
}
