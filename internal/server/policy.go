package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/scope"
	"github.com/antimony-ledger/provenance/ledger"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// The read policy: who may call what, and what they get. It is enforced
// here and nowhere else, by the interceptors below, which run for every
// gRPC call and, through the in-process gateway connection, every REST
// call. README.md ("Who may read what") has it as a table.
//
//   - Anyone, anonymous too: checkpoints with their cosignatures,
//     inclusion and consistency proofs, and log entries reduced to what a
//     witness or monitor needs: index, record id, integration time and the
//     map root the leaf commits ("redacted").
//   - A party: its own records; every lot it holds, held, was sent, or
//     was named to assay, and every lot those came from (their whole
//     ancestry); the flags of those
//     lots; its own entry in the party list in full and the others' names,
//     roles and countries. A buyer is a party like any other: a lot
//     dispatched to it is one it was sent.
//   - An auditor (ROLE_AUDITOR) and the operator (a token signed with the
//     log key): everything.
//   - The registrar: what a party may, and the registry's records.
//
// A caller without credentials asking for more gets Unauthenticated (401);
// a party asking for what it may not read gets PermissionDenied (403),
// whether or not the thing exists, and the message names only what was
// asked for.
type access int

const (
	// anyone may call; entries are redacted unless the caller may read
	// their record.
	anyone access = iota + 1
	// member calls need a registered party's credentials; the resource
	// check decides.
	member
)

// methodAccess lists every method the public listener serves. A method not
// listed is refused: a new RPC is closed until it is given a line here.
var methodAccess = map[string]access{
	apipb.LedgerService_GetCheckpoint_FullMethodName:       anyone,
	apipb.LedgerService_GetInclusionProof_FullMethodName:   anyone,
	apipb.LedgerService_GetConsistencyProof_FullMethodName: anyone,
	apipb.LedgerService_GetEntry_FullMethodName:            anyone,
	apipb.LedgerService_GetRecord_FullMethodName:           anyone,
	apipb.LedgerService_StreamEntries_FullMethodName:       anyone,
	"/grpc.health.v1.Health/Check":                         anyone,
	"/grpc.health.v1.Health/Watch":                         anyone,
	"/grpc.health.v1.Health/List":                          anyone,

	apipb.LedgerService_Submit_FullMethodName:         member,
	apipb.LedgerService_SubmitStream_FullMethodName:   member,
	apipb.CustodyService_GetLot_FullMethodName:        member,
	apipb.CustodyService_GetParty_FullMethodName:      member,
	apipb.CustodyService_ListParties_FullMethodName:   member,
	apipb.CustodyService_ListPartyLots_FullMethodName: member,
	apipb.VerifierService_VerifyLot_FullMethodName:    member,
	apipb.VerifierService_ListLots_FullMethodName:     member,
	apipb.VerifierService_ListFlags_FullMethodName:    member,
	apipb.VerifierService_GetBundle_FullMethodName:    member,
	apipb.VerifierService_StreamBundle_FullMethodName: member,
}

// policy decides, for one store, what a caller may read.
type policy struct {
	store *custody.Store
	auth  *authenticator

	mu      sync.Mutex
	mayRead map[string]bool // party "\x00" lot, for lots found readable
	// refused remembers, for refusedFor, a walk that found a lot
	// unreadable, so repeating a refused read costs little more.
	refused map[string]readRefusal

	visits atomic.Int64 // lots the walks visited, for tests

	// lotsOf holds partyLots' answers, lotsHeld the lot ids they hold.
	lotsOf   map[string]partyLots
	lotsHeld int
}

// maxAncestryWalk bounds the lots one read check visits: a lot with more
// descendants than this is read by its holders and auditors only.
const maxAncestryWalk = 20000

const maxReadCache = 1 << 16

// refusedFor is how long a refused read is remembered.
const refusedFor = 10 * time.Second

// A readRefusal is a walk that found a lot unreadable, with the log size it
// read: only a later record that involves the party (signed by it, sent
// to it, naming it as a lab) can change the answer, so while none has
// come the refusal stands.
type readRefusal struct {
	until time.Time
	size  uint64
}

// maxRefusalScan bounds the records appended since a refusal that are
// read to see whether it still stands; past it the walk is made again.
const maxRefusalScan = 1024

