package server

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/ledger"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// ledgerService implements pb.LedgerServiceServer over the store's log.
type ledgerService struct {
	apipb.UnimplementedLedgerServiceServer
	s *Server
}

// Submit appends one envelope. A request carrying fields this server does
// not know is refused, as the gateway refuses unknown JSON fields: the
// envelope stored is what the server understood, so silently dropping a
// field a newer client meant to send would store something else.
func (l *ledgerService) Submit(ctx context.Context, req *apipb.SubmitRequest) (*apipb.SubmitResponse, error) {
	return l.submit(ctx, req.GetEnvelope(), hasUnknownFields(req.ProtoReflect()), nil)
}

// submit submits env in turn t of a stream's sequence (nil for none).
func (l *ledgerService) submit(ctx context.Context, env *pb.Envelope, unknownFields bool, t *ledger.Turn) (*apipb.SubmitResponse, error) {
	if unknownFields {
		t.Pass(ctx)
		l.s.metrics.submits.WithLabelValues(record.ErrMalformed.Error()).Inc()
		return nil, status.Error(codes.InvalidArgument, "malformed: request has unknown fields")
	}
	outcome, err := l.s.admitSubmission(ctx, env)
	if err != nil {
		t.Pass(ctx)
		l.s.metrics.submits.WithLabelValues("rate limited").Inc()
		return nil, err
	}
	res, err := l.s.store.SubmitInTurn(ctx, env, t)
	outcome(err)
	l.s.metrics.submits.WithLabelValues(submitOutcome(err, res.Duplicate)).Inc()
	if err != nil {
		return nil, l.s.toStatus(ctx, err)
	}
	// The latest checkpoint covers every committed entry, this one included.
	return &apipb.SubmitResponse{
		Index:      res.Entry.Index,
		LeafHash:   res.ID,
		Duplicate:  res.Duplicate,
		Checkpoint: string(l.s.store.Log().Checkpoint()),
	}, nil
}

// errDraining ends upload streams when the server shuts down.
var errDraining = status.Error(codes.Unavailable, "server is shutting down; resubmit the envelopes not answered")

// submitWindow bounds how many requests of one SubmitStream are in process
// at once; the stream stops reading further requests until one is answered.
const submitWindow = 64

// SubmitStream handles each request as Submit does, concurrently up to
// submitWindow, and answers in request order: each request takes a slot in
// a queue as it arrives, its worker fills the slot, and this goroutine sends
// the slots' responses in queue order. Requests reach the log in the order
// received (a ledger.Sequence), so a record can follow the one it links to
// without waiting for its answer. Once the client closes its side, the
// stream ends after the last response. When the server starts shutting
// down, the stream takes no more requests, answers those it has taken and
// ends with Unavailable; the client resubmits the rest (submission is
// idempotent).
func (l *ledgerService) SubmitStream(stream grpc.BidiStreamingServer[apipb.SubmitStreamRequest, apipb.SubmitStreamResponse]) error {
	ctx := stream.Context()
	slots := make(chan chan *apipb.SubmitStreamResponse, submitWindow-1)
	recvErr := make(chan error, 1)
	go func() {
		defer close(slots)
		// Requests run on workers that live as long as the stream, so the
		// stack each grows while verifying and decoding is kept for the
		// next request rather than grown again on a new goroutine; a
		// worker is started when none is idle, so at most submitWindow run.
		jobs := make(chan func())
		defer close(jobs)
		run := func(job func()) {
			select {
			case jobs <- job: // an idle worker took it
			default:
				go func() {
					job()
					for job := range jobs {
						job()
					}
				}()
			}
		}
		var seq ledger.Sequence
		for {
			req, err := stream.Recv()
			if err != nil {
				if err != io.EOF {
					recvErr <- err
				}
				return
			}
			select {
			case <-l.s.drain:
				recvErr <- errDraining // take no more
				return
			default:
			}
			slot := make(chan *apipb.SubmitStreamResponse, 1)
			select {
			case slots <- slot:
			case <-ctx.Done():
				return // the stream has ended
			case <-l.s.drain:
				recvErr <- errDraining
				return
			}
			turn := seq.Next()
			run(func() { slot <- l.submitOne(ctx, req, turn) })
		}
	}()
	// ended is the stream's outcome once every answer due is sent: nil
	// when the client closed its side, errDraining when the reader
	// stopped for a shutdown, and after a failed Recv, which has ended the
	// stream with gRPC's own status, that error.
	ended := func() error {
		select {
		case err := <-recvErr:
			return err
		default:
			return nil
		}
	}
	for {
		var slot chan *apipb.SubmitStreamResponse
		ok := true
		select {
		case slot, ok = <-slots:
		case <-l.s.drain:
			// Answer what has been taken (the reader takes no more),
			// then end.
			select {
			case slot, ok = <-slots:
			default:
				return errDraining
			}
		}
		if !ok {
			return ended()
		}
		if err := stream.Send(<-slot); err != nil {
			return err
		}
	}
}

