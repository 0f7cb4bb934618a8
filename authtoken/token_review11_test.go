package authtoken

import (
	"testing"
	"time"
)

// TestMakeEveryLifetimeChecksAtAnyInstant_review11: the claim is that
// every lifetime `provctl token` accepts (0 < --lifetime <= 15m, any
// Go duration) makes a token that passes Check. TestMakeEveryLifetimeChecks
// only tries whole-second lifetimes at a whole-second now. The token's
// times are Unix seconds, truncated: at a real clock's instant (here
// .6 s past a second) a sub-second lifetime provctl accepts, such as
// --lifetime 300ms, makes a token whose expiry is truncated to before
// the instant it was made, which Check refuses as expired at once.
func TestMakeEveryLifetimeChecksAtAnyInstant_review11(t *testing.T) {
	at := now.Add(600 * time.Millisecond)
	for _, life := range []time.Duration{300 * time.Millisecond, 900 * time.Millisecond, 1500 * time.Millisecond, MaxLifetime - 400*time.Millisecond, MaxLifetime} {
		tok, err := Make(origin, "buyer-a", key, at, life)
		if err != nil {
			t.Fatalf("Make for %v: %v", life, err)
		}
		c, err := Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Check(origin, at); err != nil {
			t.Errorf("a token made at %s for %v: Check at the same instant: %v", at.Format("15:04:05.000"), life, err)
		}
	}
}