// stands reports whether a refusal of a read by party, made at log size
// r.size, still stands, reading the records appended since; it returns
// the size it read up to.
func (p *policy) stands(ctx context.Context, party string, r readRefusal) (bool, uint64) {
	size := p.store.Log().Size()
	if size == r.size {
		return true, size
	}
	if size-r.size > maxRefusalScan {
		return false, size
	}
	for e, err := range p.store.Log().Range(ctx, r.size, size) {
		if err != nil {
			return false, size
		}
		if _, st, err := custody.DecodeEntry(e); err == nil && involves(st, party) {
			return false, size
		}
	}
	return true, size
}

// involves reports whether a record can make something readable to party:
// it signed it, it is sent a lot by it, or it is named by it to assay one.
func involves(st *pb.Statement, party string) bool {
	return st.GetPartyId() == party || st.GetDispatch().GetToPartyId() == party || slices.Contains(st.GetLabNomination().GetLabPartyIds(), party)
}

// maxWalkRecords bounds the history records one read check decodes (about
// 14 µs each here): a lot made into more than this is read by its holders
// and auditors only.
const maxWalkRecords = 50000

// admit authenticates the call and checks the method's access; it returns
// the caller.
func (p *policy) admit(ctx context.Context, method string) (caller, error) {
	c, err := p.auth.authenticate(ctx)
	if err != nil {
		return c, err
	}
	switch methodAccess[method] {
	case anyone:
	case member:
		if c.anonymous() {
			return c, status.Errorf(codes.Unauthenticated, "authentication: %s needs a party's credentials: a token signed with its registered key (provctl: --key and --party, or PROVCTL_KEY and PROVCTL_PARTY; curl: -H \"Authorization: Bearer $(provctl token --key K --party P)\")", method)
		}
	default:
		return c, status.Errorf(codes.PermissionDenied, "%s is not served here", method)
	}
	return c, nil
}

// unary is the policy interceptor for unary calls: admit, check the
// request's resource, call, and reduce the answer to what the caller may
// read.
func (p *policy) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c, err := p.admit(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if err := p.check(ctx, c, req); err != nil {
		return nil, err
	}
	ctx, err = p.scope(ctx, c, req)
	if err != nil {
		return nil, err
	}
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := p.filter(ctx, c, resp); err != nil {
		return nil, err
	}
	if !c.readsAll() {
		return p.fill(ctx, c, req, resp, handler)
	}
	return resp, nil
}

// maxScopedLots bounds the lots, a party's and their ancestry, that scope
// gathers for one listing page; a party with more is answered from a scan
// of every lot, reduced by filter and fill.
var maxScopedLots = 20000 // a variable for tests

// maxScopedFlagLots bounds the lots a scoped flag listing reads: each of
// its pages reads the summaries of all of them for their flags' keys
// (15,000 lots: 58 ms a page, where a scan read a page in 2 ms for a
// party with most of the log's lots; BenchmarkPartyListing).
const maxScopedFlagLots = 2000

// scoped counts the listings scope limited, and noScope turns scope off:
// for tests, which compare the listings with and without it.
var (
	scoped   atomic.Int64
	gathered atomic.Int64 // and how many times partyLots gathered them
	noScope  atomic.Bool
)

// scope limits a party's listing of lots or flags to the lots it may read
// (package scope), gathered from the custody store's index of the lots
// it held or was sent and their ancestry, so that the listing reads the
// party's lots rather than every lot in the log. It leaves the context as
// it is for a caller that reads everything, the registrar, a lab (which
// also reads the lots it was named to assay, which that index does not
// hold), other requests, and a party with more than maxScopedLots. What
// the listing answers is still reduced by filter: the scope only chooses
// what is read.
func (p *policy) scope(ctx context.Context, c caller, req any) (context.Context, error) {
	switch req.(type) {
	case *apipb.ListLotsRequest, *apipb.ListFlagsRequest:
	default:
		return ctx, nil
	}
	if c.readsAll() || c.registrar || c.anonymous() || noScope.Load() {
		return ctx, nil
	}
	party, err := p.store.Party(c.party)
	if err != nil {
		return ctx, readErr(err)
	}
	if slices.Contains(party.GetRegistration().GetRoles(), pb.Role_ROLE_LAB) {
		return ctx, nil
	}
	lots, err := p.partyLots(ctx, c.party)
	if errors.Is(err, custody.ErrTooManyLots) {
		return ctx, nil
	} else if err != nil {
		return ctx, readErr(err)
	}
	if _, ok := req.(*apipb.ListFlagsRequest); ok && len(lots) > maxScopedFlagLots {
		return ctx, nil
	}
	scoped.Add(1)
	return scope.WithLots(ctx, lots), nil
}

