package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// An Uploader submits envelopes over one SubmitStream call, for software
// that records many handoffs at a time. Envelopes reach the log in the
// order sent, so a record may be sent right behind the one it links to.
// Each envelope gets exactly one answer, in the order sent, once it is
// durable or refused; a refused envelope does not end the stream. Send may
// run ahead of Recv (the server works on up to 64 of a stream's envelopes
// at once): then one goroutine sends and another receives, since a sender
// far ahead blocks until answers are read. If the stream itself fails
// (cancelled, the connection lost, the server shutting down), envelopes
// not yet answered may or may not be in the log: submit them again, which
// is safe, as resubmitting an envelope returns its existing entry.
type Uploader struct {
	s grpc.BidiStreamingClient[apipb.SubmitStreamRequest, apipb.SubmitStreamResponse]
}

// Upload opens a SubmitStream. Cancelling ctx ends it.
func (c *Client) Upload(ctx context.Context) (*Uploader, error) {
	s, err := c.Ledger.SubmitStream(ctx)
	if err != nil {
		return nil, err
	}
	return &Uploader{s: s}, nil
}

// Send sends one envelope without waiting for its answer. If the stream
// has ended, Send returns an error wrapping io.EOF, and Recv returns the
// reason once the answers already sent have been read.
func (u *Uploader) Send(env *pb.Envelope) error {
	err := u.s.Send(&apipb.SubmitStreamRequest{Envelope: env})
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("upload stream has ended: %w", err)
	}
	return err
}

// Recv returns the answer to the oldest envelope sent and not yet
// answered. A refusal comes back as a gRPC status error, exactly as
// [Client.Submit] would have returned it (so status.Code gives its code),
// and the stream goes on; a failure of the stream itself is returned as
// it is, and ends it. After [Uploader.CloseSend], Recv returns io.EOF once
// every envelope has been answered.
func (u *Uploader) Recv() (*apipb.SubmitResponse, error) {
	r, err := u.s.Recv()
	if err != nil {
		return nil, err
	}
	if c := codes.Code(r.GetCode()); c != codes.OK {
		return nil, &RefusedError{Status: status.New(c, r.GetMessage())}
	}
	if r.GetResult() == nil {
		return nil, fmt.Errorf("server answered with neither a result nor a refusal")
	}
	return r.GetResult(), nil
}

// Submit sends one envelope and waits for its answer; no other envelope
// may be waiting for an answer.
func (u *Uploader) Submit(env *pb.Envelope) (*apipb.SubmitResponse, error) {
	if err := u.Send(env); err != nil {
		if errors.Is(err, io.EOF) {
			// Nothing is outstanding, so Recv returns why it ended.
			if _, rerr := u.s.Recv(); rerr != nil && rerr != io.EOF {
				return nil, rerr
			}
		}
		return nil, err
	}
	return u.Recv()
}

// CloseSend tells the server no more envelopes follow; answers still due
// can be received.
func (u *Uploader) CloseSend() error { return u.s.CloseSend() }

// A RefusedError is the server's refusal of one envelope of an upload; the
// upload goes on.
type RefusedError struct{ Status *status.Status }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("rpc error: code = %s desc = %s", e.Status.Code(), e.Status.Message())
}

// GRPCStatus lets status.Code and status.Convert read the refusal.
func (e *RefusedError) GRPCStatus() *status.Status { return e.Status }
