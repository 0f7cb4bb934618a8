// Command provbench is the ledger's load generator. It registers a mine and
// an exporter per client, then each client signs realistic custody records
// on this side (extraction, dispatch, receipt of one lot after another) and
// submits them over gRPC, one at a time (a Submit call per record, or with
// --stream one SubmitStream per client, which with --window N keeps up to N
// records in flight, as bulk-upload software would), for a fixed duration. It reports
// accepted records per second and latency percentiles; acknowledgement
// means the server verified the signature and the record is durable.
//
// Each client signs as its two parties as fast as the server answers, far
// past provenanced's default per-party rate (100 records/s after a burst
// of 1,000), so the server under test runs with --party-rate off
// (cmd/provbench/alternate.sh sets PROVENANCED_PARTY_RATE=off).
//
//	provenanced --party-rate off ...
//	provbench --addr 127.0.0.1:8443 --registrar-key data/registrar.key --clients 64 --duration 30s
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

// Options configure a run.
type Options struct {
	Addr         string
	RegistrarKey ed25519.PrivateKey
	Clients      int
	Duration     time.Duration
	// Presign is the number of lots (three records each) every client
	// signs before the clock starts, so that the run measures the server
	// rather than this process's signing; past them, clients sign inline.
	Presign int
	// Stream submits over one SubmitStream per client instead of one
	// Submit call per record.
	Stream bool
	// Window is how many records a client keeps in flight on its stream:
	// 1 (or 0), the default, waits for each answer before sending the
	// next; more sends ahead, up to Window records unanswered, the next
	// records of a lot right behind the ones they link to. Only with Stream.
	Window int
	// Progress receives a progress line every second; nil for none.
	Progress io.Writer
	// Rate caps the records submitted per second, all clients together
	// (0: as fast as they go), for measuring at a sustained load.
	Rate float64
	// FlagEvery makes every FlagEvery-th lot of each client arrive 20 %
	// heavier than dispatched, which raises a TRANSIT_GAIN flag on its
	// receipt, and measures how long after the receipt's acknowledgement
	// the flag is listed (GET /v1/flags), as an auditor registered for the
	// run polling the listing sees it; 0: no flags watched.
	FlagEvery int
}