// partyLots returns the lots a party held or was sent and their ancestry
// (custody's LotsAndAncestry), remembered from one listing page to the
// next: only a record that involves the party adds to them, so they are
// gathered again only when one was appended since, or when more records
// were appended than are worth reading to tell.
func (p *policy) partyLots(ctx context.Context, party string) ([]string, error) {
	p.mu.Lock()
	known, ok := p.lotsOf[party]
	p.mu.Unlock()
	if ok && known.tooMany {
		return nil, custody.ErrTooManyLots // they only grow
	}
	if ok {
		if ok, size := p.stands(ctx, party, readRefusal{size: known.size}); ok {
			p.mu.Lock()
			if cur, ok := p.lotsOf[party]; ok && cur.size < size {
				p.lotsOf[party] = partyLots{lots: known.lots, size: size}
			}
			p.mu.Unlock()
			return known.lots, nil
		}
	}
	size := p.store.Log().Size() // before reading: what it reads is at least this
	gathered.Add(1)
	lots, err := p.store.LotsAndAncestry(ctx, party, maxScopedLots)
	tooMany := errors.Is(err, custody.ErrTooManyLots)
	if err != nil && !tooMany {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lotsOf == nil || p.lotsHeld+len(lots) > maxScopedHeld {
		p.lotsOf, p.lotsHeld = map[string]partyLots{}, 0
	}
	p.lotsHeld += len(lots) - len(p.lotsOf[party].lots)
	p.lotsOf[party] = partyLots{lots: lots, size: size, tooMany: tooMany}
	return lots, err
}

// partyLots is what partyLots gathered for a party, at a log size, or
// that there were more than maxScopedLots.
type partyLots struct {
	lots    []string
	size    uint64
	tooMany bool
}

// maxScopedHeld bounds the lot ids the policy keeps for partyLots, over
// all parties; past it, it starts over.
const maxScopedHeld = 200000

// Bounds on the pages fill reads for one answer.
const (
	fillPages = 50
	fillTime  = time.Second
)

// fill answers a listing page that the caller's reading left empty, with
// more to come, with the next page that is not, reading on from the page's
// token (up to fillPages pages or fillTime), so that a party with a few
// lots in a large log is not sent page after empty page (a new user's
// trial: 29,720 requests at a page size of 1 for 7 lots). Each page
// answered is still one the listing's tokens lead to, and a page may
// still be empty, with a token to go on, once the bounds are reached.
func (p *policy) fill(ctx context.Context, c caller, req, resp any, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	for range fillPages {
		var next any
		switch r := resp.(type) {
		case *apipb.ListLotsResponse:
			if len(r.GetLots()) > 0 || r.GetNextPageToken() == "" {
				return resp, nil
			}
			q := proto.Clone(req.(*apipb.ListLotsRequest)).(*apipb.ListLotsRequest)
			q.PageToken = r.GetNextPageToken()
			next = q
		case *apipb.ListFlagsResponse:
			if len(r.GetFlags()) > 0 || r.GetNextPageToken() == "" {
				return resp, nil
			}
			q := proto.Clone(req.(*apipb.ListFlagsRequest)).(*apipb.ListFlagsRequest)
			q.PageToken = r.GetNextPageToken()
			next = q
		default:
			return resp, nil
		}
		if time.Since(start) >= fillTime || ctx.Err() != nil {
			return resp, nil
		}
		more, err := handler(ctx, next)
		if err != nil {
			return nil, err
		}
		if err := p.filter(ctx, c, more); err != nil {
			return nil, err
		}
		resp = more
	}
	return resp, nil
}

// stream is the policy interceptor for streams; StreamEntries' entries are
// reduced one by one as they are sent.
func (p *policy) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	c, err := p.admit(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &policyStream{ServerStream: ss, ctx: ss.Context(), c: c, p: p, lots: map[string]bool{}})
}

