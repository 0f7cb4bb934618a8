// Package tlsinit makes a private certificate authority and one server
// certificate signed by it, for a TLS quick start (provctl tls-init) and
// for tests.
//
// Keys are ECDSA P-256, which Go, curl (OpenSSL, GnuTLS, LibreSSL) and
// gRPC's C core (BoringSSL, used by Python gRPC) all accept. The CA's
// private key is not kept: it signs the server certificate and is dropped,
// so a copy of the directory cannot be used to issue more certificates. To
// add a host, make a new CA.
package tlsinit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files written by [Write], in its directory.
const (
	CAFile   = "ca.pem"     // the CA certificate, for clients (provctl --tls-ca, curl --cacert)
	CertFile = "server.pem" // the server certificate (provenanced --tls-cert)
	KeyFile  = "server.key" // the server private key, mode 0600 (provenanced --tls-key)
)

// Validity of what [Generate] makes. Both start an hour before now, to
// allow for clocks a little behind.
const (
	CAValidity     = 5 * 365 * 24 * time.Hour
	ServerValidity = 365 * 24 * time.Hour
)

// ErrHost is returned for a host that is neither an IP address nor a DNS
// name, or for no host at all.
var ErrHost = errors.New("bad host")

// PEM is what [Generate] makes, PEM-encoded.
type PEM struct {
	CA, Cert, Key []byte
}

// Generate makes a CA and a server certificate for hosts, each an IP
// address or a DNS name, valid from an hour before now.
func Generate(hosts []string, now time.Time) (PEM, error) {
	var ips []net.IP
	var names []string
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
			continue
		case net.ParseIP(strings.Trim(h, "[]")) != nil:
			ips = append(ips, net.ParseIP(strings.Trim(h, "[]")))
		case validName(h):
			names = append(names, strings.ToLower(h))
		default:
			return PEM{}, fmt.Errorf("%w: %q is neither an IP address nor a DNS name", ErrHost, h)
		}
	}
	if len(ips) == 0 && len(names) == 0 {
		return PEM{}, fmt.Errorf("%w: the certificate must name at least one IP address or DNS name", ErrHost)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PEM{}, err
	}
	start := now.Add(-time.Hour).UTC()
	caSerial, err := serial()
	if err != nil {
		return PEM{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          caSerial,
		Subject:               pkix.Name{CommonName: "provenance ledger CA " + caSerial.Text(16)[:8]},
		NotBefore:             start,
		NotAfter:              start.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return PEM{}, fmt.Errorf("making CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return PEM{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PEM{}, err
	}
	srvSerial, err := serial()
	if err != nil {
		return PEM{}, err
	}
	cn := ""
	if len(names) > 0 {
		cn = names[0]
	} else {
		cn = ips[0].String()
	}
	tmpl := &x509.Certificate{
		SerialNumber:          srvSerial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             start,
		NotAfter:              start.Add(ServerValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return PEM{}, fmt.Errorf("making server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return PEM{}, err
	}
	return PEM{
		CA:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Write makes a CA and a server certificate for hosts with [Generate] and
// writes them to dir (made 0700 if missing) as [CAFile], [CertFile] and
// [KeyFile] (0600). It refuses, writing nothing, if any of the three
// already exists.
func Write(dir string, hosts []string, now time.Time) error {
	p, err := Generate(hosts, now)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{{KeyFile, p.Key, 0o600}, {CertFile, p.Cert, 0o644}, {CAFile, p.CA, 0o644}}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s exists: not overwriting it (choose another --dir, or remove the old files)", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeNew(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil { // the mode exactly, whatever the umask
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// validName reports whether h is a DNS name a certificate may carry:
// letters, digits, hyphens and dots, with an optional leading "*.".
func validName(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
