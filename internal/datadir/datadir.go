// Package datadir lays out a ledger server's data directory: the log's
// checkpoint key, the registrar key and the Badger store, created on first
// use and checked on every later one. provenanced and provfill share it, so
// a directory one makes the other can open.
//
//	log.key        note signer key (0600)
//	log.pub        note verifier key: what clients pin
//	registrar.key  registrar Ed25519 private key, PKCS #8 PEM (0600)
//	registrar.pub  registrar public key, PKIX PEM: what clients pin
//	ledger/        the Badger store
//	verifier/      the flags' state, a projection of the log (rebuilt if removed)
package datadir

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/antimony-ledger/provenance/internal/keyfile"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// DefaultOrigin is the checkpoint origin of a log created without one.
const DefaultOrigin = "antimony-ledger.local/log"

// Files in a data directory.
const (
	LogKeyFile       = "log.key"
	LogPubFile       = "log.pub"
	RegistrarKeyFile = "registrar.key"
	RegistrarPubFile = "registrar.pub"
	LedgerDir        = "ledger"
	VerifierDir      = "verifier"
)

// LogKey loads the log's checkpoint signing key from dir, creating it on
// first start. It returns the signer and the encoded verifier key.
func LogKey(dir, origin string) (*tlog.Signer, string, error) {
	keyPath, pubPath := filepath.Join(dir, LogKeyFile), filepath.Join(dir, LogPubFile)
	skey, err := keyfile.ReadPrivateFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		// A ledger without its key cannot go on signing the same log.
		if _, err := os.Stat(filepath.Join(dir, LedgerDir)); err == nil {
			return nil, "", fmt.Errorf("%s holds a ledger but no %s: restore the log key", dir, LogKeyFile)
		}
		if origin == "" {
			origin = DefaultOrigin
		}
		sk, vk, err := tlog.GenerateNoteKey(origin)
		if err != nil {
			return nil, "", fmt.Errorf("generating log key: %w", err)
		}
		if err := WriteNew(keyPath, []byte(sk+"\n"), 0o600); err != nil {
			return nil, "", err
		}
		if err := WriteNew(pubPath, []byte(vk+"\n"), 0o644); err != nil {
			return nil, "", err
		}
		skey = []byte(sk)
	} else if err != nil {
		return nil, "", fmt.Errorf("reading log key: %w", err)
	}
	signer, err := tlog.NewSigner(strings.TrimSpace(string(skey)))
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
	verifier, err := tlog.NewVerifier(vk)
	if err != nil {
		return nil, "", fmt.Errorf("parsing %s: %w", pubPath, err)
	}
	if verifier.Name() != signer.Name() || verifier.KeyHash() != signer.KeyHash() {
		return nil, "", fmt.Errorf("%s does not match %s", pubPath, keyPath)
	}
	return signer, vk, nil
}

// Tighten makes the data directory dir private to its owner (0700) if its
// group or others may use it, and reports whether it changed the mode: the
// directory holds the log's private key and every party's records.
func Tighten(dir string) (bool, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return false, err
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return false, nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return false, fmt.Errorf("data directory %s is open to its group or others (mode %04o) and could not be made private: %w (fix it with: chmod 700 %s)", dir, fi.Mode().Perm(), err, dir)
	}
	return true, nil
}

// RegistrarKey returns the registrar public key and the path of its file
// in dir. With supplied set, that key is used (and must match the one the
// ledger was created with, which is kept in dir); otherwise dir must hold
// it. The server never makes the registrar's private key: the registrar
// makes it offline (provctl keygen), and a server that held it could sign
// as the registrar.
func RegistrarKey(dir, supplied string) (ed25519.PublicKey, string, error) {
	pubPath := filepath.Join(dir, RegistrarPubFile)
	stored, err := keyfile.ReadPublic(pubPath)
	haveStored := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	if supplied != "" {
		pub, err := keyfile.ReadPublic(supplied)
		if err != nil {
			return nil, "", fmt.Errorf("--registrar-pub: %w", err)
		}
		if haveStored {
			if !bytes.Equal(pub, stored) {
				return nil, "", fmt.Errorf("--registrar-pub key %s differs from the ledger's registrar key %s in %s "+
					"(the ledger pins its first registrar key; later ones come from registrar rotations in the log, so leave --registrar-pub out or give the first)",
					record.KeyID(pub), record.KeyID(stored), pubPath)
			}
			return pub, pubPath, nil
		}
		if err := refuseNewKeyForOldLedger(dir, RegistrarPubFile); err != nil {
			return nil, "", err
		}
		if err := WriteNew(pubPath, record.MarshalPublicKey(pub), 0o644); err != nil {
			return nil, "", err
		}
		return pub, pubPath, nil
	}
	if haveStored {
		return stored, pubPath, nil
	}
	if err := refuseNewKeyForOldLedger(dir, RegistrarPubFile); err != nil {
		return nil, "", err
	}
	return nil, "", errors.New("no registrar key: the server never makes the registrar's private key. " +
		"Make it on the registrar's own machine with `provctl keygen registrar.key`, keep registrar.key there, " +
		"and start with --registrar-pub registrar.key.pub (the first start keeps a copy as " + pubPath + ")")
}

// LocalRegistrar returns the registrar key pair kept in dir, making it on
// first use: for the example and provfill, which play the registrar in
// their own process, never for a server.
func LocalRegistrar(dir string, log *slog.Logger) (ed25519.PrivateKey, error) {
	pubPath := filepath.Join(dir, RegistrarPubFile)
	if _, err := os.Stat(pubPath); err == nil {
		return RegistrarPrivateKey(dir)
	}
	if err := refuseNewKeyForOldLedger(dir, RegistrarPubFile); err != nil {
		return nil, err
	}
	pub, priv, err := record.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generating registrar key: %w", err)
	}
	keyPath := filepath.Join(dir, RegistrarKeyFile)
	if err := keyfile.WritePrivate(keyPath, priv); err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if err := WriteNew(pubPath, record.MarshalPublicKey(pub), 0o644); err != nil {
		return nil, err
	}
	log.Info("created a registrar key for this process to play the registrar", slog.String("path", keyPath))
	return priv, nil
}

func refuseNewKeyForOldLedger(dir, missing string) error {
	if _, err := os.Stat(filepath.Join(dir, LedgerDir)); err == nil {
		return fmt.Errorf("%s holds a ledger but no %s: restore it", dir, missing)
	}
	return nil
}

// WriteNew writes a new file durably (synced), refusing to overwrite one.
func WriteNew(path string, data []byte, perm os.FileMode) error {
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

// RegistrarPrivateKey reads the registrar private key of dir, for tools
// that register parties themselves, and checks it against registrar.pub.
func RegistrarPrivateKey(dir string) (ed25519.PrivateKey, error) {
	keyPath, pubPath := filepath.Join(dir, RegistrarKeyFile), filepath.Join(dir, RegistrarPubFile)
	priv, err := keyfile.ReadPrivate(keyPath)
	if err != nil {
		return nil, fmt.Errorf("the registrar private key is needed to register parties: %w", err)
	}
	pub, err := keyfile.ReadPublic(pubPath)
	if err != nil {
		return nil, err
	}
	if !pub.Equal(priv.Public()) {
		return nil, fmt.Errorf("%s does not match %s", keyPath, pubPath)
	}
	return priv, nil
}
