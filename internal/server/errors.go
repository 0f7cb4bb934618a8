package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/antimony-ledger/provenance/ledger"
	"github.com/antimony-ledger/provenance/record"
)

// errInternal is what a client sees of any error this file does not know:
// the details go to the log, never over the wire.
var errInternal = status.Error(codes.Internal, "internal error")

// codeOf returns the gRPC code for a domain error, and whether the error is
// one the client may see. It is the one place where errors of the domain
// packages become status codes:
//
//	record.ErrMalformed      InvalidArgument     fix the input
//	record.ErrBadSignature   Unauthenticated     re-sign
//	record.ErrUnknownKey     Unauthenticated     register or rotate the key
//	record.ErrKeyNotValid    PermissionDenied    sign with a current key
//	record.ErrNotAllowed     PermissionDenied    role or custody forbids it
//	record.ErrNotFound       NotFound            party, lot or record missing
//	record.ErrAlreadyExists  AlreadyExists       use a new id
//	record.ErrConflict       FailedPrecondition  re-read the state and sign anew
//	ledger.ErrInvalidInput   InvalidArgument
//	ledger.ErrNotFound       NotFound
//	ledger.ErrClosed         Unavailable         the server is shutting down
//	ledger.ErrDataLoss       DataLoss            the store is damaged: audit it
//	context.Canceled         Canceled
//	context.DeadlineExceeded DeadlineExceeded
//
// record.ErrAlreadyExists wraps record.ErrConflict, so it is tested first.
func codeOf(err error) (codes.Code, bool) {
	switch {
	case errors.Is(err, record.ErrMalformed):
		return codes.InvalidArgument, true
	case errors.Is(err, record.ErrBadSignature), errors.Is(err, record.ErrUnknownKey):
		return codes.Unauthenticated, true
	case errors.Is(err, record.ErrKeyNotValid), errors.Is(err, record.ErrNotAllowed):
		return codes.PermissionDenied, true
	case errors.Is(err, record.ErrNotFound):
		return codes.NotFound, true
	case errors.Is(err, record.ErrAlreadyExists):
		return codes.AlreadyExists, true
	case errors.Is(err, record.ErrConflict):
		return codes.FailedPrecondition, true
	case errors.Is(err, ledger.ErrInvalidInput):
		return codes.InvalidArgument, true
	case errors.Is(err, ledger.ErrNotFound):
		return codes.NotFound, true
	case errors.Is(err, ledger.ErrClosed):
		return codes.Unavailable, true
	case errors.Is(err, ledger.ErrDataLoss):
		return codes.DataLoss, true
	case errors.Is(err, context.Canceled):
		return codes.Canceled, true
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded, true
	}
	return codes.Internal, false
}

// toStatus turns an error from a domain package into a gRPC status error.
// A status error made by this package passes through unchanged. Unknown
// errors are logged with the method and returned as a bare Internal, so
// nothing of the server's internals (paths, Badger errors) leaks.
func (s *Server) toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err
	}
	if st, ok := spaceStatus(err); ok { // ResourceExhausted, see space.go
		return st
	}
	code, public := codeOf(err)
	if !public {
		s.log.ErrorContext(ctx, "internal error", slog.String("method", methodName(ctx)), slog.Any("err", err))
		return errInternal
	}
	switch code {
	case codes.Unavailable:
		return status.Error(code, "ledger is closed")
	case codes.Canceled, codes.DeadlineExceeded:
		return status.FromContextError(err).Err()
	case codes.DataLoss:
		// What failed (Badger's checksum, file offsets) is for the
		// operator; the client learns what is damaged.
		var own interface{ ClientMessage() string } // damage outside the ledger (the flags' state)
		if errors.As(err, &own) {
			s.log.ErrorContext(ctx, "stored data is damaged", slog.String("method", methodName(ctx)), slog.Any("err", err))
			return status.Error(code, own.ClientMessage())
		}
		s.log.ErrorContext(ctx, "stored data is damaged: run provenanced audit", slog.String("method", methodName(ctx)), slog.Any("err", err))
		what := ledger.Damaged(err)
		if what == "" {
			what = "a read"
		}
		return status.Errorf(code, "the ledger's stored data is damaged (%s): the operator has been told to audit the store", what)
	}
	return status.Error(code, err.Error())
}
