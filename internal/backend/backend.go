// Package backend is the server side of verification: it builds lots'
// bundles from the custody store ([BuildBundle]), verifies lots with the
// same code a buyer runs ([verifier.Verify]), and keeps the flags of every
// lot current as records arrive ([Backend]). It is apart from package
// verifier so that a buyer's verifier links no store.
package backend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/witness"
	"github.com/antimony-ledger/provenance/ledger"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// A Backend is the server side of verification: it verifies lots for
// auditors, builds bundles for buyers, and keeps the flags of every lot
// current as records arrive, so listing flags re-verifies only the lots
// that changed since the last listing.
//
// It follows the log: each new record marks the lots it names, and every
// lot made from them, as stale. Stale lots are re-verified in the
// background, on one core for a bounded time per pass (longer while
// nothing is appended), and by [Backend.ListFlags] before it answers, on
// all cores but one, for up to [DefaultListBudget]: past that, the
// listing answers with what is current and counts what is not. The
// background passes wait while the log is growing fast (more than
// [busyAppends] records between two passes), so that following the log
// never competes with appends for the CPU; a listing then does the
// outstanding work itself.
//
// A lot's bundle carries the extractions of its mines and country in the
// capacity window (up to [Config.MaxNationalRecords]), so after a bulk
// load of many lots from one country each re-verification is large, and
// catching up can take minutes.
type Backend struct {
	store  *custody.Store
	trust  verifier.Trust
	cfg    verifier.Config
	logger *slog.Logger

	// refresh serialises catching up with the log; mu guards the maps.
	refresh  sync.Mutex
	mu       sync.Mutex
	next     uint64              // next log index to read
	stale    map[string]bool     // lots whose flags are out of date
	children map[string][]string // lot -> lots transformed from it
	flags    map[string][]*pb.Flag

	cache  *verifier.Cache // shared by the verifications of lots
	proofs *proofCache     // shared by the bundles of lots

	// witness, if set, gives bundles their witnesses' cosignatures,
	// waiting up to witnessWait for them.
	witness     *witness.Publisher
	witnessWait time.Duration

	// listBudget bounds the time a listing spends bringing stale lots up
	// to date; 0: no bound.
	listBudget time.Duration

	cancel context.CancelFunc
	done   chan struct{}
}

// RuleInvalid is the rule of the flag the backend lists for a lot whose
// verification fails (verdict INVALID).
const RuleInvalid = "INVALID"

// DefaultListBudget bounds the time [Backend.ListFlags] spends verifying
// stale lots before it answers, well within a client's usual deadline.
const DefaultListBudget = 10 * time.Second

// backgroundBudget bounds the time one background pass spends verifying
// lots (passes run every 2 s) while records are being appended, so the
// follower then takes at most about a tenth of a core however large the
// log, or its bundles, grow.
const backgroundBudget = 200 * time.Millisecond

// idleBudget bounds a background pass when nothing was appended since
// the one before: catching up then holds no append up, so after a bulk
// load an idle server brings its flags up to date using half a core.
const idleBudget = time.Second

// passBudget is the time a background pass may spend, given how many
// records were appended since the one before; 0: skip this pass.
func passBudget(grown uint64) time.Duration {
	switch {
	case grown > busyAppends:
		return 0
	case grown == 0:
		return idleBudget
	}
	return backgroundBudget
}

// busyAppends is the growth of the log between two background passes
// (2 s apart) above which the follower leaves its work for later: a few
// hundred records a second is far more than any custody workflow writes by
// hand, and well below what a load test or a bulk import sends.
const busyAppends = 1000

// NewBackend returns a backend for store and starts following the log.
// Close stops it.
func New(store *custody.Store, trust verifier.Trust, cfg verifier.Config) *Backend {
	b, ctx := newBackend(store, trust, cfg)
	go b.follow(ctx)
	return b
}

// newBackend returns a backend that does not follow the log yet.
func newBackend(store *custody.Store, trust verifier.Trust, cfg verifier.Config) (*Backend, context.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	return &Backend{
		store: store, trust: trust, cfg: cfg, logger: slog.Default(),
		stale: map[string]bool{}, children: map[string][]string{}, flags: map[string][]*pb.Flag{},
		cache: verifier.NewCache(), proofs: newProofCache(), listBudget: DefaultListBudget, cancel: cancel, done: make(chan struct{}),
	}, ctx
}

// Close stops following the log.
func (b *Backend) Close() {
	b.cancel()
	<-b.done
}

