package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	"github.com/antimony-ledger/provenance/record"

	"github.com/antimony-ledger/provenance/tlog"
)

// globals are the flags every command takes.
type globals struct {
	addr     string
	json     bool
	timeout  time.Duration
	signOnly bool
	tls      client.Transport
	fs       *flag.FlagSet
	// check, if set, verifies a custody record's lot with the record
	// added before it is submitted (precheck.go).
	check *checkFlags

	// Who to authenticate as: the signer of a command that signs, else
	// the --key and --party of a command that reads (or, for commands
	// without them, PROVCTL_KEY and PROVCTL_PARTY).
	as        *client.Signer
	keyFile   string // the file of the key it authenticates with, for messages
	authFlags bool
	authKey   string
	authParty string
}

func newFlags(e *env, name, args string, g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet("provctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	g.fs = fs
	fs.StringVar(&g.addr, "addr", envOr("PROVCTL_ADDR", client.DefaultAddr), "server gRPC address (env PROVCTL_ADDR)")
	fs.BoolVar(&g.json, "json", false, "print JSON for scripts")
	fs.DurationVar(&g.timeout, "timeout", 30*time.Second, "time limit for the whole command")
	fs.StringVar(&g.tls.CAFile, "tls-ca", os.Getenv("PROVCTL_TLS_CA"), "PEM file of the CA that signed the server's certificate, instead of the system's roots; implies TLS (env PROVCTL_TLS_CA)")
	fs.StringVar(&g.tls.ServerName, "tls-server-name", os.Getenv("PROVCTL_TLS_SERVER_NAME"), "name the server's certificate must hold, if not --addr's host; implies TLS (env PROVCTL_TLS_SERVER_NAME)")
	fs.BoolVar(&g.tls.TLS, "tls", envBool("PROVCTL_TLS"), "use TLS with the system's roots even to a loopback address (env PROVCTL_TLS=1)")
	fs.BoolVar(&g.tls.Insecure, "insecure", envBool("PROVCTL_INSECURE"), "plaintext, even to an address that is not loopback: only on a network you trust (env PROVCTL_INSECURE=1)")
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
	b, err := readPrivateFile("--key", keyFile)
	if err != nil {
		return nil, err
	}
	g.keyFile = keyFile
	if text := strings.TrimSpace(string(b)); strings.HasPrefix(text, "PRIVATE+KEY+") {
		// The log's own key: the operator.
		c, err := client.OperatorCredentials(text)
		if err != nil {
			return nil, usageErr("--key %s: %v", keyFile, err)
		}
		return c, nil
	}
	if party == "" {
		return nil, usageErr("--party (or PROVCTL_PARTY) is required with --key: the party the key is registered to")
	}
	key, err := readPrivate("--key", keyFile)
	if err != nil {
		return nil, forParty(err, party)
	}
	return &client.Credentials{PartyID: party, Key: key}, nil
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

// envBool reads a boolean from the environment: 1, t, true (any case)
// are true; anything else, or nothing, is false.
func envBool(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}

// dial connects to --addr as client.Transport decides from the TLS flags:
// TLS if --tls-ca, --tls-server-name or --tls is given or the address is
// not loopback; plaintext to a loopback address, or anywhere with
// --insecure.
func dial(g *globals) (*client.Client, error) {
	addr, useTLS, err := grpcAddr(g.addr)
	if err != nil {
		return nil, err
	}
	g.addr = addr
	if useTLS {
		g.tls.TLS = true
	}
	t, err := g.transport()
	if err != nil {
		return nil, err
	}
	cfg, err := t.TLSConfig(g.addr)
	if err != nil {
		return nil, usageErr("--tls-ca: %v", err)
	}
	plaintext := cfg == nil
	creds, err := g.credentials()
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
				ce := &callError{addr: g.addr, plaintext: plaintext, keyFile: g.keyFile, err: err}
				if creds != nil {
					ce.party = creds.PartyID
				}
				return ce
			}
			return nil
		})}
	if creds != nil {
		if creds.Origin == "" {
			creds.Origin = pinnedOrigin()
		}
		opts = append(opts, creds.DialOption())
	}
	c, err := t.Dial(g.addr, opts...)
	if err != nil || creds == nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	if err := creds.LearnOrigin(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// grpcAddr turns an --addr given as a URL (http://HOST:PORT or
// https://HOST:PORT, as one copies it from a browser or the README) into
// the HOST:PORT gRPC dials; https asks for TLS. Other schemes than gRPC's
// own (dns:, unix:, passthrough:) are refused.
func grpcAddr(addr string) (string, bool, error) {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return addr, false, nil
	}
	switch strings.ToLower(scheme) {
	case "dns", "unix", "unix-abstract", "passthrough", "ipv4", "ipv6":
		return addr, false, nil
	case "http", "https":
	default:
		return "", false, usageErr("--addr %q: want HOST:PORT (or http://HOST:PORT, https://HOST:PORT for TLS), not a %s: URL", addr, scheme)
	}
	host, path, _ := strings.Cut(rest, "/")
	if path != "" {
		return "", false, usageErr("--addr %q: give the server's address without a path: %s://%s", addr, scheme, host)
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		return "", false, usageErr("--addr %q: give the gRPC port too (HOST:PORT; provenanced listens on %s by default)", addr, client.DefaultAddr)
	}
	return host, strings.EqualFold(scheme, "https"), nil
}

