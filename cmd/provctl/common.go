package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/keyfile"

	"github.com/antimony-ledger/provenance/tlog"
)

// globals are the flags every command takes.
type globals struct {
	addr     string
	json     bool
	timeout  time.Duration
	signOnly bool

	// Who to authenticate as: the signer of a command that signs, else
	// the --key and --party of a command that reads (or, for commands
	// without them, PROVCTL_KEY and PROVCTL_PARTY).
	as        *client.Signer
	authFlags bool
	authKey   string
	authParty string
}

func newFlags(e *env, name, args string, g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet("provctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&g.addr, "addr", envOr("PROVCTL_ADDR", client.DefaultAddr), "server gRPC address (env PROVCTL_ADDR)")
	fs.BoolVar(&g.json, "json", false, "print JSON for scripts")
	fs.DurationVar(&g.timeout, "timeout", 30*time.Second, "time limit for the whole command")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, strings.TrimSpace(fmt.Sprintf("usage: provctl %s [flags] %s", name, args)))
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, flags and arguments in any order ("lot L1 --json"
// as well as "lot --json L1"), turning flag errors into usage errors. The
// arguments are then fs.Args().
func parse(fs *flag.FlagSet, args []string, nargs int) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return &exitError{code: exitOK, err: errors.New("")}
			}
			return &exitError{code: exitUsage, err: errors.New("")}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			positional = append(positional, rest[1:]...)
			break
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if nargs >= 0 && fs.NArg() != nargs {
		fs.Usage()
		return usageErr("want %d argument(s), got %d", nargs, fs.NArg())
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// addAuth adds --key and --party to a command that only reads: the
// server shows a party what it may read (README, "Who may read what").
func (g *globals) addAuth(fs *flag.FlagSet) {
	g.authFlags = true
	fs.StringVar(&g.authKey, "key", os.Getenv("PROVCTL_KEY"), "your private key file, to authenticate as --party; the log's key (DATA/log.key) authenticates the operator (env PROVCTL_KEY; without it you read as an anonymous caller)")
	fs.StringVar(&g.authParty, "party", os.Getenv("PROVCTL_PARTY"), "the party your key is registered to (env PROVCTL_PARTY)")
}

// credentials returns who the command authenticates as, or nil for an
// anonymous caller.
func (g *globals) credentials() (*client.Credentials, error) {
	if g.as != nil {
		return &client.Credentials{PartyID: g.as.PartyID, Key: g.as.Key}, nil
	}
	keyFile, party := g.authKey, g.authParty
	if !g.authFlags {
		keyFile, party = os.Getenv("PROVCTL_KEY"), os.Getenv("PROVCTL_PARTY")
	}
	if keyFile == "" {
		return nil, nil
	}
	b, err := keyfile.ReadPrivateFile(keyFile)
	if err != nil {
		return nil, err
	}
	if text := strings.TrimSpace(string(b)); strings.HasPrefix(text, "PRIVATE+KEY+") {
		// The log's own key: the operator.
		ls, err := tlog.NewSigner(text)
		if err != nil {
			return nil, usageErr("--key %s: %v", keyFile, err)
		}
		return &client.Credentials{PartyID: operatorPartyID, Key: ls.PrivateKey(), Origin: ls.Name()}, nil
	}
	if party == "" {
		return nil, usageErr("--party (or PROVCTL_PARTY) is required with --key: the party the key is registered to")
	}
	key, err := keyfile.ReadPrivate(keyFile)
	if err != nil {
		return nil, err
	}
	return &client.Credentials{PartyID: party, Key: key}, nil
}

// operatorPartyID is the identity of a token signed with the log key
// (internal/server.OperatorPartyID).
const operatorPartyID = "operator"

func dial(g *globals) (*client.Client, error) {
	creds, err := g.credentials()
	if err != nil || creds == nil {
		if err != nil {
			return nil, err
		}
		return client.Dial(g.addr, nil)
	}
	if creds.Origin == "" {
		creds.Origin = pinnedOrigin()
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	return client.DialAs(ctx, g.addr, nil, creds)
}

// pinnedOrigin returns the name of the pinned log key (PROVCTL_LOG_KEY),
// so tokens are made for that ledger and no other; "" if none is pinned,
// and the client then asks the server.
func pinnedOrigin() string {
	lk := os.Getenv("PROVCTL_LOG_KEY")
	if lk == "" {
		return ""
	}
	v, err := (&trustFlags{logKey: lk}).logVerifier()
	if err != nil {
		return ""
	}
	return v.Name()
}

func withTimeout(ctx context.Context, g *globals) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.timeout)
}

// describe turns a gRPC status error into "Code: message".
func describe(err error) string {
	if s, ok := status.FromError(err); ok {
		msg := fmt.Sprintf("%s: %s", s.Code(), s.Message())
		if s.Code() == codes.Unavailable && strings.Contains(s.Message(), "server preface") {
			// An HTTP/1 server (the REST gateway) answered the gRPC
			// connection preface.
			msg += " (is --addr the REST port? provctl speaks gRPC, by default on " + client.DefaultAddr + ")"
		}
		return msg
	}
	return err.Error()
}

// printJSON writes m as indented protojson.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// keyFlags are the flags of commands that sign.
type keyFlags struct {
	keyFile string
	party   string
	at      string
}

// addSignOnly adds --sign-only to a command that submits a statement.
func (g *globals) addSignOnly(fs *flag.FlagSet) {
	fs.BoolVar(&g.signOnly, "sign-only", false, "print the request body for POST /v1/envelopes instead of submitting")
}

func (k *keyFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&k.keyFile, "key", os.Getenv("PROVCTL_KEY"), "party private key file (env PROVCTL_KEY)")
	fs.StringVar(&k.party, "party", os.Getenv("PROVCTL_PARTY"), "acting party id (env PROVCTL_PARTY)")
	fs.StringVar(&k.at, "time", "", "event time, RFC 3339 (default now)")
}