type policyStream struct {
	grpc.ServerStream
	ctx  context.Context
	c    caller
	p    *policy
	lots map[string]bool // this stream's answers of mayReadLot
}

func (s *policyStream) Context() context.Context { return s.ctx }

// RecvMsg checks the resource each received request names, as check does
// for a unary call (a server stream's one request, StreamBundle's lot).
func (s *policyStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.p.check(s.ctx, s.c, m)
}

func (s *policyStream) SendMsg(m any) error {
	if err := s.reduce(m); err != nil {
		return err
	}
	return s.ServerStream.SendMsg(m)
}

// reduce reduces a streamed answer to what the caller may read.
func (s *policyStream) reduce(m any) error {
	switch r := m.(type) {
	case *apipb.StreamEntriesResponse:
		return s.p.reduceEntry(s.ctx, s.c, r.GetEntry(), s.lots)
	case *apipb.SubmitStreamResponse, *healthpb.HealthCheckResponse:
		return nil // the answers to the caller's own submissions; health
	case *apipb.StreamBundleResponse:
		return nil // of a lot check let the caller read
	}
	if s.c.readsAll() {
		return nil
	}
	return errNoRule(m)
}

// errNoRule refuses a request or an answer of a type the policy has no
// rule for: a new RPC stays closed (but to auditors) until check, filter
// or policyStream.SendMsg is given a case for it.
func errNoRule(m any) error {
	return status.Errorf(codes.PermissionDenied, "the read policy has no rule for %T", m)
}

// denied is the PermissionDenied error for a resource.
func denied(c caller, what string) error {
	return status.Errorf(codes.PermissionDenied, "%s may not read %s", c, what)
}

