package main

import (
	"context"
	"fmt"
	"time"

	"github.com/antimony-ledger/provenance/authtoken"
	"github.com/antimony-ledger/provenance/client"
)

func init() {
	register("token", "print a token for curl: Authorization: Bearer $(provctl token --key K --party P)", printToken)
}

// printToken prints an authentication token (package authtoken) for
// clients that cannot make one, such as curl against the REST gateway.
func printToken(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "token", "", &g)
	g.addAuth(fs)
	life := fs.Duration("lifetime", authtoken.DefaultLifetime, fmt.Sprintf("how long the token is valid (at most %v)", authtoken.MaxLifetime))
	origin := fs.String("origin", "", "the ledger's origin (default: the pinned log key's name, PROVCTL_LOG_KEY, else the server's)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *life <= 0 || *life > authtoken.MaxLifetime {
		return usageErr("--lifetime must be between 0 and %v", authtoken.MaxLifetime)
	}
	creds, err := g.credentials()
	if err != nil {
		return err
	}
	if creds == nil {
		return usageErr("--key and --party (or PROVCTL_KEY and PROVCTL_PARTY) are required")
	}
	if *origin != "" {
		creds.Origin = *origin
	}
	if creds.Origin == "" {
		creds.Origin = pinnedOrigin()
	}
	if creds.Origin == "" {
		// Ask the server (an anonymous call) what ledger it is.
		err := reader(ctx, &globals{addr: g.addr, timeout: g.timeout, authFlags: true}, func(ctx context.Context, c *client.Client) error {
			return creds.LearnOrigin(ctx, c)
		})
		if err != nil {
			return err
		}
	}
	creds.Lifetime = *life
	tok, err := creds.Token()
	if err != nil {
		return err
	}
	if g.json {
		_, err = fmt.Fprintf(e.stdout, "{\"token\": %q, \"party\": %q, \"origin\": %q, \"expires\": %q}\n", tok, creds.PartyID, creds.Origin, time.Now().Add(*life).UTC().Format(time.RFC3339))
		return err
	}
	_, err = fmt.Fprintln(e.stdout, tok)
	return err
}