func (k *keyFlags) signer() (*client.Signer, error) {
	if k.keyFile == "" || k.party == "" {
		return nil, usageErr("--key and --party are required")
	}
	key, err := keyfile.ReadPrivate(k.keyFile)
	if err != nil {
		return nil, err
	}
	s := &client.Signer{PartyID: k.party, Key: key}
	if k.at != "" {
		t, err := parseTime("--time", k.at)
		if err != nil {
			return nil, err
		}
		s.Now = func() time.Time { return t }
	}
	return s, nil
}

// trustFlags are the pinned keys of commands that verify.
type trustFlags struct {
	logKey        string
	registrarPub  string
	witnessPolicy string
	stateDir      string
}

func (t *trustFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&t.logKey, "log-key", os.Getenv("PROVCTL_LOG_KEY"), "pinned log verifier key, or a file holding it (env PROVCTL_LOG_KEY)")
	fs.StringVar(&t.registrarPub, "registrar-pub", os.Getenv("PROVCTL_REGISTRAR_PUB"), "pinned registrar public key PEM file (env PROVCTL_REGISTRAR_PUB)")
	fs.StringVar(&t.witnessPolicy, "witness-policy", os.Getenv("PROVCTL_WITNESS_POLICY"), "witness policy file: the checkpoint must carry a quorum of these witnesses' cosignatures (env PROVCTL_WITNESS_POLICY)")
	home, _ := os.UserHomeDir()
	fs.StringVar(&t.stateDir, "state", envOr("PROVCTL_STATE", filepath.Join(home, ".provctl")), "where the last seen checkpoint is kept (env PROVCTL_STATE)")
}

func (t *trustFlags) logVerifier() (*tlog.Verifier, error) {
	if t.logKey == "" {
		return nil, usageErr("--log-key is required (the server prints it on first start; it is also in DATA/log.pub)")
	}
	key := t.logKey
	b, readErr := os.ReadFile(key)
	if readErr == nil {
		key = strings.TrimSpace(string(b))
	}
	v, err := tlog.NewVerifier(key)
	switch {
	case err == nil:
		return v, nil
	case readErr == nil:
		return nil, usageErr("--log-key: file %s does not hold a log verifier key (the server's DATA/log.pub): %v", t.logKey, err)
	case !strings.Contains(t.logKey, "+"):
		// A path, not a key (keys are NAME+HASH+KEY): say why it could
		// not be read.
		return nil, usageErr("--log-key: %v (give the server's DATA/log.pub, or the key it holds)", readErr)
	}
	return nil, usageErr("--log-key: %q is neither a readable file nor a log verifier key: %v", t.logKey, err)
}

// policy reads the witness policy, if one is given.
func (t *trustFlags) policy(logVKey string) (*tlog.Policy, error) {
	if t.witnessPolicy == "" {
		return nil, nil
	}
	text, err := os.ReadFile(t.witnessPolicy)
	if err != nil {
		return nil, usageErr("--witness-policy: %v", err)
	}
	p, err := tlog.ParsePolicy(string(text))
	if err != nil {
		return nil, usageErr("--witness-policy %s: %v", t.witnessPolicy, err)
	}
	if err := p.CheckLog(logVKey); err != nil {
		return nil, usageErr("--witness-policy %s: %v", t.witnessPolicy, err)
	}
	return p, nil
}

func (t *trustFlags) registrar() (ed25519.PublicKey, error) {
	if t.registrarPub == "" {
		return nil, usageErr("--registrar-pub is required (DATA/registrar.pub on the server)")
	}
	return keyfile.ReadPublic(t.registrarPub)
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// parseTime parses an RFC 3339 time given to flag.
func parseTime(flag, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usageErr("%s %q: want an RFC 3339 time such as 2026-04-01T08:00:00Z", flag, s)
	}
	return t, nil
}
