// Package client is the Go client of the provenance ledger: what an
// exporter's, mine's or smelter's own software imports to sign custody
// statements with its own key and submit them, and what a buyer uses to
// fetch records and proofs and check them without trusting the server.
//
// # Connecting
//
// [Dial] connects over TLS with a given configuration; with none it
// connects in plaintext, to a loopback address only. [Transport] applies
// provctl's policy (TLS with the system's roots or a private CA, plaintext
// to loopback or when asked for explicitly) and [DialInsecure] is
// plaintext anywhere. Replies are limited to [MaxRecvBytes].
//
// # Signing
//
// A [Signer] holds a party's Ed25519 private key. It signs statements
// locally; only the DSSE envelope (payload and signature) is sent.
//
// # Not trusting the server
//
// [Client.CheckCheckpoint] verifies a checkpoint with the pinned log key and,
// given a [CheckpointStore] holding the last checkpoint this client saw,
// checks a consistency proof from it: a log that was rolled back, rewritten
// or forked is reported with [ErrRollback] or [ErrFork].
package client

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// DefaultAddr is the gRPC address provenanced listens on by default.
const DefaultAddr = "127.0.0.1:8443"

// A Client talks to a provenanced server over gRPC.
type Client struct {
	conn     *grpc.ClientConn
	shared   bool // made by As: Close leaves conn open
	Ledger   apipb.LedgerServiceClient
	Custody  apipb.CustodyServiceClient
	Verifier apipb.VerifierServiceClient
}

// MaxRecvBytes is the largest message a [Client] accepts from the server,
// 64 MiB, instead of gRPC's default of 4 MiB, which a bundle for a large
// lot exceeds. A grpc.MaxCallRecvMsgSize passed to [Dial] or to a call
// overrides it.
const MaxRecvBytes = 64 << 20

// Dial connects to addr over TLS with tlsConfig. With tlsConfig nil the
// connection is plaintext, which Dial allows only to a loopback address
// ([IsLoopback]); to any other it returns an error wrapping [ErrPlaintext]
// without connecting. [DialInsecure] allows plaintext anywhere, and
// [Transport] chooses between TLS and plaintext by provctl's rules.
//
// Messages received are limited to [MaxRecvBytes]; opts come after the
// client's own options, so they may override them.
func Dial(addr string, tlsConfig *tls.Config, opts ...grpc.DialOption) (*Client, error) {
	if tlsConfig == nil && !IsLoopback(addr) {
		return nil, fmt.Errorf("connecting to %s: %w (give a TLS configuration, or use DialInsecure on a network you trust)", addr, ErrPlaintext)
	}
	return dial(addr, tlsConfig, opts)
}

func dial(addr string, tlsConfig *tls.Config, opts []grpc.DialOption) (*Client, error) {
	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxRecvBytes)),
	}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	return &Client{
		conn:     conn,
		Ledger:   apipb.NewLedgerServiceClient(conn),
		Custody:  apipb.NewCustodyServiceClient(conn),
		Verifier: apipb.NewVerifierServiceClient(conn),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	if c.shared {
		return nil
	}
	return c.conn.Close()
}

// A Signer signs statements as one party.
type Signer struct {
	PartyID string
	Key     ed25519.PrivateKey
	// Now gives the event time of statements that carry none; nil means
	// time.Now.
	Now func() time.Time
}

// Sign fills the statement's party id and, when unset, its event time, and
// signs it. The private key never leaves the caller's process.
func (s *Signer) Sign(st *pb.Statement) (*pb.Envelope, error) {
	if st.GetPartyId() == "" {
		st.PartyId = s.PartyID
	}
	if st.GetEventTime() == nil {
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		st.EventTime = timestamppb.New(now())
	}
	return record.Sign(st, s.Key)
}

// Submit submits a signed envelope and returns the server's answer, which
// is acknowledged only once the record is durable.
func (c *Client) Submit(ctx context.Context, env *pb.Envelope) (*apipb.SubmitResponse, error) {
	return c.Ledger.Submit(ctx, &apipb.SubmitRequest{Envelope: env})
}

// SignAndSubmit signs st with s and submits it.
func (c *Client) SignAndSubmit(ctx context.Context, s *Signer, st *pb.Statement) (*apipb.SubmitResponse, error) {
	env, err := s.Sign(st)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, env)
}

// Lot returns a lot's state and history.
func (c *Client) Lot(ctx context.Context, lotID string) (*apipb.GetLotResponse, error) {
	return c.Custody.GetLot(ctx, &apipb.GetLotRequest{LotId: lotID})
}

// LotHead returns the record that gave the lot's holder custody, the link
// a dispatch or transformation of the lot must carry, and the pending
// dispatch, the link a receipt must carry.
func (c *Client) LotHead(ctx context.Context, lotID string) (head, pendingDispatch string, err error) {
	r, err := c.Lot(ctx, lotID)
	if err != nil {
		return "", "", err
	}
	return r.GetLot().GetHead(), r.GetLot().GetPendingDispatch(), nil
}

// Errors of [Client.CheckCheckpoint].
var (
	// ErrRollback means the log now shows a smaller tree than this client
	// saw before: history was deleted or an old copy restored.
	ErrRollback = errors.New("log rolled back")
	// ErrFork means the log's new tree does not extend the one this client
	// saw: history was rewritten, or different clients see different logs.
	ErrFork = errors.New("log forked")
)