// submitOne submits one streamed request and turns a refusal into its
// response. It runs on its own goroutine, out of reach of the recovery
// interceptor, so it recovers from a panic itself.
func (l *ledgerService) submitOne(ctx context.Context, req *apipb.SubmitStreamRequest, t *ledger.Turn) (resp *apipb.SubmitStreamResponse) {
	defer func() {
		if r := recover(); r != nil {
			t.Pass(ctx)
			l.s.log.ErrorContext(ctx, "panic in handler", slog.String("method", apipb.LedgerService_SubmitStream_FullMethodName), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			resp = refusal(errInternal)
		}
	}()
	res, err := l.submit(ctx, req.GetEnvelope(), hasUnknownFields(req.ProtoReflect()), t)
	if err != nil {
		return refusal(err)
	}
	return &apipb.SubmitStreamResponse{Result: res}
}

func refusal(err error) *apipb.SubmitStreamResponse {
	st := status.Convert(err)
	return &apipb.SubmitStreamResponse{Code: int32(st.Code()), Message: st.Message()}
}

func (l *ledgerService) GetEntry(ctx context.Context, req *apipb.GetEntryRequest) (*apipb.GetEntryResponse, error) {
	if size := l.s.store.Log().Size(); req.GetIndex() >= size {
		return nil, status.Errorf(codes.NotFound, "no entry at index %d: log size is %d", req.GetIndex(), size)
	}
	e, err := l.s.store.Log().Get(ctx, req.GetIndex())
	if err != nil {
		return nil, l.s.toStatus(ctx, err)
	}
	return &apipb.GetEntryResponse{Entry: l.s.logEntry(ctx, e)}, nil
}

func (l *ledgerService) GetRecord(ctx context.Context, req *apipb.GetRecordRequest) (*apipb.GetRecordResponse, error) {
	if req.GetLeafHash() == "" {
		return nil, status.Error(codes.InvalidArgument, "leaf_hash is required")
	}
	id, err := tlog.ParseRecordID(req.GetLeafHash())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "leaf_hash: %v", err)
	}
	e, err := l.s.store.Log().GetByID(ctx, id)
	if err != nil {
		return nil, l.s.toStatus(ctx, err)
	}
	return &apipb.GetRecordResponse{Entry: l.s.logEntry(ctx, e)}, nil
}

// StreamEntries streams [start, end). An end of 0, or beyond the log, means
// the size of the log when the call starts; a start beyond that is
// OutOfRange, so a mirror polling at its own size sees an empty stream, and
// one ahead of the log sees an error.
func (l *ledgerService) StreamEntries(req *apipb.StreamEntriesRequest, stream grpc.ServerStreamingServer[apipb.StreamEntriesResponse]) error {
	ctx := stream.Context()
	size := l.s.store.Log().Size()
	start, end := req.GetStart(), req.GetEnd()
	if end == 0 || end > size {
		end = size
	}
	if start > size {
		return status.Errorf(codes.OutOfRange, "start %d is beyond the log size %d", start, size)
	}
	if start > end {
		return status.Errorf(codes.InvalidArgument, "start %d is after end %d", start, end)
	}
	for e, err := range l.s.store.Log().Range(ctx, start, end) {
		if err != nil {
			return l.s.toStatus(ctx, err)
		}
		if err := stream.Send(&apipb.StreamEntriesResponse{Entry: l.s.logEntry(ctx, e)}); err != nil {
			return err
		}
	}
	return nil
}

func (l *ledgerService) GetCheckpoint(ctx context.Context, _ *apipb.GetCheckpointRequest) (*apipb.GetCheckpointResponse, error) {
	c, signed, err := l.s.store.Log().LatestCheckpoint()
	if err != nil {
		return nil, l.s.toStatus(ctx, err)
	}
	resp := &apipb.GetCheckpointResponse{
		Checkpoint: string(signed),
		Origin:     c.Origin,
		TreeSize:   c.Size,
		RootHash:   rootBase64(c.Root),
	}
	if w := l.s.opts.Witness; w != nil {
		cs, sts := w.Latest()
		resp.CosignedCheckpoint = string(cs.Signed)
		for _, st := range sts {
			ws := &apipb.WitnessStatus{Name: st.Name, Cosigned: slices.Contains(cs.By, st.Name), TreeSize: st.Size, Error: st.Err}
			if !st.LastSuccess.IsZero() {
				ws.LastSuccess = timestamppb.New(st.LastSuccess)
			}
			resp.Witnesses = append(resp.Witnesses, ws)
		}
	}
	return resp, nil
}