// A callError is the error of a call made by a client from dial: it keeps
// the address and whether the call was in plaintext, for describe. It
// stands for the gRPC status of the error it wraps.
type callError struct {
	addr      string
	plaintext bool
	// The key file and party the call authenticated with, if any.
	keyFile, party string
	err            error
}

func (e *callError) Error() string              { return e.err.Error() }
func (e *callError) Unwrap() error              { return e.err }
func (e *callError) GRPCStatus() *status.Status { return status.Convert(e.err) }

// transport returns the TLS flags, settling a contradiction between
// --insecure and the flags that ask for TLS: one given on the command line
// wins over the other from the environment; both on the command line are a
// usage error.
func (g *globals) transport() (client.Transport, error) {
	t := g.tls
	if !t.Insecure || t.CAFile == "" && t.ServerName == "" && !t.TLS {
		return t, nil
	}
	set := map[string]bool{}
	if g.fs != nil {
		g.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	}
	tlsSet := set["tls-ca"] && t.CAFile != "" || set["tls-server-name"] && t.ServerName != "" || set["tls"] && t.TLS
	switch {
	case set["insecure"] && !tlsSet:
		return client.Transport{Insecure: true}, nil
	case tlsSet && !set["insecure"]:
		t.Insecure = false
		return t, nil
	}
	return t, usageErr("--insecure (or PROVCTL_INSECURE) asks for plaintext, but --tls-ca, --tls-server-name or --tls (or PROVCTL_TLS_CA, PROVCTL_TLS_SERVER_NAME, PROVCTL_TLS) asks for TLS: choose one")
}

func withTimeout(ctx context.Context, g *globals) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.timeout)
}

// describe turns a gRPC status error into "Code: message", with a hint
// when the message shows that provctl and the server disagree on the
// port or on TLS.
func describe(err error) string {
	s, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := fmt.Sprintf("%s: %s", s.Code(), s.Message())
	var ce *callError
	errors.As(err, &ce)
	if h := hint(s.Code(), s.Message(), ce); h != "" {
		msg += " (" + h + ")"
	}
	return msg
}

// Hints for a server that speaks something else than provctl expected.
const (
	restPortHint = "is --addr the REST port? provctl speaks gRPC, by default on " + client.DefaultAddr
	tlsHint      = "pass --tls-ca FILE with the CA certificate that signed its certificate (provctl tls-init writes one as ca.pem), or --tls if a public CA signed it"
)

