package main

import (
	"bytes"
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
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/server"
	"github.com/antimony-ledger/provenance/ledger"
	"github.com/antimony-ledger/provenance/verifier"
)

// DefaultOrigin is the checkpoint origin of a log created without --origin.
const DefaultOrigin = "antimony-ledger.local/log"

// Files in the data directory.
const (
	logKeyFile       = "log.key"
	logPubFile       = "log.pub"
	registrarKeyFile = "registrar.key"
	registrarPubFile = "registrar.pub"
	ledgerDir        = "ledger"
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
	// PprofAddr, if set, serves net/http/pprof on this loopback address.
	PprofAddr string
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
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	if abs, err := filepath.Abs(o.DataDir); err == nil {
		o.DataDir = abs
	}
	signer, vkey, err := logKey(o.DataDir, o.Origin)
	if err != nil {
		return err
	}
	regPub, regPath, err := registrarKey(o.DataDir, o.RegistrarPub, o.Logger)
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
	})
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	err = serve(ctx, o, store, tlsCfg, vkey, regPub, regPath)
	if cerr := store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing store: %w", cerr))
	}
	if err == nil {
		o.Logger.Info("stopped", slog.Uint64("tree_size", store.Log().Size()))
	}
	return err
}

func serve(ctx context.Context, o Options, store *custody.Store, tlsCfg *tls.Config, vkey string, regPub ed25519.PublicKey, regPath string) error {
	logVerifier, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("log verifier key: %w", err)
	}
	// The server verifies with the same code and the same pinned keys a
	// buyer uses, so an auditor's REST report and a buyer's local one agree.
	backend := verifier.NewBackend(store, verifier.Trust{Log: logVerifier, Registrar: regPub}, verifier.DefaultConfig())
	defer backend.Close()
	srv, err := server.New(server.Options{Store: store, Logger: o.Logger, TLSConfig: tlsCfg, Verifier: backend})
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", o.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	hl, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		gl.Close()
		return fmt.Errorf("http listener: %w", err)
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	fmt.Fprintf(o.Stdout, "log verifier key: %s\n", vkey)
	fmt.Fprintf(o.Stdout, "registrar key id: %s (public key %s)\n", custody.KeyID(regPub), regPath)
	fmt.Fprintf(o.Stdout, "grpc listening on %s\n", gl.Addr())
	fmt.Fprintf(o.Stdout, "http listening on %s://%s\n", scheme, hl.Addr())
	if o.PprofAddr != "" {
		pa, err := startPprof(ctx, o.PprofAddr, o.Logger)
		if err != nil {
			gl.Close()
			hl.Close()
			return err
		}
		fmt.Fprintf(o.Stdout, "pprof listening on http://%s/debug/pprof/\n", pa)
	}
	o.Logger.Info("serving", slog.String("grpc", gl.Addr().String()), slog.String("http", hl.Addr().String()),
		slog.Uint64("tree_size", store.Log().Size()))
	return srv.Serve(ctx, gl, hl)
}

// logKey loads the log's checkpoint signing key from dir, creating it on
// first start. It returns the signer and the encoded verifier key.
func logKey(dir, origin string) (note.Signer, string, error) {
	keyPath, pubPath := filepath.Join(dir, logKeyFile), filepath.Join(dir, logPubFile)
	skey, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		// A ledger without its key cannot go on signing the same log.
		if _, err := os.Stat(filepath.Join(dir, ledgerDir)); err == nil {
			return nil, "", fmt.Errorf("%s holds a ledger but no %s: restore the log key", dir, logKeyFile)
		}
		if origin == "" {
			origin = DefaultOrigin
		}
		sk, vk, err := ledger.GenerateNoteKey(origin)
		if err != nil {
			return nil, "", fmt.Errorf("generating log key: %w", err)
		}
		if err := writeNew(keyPath, []byte(sk+"\n"), 0o600); err != nil {
			return nil, "", err
		}
		if err := writeNew(pubPath, []byte(vk+"\n"), 0o644); err != nil {
			return nil, "", err
		}
		skey = []byte(sk)
	} else if err != nil {
		return nil, "", fmt.Errorf("reading log key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, "", fmt.Errorf("parsing %s: %w", keyPath, err)
	}
	if origin != "" && origin != signer.Name() {
		return nil, "", fmt.Errorf("--origin %q differs from the log key's name %q: the origin is fixed when the log is created", origin, signer.Name())
	}
	vkey, err := os.ReadFile(pubPath)
	if err != nil {
		return nil, "", fmt.Errorf("reading log verifier key: %w", err)
	}
	vk := strings.TrimSpace(string(vkey))
	verifier, err := note.NewVerifier(vk)
	if err != nil {
		return nil, "", fmt.Errorf("parsing %s: %w", pubPath, err)
	}
	if verifier.Name() != signer.Name() || verifier.KeyHash() != signer.KeyHash() {
		return nil, "", fmt.Errorf("%s does not match %s", pubPath, keyPath)
	}
	return signer, vk, nil
}

// registrarKey returns the registrar public key and the path of its file
// in dir. With supplied set, that key is used (and must match the one the
// ledger was created with); otherwise a key pair is created on first start.
func registrarKey(dir, supplied string, log *slog.Logger) (ed25519.PublicKey, string, error) {
	pubPath := filepath.Join(dir, registrarPubFile)
	stored, err := custody.ReadPublicKeyFile(pubPath)
	haveStored := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	if supplied != "" {
		pub, err := custody.ReadPublicKeyFile(supplied)
		if err != nil {
			return nil, "", fmt.Errorf("--registrar-pub: %w", err)
		}
		if haveStored {
			if !bytes.Equal(pub, stored) {
				return nil, "", fmt.Errorf("--registrar-pub key %s differs from the ledger's registrar key %s in %s",
					custody.KeyID(pub), custody.KeyID(stored), pubPath)
			}
			return pub, pubPath, nil
		}
		if err := refuseNewKeyForOldLedger(dir, registrarPubFile); err != nil {
			return nil, "", err
		}
		if err := writeNew(pubPath, custody.MarshalPublicKey(pub), 0o644); err != nil {
			return nil, "", err
		}
		return pub, pubPath, nil
	}
	if haveStored {
		return stored, pubPath, nil
	}
	if err := refuseNewKeyForOldLedger(dir, registrarPubFile); err != nil {
		return nil, "", err
	}
	pub, priv, err := custody.GenerateKey()
	if err != nil {
		return nil, "", fmt.Errorf("generating registrar key: %w", err)
	}
	keyPath := filepath.Join(dir, registrarKeyFile)
	if err := custody.WritePrivateKeyFile(keyPath, priv); err != nil {
		return nil, "", fmt.Errorf("%s: %w", keyPath, err)
	}
	if err := writeNew(pubPath, custody.MarshalPublicKey(pub), 0o644); err != nil {
		return nil, "", err
	}
	log.Info("created registrar key; move the private key offline once parties are registered", slog.String("path", keyPath))
	return pub, pubPath, nil
}

func refuseNewKeyForOldLedger(dir, missing string) error {
	if _, err := os.Stat(filepath.Join(dir, ledgerDir)); err == nil {
		return fmt.Errorf("%s holds a ledger but no %s: restore it", dir, missing)
	}
	return nil
}

// writeNew writes a new file durably, refusing to overwrite one.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return f.Close()
}
