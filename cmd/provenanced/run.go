package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/backup"
	"github.com/antimony-ledger/provenance/internal/datadir"
	"github.com/antimony-ledger/provenance/internal/server"
	"github.com/antimony-ledger/provenance/internal/witness"
	"github.com/antimony-ledger/provenance/ledger"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"

	"github.com/antimony-ledger/provenance/tlog"
)

// DefaultOrigin is the checkpoint origin of a log created without --origin.
const DefaultOrigin = datadir.DefaultOrigin

// Files in the data directory.
const (
	logKeyFile       = datadir.LogKeyFile
	logPubFile       = datadir.LogPubFile
	registrarKeyFile = datadir.RegistrarKeyFile
	registrarPubFile = datadir.RegistrarPubFile
	ledgerDir        = datadir.LedgerDir
)

// Options configure [Run].
type Options struct {
	DataDir  string
	GRPCAddr string
	HTTPAddr string
	// TLSCert and TLSKey, both set, serve both listeners over TLS.
	TLSCert, TLSKey string
	LogLevel        string
	// Origin is the checkpoint origin of a new log; empty means
	// DefaultOrigin, or the name of the existing log key.
	Origin string
	// RegistrarPub, if set, is a PEM file with the registrar public key;
	// no registrar private key is created.
	RegistrarPub string
	// AdminAddr, if set, is the address of the operator's admin surface
	// (metrics, pprof, gRPC reflection, health details); empty means none.
	AdminAddr string
	// Limits bound connections, streams, heavy calls and submissions;
	// the zero value means server.DefaultLimits.
	Limits server.Limits
	// MinFreeBytes is ledger.Options.MinFreeBytes: the free space the
	// data directory's filesystem keeps for the store; under it appends
	// are refused. 0 means ledger.DefaultMinFreeBytes; negative, no check.
	MinFreeBytes int64
	// NoFlagFollower keeps the flag follower off (backend.Options.Paused).
	NoFlagFollower bool
	// FlagMaxLag is backend.Options.MaxLag: how far behind the flag
	// follower may fall while it steps aside for appends; 0 or negative,
	// never.
	FlagMaxLag time.Duration
	// WitnessPolicy, if set, is a witness policy file (tlog.ParsePolicy):
	// checkpoints go to every witness it gives a URL for.
	WitnessPolicy string
	// WitnessInterval is the least time between two rounds of
	// checkpoints to the witnesses; zero means witness.DefaultInterval.
	WitnessInterval time.Duration
	// Stdout receives the keys and listen addresses; nil discards them.
	Stdout io.Writer
	Logger *slog.Logger
}

