// Command pakistan plays a Pakistan -> US antimony supply chain against the
// ledger and shows what a US buyer's verification finds: one clean lot and
// six lots carrying the laundering patterns the verifier exists for.
//
// With no flags it starts a provenanced server of its own on loopback, on a
// fresh embedded Badger store in a temporary directory, and stops it at the
// end (--serve keeps it running for provctl and curl). With --addr it plays
// against a running server, signing registrations with --registrar-key and
// verifying against the pinned --log-key and --registrar-pub.
//
// It saves the parties' keys (--keys; by default in the data directory, or
// in ./pakistan-keys with --addr) and prints how to go on as them with
// provctl.
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/datadir"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	"github.com/antimony-ledger/provenance/internal/refdata"
	"github.com/antimony-ledger/provenance/internal/server"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"

	"github.com/antimony-ledger/provenance/tlog"
)

type options struct {
	addr         string
	registrarKey string
	logKey       string
	registrarPub string
	data         string
	keys         string
	serve        bool
	out          io.Writer
	// set holds the flags given on the command line.
	set map[string]bool
}

// defaultKeysDir is where the parties' keys go with --addr and no --keys.
const defaultKeysDir = "pakistan-keys"

// check refuses flags that do not apply together: a flag the run would
// ignore is a mistake the user should hear of.
func (o options) check() error {
	var bad []string
	if o.addr != "" {
		for _, f := range []string{"data", "serve"} {
			if o.set[f] {
				bad = append(bad, "--"+f)
			}
		}
		if len(bad) > 0 {
			return usageError{fmt.Errorf("%s: only without --addr (for the server the example starts); a server given with --addr keeps its own data and runs on its own", strings.Join(bad, " and "))}
		}
		return nil
	}
	for _, f := range []string{"registrar-key", "log-key", "registrar-pub"} {
		if o.set[f] {
			bad = append(bad, "--"+f)
		}
	}
	if len(bad) > 0 {
		return usageError{fmt.Errorf("%s: only with --addr (the server the example starts makes its own keys)", strings.Join(bad, ", "))}
	}
	return nil
}

