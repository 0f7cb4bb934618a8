package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"google.golang.org/grpc"
)

// ErrPlaintext is returned by [Dial] and [Transport.TLSConfig] when
// plaintext is asked for to an address that is not loopback without an
// explicit opt-in ([DialInsecure], [Transport.Insecure]): custody records
// and the calls that submit them would cross the network readable and
// alterable by anyone on the path.
var ErrPlaintext = errors.New("plaintext refused: the address is not loopback")

// A Transport says how to reach a server: over TLS with the system's
// roots or a private CA, or in plaintext. Its zero value is the default
// policy, which [Transport.TLSConfig] applies to an address:
//
//   - Insecure set: plaintext, to any address (an error if CAFile,
//     ServerName or TLS is also set);
//   - CAFile, ServerName or TLS set: TLS;
//   - a loopback address (127.0.0.0/8, ::1, localhost, a unix socket):
//     plaintext, as provenanced serves by default;
//   - any other address: TLS, verified with the system's roots.
//
// So nothing is sent in plaintext off the machine unless Insecure says so.
// provctl's flags --tls-ca, --tls-server-name, --tls and --insecure set
// the fields of the same names.
type Transport struct {
	// CAFile is a PEM file of CA certificates to verify the server's
	// certificate with, instead of the system's roots: a private CA such
	// as the one provctl tls-init makes.
	CAFile string
	// ServerName is the name the server's certificate must hold; empty
	// means the host of the address.
	ServerName string
	// TLS asks for TLS even to a loopback address.
	TLS bool
	// Insecure asks for plaintext, even to an address that is not
	// loopback.
	Insecure bool
}

// TLSConfig returns the TLS configuration t gives for addr, or nil for
// plaintext (see [Transport] for the policy).
func (t Transport) TLSConfig(addr string) (*tls.Config, error) {
	if t.Insecure {
		if t.CAFile != "" || t.ServerName != "" || t.TLS {
			return nil, errors.New("plaintext (insecure) was asked for together with TLS settings: choose one")
		}
		return nil, nil
	}
	if t.CAFile == "" && t.ServerName == "" && !t.TLS && IsLoopback(addr) {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pemBytes, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA certificates: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("%s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Dial connects to addr as t says: [Dial] with t's TLS configuration, or
// [DialInsecure] if t gives plaintext.
func (t Transport) Dial(addr string, opts ...grpc.DialOption) (*Client, error) {
	cfg, err := t.TLSConfig(addr)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return DialInsecure(addr, opts...)
	}
	return Dial(addr, cfg, opts...)
}

// DialInsecure connects to addr in plaintext, whatever the address. Use
// it only on a network you trust, or where TLS ends in front of the
// client (a local proxy or a sidecar).
func DialInsecure(addr string, opts ...grpc.DialOption) (*Client, error) {
	return dial(addr, nil, opts)
}

// IsLoopback reports whether a gRPC target names this machine: a host:port
// (or dns:///host:port, passthrough:///host:port) whose host is a loopback
// IP address or "localhost", or a unix socket. Anything it cannot read is
// not loopback.
func IsLoopback(target string) bool {
	if strings.HasPrefix(target, "unix:") || strings.HasPrefix(target, "unix-abstract:") {
		return true
	}
	hostport := target
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil {
			return false
		}
		switch u.Scheme {
		case "dns", "passthrough":
		default:
			return false
		}
		// In dns://RESOLVER/host:port the resolver is not the server.
		hostport = strings.TrimPrefix(u.Path, "/")
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport // no port: gRPC's default 443
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