// Run sets up the data directory, opens the store and serves until ctx is
// done, then shuts down gracefully and closes the store.
func Run(ctx context.Context, o Options) error {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var policy *tlog.Policy
	if o.WitnessPolicy != "" {
		text, err := os.ReadFile(o.WitnessPolicy)
		if err != nil {
			return fmt.Errorf("--witness-policy: %w", err)
		}
		if policy, err = tlog.ParsePolicy(string(text)); err != nil {
			return fmt.Errorf("--witness-policy %s: %w", o.WitnessPolicy, err)
		}
	}
	// Listen first, so that a port in use stops the server before it
	// creates keys or a store. Server.Serve closes the listeners; closing
	// them again here covers every failure before it.
	gl, err := net.Listen("tcp", o.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	hl, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		gl.Close()
		return fmt.Errorf("http listener: %w", err)
	}
	defer gl.Close()
	defer hl.Close()
	var al net.Listener
	if o.AdminAddr != "" {
		if al, err = net.Listen("tcp", o.AdminAddr); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		defer al.Close()
		if host, _, _ := net.SplitHostPort(o.AdminAddr); !isLoopback(host) {
			o.Logger.Warn("the admin listener (metrics, pprof, reflection) is not on a loopback address: it has no authentication, so keep it on a private network",
				slog.String("addr", al.Addr().String()))
		}
	}
	// Without a registrar key, make nothing, not even the directory.
	if o.RegistrarPub == "" {
		if _, err := os.Stat(filepath.Join(o.DataDir, datadir.RegistrarPubFile)); errors.Is(err, fs.ErrNotExist) {
			_, _, err := datadir.RegistrarKey(o.DataDir, "")
			return err
		}
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	if changed, err := datadir.Tighten(o.DataDir); err != nil {
		return err
	} else if changed {
		o.Logger.Warn("the data directory was open to its group or others; made it private (0700)", slog.String("dir", o.DataDir))
	}
	if abs, err := filepath.Abs(o.DataDir); err == nil {
		o.DataDir = abs
	}
	// The registrar key first: a server started without one makes
	// nothing.
	regPub, regPath, err := datadir.RegistrarKey(o.DataDir, o.RegistrarPub)
	if err != nil {
		return err
	}
	if err := record.CheckPublicKey(regPub); err != nil {
		return fmt.Errorf("registrar key %s: %w", regPath, err)
	}
	if _, err := os.Stat(filepath.Join(o.DataDir, datadir.RegistrarKeyFile)); err == nil {
		o.Logger.Warn("the data directory holds a registrar private key: whoever runs this server can sign as the registrar; move it to the registrar's own machine",
			slog.String("path", filepath.Join(o.DataDir, datadir.RegistrarKeyFile)))
	}
	signer, vkey, err := datadir.LogKey(o.DataDir, o.Origin)
	if err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return fmt.Errorf("loading TLS key pair: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	// The store's background work (the committer) must outlive ctx: on
	// SIGTERM the server drains first, and appends in flight need the
	// committer until then. It stops when the store is closed below.
	storeCtx, cancelStore := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStore()
	store, err := custody.Open(storeCtx, filepath.Join(o.DataDir, ledgerDir), custody.Config{
		Origin: signer.Name(), LogSigner: signer, Registrar: regPub, Logger: o.Logger,
		MinFreeBytes: o.MinFreeBytes,
	})
	if err != nil {
		if errors.Is(err, ledger.ErrLocked) {
			return fmt.Errorf("the ledger in %s is in use by another process (another provenanced, or an audit): %w", o.DataDir, err)
		}
		return fmt.Errorf("opening store: %w", err)
	}
	err = serve(ctx, o, store, tlsCfg, vkey, regPub, regPath, policy, gl, hl, al)
	if cerr := store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing store: %w", cerr))
	}
	if err == nil {
		o.Logger.Info("stopped", slog.Uint64("tree_size", store.Log().Size()))
	}
	return err
}

// serve serves on gl and hl, and the admin surface on al if it is not nil.
func serve(ctx context.Context, o Options, store *custody.Store, tlsCfg *tls.Config, vkey string, regPub ed25519.PublicKey, regPath string, policy *tlog.Policy, gl, hl, al net.Listener) error {
	logVerifier, err := tlog.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("log verifier key: %w", err)
	}
	// The server verifies with the same code and the same pinned keys a
	// buyer uses, so an auditor's REST report and a buyer's local one agree.
	flags, err := backend.Open(store, verifier.Trust{Log: logVerifier, Registrar: regPub}, verifier.DefaultConfig(),
		backend.Options{Dir: filepath.Join(o.DataDir, datadir.VerifierDir), Logger: o.Logger, Paused: o.NoFlagFollower, MaxLag: o.FlagMaxLag})
	if err != nil {
		return err
	}
	defer flags.Close()
	var pub *witness.Publisher
	if policy != nil {
		if err := policy.CheckLog(vkey); err != nil {
			return fmt.Errorf("--witness-policy: %w", err)
		}
		var ws []tlog.Witness
		for _, w := range policy.Witnesses {
			if w.URL != "" {
				ws = append(ws, w)
			}
		}
		if pub, err = witness.New(store.Log(), witness.Config{Witnesses: ws, Interval: o.WitnessInterval, Logger: o.Logger}); err != nil {
			return err
		}
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { pub.Run(wctx); close(done) }()
		defer func() { stop(); <-done }()
		flags.SetWitness(pub, 0)
	}
	srv, err := server.New(server.Options{Store: store, Logger: o.Logger, TLSConfig: tlsCfg, Verifier: flags, Witness: pub, Limits: o.Limits, AdminListener: al,
		BackupFiles: func(private bool) ([]backup.File, error) { return keyFiles(o.DataDir, private) }})
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	fmt.Fprintf(o.Stdout, "log verifier key: %s\n", vkey)
	fmt.Fprintf(o.Stdout, "registrar key id: %s (public key %s)\n", record.KeyID(regPub), regPath)
	if pub != nil {
		for _, w := range policy.Witnesses {
			if w.URL != "" {
				fmt.Fprintf(o.Stdout, "witness %s at %s\n", w.Name, w.URL)
			}
		}
	}
	fmt.Fprintf(o.Stdout, "grpc listening on %s\n", gl.Addr())
	if al != nil { // before the http line, which scripts wait for
		fmt.Fprintf(o.Stdout, "admin listening on http://%s (/metrics, /debug/pprof/, /healthz, /admin/backup, gRPC reflection)\n", al.Addr())
	}
	fmt.Fprintf(o.Stdout, "http listening on %s://%s\n", scheme, hl.Addr())
	o.Logger.Info("serving", slog.String("grpc", gl.Addr().String()), slog.String("http", hl.Addr().String()),
		slog.Uint64("tree_size", store.Log().Size()))
	return srv.Serve(ctx, gl, hl)
}

// isLoopback reports whether host names the loopback interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
