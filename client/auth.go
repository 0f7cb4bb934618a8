package client

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/antimony-ledger/provenance/authtoken"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// OperatorCredentials returns the credentials of the log's operator,
// whose tokens are signed with the log's own key: logKey is that key's
// note signer text (a data directory's log.key).
func OperatorCredentials(logKey string) (*Credentials, error) {
	ls, err := tlog.NewSigner(strings.TrimSpace(logKey))
	if err != nil {
		return nil, err
	}
	return &Credentials{PartyID: record.OperatorPartyID, Key: ls.PrivateKey(), Origin: ls.Name()}, nil
}

// Credentials authenticate a party to the ledger with the Ed25519 key it
// is registered with: every call carries a short-lived token the key
// signed (see docs/FORMAT.md, "Authentication"). Use them with [DialAs],
// or pass [Credentials.DialOption] to [Dial] and set Origin.
type Credentials struct {
	PartyID string
	Key     ed25519.PrivateKey
	// Origin is the ledger's name, the first line of its checkpoints,
	// which each token names. DialAs sets it from the pinned log key if
	// it has one, else from the server's checkpoint.
	Origin string
	// Lifetime of each token; 0 means 5 minutes.
	Lifetime time.Duration

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// DialOption returns the option that attaches c to every call.
func (c *Credentials) DialOption() grpc.DialOption { return grpc.WithPerRPCCredentials(c) }

// Token returns a valid token, made anew when the last one is past two
// thirds of its life. It is what curl or another client would send as
// "Authorization: Bearer TOKEN".
func (c *Credentials) Token() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.token != "" && now.Before(c.renewAt) {
		return c.token, nil
	}
	life := c.Lifetime
	if life <= 0 {
		life = authtoken.DefaultLifetime
	}
	t, err := authtoken.Make(c.Origin, c.PartyID, c.Key, now, life)
	if err != nil {
		return "", err
	}
	c.token, c.renewAt = t, now.Add(life*2/3)
	return t, nil
}

// GetRequestMetadata implements credentials.PerRPCCredentials. Until
// Origin is known the call goes out anonymous.
func (c *Credentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	c.mu.Lock()
	known := c.Origin != ""
	c.mu.Unlock()
	if !known {
		return nil, nil
	}
	t, err := c.Token()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + t}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials. It
// is false so that a plaintext connection on loopback works; provctl
// refuses plaintext to any other address unless told otherwise.
func (c *Credentials) RequireTransportSecurity() bool { return false }

var _ credentials.PerRPCCredentials = (*Credentials)(nil)

// DialAs connects to addr as the party creds names. If creds.Origin is
// empty it learns it from the server's checkpoint (an anonymous call),
// which a client that pins the log key should not rely on: set it to the
// key's name so a token is only ever made for that ledger.
func DialAs(ctx context.Context, addr string, tlsConfig *tls.Config, creds *Credentials, opts ...grpc.DialOption) (*Client, error) {
	c, err := Dial(addr, tlsConfig, append(opts, creds.DialOption())...)
	if err != nil {
		return nil, err
	}
	if err := creds.LearnOrigin(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// LearnOrigin sets c.Origin, if it is empty, from the checkpoint of the
// server cl talks to (an anonymous call).
func (c *Credentials) LearnOrigin(ctx context.Context, cl *Client) error {
	c.mu.Lock()
	known := c.Origin != ""
	c.mu.Unlock()
	if known {
		return nil
	}
	r, err := cl.Ledger.GetCheckpoint(ctx, &apipb.GetCheckpointRequest{})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.Origin = r.GetOrigin()
	c.mu.Unlock()
	return nil
}

// Credentials returns credentials for the party s signs as, with its key.
func (s *Signer) Credentials() *Credentials { return &Credentials{PartyID: s.PartyID, Key: s.Key} }

// As returns a client on c's connection whose calls authenticate as
// creds's party, for software that acts for several parties (a test bed,
// an example, a load generator) over one connection. c must have been
// dialled without credentials. If creds.Origin is empty it is set from
// the server's checkpoint. Closing the returned client does not close c.
func (c *Client) As(ctx context.Context, creds *Credentials) (*Client, error) {
	if err := creds.LearnOrigin(ctx, c); err != nil {
		return nil, err
	}
	cc := callOptions{ClientConnInterface: c.conn, opts: []grpc.CallOption{grpc.PerRPCCredentials(creds)}}
	return &Client{
		conn:     c.conn,
		shared:   true,
		Ledger:   apipb.NewLedgerServiceClient(cc),
		Custody:  apipb.NewCustodyServiceClient(cc),
		Verifier: apipb.NewVerifierServiceClient(cc),
	}, nil
}

// callOptions adds options to every call on a connection.
type callOptions struct {
	grpc.ClientConnInterface
	opts []grpc.CallOption
}

func (c callOptions) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return c.ClientConnInterface.Invoke(ctx, method, args, reply, append(c.opts, opts...)...)
}

func (c callOptions) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return c.ClientConnInterface.NewStream(ctx, desc, method, append(c.opts, opts...)...)
}