// A CheckpointStore remembers the last checkpoint a client accepted, per
// log origin.
type CheckpointStore interface {
	// Last returns the last saved checkpoint note for origin, or nil and no
	// error if there is none.
	Last(origin string) ([]byte, error)
	// Save records a checkpoint note for origin. It MUST be durable when it
	// returns.
	Save(origin string, signedNote []byte) error
}

// CheckCheckpoint verifies signedNote with the pinned log key v and checks
// that it extends the last checkpoint in cps (if any) with a consistency
// proof fetched from the server. On success it saves the new checkpoint
// (when larger) and returns it parsed.
func (c *Client) CheckCheckpoint(ctx context.Context, v note.Verifier, cps CheckpointStore, signedNote []byte) (tlog.Checkpoint, error) {
	cp, err := tlog.OpenCheckpoint(signedNote, v)
	if err != nil {
		return tlog.Checkpoint{}, err
	}
	if cps == nil {
		return cp, nil
	}
	lastNote, err := cps.Last(cp.Origin)
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("reading remembered checkpoint: %w", err)
	}
	if lastNote != nil {
		last, err := tlog.OpenCheckpoint(lastNote, v)
		if err != nil {
			return tlog.Checkpoint{}, fmt.Errorf("remembered checkpoint: %w", err)
		}
		if err := c.consistent(ctx, last, cp); err != nil {
			return tlog.Checkpoint{}, err
		}
		if cp.Size <= last.Size {
			return cp, nil
		}
	}
	if err := cps.Save(cp.Origin, signedNote); err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("saving checkpoint: %w", err)
	}
	return cp, nil
}

func (c *Client) consistent(ctx context.Context, old, cp tlog.Checkpoint) error {
	switch {
	case cp.Size < old.Size:
		return fmt.Errorf("%w: tree size %d is smaller than %d seen before", ErrRollback, cp.Size, old.Size)
	case cp.Size == old.Size:
		if cp.Root != old.Root {
			return fmt.Errorf("%w: two different roots for tree size %d", ErrFork, cp.Size)
		}
		return nil
	case old.Size == 0:
		return nil
	}
	r, err := c.Ledger.GetConsistencyProof(ctx, &apipb.GetConsistencyProofRequest{First: old.Size, Second: cp.Size})
	if err != nil {
		return fmt.Errorf("fetching consistency proof %d -> %d: %w", old.Size, cp.Size, err)
	}
	hashes, err := ProofHashes(r.GetHashes())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFork, err)
	}
	if err := tlog.VerifyConsistency(old.Size, cp.Size, hashes, old.Root, cp.Root); err != nil {
		return fmt.Errorf("%w: tree %d does not extend tree %d seen before: %v", ErrFork, cp.Size, old.Size, err)
	}
	return nil
}

// ProofHashes converts proof hashes from the wire, checking each is 32 bytes.
func ProofHashes(bs [][]byte) ([][32]byte, error) {
	out := make([][32]byte, len(bs))
	for i, b := range bs {
		if len(b) != 32 {
			return nil, fmt.Errorf("proof hash %d is %d bytes", i, len(b))
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// EntryLeaf rebuilds the leaf the log's tree commits for a served entry:
// its record id (of its data), the time the log took it, its extra data
// and its map root. Inclusion proofs prove the leaf's hash.
func EntryLeaf(e *apipb.LogEntry) (tlog.Leaf, error) {
	if e.GetRecordTime() == nil || !e.GetRecordTime().IsValid() {
		return tlog.Leaf{}, errors.New("entry has no valid record_time")
	}
	l, err := tlog.NewLeaf(e.GetRecordTime().AsTime(), tlog.RecordIDOf(e.GetData()), e.GetExtra(), e.GetMapRoot())
	if err != nil {
		return tlog.Leaf{}, fmt.Errorf("entry %d: %w", e.GetIndex(), err)
	}
	return l, nil
}

// MaxBundleBytes bounds the bundle [Client.Bundle] puts together, as
// verifier.MaxBundleSize bounds a bundle file.
const MaxBundleBytes = 256 << 20

// Bundle fetches a lot's bundle in parts (StreamBundle), so a bundle too
// large for one gRPC message still arrives, up to MaxBundleBytes.
func (c *Client) Bundle(ctx context.Context, lotID string) (*pb.Bundle, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := c.Verifier.StreamBundle(ctx, &apipb.StreamBundleRequest{LotId: lotID})
	if err != nil {
		return nil, err
	}
	var b *pb.Bundle
	size := 0
	for {
		r, err := s.Recv()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		if size += proto.Size(r); size > MaxBundleBytes {
			return nil, fmt.Errorf("bundle of lot %q is over %d bytes", lotID, MaxBundleBytes)
		}
		switch p := r.GetPart().(type) {
		case *apipb.StreamBundleResponse_Head:
			if b != nil {
				return nil, errors.New("bundle stream: a second head")
			}
			b = p.Head
		case *apipb.StreamBundleResponse_Record:
			if b == nil {
				return nil, errors.New("bundle stream: a record before the head")
			}
			b.Records = append(b.Records, p.Record)
		case *apipb.StreamBundleResponse_MapProof:
			if b == nil {
				return nil, errors.New("bundle stream: a map proof before the head")
			}
			b.MapProofs = append(b.MapProofs, p.MapProof)
		default:
			return nil, errors.New("bundle stream: a part of unknown kind")
		}
	}
	if b == nil {
		return nil, errors.New("bundle stream: no head")
	}
	return b, nil
}
