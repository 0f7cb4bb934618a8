package server

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// Limits bound what one client can take of the server: connections,
// streams, time, heavy calls and submissions. They are one struct so that
// an operator sees them together; [Options.Limits] holds them. In every
// field, zero means the default given beside it (see [DefaultLimits]), and
// a negative value means no limit (for PermitPingsWithoutStream, which
// is a switch, false is the default).
//
// The limits apply to the public gRPC listener and, where they are about
// HTTP, to the public HTTP listener. REST calls reach the services through
// an in-process gRPC connection that is not bound by the per-connection
// limits (one connection carries every REST call); the call limits
// (heavy calls, bundle size, per-party rate) hold for them as for native
// gRPC calls.
type Limits struct {
	// MaxConcurrentStreams bounds the calls open at once on one gRPC
	// connection (grpc.MaxConcurrentStreams); a client that opens more
	// waits for one to end. Default 128: provbench's 64 stream clients
	// share one connection with room to spare, and 20 connections can
	// no longer hold 10,000 idle streams (issue 15).
	MaxConcurrentStreams int
	// MaxHeaderBytes bounds the request headers of a gRPC call
	// (grpc.MaxHeaderListSize) and of an HTTP request
	// (http.Server.MaxHeaderBytes). Default 64 KiB.
	MaxHeaderBytes int
	// HandshakeTimeout bounds the time a new gRPC connection has to
	// complete its TLS handshake and HTTP/2 preface
	// (grpc.ConnectionTimeout). Default 10 s.
	HandshakeTimeout time.Duration

	// PingMinInterval is the shortest interval between a client's
	// keepalive pings the server tolerates (keepalive.EnforcementPolicy
	// MinTime); a client pinging more often is disconnected with
	// ENHANCE_YOUR_CALM "too_many_pings". Default 20 s (gRPC's own is
	// 5 min; Go clients cannot ping more often than every 10 s).
	PingMinInterval time.Duration
	// PermitPingsWithoutStream lets clients ping a connection with no
	// call open (keepalive.EnforcementPolicy PermitWithoutStream). Off by
	// default: an idle connection is not kept, however often it pings.
	PermitPingsWithoutStream bool
	// MaxConnectionIdle closes a gRPC connection that has had no call
	// open for this long (keepalive.ServerParameters MaxConnectionIdle),
	// with a GOAWAY: clients reconnect when they next call. Default
	// 5 min. Issue 15 found 300 idle connections still held after 135 s.
	MaxConnectionIdle time.Duration
	// MaxConnectionAge sends a GOAWAY to a connection this old (with a
	// jitter of ±10 %), so that no connection, and no idle stream on
	// it, is held forever; MaxConnectionAgeGrace then lets its open
	// calls finish before the connection is closed. Defaults 1 h and
	// 5 min: a SubmitStream upload or a mirror's StreamEntries older
	// than that is cut off and resumes on a new connection (submission
	// is idempotent; a mirror restarts from its size).
	MaxConnectionAge      time.Duration
	MaxConnectionAgeGrace time.Duration
	// KeepaliveTime is how long a connection may be silent before the
	// server pings it, and KeepaliveTimeout how long it then waits for
	// the answer before closing it (keepalive.ServerParameters Time and
	// Timeout): they find dead peers. Defaults 2 min and 20 s.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration

	// HTTPReadHeaderTimeout, HTTPReadTimeout and HTTPIdleTimeout are
	// the public HTTP server's (http.Server's fields of those names):
	// reading a request's headers, reading a whole request, and keeping
	// an idle keep-alive connection. Defaults 10 s, 30 s and 60 s.
	HTTPReadHeaderTimeout time.Duration
	HTTPReadTimeout       time.Duration
	HTTPIdleTimeout       time.Duration

	// MaxHeavyCalls bounds the VerifyLot and GetBundle calls running at
	// once, together (REST included); a call that finds them all taken
	// waits up to HeavyCallWait, then fails with ResourceExhausted and a
	// google.rpc.RetryInfo. Defaults: half the CPUs (GOMAXPROCS), at
	// least 2, so appends keep half of a larger machine and a small one
	// never serializes its buyers behind one slow bundle; 2 s.
	MaxHeavyCalls int
	HeavyCallWait time.Duration
	// MaxBundleBytes bounds the encoded size of a bundle GetBundle
	// returns; a larger one is refused with FailedPrecondition saying its
	// size and the limit, and to fetch it in parts (StreamBundle, which
	// has no such limit). Default 4 MiB less 1 KiB, so that any gRPC
	// client with gRPC's default 4 MiB receive limit can take every
	// bundle served, rather than failing on its side with "received
	// message larger than max" (issue 15).
	MaxBundleBytes int

	// PartyRate and PartyBurst are a token bucket per signing party (the
	// party_id of the statement in a submitted envelope): PartyBurst
	// submissions at once, then PartyRate per second. A submission over
	// it waits for its token if that is due within PartyWait; if not, it
	// is held for PartyWait all the same and then refused with
	// ResourceExhausted and a google.rpc.RetryInfo (over REST, 429 with
	// Retry-After), so that a client retrying at once is slowed down
	// rather than answered as fast as it can ask. Defaults 100/s, 1,000
	// and 250 ms: at
	// about 1 % of the 6,000-15,000 records/s one server takes, a
	// hundred parties flooding at once are needed to fill it, while an
	// upload of a backlog of 1,000 records passes at full speed. The
	// registrar is not limited. A submission whose signature does not
	// verify (Unauthenticated) or that is malformed (InvalidArgument)
	// gets its token back, so a stranger naming someone else's party
	// cannot use up its bucket.
	PartyRate  float64
	PartyBurst int
	PartyWait  time.Duration
	// MaxPartyBuckets bounds the buckets kept; full buckets (of parties
	// idle for PartyBurst/PartyRate) are dropped first. Default 100,000.
	MaxPartyBuckets int
}