// Result is what a run measured.
type Result struct {
	Records       int64   `json:"records"`
	Errors        int64   `json:"errors"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	P50ms         float64 `json:"p50_ms"`
	P90ms         float64 `json:"p90_ms"`
	P99ms         float64 `json:"p99_ms"`
	Clients       int     `json:"clients"`
	Presigned     int     `json:"presigned_lots_per_client"`
	Stream        bool    `json:"stream"`
	Window        int     `json:"window"`
	MaxInFlight   int     `json:"max_in_flight"` // most records one client had unanswered
	// InlineSigned counts the records signed while the clock ran: all of
	// them without --presign, those past the presigned lots with it.
	InlineSigned int64 `json:"inline_signed_records"`
	// CPUSeconds is the CPU time this load generator used while the clock
	// ran: it shares the machine with the server under test.
	CPUSeconds float64 `json:"cpu_seconds"`
	FirstError string  `json:"first_error,omitempty"`
	// With FlagEvery: the flags watched, how many were listed within 30 s
	// of the run's end, and the time from each receipt's acknowledgement
	// to its flag's first listing.
	FlagsWatched  int     `json:"flags_watched,omitempty"`
	FlagsListed   int     `json:"flags_listed,omitempty"`
	FlagP50ms     float64 `json:"flag_p50_ms,omitempty"`
	FlagP99ms     float64 `json:"flag_p99_ms,omitempty"`
	FlagMaxms     float64 `json:"flag_max_ms,omitempty"`
	FlagListingMs float64 `json:"flag_listing_p50_ms,omitempty"` // one poll of the listing
}

func main() {
	addr := flag.String("addr", envOr("PROVCTL_ADDR", client.DefaultAddr), "server gRPC address")
	regKey := flag.String("registrar-key", envOr("PROVCTL_REGISTRAR_KEY", "data/registrar.key"), "registrar private key file (to register the benchmark's parties)")
	clients := flag.Int("clients", 64, "concurrent clients")
	duration := flag.Duration("duration", 30*time.Second, "how long to submit")
	asJSON := flag.Bool("json", false, "end with one JSON object")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of this load generator to `file`")
	presign := flag.Int("presign", 0, "lots (3 records each) every client signs before the clock starts (0: sign inline)")
	stream := flag.Bool("stream", false, "submit over one SubmitStream per client rather than one Submit call per record")
	window := flag.Int("window", 1, "with --stream, records each client keeps in flight (1: wait for each answer)")
	rate := flag.Float64("rate", 0, "records per second, all clients together (0: as fast as they go)")
	flagEvery := flag.Int("flag-every", 0, "every `N`th lot of a client raises a TRANSIT_GAIN flag, and the time until it is listed is measured (0: none)")
	flag.Parse()
	key, err := keyfile.ReadPrivate(*regKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "provbench:", err)
		os.Exit(2)
	}
	if *clients < 1 || *duration <= 0 || *window < 1 {
		fmt.Fprintln(os.Stderr, "provbench: --clients and --window must be >= 1 and --duration > 0")
		os.Exit(2)
	}
	if *window > 1 && !*stream {
		fmt.Fprintln(os.Stderr, "provbench: --window needs --stream")
		os.Exit(2)
	}
	if *flagEvery > 0 && *window > 1 || *flagEvery < 0 || *rate < 0 {
		fmt.Fprintln(os.Stderr, "provbench: --flag-every needs --window 1, and neither it nor --rate may be negative")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "provbench:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := Run(ctx, Options{Addr: *addr, RegistrarKey: key, Clients: *clients, Duration: *duration, Presign: *presign, Stream: *stream, Window: *window, Progress: os.Stderr, Rate: *rate, FlagEvery: *flagEvery})
	if err != nil {
		fmt.Fprintln(os.Stderr, "provbench:", err)
		os.Exit(1)
	}
	if *presign > 0 && res.InlineSigned > 0 {
		fmt.Fprintf(os.Stderr, "provbench: the %d presigned lots per client ran out: %d records were signed while the clock ran (raise --presign)\n", *presign, res.InlineSigned)
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf("%d records in %.1fs with %d clients: %.0f records/s, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, %d errors\n",
		res.Records, res.Seconds, res.Clients, res.RecordsPerSec, res.P50ms, res.P90ms, res.P99ms, res.Errors)
	if res.FlagsWatched > 0 {
		fmt.Printf("flags: %d of %d listed; from the receipt's acknowledgement to the listing p50 %.0f ms, p99 %.0f ms, max %.0f ms (one listing p50 %.1f ms)\n",
			res.FlagsListed, res.FlagsWatched, res.FlagP50ms, res.FlagP99ms, res.FlagMaxms, res.FlagListingMs)
	}
	if res.FirstError != "" {
		fmt.Println("first error:", res.FirstError)
		if strings.Contains(res.FirstError, "faster than this server's limit") {
			fmt.Println("the server limits each party's submissions: run it with --party-rate off for a benchmark")
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// worker is one client: a mine and the exporter it ships to.
type worker struct {
	mine, exporter *client.Signer
	lat            []time.Duration
	maxInFlight    int
	signed         [][]*pb.Envelope // lots signed before the run, by --presign
	inline         int64            // records signed during the run
	flagEvery      int              // every flagEvery-th lot gains 20 % in transit
	pace           *pacer           // nil: no rate
	watch          *flagWatch       // nil: no flags watched
}

// Run registers the parties and drives the load.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.Window = max(o.Window, 1)
	if o.Window > 1 && !o.Stream {
		return nil, errors.New("a window of more than one record needs Stream")
	}
	// The benchmark authenticates as the registrar, whose key it has to
	// register its parties; each record is still signed by its party.
	registrar := &client.Signer{PartyID: record.RegistrarPartyID, Key: o.RegistrarKey}
	c, err := client.DialAs(ctx, o.Addr, nil, registrar.Credentials())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	workers := make([]*worker, o.Clients)
	for i := range workers {
		w := &worker{}
		for _, p := range []struct {
			s    **client.Signer
			role pb.Role
			kind string
		}{{&w.mine, pb.Role_ROLE_MINE, "mine"}, {&w.exporter, pb.Role_ROLE_EXPORTER, "exporter"}} {
			pub, priv, err := ed25519.GenerateKey(nil)
			if err != nil {
				return nil, err
			}
			id := fmt.Sprintf("bench-%s-%s-%d", run, p.kind, i)
			reg := &pb.PartyRegistration{PartyId: id, Name: "benchmark " + p.kind, Roles: []pb.Role{p.role}, Country: "PK",
				Keys: []*pb.PartyKey{{PublicKey: pub, NotBefore: timestamppb.New(time.Now().Add(-time.Hour))}}}
			if p.role == pb.Role_ROLE_MINE {
				reg.Mine = &pb.MineProfile{Deposit: "benchmark", AnnualOreCapacityKg: 1e9, GradeMinPct: 5, GradeMaxPct: 15}
			}
			if _, err := c.SignAndSubmit(ctx, registrar, &pb.Statement{Body: &pb.Statement_PartyRegistration{PartyRegistration: reg}}); err != nil {
				return nil, fmt.Errorf("registering %s: %w", id, err)
			}
			*p.s = &client.Signer{PartyID: id, Key: priv}
		}
		workers[i] = w
	}

	var watch *flagWatch
	if o.FlagEvery > 0 {
		if watch, err = newFlagWatch(ctx, c, o.Addr, registrar, run); err != nil {
			return nil, err
		}
	}
	var pace *pacer
	if o.Rate > 0 {
		pace = &pacer{every: time.Duration(float64(time.Second) / o.Rate)}
	}
	for _, w := range workers {
		w.flagEvery, w.pace, w.watch = o.FlagEvery, pace, watch
	}
	if o.Presign > 0 {
		t := time.Now().Add(-time.Minute)
		for i, w := range workers {
			if err := w.presign(fmt.Sprintf("bench-%s-%d", run, i), o.Presign, t); err != nil {
				return nil, err
			}
		}
	}

	var accepted, failed atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	cpuStart := cpuTime()
	start := time.Now()
	stopProgress := progress(o.Progress, start, &accepted, &failed)
	watchDone := make(chan struct{})
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	if watch != nil {
		go func() { watch.run(watchCtx); close(watchDone) }()
	} else {
		close(watchDone)
	}
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			submit := func(env *pb.Envelope) error { _, err := c.Submit(ctx, env); return err }
			if o.Stream {
				up, err := c.Upload(ctx)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				defer up.CloseSend()
				if o.Window > 1 {
					w.pipeline(ctx, up, o.Window, fmt.Sprintf("bench-%s-%d", run, i), &accepted, &failed, &firstErr)
					return
				}
				submit = func(env *pb.Envelope) error {
					_, err := up.Submit(env)
					if err != nil && !errors.As(err, new(*client.RefusedError)) {
						// The stream itself has failed: this client stops.
						return fmt.Errorf("%w: %w", errStreamEnded, err)
					}
					return err
				}
			}
			w.loop(ctx, submit, fmt.Sprintf("bench-%s-%d", run, i), &accepted, &failed, &firstErr)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpuStart
	stopProgress()
	if watch != nil {
		watch.await(30 * time.Second)
		stopWatch()
		defer watch.c.Close()
	}
	<-watchDone

	var all []time.Duration
	maxInFlight := 0
	var inline int64
	for _, w := range workers {
		all = append(all, w.lat...)
		maxInFlight = max(maxInFlight, w.maxInFlight)
		inline += w.inline
	}
	slices.Sort(all)
	res := &Result{
		Records: accepted.Load(), Errors: failed.Load(), Seconds: elapsed.Seconds(), Clients: o.Clients, Presigned: o.Presign, Stream: o.Stream, Window: o.Window, MaxInFlight: maxInFlight, InlineSigned: inline, CPUSeconds: cpu.Seconds(),
		RecordsPerSec: float64(accepted.Load()) / elapsed.Seconds(),
		P50ms:         pct(all, 0.50), P90ms: pct(all, 0.90), P99ms: pct(all, 0.99),
	}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	if watch != nil {
		watch.report(res)
	}
	return res, nil
}

// chain signs the three records of lot n: extraction, dispatch to the
// exporter, receipt. Links are computed here, from the signed bytes, as a
// party's own software would.
func (w *worker) chain(prefix string, n int, t time.Time) ([]*pb.Envelope, error) {
	lot := fmt.Sprintf("%s-%d", prefix, n)
	steps := []struct {
		who *client.Signer
		st  func(prev string) *pb.Statement
	}{
		{w.mine, func(string) *pb.Statement {
			return &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
				LotId: lot, MassKg: 8000, MoisturePct: 3, SbGradePct: 9.5, Product: pb.Product_PRODUCT_ORE, Site: &pb.Location{Lat: 30.7, Lon: 66.6}}}}
		}},
		{w.mine, func(prev string) *pb.Statement {
			return &pb.Statement{Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
				LotId: lot, CustodyLink: prev, ToPartyId: w.exporter.PartyID, MassKg: 8000, MoisturePct: 3, Seals: []string{"S-" + lot}, Transport: "truck"}}}
		}},
		{w.exporter, func(prev string) *pb.Statement {
			kg := 7990.0
			if w.flagged(n) {
				kg = 8000 * 1.2 // TRANSIT_GAIN
			}
			return &pb.Statement{Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{Location: &pb.Location{Lat: 24.86, Lon: 67.01}, LotId: lot, DispatchLink: prev, MassKg: kg, SealsIntact: true}}}
		}},
	}
	var envs []*pb.Envelope
	prev := ""
	for _, step := range steps {
		st := step.st(prev)
		st.EventTime = timestamppb.New(t)
		env, err := step.who.Sign(st)
		if err == nil {
			var id tlog.RecordID
			id, err = record.IDOf(env)
			prev = id.String()
		}
		if err != nil {
			return nil, err
		}
		envs = append(envs, env)
	}
	return envs, nil
}

// presign signs the first lots' records before the run starts.
func (w *worker) presign(prefix string, lots int, t time.Time) error {
	for n := range lots {
		envs, err := w.chain(prefix, n, t)
		if err != nil {
			return err
		}
		w.signed = append(w.signed, envs)
	}
	return nil
}

// errStreamEnded marks a failure of a client's SubmitStream, after which
// it cannot submit any more.
var errStreamEnded = errors.New("upload stream ended")

// lot returns lot n's records: presigned, or signed now.
func (w *worker) lot(prefix string, n int, t time.Time) ([]*pb.Envelope, error) {
	if n < len(w.signed) {
		envs := w.signed[n]
		w.signed[n] = nil
		return envs, nil
	}
	envs, err := w.chain(prefix, n, t)
	w.inline += int64(len(envs))
	return envs, err
}

func (w *worker) loop(ctx context.Context, submit func(*pb.Envelope) error, prefix string, accepted, failed *atomic.Int64, firstErr *atomic.Value) {
	t := time.Now().Add(-time.Minute)
	for n := 0; ctx.Err() == nil; n++ {
		envs, err := w.lot(prefix, n, t)
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		for i, env := range envs {
			if !w.pace.wait(ctx) {
				return
			}
			begin := time.Now()
			err := submit(env)
			if err == nil && i == len(envs)-1 && w.flagged(n) {
				w.watch.acked(fmt.Sprintf("%s-%d", prefix, n), time.Now())
			}
			if ended(ctx, err) {
				return // the run ended mid-call; neither success nor failure
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				if errors.Is(err, errStreamEnded) {
					return
				}
				break
			}
			w.lat = append(w.lat, time.Since(begin))
			accepted.Add(1)
			w.maxInFlight = 1
		}
	}
}

// pipeline sends lot after lot on up, keeping up to window records
// unanswered, while a second goroutine reads the answers. A record's
// latency runs from its Send to its answer. A refusal is counted and the
// upload goes on; a failed stream ends this client.
func (w *worker) pipeline(ctx context.Context, up *client.Uploader, window int, prefix string, accepted, failed *atomic.Int64, firstErr *atomic.Value) {
	slots := make(chan struct{}, window) // one per record unanswered
	sent := make(chan time.Time, window) // send times, oldest first
	recvDone := make(chan struct{})
	fail := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	go func() {
		defer close(recvDone)
		for begin := range sent {
			_, err := up.Recv()
			if ended(ctx, err) {
				return
			}
			<-slots
			if err != nil {
				fail(err)
				if !errors.As(err, new(*client.RefusedError)) {
					return // the stream has failed
				}
				continue
			}
			w.lat = append(w.lat, time.Since(begin))
			accepted.Add(1)
		}
	}()
	w.maxInFlight = 1
	defer func() {
		close(sent)
		<-recvDone
	}()
	t := time.Now().Add(-time.Minute)
	for n := 0; ; n++ {
		envs, err := w.lot(prefix, n, t)
		if err != nil {
			fail(err)
			return
		}
		for _, env := range envs {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			case <-recvDone:
				return
			}
			w.maxInFlight = max(w.maxInFlight, len(slots))
			sent <- time.Now()
			if err := up.Send(env); err != nil {
				return // the stream has ended; Recv reports why
			}
		}
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return float64(sorted[max(i, 0)]) / float64(time.Millisecond)
}

// progress prints a line a second until the returned func is called.
func progress(w io.Writer, start time.Time, accepted, failed *atomic.Int64) func() {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, lastT := int64(0), start
		for {
			select {
			case <-done:
				fmt.Fprintln(w)
				return
			case now := <-tick.C:
				n := accepted.Load()
				fmt.Fprintf(w, "\r%5.0fs  %9d records  %8.0f records/s now  %d errors ", now.Sub(start).Seconds(), n, float64(n-last)/now.Sub(lastT).Seconds(), failed.Load())
				last, lastT = n, now
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// ended reports whether the run's deadline, not the server, ended a call:
// gRPC runs its own timer for the deadline, so its DeadlineExceeded can
// come a moment before ctx reports it.
func ended(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return err != nil && ok && !time.Now().Before(dl.Add(-10*time.Millisecond)) && status.Code(err) == codes.DeadlineExceeded
}

// flagged reports whether lot n of the worker is one whose flag is
// watched.
func (w *worker) flagged(n int) bool { return w.flagEvery > 0 && n%w.flagEvery == w.flagEvery-1 }

// A pacer spaces submissions every apart, all clients together.
type pacer struct {
	mu    sync.Mutex
	next  time.Time
	every time.Duration
}

// wait waits for the next slot; false if ctx ended first. A nil pacer
// does not wait.
func (p *pacer) wait(ctx context.Context) bool {
	if p == nil {
		return ctx.Err() == nil
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(p.every)
	p.mu.Unlock()
	if d := time.Until(at); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// A flagWatch is an auditor polling the flag listing for the lots whose
// receipts raise TRANSIT_GAIN, noting when each is first listed.
type flagWatch struct {
	c     *client.Client // as the run's auditor
	since time.Time
	mu    sync.Mutex
	acks  map[string]time.Time     // lot -> its receipt's acknowledgement
	seen  map[string]time.Duration // lot -> acknowledgement to listing
	polls []time.Duration
	err   error // the first listing that failed
}

// newFlagWatch registers an auditor for the run and connects as it.
func newFlagWatch(ctx context.Context, c *client.Client, addr string, registrar *client.Signer, run string) (*flagWatch, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("bench-%s-auditor", run)
	reg := &pb.PartyRegistration{PartyId: id, Name: "benchmark auditor", Roles: []pb.Role{pb.Role_ROLE_AUDITOR}, Country: "US",
		Keys: []*pb.PartyKey{{PublicKey: pub, NotBefore: timestamppb.New(time.Now().Add(-time.Hour))}}}
	if _, err := c.SignAndSubmit(ctx, registrar, &pb.Statement{Body: &pb.Statement_PartyRegistration{PartyRegistration: reg}}); err != nil {
		return nil, fmt.Errorf("registering %s: %w", id, err)
	}
	// A connection of its own, as an auditor's tool would have.
	ac, err := client.DialAs(ctx, addr, nil, (&client.Signer{PartyID: id, Key: priv}).Credentials())
	if err != nil {
		return nil, err
	}
	return &flagWatch{c: ac, since: time.Now().Add(-2 * time.Minute), acks: map[string]time.Time{}, seen: map[string]time.Duration{}}, nil
}

func (fw *flagWatch) acked(lot string, at time.Time) {
	fw.mu.Lock()
	fw.acks[lot] = at
	fw.mu.Unlock()
}

// run polls the listing every 50 ms until ctx ends.
func (fw *flagWatch) run(ctx context.Context) {
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		begin := time.Now()
		req := &apipb.ListFlagsRequest{Rule: "TRANSIT_GAIN", PageSize: 5000, Since: timestamppb.New(fw.since)}
		var lots []string
		for {
			r, err := fw.c.Verifier.ListFlags(ctx, req)
			if err != nil {
				fw.mu.Lock()
				if fw.err == nil && ctx.Err() == nil {
					fw.err = err
				}
				fw.mu.Unlock()
				break
			}
			for _, f := range r.GetFlags() {
				lots = append(lots, f.GetLotId())
			}
			if req.PageToken = r.GetNextPageToken(); req.PageToken == "" {
				break
			}
		}
		now := time.Now()
		fw.mu.Lock()
		fw.polls = append(fw.polls, now.Sub(begin))
		for _, lot := range lots {
			if at, ok := fw.acks[lot]; ok {
				if _, ok := fw.seen[lot]; !ok {
					fw.seen[lot] = now.Sub(at)
				}
			}
		}
		fw.mu.Unlock()
	}
}

// await waits until every acknowledged flag is listed, or for up to d.
func (fw *flagWatch) await(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		fw.mu.Lock()
		done := len(fw.seen) >= len(fw.acks)
		fw.mu.Unlock()
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (fw *flagWatch) report(res *Result) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	var lat []time.Duration
	for _, d := range fw.seen {
		lat = append(lat, d)
	}
	slices.Sort(lat)
	slices.Sort(fw.polls)
	res.FlagsWatched, res.FlagsListed = len(fw.acks), len(lat)
	if len(lat) > 0 {
		res.FlagP50ms, res.FlagP99ms, res.FlagMaxms = pct(lat, 0.50), pct(lat, 0.99), float64(lat[len(lat)-1].Microseconds())/1000
	}
	if len(fw.polls) > 0 {
		res.FlagListingMs = pct(fw.polls, 0.50)
	}
	if fw.err != nil && res.FirstError == "" {
		res.FirstError = "listing flags: " + fw.err.Error()
	}
}