func (b *Backend) follow(ctx context.Context) {
	defer close(b.done)
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	lastSize := b.store.Log().Size()
	for {
		size := b.store.Log().Size()
		budget := passBudget(size - lastSize)
		lastSize = size
		if budget > 0 {
			if _, _, err := b.catchUp(ctx, budget, 1); err != nil && ctx.Err() == nil && !errors.Is(err, ledger.ErrClosed) {
				b.logger.Warn("verifier: following the log", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// catchUp reads the records appended since the last call, marks the lots
// they touch as stale, and re-verifies stale lots, on up to workers
// goroutines, for up to budget (all of them when budget is 0). It returns
// how many lots are still stale and how many records of the log, as of
// its start, are still unread.
func (b *Backend) catchUp(ctx context.Context, budget time.Duration, workers int) (pending int, unread uint64, err error) {
	start := time.Now()
	over := func() bool { return budget > 0 && time.Since(start) > budget }
	b.refresh.Lock()
	defer b.refresh.Unlock()
	size := b.store.Log().Size()
	for e, err := range b.store.Log().Range(ctx, b.next, size) {
		if err != nil {
			return 0, 0, err
		}
		if _, st, err := custody.DecodeEntry(e); err == nil {
			b.touch(st)
		}
		b.next = e.Index + 1
		if over() {
			break // a long log (say, after a restart) is read over several passes
		}
	}
	b.mu.Lock()
	lots := make([]string, 0, len(b.stale))
	for lot := range b.stale {
		lots = append(lots, lot)
	}
	b.mu.Unlock()
	slices.Sort(lots)
	// Workers take lots in order; each lot is verified on its own, and
	// only this pass changes the stale set (touch runs above, under
	// b.refresh).
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	for range max(1, min(workers, len(lots))) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(lots) || ctx.Err() != nil || over() {
					return
				}
				lot := lots[i]
				rep, err := b.VerifyLot(ctx, lot)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("verifying lot %q: %w", lot, err) })
					next.Store(int64(len(lots))) // the others stop too
					return
				}
				b.mu.Lock()
				b.flags[lot] = rep.GetFlags()
				if rep.GetVerdict() == pb.Verdict_VERDICT_INVALID {
					b.flags[lot] = append(b.flags[lot], &pb.Flag{
						Rule: RuleInvalid, Severity: pb.Severity_SEVERITY_CRITICAL, LotId: lot,
						Message: fmt.Sprintf("lot %s does not verify: %v", lot, rep.GetErrors()),
					})
				}
				delete(b.stale, lot)
				b.mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, firstErr
	}
	b.mu.Lock()
	pending = len(b.stale)
	b.mu.Unlock()
	return pending, size - b.next, ctx.Err()
}

// touch marks the lots a statement names, and their descendants, stale.
func (b *Backend) touch(st *pb.Statement) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := st.GetTransformation(); t != nil {
		for _, out := range t.GetOutputs() {
			for _, in := range t.GetInputs() {
				b.children[in.GetLotId()] = append(b.children[in.GetLotId()], out.GetLotId())
			}
		}
	}
	lots := custody.StatementLots(st)
	for len(lots) > 0 {
		lot := lots[len(lots)-1]
		lots = lots[:len(lots)-1]
		if b.stale[lot] {
			continue
		}
		b.stale[lot] = true
		lots = append(lots, b.children[lot]...)
	}
}

// VerifyLot builds the lot's bundle from the store and verifies it with
// the same code a buyer runs on their own machine.
func (b *Backend) VerifyLot(ctx context.Context, lotID string) (*pb.VerificationReport, error) {
	bundle, err := b.buildBundle(ctx, lotID)
	if err != nil {
		return nil, err
	}
	return verifier.VerifyCached(bundle, b.trust, b.cfg, b.cache), nil
}

// Bundle returns the lot's offline provenance bundle, with its witnesses'
// cosignatures if the backend has witnesses (SetWitness).
func (b *Backend) Bundle(ctx context.Context, lotID string) (*pb.Bundle, error) {
	if b.witness != nil {
		return b.witnessedBundle(ctx, lotID)
	}
	return BuildBundle(ctx, b.store, lotID, b.cfg)
}

// ListFlags brings stale lots up to date, on all cores but one (appends
// keep one), for up to the listing budget, and lists the flags that match
// req, each once (a flag on an ancestor shows in every descendant's
// report), ordered by log index, a page at a time (req.page_size and
// page_token). If the budget ran out first, the response counts the lots still
// stale and the log records not read yet: their flags may be missing or
// out of date.
func (b *Backend) ListFlags(ctx context.Context, req *apipb.ListFlagsRequest) (*apipb.ListFlagsResponse, error) {
	if err := checkRule(req.GetRule()); err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize(), DefaultFlagPage, MaxFlagPage)
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken("flags", req.GetPageToken())
	if err != nil {
		return nil, err
	}
	pending, unread, err := b.catchUp(ctx, b.listBudget, listWorkers())
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	seen := map[string]bool{}
	var out []*pb.Flag
	for _, fs := range b.flags {
		for _, f := range fs {
			key := flagKey(f)
			if seen[key] || !matches(f, req) {
				continue
			}
			seen[key] = true
			out = append(out, f)
		}
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(x, y *pb.Flag) int { return cmp.Compare(flagKey(x), flagKey(y)) })
	page, next := pageFlags(out, size, after)
	return &apipb.ListFlagsResponse{Flags: page, PendingLots: uint64(pending), UnreadRecords: unread, NextPageToken: next}, nil
}

// listWorkers is how many goroutines a listing verifies stale lots on:
// all cores but one, which appends keep.
func listWorkers() int { return max(1, runtime.GOMAXPROCS(0)-1) }

func matches(f *pb.Flag, req *apipb.ListFlagsRequest) bool {
	switch {
	case req.GetPartyId() != "" && f.GetPartyId() != req.GetPartyId():
		return false
	case req.GetRule() != "" && f.GetRule() != req.GetRule():
		return false
	case req.GetLotId() != "" && f.GetLotId() != req.GetLotId():
		return false
	case f.GetSeverity() < req.GetMinSeverity():
		return false
	case req.GetSince() != nil && f.GetEventTime().AsTime().Before(req.GetSince().AsTime()):
		return false
	case req.GetUntil() != nil && !f.GetEventTime().AsTime().Before(req.GetUntil().AsTime()):
		return false
	}
	return true
}

// SetWitness makes bundles carry the cosignatures p keeps, waiting up to
// wait (zero: WitnessWait) for a cosigned checkpoint that covers the
// bundle. Call it before serving.
func (b *Backend) SetWitness(p *witness.Publisher, wait time.Duration) {
	if wait <= 0 {
		wait = WitnessWait
	}
	b.witness, b.witnessWait = p, wait
}
