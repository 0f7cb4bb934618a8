// Package keyfile reads and writes the PEM key files of provctl and
// provenanced: a party's or the registrar's private key (PKCS #8, mode
// 0600) and public keys (PKIX). The encodings are the record package's
// ([record.MarshalPrivateKey], [record.MarshalPublicKey]); this package
// only adds the files.
package keyfile

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"syscall"

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
	b, err := ReadPrivateFile(path)
	if err != nil {
		return nil, err
	}
	return record.ParsePrivateKey(b)
}

// ReadPrivateFile reads a private key file, failing, as ssh does, if its
// group or others may read or write it, or if it belongs to another user
// (but root), naming the command that fixes it. It checks the file it
// opened, not the path again.
func ReadPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("private key file %s is open to its group or others (mode %04o): anyone who can read it can sign as you; fix it with: chmod 600 %s", path, perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() && st.Uid != 0 {
		return nil, fmt.Errorf("private key file %s belongs to user id %d, not to you (%d): fix it with: chown $(id -u) %s", path, st.Uid, os.Getuid(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	return b, nil
}

// ReadPublic reads a PEM public key file.
func ReadPublic(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading public key file: %w", err)
	}
	return record.ParsePublicKey(b)
}