// Defaults of [Limits]; see the fields for why.
const (
	DefaultMaxConcurrentStreams  = 128
	DefaultMaxHeaderBytes        = 64 << 10
	DefaultHandshakeTimeout      = 10 * time.Second
	DefaultPingMinInterval       = 20 * time.Second
	DefaultMaxConnectionIdle     = 5 * time.Minute
	DefaultMaxConnectionAge      = time.Hour
	DefaultMaxConnectionAgeGrace = 5 * time.Minute
	DefaultKeepaliveTime         = 2 * time.Minute
	DefaultKeepaliveTimeout      = 20 * time.Second
	DefaultHTTPReadHeaderTimeout = 10 * time.Second
	DefaultHTTPReadTimeout       = 30 * time.Second
	DefaultHTTPIdleTimeout       = 60 * time.Second
	DefaultHeavyCallWait         = 2 * time.Second
	DefaultMaxBundleBytes        = 4<<20 - 1<<10
	DefaultPartyRate             = 100
	DefaultPartyBurst            = 1000
	DefaultPartyWait             = 250 * time.Millisecond
	DefaultMaxPartyBuckets       = 100_000
)

// DefaultMaxHeavyCalls is the default of Limits.MaxHeavyCalls on this
// machine: half of GOMAXPROCS, at least 2.
func DefaultMaxHeavyCalls() int { return max(2, runtime.GOMAXPROCS(0)/2) }

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

// withDefaults replaces zero fields with their defaults.
func (l Limits) withDefaults() Limits {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	defInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	defInt(&l.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	defInt(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	def(&l.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&l.PingMinInterval, DefaultPingMinInterval)
	def(&l.MaxConnectionIdle, DefaultMaxConnectionIdle)
	def(&l.MaxConnectionAge, DefaultMaxConnectionAge)
	def(&l.MaxConnectionAgeGrace, DefaultMaxConnectionAgeGrace)
	def(&l.KeepaliveTime, DefaultKeepaliveTime)
	def(&l.KeepaliveTimeout, DefaultKeepaliveTimeout)
	def(&l.HTTPReadHeaderTimeout, DefaultHTTPReadHeaderTimeout)
	def(&l.HTTPReadTimeout, DefaultHTTPReadTimeout)
	def(&l.HTTPIdleTimeout, DefaultHTTPIdleTimeout)
	defInt(&l.MaxHeavyCalls, DefaultMaxHeavyCalls())
	def(&l.HeavyCallWait, DefaultHeavyCallWait)
	defInt(&l.MaxBundleBytes, DefaultMaxBundleBytes)
	if l.PartyRate == 0 {
		l.PartyRate = DefaultPartyRate
	}
	defInt(&l.PartyBurst, DefaultPartyBurst)
	def(&l.PartyWait, DefaultPartyWait)
	defInt(&l.MaxPartyBuckets, DefaultMaxPartyBuckets)
	return l
}

// durOrInf returns d, or "no limit" (gRPC's infinity) for a negative d.
func durOrInf(d time.Duration) time.Duration {
	if d < 0 {
		return time.Duration(math.MaxInt64)
	}
	return d
}

// pingMin is the EnforcementPolicy MinTime for PingMinInterval d: gRPC
// reads 0 as its default (5 min), so no limit is the shortest duration.
func pingMin(d time.Duration) time.Duration {
	if d < 0 {
		return time.Nanosecond
	}
	return d
}

// durOrZero returns d, or 0 (net/http's "no limit") for a negative d.
func durOrZero(d time.Duration) time.Duration { return max(d, 0) }

// grpcOptions returns the server options that enforce l on the public
// gRPC listener.
func (l Limits) grpcOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             pingMin(l.PingMinInterval),
			PermitWithoutStream: l.PermitPingsWithoutStream,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     durOrInf(l.MaxConnectionIdle),
			MaxConnectionAge:      durOrInf(l.MaxConnectionAge),
			MaxConnectionAgeGrace: durOrInf(l.MaxConnectionAgeGrace),
			Time:                  durOrInf(l.KeepaliveTime),
			Timeout:               durOrInf(l.KeepaliveTimeout),
		}),
		grpc.ConnectionTimeout(durOrInf(l.HandshakeTimeout)),
		// An idle connection keeps no write buffer: with thousands of
		// connections open, most of them idle, that is most of their
		// memory.
		grpc.SharedWriteBuffer(true),
	}
	if l.MaxConcurrentStreams > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(uint32(l.MaxConcurrentStreams)))
	}
	if l.MaxHeaderBytes > 0 {
		opts = append(opts, grpc.MaxHeaderListSize(uint32(l.MaxHeaderBytes)))
	}
	return opts
}