func (l *ledgerService) GetInclusionProof(ctx context.Context, req *apipb.GetInclusionProofRequest) (*apipb.GetInclusionProofResponse, error) {
	log := l.s.store.Log()
	size, err := treeSize(log, "tree_size", req.GetTreeSize())
	if err != nil {
		return nil, err
	}
	if req.GetIndex() >= size {
		return nil, status.Errorf(codes.InvalidArgument, "index %d is not in a tree of size %d", req.GetIndex(), size)
	}
	e, err := log.Get(ctx, req.GetIndex())
	if err != nil {
		return nil, l.s.toStatus(ctx, err)
	}
	hashes, err := log.InclusionProof(ctx, req.GetIndex(), size)
	if err != nil {
		return nil, l.s.toStatus(ctx, err)
	}
	return &apipb.GetInclusionProofResponse{
		Index:    req.GetIndex(),
		TreeSize: size,
		Hashes:   proofBytes(hashes),
		LeafHash: e.ID.String(),
	}, nil
}

func (l *ledgerService) GetConsistencyProof(ctx context.Context, req *apipb.GetConsistencyProofRequest) (*apipb.GetConsistencyProofResponse, error) {
	log := l.s.store.Log()
	second, err := treeSize(log, "second", req.GetSecond())
	if err != nil {
		return nil, err
	}
	if req.GetFirst() > second {
		return nil, status.Errorf(codes.InvalidArgument, "first %d is larger than second %d", req.GetFirst(), second)
	}
	hashes, err := log.ConsistencyProof(ctx, req.GetFirst(), second)
	if err != nil {
		return nil, l.s.toStatus(ctx, err)
	}
	return &apipb.GetConsistencyProofResponse{First: req.GetFirst(), Second: second, Hashes: proofBytes(hashes)}, nil
}

// logEntry returns the wire form of an entry: the exact stored bytes, and
// the envelope and statement decoded from them. Stored entries passed
// validation, so a decoding failure means a newer writer or corruption; the
// entry is still served with its bytes, which are what clients verify.
func (s *Server) logEntry(ctx context.Context, e ledger.Entry) *apipb.LogEntry {
	out := &apipb.LogEntry{
		Index:      e.Index,
		LeafHash:   e.ID.String(),
		Data:       e.Data,
		RecordTime: timestamppb.New(e.Time),
		Extra:      e.Extra,
	}
	if e.MapRoot != nil {
		out.MapRoot = e.MapRoot[:]
	}
	env, st, err := custody.DecodeEntry(e)
	if err != nil {
		s.log.WarnContext(ctx, "stored entry does not decode", slog.Uint64("index", e.Index), slog.Any("err", err))
		return out
	}
	out.Envelope, out.Statement = env, st
	return out
}

func proofBytes(hs [][32]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// hasUnknownFields reports whether m or any message in it carries fields
// unknown to this server's protos.
func hasUnknownFields(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					found = hasUnknownFields(mv.Message())
					return !found
				})
			}
		case fd.IsList() && fd.Message() != nil:
			list := v.List()
			for i := 0; i < list.Len() && !found; i++ {
				found = hasUnknownFields(list.Get(i).Message())
			}
		case fd.Message() != nil:
			found = hasUnknownFields(v.Message())
		}
		return !found
	})
	return found
}

// checkpointBody parses the body of a signed checkpoint note the log wrote.
// The signature is not checked: the note comes from the log itself.
func rootBase64(root [32]byte) string { return base64.StdEncoding.EncodeToString(root[:]) }

// treeSize resolves a requested tree size: 0 means the current size, and a
// size beyond it is refused, naming the request field.
func treeSize(log *ledger.Log, field string, size uint64) (uint64, error) {
	cur := log.Size()
	if size == 0 {
		return cur, nil
	}
	if size > cur {
		return 0, status.Errorf(codes.InvalidArgument, "%s %d is beyond the current tree size %d", field, size, cur)
	}
	return size, nil
}
