// Package keyfile reads and writes the PEM key files of provctl and
// provenanced: a party's or the registrar's private key (PKCS #8, mode
// 0600) and public keys (PKIX). The encodings are the record package's
// ([record.MarshalPrivateKey], [record.MarshalPublicKey]); this package
// only adds the files.
package keyfile

import (
	"crypto/ed25519"
	"fmt"
	"os"

	"github.com/antimony-ledger/provenance/record"
)

// WritePrivate writes key to path as a PKCS #8 PEM block with mode 0600,
// synced to disk. It refuses to overwrite an existing file.
func WritePrivate(path string, key ed25519.PrivateKey) error {
	b, err := record.MarshalPrivateKey(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating key file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing key file: %w", err)
	}
	return f.Close()
}

// ReadPrivate reads an Ed25519 private key written by [WritePrivate]. Like
// ssh, it refuses a key file that group or others may read or write
// ([CheckPrivate]).
func ReadPrivate(path string) (ed25519.PrivateKey, error) {
	if err := CheckPrivate(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	return record.ParsePrivateKey(b)
}

// CheckPrivate fails if the private key file at path may be read or
// written by its group or by others, naming the command that fixes it.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reading key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("private key file %s is open to its group or others (mode %04o): anyone who can read it can sign as you; fix it with: chmod 600 %s", path, perm, path)
	}
	return nil
}

// ReadPublic reads a PEM public key file.
func ReadPublic(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading public key file: %w", err)
	}
	return record.ParsePublicKey(b)
}
