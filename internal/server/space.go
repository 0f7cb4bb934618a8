package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/antimony-ledger/provenance/ledger"
)

// ReasonInsufficientStorage is the google.rpc.ErrorInfo reason of the
// ResourceExhausted error that refuses an append because the data
// directory's free space is under the ledger's MinFreeBytes
// (provenanced --min-free-bytes). Its metadata hold "dir", "free_bytes"
// and "min_free_bytes". The REST gateway answers it 507 Insufficient
// Storage, not the 429 of the other ResourceExhausted errors: waiting does
// not help, an operator must free space. Reads and proofs are served
// meanwhile.
const ReasonInsufficientStorage = "INSUFFICIENT_STORAGE"

// spaceStatus turns a ledger.SpaceError into a ResourceExhausted status
// error carrying an ErrorInfo with ReasonInsufficientStorage; ok is false
// for any other error.
func spaceStatus(err error) (st error, ok bool) {
	var se *ledger.SpaceError
	if !errors.As(err, &se) {
		return nil, false
	}
	s := status.New(codes.ResourceExhausted, se.Error())
	if d, derr := s.WithDetails(&errdetails.ErrorInfo{
		Reason: ReasonInsufficientStorage,
		Domain: "provenance",
		Metadata: map[string]string{
			"dir":            se.Dir,
			"free_bytes":     strconv.FormatUint(se.Free, 10),
			"min_free_bytes": strconv.FormatUint(se.Min, 10),
		},
	}); derr == nil {
		s = d
	}
	return s.Err(), true
}

// InsufficientStorage reports whether err is the refusal of an append for
// want of free space on the server's data directory.
func InsufficientStorage(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		return false
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == ReasonInsufficientStorage {
			return true
		}
	}
	return false
}

// httpStatusOf gives the gateway the HTTP status of errors it would
// otherwise map by their gRPC code alone.
func httpStatusOf(err error) error {
	if InsufficientStorage(err) {
		return &runtime.HTTPStatusError{HTTPStatus: http.StatusInsufficientStorage, Err: err}
	}
	return err
}