// hint explains a transport failure from the message gRPC gives it and,
// if known, the call that failed.
func hint(code codes.Code, msg string, ce *callError) string {
	switch {
	case code == codes.Unavailable && strings.Contains(msg, "connection refused"):
		where := "the address in --addr (or PROVCTL_ADDR)"
		if ce != nil {
			where = ce.addr
		}
		return "is provenanced running at " + where + "? start it, or give its gRPC address with --addr (default " + client.DefaultAddr + ")"
	case code == codes.Unavailable && strings.Contains(msg, "server preface"):
		// provctl spoke plaintext and did not get an HTTP/2 server's
		// preface back: a TLS server hangs up on it, and an HTTP/1 server
		// (the REST gateway) answers in HTTP/1. Ask the server which.
		if ce != nil && ce.plaintext {
			if speaksTLS(ce.addr) {
				return "the server speaks TLS: " + tlsHint
			}
			return restPortHint
		}
		if strings.HasSuffix(msg, `EOF"`) {
			return "the server may speak TLS: " + tlsHint
		}
		return restPortHint
	case code == codes.Unavailable && strings.Contains(msg, "does not look like a TLS handshake"):
		h := "the server answered in plaintext, not TLS: it was started without --tls-cert/--tls-key, or --addr is its REST port"
		if ce != nil && !client.IsLoopback(ce.addr) {
			return h + "; provctl speaks plaintext only to a loopback address, or with --insecure on a network you trust"
		}
		return h + "; to speak plaintext to it, drop --tls-ca, --tls-server-name and --tls (and PROVCTL_TLS_CA, PROVCTL_TLS_SERVER_NAME, PROVCTL_TLS)"
	case code == codes.Unavailable && strings.Contains(msg, "x509: certificate signed by unknown authority"):
		return "the server's certificate is not signed by a CA provctl trusts: pass --tls-ca FILE with the CA certificate that signed it (provctl tls-init writes one as ca.pem); if you did, FILE holds another CA"
	case code == codes.Unavailable && strings.Contains(msg, "x509: certificate is valid for"):
		return "the server's certificate does not name the host in --addr: use an address it names, or pass --tls-server-name with a name it holds"
	case code == codes.Unavailable && strings.Contains(msg, "x509: certificate has expired or is not yet valid"):
		return "check this machine's clock, or renew the server's certificate"
	case code == codes.Unauthenticated && strings.Contains(msg, "is not a key of party") && ce != nil && ce.keyFile != "":
		return fmt.Sprintf("the key in %s (--key or PROVCTL_KEY) is not one registered to party %q (--party or PROVCTL_PARTY): give that party's own key file, or the party that key is registered to; provctl party %s lists its keys", ce.keyFile, ce.party, ce.party)
	case code == codes.Unimplemented && strings.Contains(msg, "unexpected HTTP status code"):
		// The REST port over TLS: HTTP/2 is negotiated, and the gateway
		// answers the gRPC path with 404.
		return restPortHint
	}
	return ""
}

// speaksTLS reports whether the server at a gRPC target completes a TLS
// handshake, whoever signed its certificate. No request follows: the
// connection is closed after the handshake.
func speaksTLS(target string) bool {
	for _, p := range []string{"dns:///", "passthrough:///"} {
		target = strings.TrimPrefix(target, p)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", target,
		&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) // a probe, not trusted with anything
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// printJSON writes m as indented protojson, with every field present.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// printPlainJSON writes v as indented JSON, for output that is not a
// protobuf message.
func printPlainJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
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

// signer returns the signer of --key and --party, and notes the key's file
// in g, for messages.
func (k *keyFlags) signer(g *globals) (*client.Signer, error) {
	if k.keyFile == "" || k.party == "" {
		return nil, usageErr("--key and --party are required")
	}
	key, err := readPrivate("--key", k.keyFile)
	if err != nil {
		return nil, forParty(err, k.party)
	}
	g.keyFile = k.keyFile
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

// readPrivate reads a private key file given to flag, saying so when the
// file holds a public key instead (KEYFILE.pub for KEYFILE), or the log's
// key, and naming the file when it holds no private key.
func readPrivate(flag, path string) (ed25519.PrivateKey, error) {
	b, err := readPrivateFile(flag, path)
	if err != nil {
		return nil, err
	}
	key, err := record.ParsePrivateKey(b)
	switch {
	case err == nil:
		return key, nil
	case strings.HasPrefix(strings.TrimSpace(string(b)), "PRIVATE+KEY+"):
		return nil, usageErr("%s %s is the log's key (the server's DATA/log.key): it reads as the operator but signs no records; %s needs a private key file as provctl keygen writes it (PARTY.key)", flag, path, flag)
	}
	if perr := publicKeyErr(flag, path, err); perr != err {
		return nil, perr
	}
	return nil, usageErr("%s %s: not a private key file (%v)", flag, path, err)
}

// readPrivateFile is keyfile.ReadPrivateFile with readPrivate's message.
func readPrivateFile(flag, path string) ([]byte, error) {
	b, err := keyfile.ReadPrivateFile(path)
	if err != nil {
		return nil, publicKeyErr(flag, path, err)
	}
	return b, nil
}

// forParty adds to an error reading the key of a party which party.
func forParty(err error, party string) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return &exitError{code: ee.code, err: fmt.Errorf("%w (given as the key of party %q)", ee.err, party)}
	}
	return fmt.Errorf("%w (given as the key of party %q)", err, party)
}

// publicKeyErr returns a usage error if path holds a public key, else err.
func publicKeyErr(flag, path string, err error) error {
	if _, perr := keyfile.ReadPublic(path); perr == nil {
		return usageErr("%s %s is a public key; %s needs the private key file (the one provctl keygen wrote without .pub)", flag, path, flag)
	}
	return err
}