// A usageError is a command line the example refuses (exit 2).
type usageError struct{ error }

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "", "gRPC address of a running provenanced (default: start one here)")
	flag.StringVar(&o.registrarKey, "registrar-key", "", "with --addr: the server's registrar private key file")
	flag.StringVar(&o.logKey, "log-key", "", "with --addr: the log's verifier key, or a file holding it")
	flag.StringVar(&o.registrarPub, "registrar-pub", "", "with --addr: the registrar public key file")
	flag.StringVar(&o.data, "data", "", "without --addr: data directory for the embedded server (default: a temporary one)")
	flag.StringVar(&o.keys, "keys", "", "directory to save the parties' private keys in (PARTY.key, mode 0600, and PARTY.key.pub), for provctl (default: DATA/parties, or ./"+defaultKeysDir+" with --addr)")
	flag.BoolVar(&o.serve, "serve", false, "without --addr: keep serving after the scenario until interrupted")
	flag.Parse()
	o.out = os.Stdout
	o.set = map[string]bool{}
	flag.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "pakistan: unexpected argument %q (flags only; see --help)\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "pakistan:", err)
		if errors.As(err, new(usageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// trust is what the buyer pins: the log's key and the registrar's key.
type trust struct {
	log       *tlog.Verifier
	registrar ed25519.PublicKey
	regKey    ed25519.PrivateKey
}

// Result is what a run found, for tests.
type Result struct {
	Stories []Story
	Reports map[string]*pb.VerificationReport
	Bundles map[string]*pb.Bundle // what each report was computed from
	Trust   verifier.Trust
}

func run(ctx context.Context, o options) error {
	_, err := play(ctx, o)
	return err
}

func play(ctx context.Context, o options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	out := o.out
	addr, tr, suffix := o.addr, trust{}, ""
	var httpAddr, dir string
	if addr == "" {
		srv, err := startServer(ctx, o.data, out)
		if err != nil {
			return nil, err
		}
		defer srv.stop()
		addr, httpAddr, tr, dir = srv.grpcAddr, srv.httpAddr, srv.trust, srv.dir
		if !srv.fresh {
			// A store reused with --data already holds these ids.
			suffix = "-" + time.Now().UTC().Format("150405")
		}
	} else {
		var err error
		if tr, err = loadTrust(o); err != nil {
			return nil, err
		}
		suffix = "-" + time.Now().UTC().Format("150405")
	}
	keys := o.keys
	if keys == "" {
		keys = defaultKeysDir
		if dir != "" {
			keys = filepath.Join(dir, "parties")
		}
	}
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return nil, fmt.Errorf("the directory for the parties' keys: %w", err)
	}
	c, err := client.Dial(addr, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ref, err := refdata.Load()
	if err != nil {
		return nil, err
	}
	s := &scenario{
		c: c, out: out, suffix: suffix, ref: ref, parties: map[string]*client.Signer{},
		as: map[*client.Signer]*client.Client{}, reader: map[string]*client.Signer{},
		registrar: &client.Signer{PartyID: record.RegistrarPartyID, Key: tr.regKey},
		keys:      keys,
		start:     time.Now().UTC().Truncate(time.Hour).AddDate(0, 0, -scenarioDays),
	}
	stories, err := s.Run(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Stories: stories, Reports: map[string]*pb.VerificationReport{}, Bundles: map[string]*pb.Bundle{},
		Trust: verifier.Trust{Log: tr.log, Registrar: tr.registrar}}
	fmt.Fprintln(out, "\nWhat a US buyer's verification finds (run on this machine, trusting only the pinned log and registrar keys):")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nLOT\tVERDICT\tUNTRACED\tRULES\tSTORY*")
	cps := &memCheckpoints{}
	for _, st := range stories {
		// The bundle as the lot's holder or addressee fetches it: the
		// server shows a party its lots and their ancestry only.
		holder := s.reader[st.Lot]
		if holder == nil {
			return nil, fmt.Errorf("story lot %s: no party took it", st.Lot)
		}
		rc, err := s.client(ctx, holder)
		if err != nil {
			return nil, err
		}
		b, err := rc.Bundle(ctx, st.Lot)
		if err != nil {
			return nil, fmt.Errorf("fetching bundle of %s: %w", st.Lot, err)
		}
		if _, err := c.CheckCheckpoint(ctx, tr.log, cps, []byte(b.GetCheckpoint())); err != nil {
			return nil, fmt.Errorf("checkpoint of %s: %w", st.Lot, err)
		}
		rep := verifier.VerifyLot(st.Lot, b, verifier.Trust{Log: tr.log, Registrar: tr.registrar}, verifier.DefaultConfig())
		res.Reports[st.Lot], res.Bundles[st.Lot] = rep, b
		fmt.Fprintf(tw, "%s\t%s\t%.0f%%\t%s\t%s\n", st.Lot, strings.TrimPrefix(rep.GetVerdict().String(), "VERDICT_"), rep.GetUntracedShare()*100, ruleList(rep), st.Title)
	}
	tw.Flush()
	// The stories are this program's words, not the verifier's: a buyer
	// reading the table must not take them for findings.
	fmt.Fprintln(out, "\n* STORY is the scenario's own description of what it did to each lot, written into this example;")
	fmt.Fprintln(out, "  the verifier never sees it. VERDICT, UNTRACED and RULES are computed from the signed records alone.")
	if len(stories) > 1 {
		fmt.Fprintf(out, "\nThe full report for %s:\n\n%s", stories[1].Lot, verifier.Text(res.Reports[stories[1].Lot]))
	}
	if httpAddr != "" && o.serve {
		fmt.Fprintf(out, "\nAuditors see the same over REST with a token (here the operator's, made with the log key), e.g.:\n  TOKEN=$(provctl token --addr %s --key %s)\n  curl -H \"Authorization: Bearer $TOKEN\" http://%s/v1/lots/%s/verification\n  curl -H \"Authorization: Bearer $TOKEN\" http://%s/v1/flags\n",
			addr, filepath.Join(dir, "log.key"), httpAddr, stories[0].Lot, httpAddr)
	} else if httpAddr != "" {
		fmt.Fprintln(out, "\nThe server has stopped with the example; run it with --serve to keep it up for provctl and for REST (it prints a token and the curl lines).")
	}
	// The keys outlive the run unless they are in the temporary store the
	// example removes when it stops (with --serve, on Ctrl-C).
	serving := o.serve && o.addr == ""
	exporter := s.id("indus-exports")
	abs, err := filepath.Abs(keys)
	if err != nil {
		abs = keys
	}
	partyLine := fmt.Sprintf("  export PROVCTL_KEY=%s PROVCTL_PARTY=%s\n", filepath.Join(abs, exporter+".key"), exporter)
	if o.keys != "" || o.addr != "" || o.data != "" {
		fmt.Fprintf(out, "\nThe parties' keys are saved in %s (PARTY.key, mode 0600, and PARTY.key.pub).", abs)
		if !serving {
			fmt.Fprintf(out, " To go on with provctl as a party, e.g. the exporter:\n%s", partyLine)
		} else {
			fmt.Fprintln(out)
		}
	} else if serving {
		fmt.Fprintf(out, "\nThe parties' keys are in %s (PARTY.key, mode 0600, and PARTY.key.pub), in the temporary directory the example deletes, with the server's keys and store, when it stops (Ctrl-C); run it with --data DIR (or --keys DIR for the parties' keys) to keep them.\n", abs)
	}
	if serving {
		// The operator's lines first, then the party's, which replaces the
		// key: pasted top to bottom, each leaves a key that matches
		// PROVCTL_PARTY (the operator's unsets it).
		fmt.Fprintf(out, "\nServing on gRPC %s and http://%s until interrupted (Ctrl-C).\nWeb console: http://%s/\n", addr, httpAddr, httpAddr)
		fmt.Fprintf(out, "For provctl, as the operator (reads everything):\n")
		fmt.Fprintf(out, "  export PROVCTL_ADDR=%s PROVCTL_LOG_KEY=%s PROVCTL_REGISTRAR_PUB=%s PROVCTL_REGISTRAR_KEY=%s\n",
			addr, filepath.Join(dir, "log.pub"), filepath.Join(dir, "registrar.pub"), filepath.Join(dir, "registrar.key"))
		fmt.Fprintf(out, "  export PROVCTL_KEY=%s; unset PROVCTL_PARTY\n", filepath.Join(dir, "log.key"))
		fmt.Fprintf(out, "Then, to act as a party instead, e.g. the exporter (signs and reads as it):\n%s", partyLine)
		<-ctx.Done()
		if o.data == "" {
			fmt.Fprintf(out, "\nInterrupted: the server stops, and its temporary directory %s goes with it.\n", dir)
		} else {
			fmt.Fprintf(out, "\nInterrupted: the server stops; its store and keys stay in %s. `go run ./cmd/provenanced --data %s` serves them (the example run again with --data plays its story again on them, under new ids).\n", dir, dir)
		}
	}
	return res, nil
}

func ruleList(r *pb.VerificationReport) string {
	seen := map[string]bool{}
	var rules []string
	for _, f := range r.GetFlags() {
		if !seen[f.GetRule()] {
			seen[f.GetRule()] = true
			rules = append(rules, f.GetRule())
		}
	}
	if len(rules) == 0 {
		return "-"
	}
	return strings.Join(rules, ",")
}

// memCheckpoints remembers checkpoints for one run, so each bundle's
// checkpoint is checked for consistency with the ones before it.
type memCheckpoints struct{ last map[string][]byte }

func (m *memCheckpoints) Last(origin string) ([]byte, error) { return m.last[origin], nil }
func (m *memCheckpoints) Save(origin string, n []byte) error {
	if m.last == nil {
		m.last = map[string][]byte{}
	}
	m.last[origin] = n
	return nil
}

func loadTrust(o options) (trust, error) {
	if o.registrarKey == "" || o.logKey == "" || o.registrarPub == "" {
		return trust{}, errors.New("with --addr, --registrar-key, --log-key and --registrar-pub are required")
	}
	key, err := keyfile.ReadPrivate(o.registrarKey)
	if err != nil {
		return trust{}, err
	}
	pub, err := keyfile.ReadPublic(o.registrarPub)
	if err != nil {
		return trust{}, err
	}
	vkey := o.logKey
	if b, err := os.ReadFile(vkey); err == nil {
		vkey = strings.TrimSpace(string(b))
	}
	v, err := tlog.NewVerifier(vkey)
	if err != nil {
		return trust{}, fmt.Errorf("--log-key: %w", err)
	}
	return trust{log: v, registrar: pub, regKey: key}, nil
}

type embedded struct {
	grpcAddr, httpAddr string
	trust              trust
	dir                string
	fresh              bool // the store was empty: ids need no suffix
	stop               func()
}

// startServer runs a server on loopback, on dir or a temporary directory.
// Its keys are kept in the directory the way provenanced keeps them
// (log.key, log.pub, registrar.key, registrar.pub), so a run with --data
// can be continued and provctl can pin them.
func startServer(ctx context.Context, dir string, out io.Writer) (*embedded, error) {
	tmp := ""
	if dir == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "antimony-example-*"); err != nil {
			return nil, err
		}
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	keys, err := exampleKeys(dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := custody.Open(ctx, filepath.Join(dir, "ledger"), custody.Config{Origin: keys.signer.Name(), LogSigner: keys.signer, Registrar: keys.trust.registrar, Logger: logger})
	if err != nil {
		cancel()
		return nil, err
	}
	flags := backend.New(store, verifier.Trust{Log: keys.trust.log, Registrar: keys.trust.registrar}, verifier.DefaultConfig())
	fail := func(err error) (*embedded, error) {
		cancel()
		flags.Close()
		store.Close()
		return nil, err
	}
	srv, err := server.New(server.Options{Store: store, Logger: logger, Verifier: flags})
	if err != nil {
		return fail(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, gl, hl) }()
	fmt.Fprintf(out, "Started a ledger server on gRPC %s and http://%s (store %s).\nLog key (pin it): %s\n", gl.Addr(), hl.Addr(), dir, keys.vkey)
	return &embedded{
		grpcAddr: gl.Addr().String(), httpAddr: hl.Addr().String(), trust: keys.trust, dir: dir, fresh: store.Log().Size() == 0,
		stop: func() {
			cancel()
			<-done
			flags.Close()
			store.Close()
			if tmp != "" {
				os.RemoveAll(tmp)
			}
		},
	}, nil
}

type serverKeys struct {
	signer *tlog.Signer
	vkey   string
	trust  trust
}

// exampleKeys loads the server's keys from dir, creating them on first
// use, laid out as provenanced lays them out.
func exampleKeys(dir string) (serverKeys, error) {
	signer, vkey, err := datadir.LogKey(dir, "antimony-ledger.example/pakistan")
	if err != nil {
		return serverKeys{}, err
	}
	// The example plays the registrar in its own process; a server never
	// holds the registrar's private key.
	regKey, err := datadir.LocalRegistrar(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return serverKeys{}, err
	}
	regPub := regKey.Public().(ed25519.PublicKey)
	v, err := tlog.NewVerifier(vkey)
	if err != nil {
		return serverKeys{}, err
	}
	return serverKeys{signer: signer, vkey: vkey, trust: trust{log: v, registrar: regPub, regKey: regKey}}, nil
}