// retryStatus returns a ResourceExhausted status with msg and a
// google.rpc.RetryInfo asking the client to wait after.
func retryStatus(after time.Duration, format string, args ...any) error {
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(format, args...))
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(after)}); err == nil {
		st = d
	}
	return st.Err()
}

// RetryAfter returns the delay a status error's google.rpc.RetryInfo
// asks for, and whether it has one.
func RetryAfter(err error) (time.Duration, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return 0, false
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

// heavy is the semaphore of Limits.MaxHeavyCalls, nil for no limit.
type heavy struct {
	slots chan struct{}
	wait  time.Duration
}

func newHeavy(l Limits) *heavy {
	if l.MaxHeavyCalls < 0 {
		return nil
	}
	return &heavy{slots: make(chan struct{}, l.MaxHeavyCalls), wait: max(l.HeavyCallWait, 0)}
}

// acquire takes a slot, waiting up to h.wait, and returns its release.
func (h *heavy) acquire(ctx context.Context, method string) (func(), error) {
	if h == nil {
		return func() {}, nil
	}
	release := func() { <-h.slots }
	select {
	case h.slots <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	case <-t.C:
		return nil, retryStatus(max(h.wait, time.Second), "server busy: %d verifications and bundle builds are running (%s); retry later", cap(h.slots), methodShort(method))
	}
}

// methodShort is the method name of a full gRPC method.
func methodShort(full string) string {
	for i := len(full) - 1; i >= 0; i-- {
		if full[i] == '/' {
			return full[i+1:]
		}
	}
	return full
}

// limitUnary enforces the call limits of unary methods: the heavy-call
// semaphore for VerifyLot and GetBundle, and MaxBundleBytes on GetBundle's
// answer.
func (s *Server) limitUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	switch info.FullMethod {
	case apipb.VerifierService_VerifyLot_FullMethodName, apipb.VerifierService_GetBundle_FullMethodName:
	default:
		return handler(ctx, req)
	}
	release, err := s.heavy.acquire(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	defer release()
	resp, err := handler(ctx, req)
	if err != nil || info.FullMethod != apipb.VerifierService_GetBundle_FullMethodName || s.limits.MaxBundleBytes < 0 {
		return resp, err
	}
	b, ok := resp.(*apipb.GetBundleResponse)
	if !ok {
		return resp, err
	}
	if n := proto.Size(b); n > s.limits.MaxBundleBytes {
		// FailedPrecondition (400), not ResourceExhausted (429): asking
		// again will not help, asking for the parts will.
		return nil, status.Errorf(codes.FailedPrecondition, "the bundle of lot %q is %d bytes (%.1f MiB), more than this server's limit of %d bytes (%.1f MiB); fetch it in parts with StreamBundle (provctl and client.Bundle do; REST: /v1/lots/%s/bundle/parts); the operator sets the limit with --max-bundle-bytes",
			req.(*apipb.GetBundleRequest).GetLotId(), n, float64(n)/(1<<20), s.limits.MaxBundleBytes, float64(s.limits.MaxBundleBytes)/(1<<20), req.(*apipb.GetBundleRequest).GetLotId())
	}
	return resp, nil
}

// limitStream bounds StreamBundle with the heavy calls: building a bundle
// costs the same whatever way it is sent (the parts have no size limit
// but client.MaxBundleBytes on the other side).
func (s *Server) limitStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod != apipb.VerifierService_StreamBundle_FullMethodName {
		return handler(srv, ss)
	}
	release, err := s.heavy.acquire(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	defer release()
	return handler(srv, ss)
}

// partyLimiter is the token bucket per signing party of Limits.PartyRate
// and PartyBurst. It keeps at most max buckets: a bucket that has filled
// up again is the same as none, so sweeps drop those; past max, arbitrary
// buckets go (their parties get a fresh burst), so memory stays bounded
// whatever party ids submissions name.
type partyLimiter struct {
	rate, burst float64
	wait        time.Duration
	max         int
	now         func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// sweepEvery is how often idle buckets are dropped, at most.
const sweepEvery = time.Minute

func newPartyLimiter(l Limits) *partyLimiter {
	if l.PartyRate < 0 || l.PartyBurst < 0 {
		return nil
	}
	return &partyLimiter{rate: l.PartyRate, burst: float64(max(l.PartyBurst, 1)), wait: max(l.PartyWait, 0), max: max(l.MaxPartyBuckets, 1), now: time.Now,
		buckets: make(map[string]*bucket)}
}

// refill adds the tokens earned since b.last.
func (p *partyLimiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(p.burst, b.tokens+el*p.rate)
	}
	b.last = now
}

// take takes a token of party's bucket. When there is none, it reserves
// the next one if that is due within p.wait, and returns true and the time
// to wait for it; otherwise it returns false and the time until a token is
// due.
func (p *partyLimiter) take(party string) (bool, time.Duration) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.lastSweep) > sweepEvery {
		p.sweep(now, false)
	}
	b := p.buckets[party]
	if b == nil {
		if len(p.buckets) >= p.max {
			p.sweep(now, true)
		}
		b = &bucket{tokens: p.burst, last: now}
		p.buckets[party] = b
	} else {
		p.refill(b, now)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := max(time.Duration((1-b.tokens)/p.rate*float64(time.Second)), time.Millisecond)
	if wait <= p.wait {
		b.tokens-- // reserved: the bucket owes it
		return true, wait
	}
	return false, wait
}