// check checks the resource a request names.
func (p *policy) check(ctx context.Context, c caller, req any) error {
	if c.readsAll() {
		return nil
	}
	lot := ""
	switch r := req.(type) {
	case *apipb.GetLotRequest:
		lot = r.GetLotId()
	case *apipb.VerifyLotRequest:
		lot = r.GetLotId()
	case *apipb.GetBundleRequest:
		lot = r.GetLotId()
	case *apipb.StreamBundleRequest:
		lot = r.GetLotId()
	case *apipb.ListFlagsRequest:
		lot = r.GetLotId()
		if lot == "" {
			return nil // the answer is reduced to the caller's lots
		}
	case *apipb.ListPartyLotsRequest:
		if r.GetPartyId() != c.party {
			if err := requireID("party_id", r.GetPartyId()); err != nil {
				return err
			}
			return denied(c, "the lots of party "+quote(r.GetPartyId()))
		}
		return nil
	case *apipb.GetCheckpointRequest, *apipb.GetInclusionProofRequest, *apipb.GetConsistencyProofRequest,
		*apipb.GetEntryRequest, *apipb.GetRecordRequest, *apipb.SubmitRequest,
		*apipb.StreamEntriesRequest, *apipb.SubmitStreamRequest,
		*apipb.GetPartyRequest, *apipb.ListPartiesRequest, *apipb.ListLotsRequest, *healthpb.HealthCheckRequest, *healthpb.HealthListRequest:
		return nil // public, the caller's own submission, or reduced by filter
	default:
		return errNoRule(req)
	}
	if err := requireID("lot_id", lot); err != nil {
		return err
	}
	ok, err := p.mayReadLot(ctx, c.party, lot, map[string]bool{})
	if err != nil {
		return err
	}
	if !ok {
		return denied(c, "lot "+quote(lot))
	}
	return nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// filter reduces an answer to what the caller may read.
func (p *policy) filter(ctx context.Context, c caller, resp any) error {
	if c.readsAll() {
		return nil
	}
	switch r := resp.(type) {
	case *apipb.GetEntryResponse:
		return p.reduceEntry(ctx, c, r.GetEntry(), map[string]bool{})
	case *apipb.GetRecordResponse:
		return p.reduceEntry(ctx, c, r.GetEntry(), map[string]bool{})
	case *apipb.GetPartyResponse:
		r.Party = directoryEntry(c, r.GetParty())
	case *apipb.ListPartiesResponse:
		for i, party := range r.GetParties() {
			r.Parties[i] = directoryEntry(c, party)
		}
	case *apipb.ListLotsResponse:
		// A page of lots the caller may read: it may be short, even
		// empty, and still have a next page.
		memo := map[string]bool{}
		var kept []*apipb.LotSummary
		for _, l := range r.GetLots() {
			ok, err := p.mayReadLot(ctx, c.party, l.GetLot().GetLotId(), memo)
			if err != nil {
				return err
			}
			if ok {
				kept = append(kept, l)
			}
		}
		r.Lots = kept
	case *apipb.ListFlagsResponse:
		lots := map[string]bool{}
		var kept []*pb.Flag
		for _, f := range r.GetFlags() {
			ok, err := p.mayReadLot(ctx, c.party, f.GetLotId(), lots)
			if err != nil {
				return err
			}
			if ok {
				kept = append(kept, f)
			}
		}
		r.Flags = kept
	case *apipb.GetCheckpointResponse, *apipb.GetInclusionProofResponse, *apipb.GetConsistencyProofResponse,
		*apipb.SubmitResponse, *healthpb.HealthCheckResponse, *healthpb.HealthListResponse:
		// Public, or the answer to the caller's own submission.
	case *apipb.GetLotResponse, *apipb.VerifyLotResponse, *apipb.GetBundleResponse, *apipb.ListPartyLotsResponse:
		// Of a lot or party check let the caller read.
	default:
		return errNoRule(resp)
	}
	return nil
}

// directoryEntry is what c sees of a party: all of it for the party
// itself and the registrar; else its id, name, roles and country, enough
// to address a dispatch, without its site, licence, mine profile or keys.
func directoryEntry(c caller, p *pb.Party) *pb.Party {
	reg := p.GetRegistration()
	if c.registrar || reg.GetPartyId() == c.party {
		return p
	}
	return &pb.Party{Registration: &pb.PartyRegistration{
		PartyId: reg.GetPartyId(), Name: reg.GetName(), Roles: reg.GetRoles(), Country: reg.GetCountry(),
	}}
}

// reduceEntry redacts e unless c may read its record: what remains is
// what a monitor needs (index, record id, integration time, map root).
// lots memoises mayReadLot for one answer.
func (p *policy) reduceEntry(ctx context.Context, c caller, e *apipb.LogEntry, lots map[string]bool) error {
	if e == nil || c.readsAll() {
		return nil
	}
	ok, err := p.mayReadRecord(ctx, c, e.GetStatement(), lots)
	if err != nil {
		return err
	}
	if !ok {
		e.Data, e.Envelope, e.Statement, e.Extra = nil, nil, nil, nil
	}
	return nil
}

// mayReadRecord reports whether c may read a record with statement st:
// its own, a registry record about it (or, for the registrar, any), the
// registrar's rotations, or a record of a lot it may read.
func (p *policy) mayReadRecord(ctx context.Context, c caller, st *pb.Statement, lots map[string]bool) (bool, error) {
	if st == nil || c.anonymous() {
		return false, nil
	}
	if involves(st, c.party) {
		return true, nil // its own, sent to it, or naming it a lab
	}
	switch b := st.GetBody().(type) {
	case *pb.Statement_PartyRegistration:
		return c.registrar || b.PartyRegistration.GetPartyId() == c.party, nil
	case *pb.Statement_KeyRotation:
		return c.registrar || b.KeyRotation.GetPartyId() == c.party, nil
	case *pb.Statement_KeyRevocation:
		return c.registrar || b.KeyRevocation.GetPartyId() == c.party, nil
	case *pb.Statement_RegistrarRotation:
		return true, nil // every bundle carries them
	}
	for _, lot := range custody.StatementLots(st) {
		ok, err := p.mayReadLot(ctx, c.party, lot, lots)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// mayReadLot reports whether party may read lot: whether it held the lot
// or was sent it, signed a record of it, was named by its holder to assay
// it, or did any of these for a lot
// made from it, at any remove (package custody's party-lot index and lot
// histories, walking from lot to the lots transformations made from it).
// A yes is remembered: what a party may read only grows with the log.
// memo holds the answers already found for party in one answer (a call
// or a stream), the lots found unreadable included: a walk that finds
// nothing has shown every lot it visited unreadable too, so that deciding
// each entry of a long chain does not walk the rest of the chain again.
func (p *policy) mayReadLot(ctx context.Context, party, lot string, memo map[string]bool) (bool, error) {
	if party == "" {
		return false, nil
	}
	if ok, known := memo[lot]; known {
		return ok, nil
	}
	key := party + "\x00" + lot
	now := time.Now()
	p.mu.Lock()
	ok := p.mayRead[key]
	r, refused := p.refused[key]
	p.mu.Unlock()
	if ok {
		memo[lot] = true
		return true, nil
	}
	if refused && now.Before(r.until) {
		if ok, size := p.stands(ctx, party, r); ok {
			p.mu.Lock()
			r.size = size
			p.refused[key] = r
			p.mu.Unlock()
			memo[lot] = false
			return false, nil
		}
	}
	size := p.store.Log().Size() // before the walk: what it reads is at least this
	ok, err := p.walk(ctx, party, lot, memo)
	if err != nil {
		return false, err
	}
	memo[lot] = ok
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ok {
		if p.refused == nil || len(p.refused) >= maxReadCache {
			p.refused = map[string]readRefusal{}
		}
		p.refused[key] = readRefusal{until: now.Add(refusedFor), size: size}
		return false, nil
	}
	if len(p.mayRead) >= maxReadCache {
		clear(p.mayRead)
	}
	p.mayRead[key] = true
	delete(p.refused, key)
	return true, nil
}

// walk searches from lot through the lots made from it for one party may
// read (see mayReadLot), skipping those memo knows. If it finds none, and
// was not cut short, it adds every lot it visited to memo as unreadable.
func (p *policy) walk(ctx context.Context, party, lot string, memo map[string]bool) (bool, error) {
	seen := map[string]bool{lot: true}
	queue := []string{lot}
	records := 0
	for len(queue) > 0 {
		if len(seen) > maxAncestryWalk || records > maxWalkRecords {
			return false, nil
		}
		l := queue[0]
		queue = queue[1:]
		if ok, known := memo[l]; known && l != lot {
			if ok {
				return true, nil // made into a lot the party may read
			}
			continue // nothing made from it is the party's either
		}
		p.visits.Add(1)
		had, err := p.store.HadLot(party, l)
		if err != nil {
			return false, readErr(err)
		}
		if had {
			return true, nil
		}
		_, hist, err := p.store.Lot(ctx, l)
		if errors.Is(err, record.ErrNotFound) {
			continue
		} else if err != nil {
			return false, readErr(err)
		}
		records += len(hist)
		for _, e := range hist {
			_, st, err := custody.DecodeEntry(e)
			if err != nil {
				continue
			}
			if involves(st, party) {
				return true, nil // its own record, sent to it, or a lab named to assay it
			}
			t := st.GetTransformation()
			if t == nil || !slices.ContainsFunc(t.GetInputs(), func(in *pb.TransformationInput) bool { return in.GetLotId() == l }) {
				continue
			}
			for _, out := range t.GetOutputs() {
				if !seen[out.GetLotId()] {
					seen[out.GetLotId()] = true
					queue = append(queue, out.GetLotId())
				}
			}
		}
	}
	for l := range seen {
		memo[l] = false
	}
	return false, nil
}

// readErr is the error of a policy read that failed: the caller learns
// only that it could not be decided.
func readErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	if st := damageStatus(err, "access cannot be decided"); st != nil {
		return st
	}
	return status.Error(codes.Unavailable, "cannot decide access now; try again")
}

// damageStatus is the DataLoss a client is told when err is the ledger's
// damage (a read the store could not serve: ledger.ErrDataLoss), which no
// retry mends, with what it stopped; nil for any other error.
func damageStatus(err error, stopped string) error {
	if !errors.Is(err, ledger.ErrDataLoss) {
		return nil
	}
	what := ledger.Damaged(err)
	if what == "" {
		what = "a read"
	}
	return status.Errorf(codes.DataLoss, "the ledger's stored data is damaged (%s): %s; the operator has been told to audit the store", what, stopped)
}