// giveBack returns a token taken for party.
func (p *partyLimiter) giveBack(party string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.buckets[party]; b != nil {
		b.tokens = min(p.burst, b.tokens+1)
	}
}

// sweep drops full buckets and, if full is set and that was not enough,
// arbitrary ones until a tenth of max is free. p.mu is held.
func (p *partyLimiter) sweep(now time.Time, full bool) {
	p.lastSweep = now
	for k, b := range p.buckets {
		p.refill(b, now)
		if b.tokens >= p.burst {
			delete(p.buckets, k)
		}
	}
	if !full {
		return
	}
	for k := range p.buckets {
		if len(p.buckets) < p.max-p.max/10 {
			break
		}
		delete(p.buckets, k)
	}
}

// len is the number of buckets kept.
func (p *partyLimiter) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buckets)
}

// statementParty returns the party_id of the statement an envelope
// carries, read from the payload's wire bytes without decoding the rest
// (the store decodes and checks it all), or "" when the payload is not a
// statement one can read a party from.
func statementParty(env *pb.Envelope) string {
	if env.GetPayloadType() != record.StatementPayloadType {
		return ""
	}
	b := env.GetPayload()
	party := ""
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ""
			}
			party = string(v) // the last one counts, as when decoding
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		b = b[n:]
	}
	return party
}

// admitSubmission applies the per-party rate to env, waiting for a token
// due within Limits.PartyWait. It returns a ResourceExhausted status with
// a RetryInfo, after holding the call for PartyWait, when the party's next
// token is further off, or else a function to call with the submission's
// outcome: a submission refused as Unauthenticated or InvalidArgument,
// which proves nothing about who sent it, gets its token back.
func (s *Server) admitSubmission(ctx context.Context, env *pb.Envelope) (func(error), error) {
	if s.parties == nil {
		return func(error) {}, nil
	}
	party := statementParty(env)
	if party == "" || party == record.RegistrarPartyID {
		return func(error) {}, nil
	}
	ok, wait := s.parties.take(party)
	hold := wait
	if !ok {
		hold = s.parties.wait
	}
	if hold > 0 {
		t := time.NewTimer(hold)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			if ok {
				s.parties.giveBack(party)
			}
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if !ok {
		after := max(wait-hold, time.Millisecond)
		return nil, retryStatus(after, "party %q is submitting faster than this server's limit of %g records/s (burst %d); retry after %s",
			party, s.parties.rate, int(s.parties.burst), after.Round(time.Millisecond))
	}
	return func(err error) {
		if err == nil {
			return
		}
		code := status.Code(err)
		if _, ok := err.(interface{ GRPCStatus() *status.Status }); !ok {
			code, _ = codeOf(err)
		}
		if code == codes.Unauthenticated || code == codes.InvalidArgument {
			s.parties.giveBack(party)
		}
	}, nil
}
