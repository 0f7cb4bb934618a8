// Command provfill fills a provenanced data directory with a large, valid
// custody log, fast, for measurements (audit time, restart time). It works
// on the directory directly, with the server stopped: it creates the
// directory exactly as provenanced does on first start (or reuses an
// existing one), registers a few hundred parties with the registrar key and
// appends realistic signed records through custody.Store.Submit, the same
// validation path as the server, from many goroutines so that appends are
// group-committed.
//
//	provfill --data /tmp/prov1m --records 1000000
//
// Records are custody chains, one lot at a time per goroutine: extraction
// by a mine, an assay by the mine, dispatch to an exporter, receipt,
// dispatch to a smelter, receipt; each envelope is about 400-500 bytes.
// The registrations count towards --records. Parties get fresh keys and
// ids on every run, so a directory can be filled in several runs.
//
// Data directory layout (as provenanced; see its package comment):
//
//	log.key, log.pub, registrar.key, registrar.pub, ledger/
//
// The registrar private key must be in the directory (it signs the
// registrations). Keep the result away from production: the keys sit
// beside the data.
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/datadir"
	"github.com/antimony-ledger/provenance/ledger"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// Options configure a fill.
type Options struct {
	DataDir string
	Records int // records to append, registrations included
	Parties int // parties to register: a third each mines, exporters, smelters
	Workers int // concurrent submitters
	Origin  string
	// Progress receives a progress line every second; nil for none.
	Progress io.Writer
	Logger   *slog.Logger
}

// Result is what a fill did.
type Result struct {
	Records       int64
	Registrations int64
	Bytes         int64 // encoded envelope bytes appended
	Elapsed       time.Duration
	LogSize       uint64
}

func main() {
	var o Options
	flag.StringVar(&o.DataDir, "data", "data", "data `dir`ectory (created like provenanced's if new); the server must be stopped")
	flag.IntVar(&o.Records, "records", 100_000, "records to append, registrations included")
	flag.IntVar(&o.Parties, "parties", 300, "parties to register (mines, exporters, smelters)")
	flag.IntVar(&o.Workers, "workers", 256, "concurrent submitters")
	flag.StringVar(&o.Origin, "origin", "", "checkpoint origin of a new log (default "+datadir.DefaultOrigin+")")
	quiet := flag.Bool("quiet", false, "no progress line")
	flag.Parse()
	if flag.NArg() > 0 || o.Records < 0 || o.Parties < 3 || o.Workers < 1 {
		fmt.Fprintln(os.Stderr, "provfill: need --records >= 0, --parties >= 3, --workers >= 1 and no arguments")
		os.Exit(2)
	}
	if !*quiet {
		o.Progress = os.Stderr
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Fill(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "provfill:", err)
		os.Exit(1)
	}
	avg := 0.0
	if res.Records > 0 {
		avg = float64(res.Bytes) / float64(res.Records)
	}
	fmt.Printf("appended %d records (%d registrations, avg %.0f bytes) in %s: %.0f records/s; log size %d\n",
		res.Records, res.Registrations, avg, res.Elapsed.Round(time.Millisecond), float64(res.Records)/res.Elapsed.Seconds(), res.LogSize)
}

// Fill sets up o.DataDir and appends o.Records records.
func Fill(ctx context.Context, o Options) (Result, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return Result{}, err
	}
	signer, _, err := datadir.LogKey(o.DataDir, o.Origin)
	if err != nil {
		return Result{}, err
	}
	// provfill plays the registrar itself (it registers its parties).
	registrar, err := datadir.LocalRegistrar(o.DataDir, o.Logger)
	if err != nil {
		return Result{}, err
	}
	storeCtx, cancelStore := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStore()
	store, err := custody.Open(storeCtx, filepath.Join(o.DataDir, datadir.LedgerDir), custody.Config{
		Origin: signer.Name(), LogSigner: signer, Registrar: registrar.Public().(ed25519.PublicKey), Logger: o.Logger,
	})
	if err != nil {
		if errors.Is(err, ledger.ErrLocked) {
			return Result{}, fmt.Errorf("the ledger in %s is in use: stop provenanced first (%w)", o.DataDir, err)
		}
		return Result{}, fmt.Errorf("opening store: %w", err)
	}
	f := &filler{o: o, store: store, registrar: registrar, run: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)}
	f.budget.Store(int64(o.Records))
	res, err := f.fill(ctx)
	if cerr := store.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing store: %w", cerr)
	}
	return res, err
}

type party struct {
	id, kind string
	key      ed25519.PrivateKey
}

type filler struct {
	o         Options
	store     *custody.Store
	registrar ed25519.PrivateKey
	run       string
	base      time.Time // event time of the first record; keys valid from a day before

	mines, exporters, smelters []party

	budget   atomic.Int64 // records left to append
	appended atomic.Int64
	regs     atomic.Int64
	bytes    atomic.Int64

	errOnce  sync.Once
	firstErr error
	cancel   context.CancelFunc
}

func (f *filler) fail(err error) {
	f.errOnce.Do(func() { f.firstErr = err; f.cancel() })
}

func (f *filler) fill(ctx context.Context) (Result, error) {
	ctx, f.cancel = context.WithCancel(ctx)
	defer f.cancel()
	start := time.Now()
	f.base = start.Add(-90 * 24 * time.Hour).Truncate(time.Second)
	stopProgress := f.progress(start)

	// Parties, registered concurrently (registrations are independent).
	for i := range f.o.Parties {
		kind := [...]string{"mine", "exporter", "smelter"}[i%3]
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return Result{}, err
		}
		p := party{id: fmt.Sprintf("fill-%s-%s-%d", f.run, kind, i/3), kind: kind, key: key}
		switch kind {
		case "mine":
			f.mines = append(f.mines, p)
		case "exporter":
			f.exporters = append(f.exporters, p)
		default:
			f.smelters = append(f.smelters, p)
		}
	}
	var all []*party
	for _, ps := range [][]party{f.mines, f.exporters, f.smelters} {
		for i := range ps {
			all = append(all, &ps[i])
		}
	}
	regs := make(chan *party)
	var wg sync.WaitGroup
	for range min(f.o.Workers, len(all)) {
		wg.Go(func() {
			for p := range regs {
				if err := f.register(ctx, p); err != nil {
					f.fail(err)
				}
			}
		})
	}
	for _, p := range all {
		if !f.take() {
			break
		}
		regs <- p
	}
	close(regs)
	wg.Wait()

	if f.firstErr == nil {
		for w := range f.o.Workers {
			wg.Go(func() { f.work(ctx, w) })
		}
		wg.Wait()
	}
	stopProgress()
	res := Result{
		Records: f.appended.Load(), Registrations: f.regs.Load(), Bytes: f.bytes.Load(),
		Elapsed: time.Since(start), LogSize: f.store.Log().Size(),
	}
	if f.firstErr != nil {
		return res, f.firstErr
	}
	return res, context.Cause(ctx)
}

// take reserves one record of the budget.
func (f *filler) take() bool { return f.budget.Add(-1) >= 0 }

func (f *filler) register(ctx context.Context, p *party) error {
	kind := p.kind
	reg := &pb.PartyRegistration{
		PartyId: p.id, Name: "Fill " + kind + " " + p.id[strings.LastIndexByte(p.id, '-')+1:], Country: "PK",
		Licence: "ML-" + p.id[len(p.id)-4:],
		Keys:    []*pb.PartyKey{{PublicKey: p.key.Public().(ed25519.PublicKey), NotBefore: timestamppb.New(f.base.Add(-24 * time.Hour))}},
	}
	switch kind {
	case "mine":
		reg.Roles = []pb.Role{pb.Role_ROLE_MINE}
		reg.Site = &pb.Location{Lat: 30.7, Lon: 66.6, Name: "Qila Abdullah"}
		reg.Mine = &pb.MineProfile{Deposit: "stibnite veins", AnnualOreCapacityKg: 1e9, GradeMinPct: 5, GradeMaxPct: 15,
			AssayEnvelope: []*pb.ElementRange{{Element: "As", MaxPct: 0.5}, {Element: "Hg", MaxPct: 0.005}}}
	case "exporter":
		reg.Roles = []pb.Role{pb.Role_ROLE_EXPORTER}
	default:
		reg.Roles = []pb.Role{pb.Role_ROLE_SMELTER}
		reg.Country = "US"
	}
	return f.submit(ctx, f.registrar, &pb.Statement{PartyId: record.RegistrarPartyID, EventTime: timestamppb.New(f.base),
		Body: &pb.Statement_PartyRegistration{PartyRegistration: reg}}, true)
}

// work appends custody chains, one lot at a time, until the budget is
// spent.
func (f *filler) work(ctx context.Context, w int) {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(len(f.run))))
	for lotN := 0; ctx.Err() == nil; lotN++ {
		mine := &f.mines[rng.IntN(len(f.mines))]
		exp := &f.exporters[rng.IntN(len(f.exporters))]
		sm := &f.smelters[rng.IntN(len(f.smelters))]
		lot := fmt.Sprintf("fill-%s-w%d-l%d", f.run, w, lotN)
		t := f.base.Add(time.Duration(lotN)*time.Hour + time.Duration(w)*time.Second)
		at := func(h int) *timestamppb.Timestamp { return timestamppb.New(t.Add(time.Duration(h) * time.Minute)) }
		mass := 5000 + float64(rng.IntN(20000))
		grade := 7 + rng.Float64()*5
		steps := []struct {
			who *party
			st  func(prev, origin string) *pb.Statement
		}{
			{mine, func(string, string) *pb.Statement {
				return &pb.Statement{EventTime: at(0), Note: "permit BAL-MMD-2025-" + lot[len(lot)-4:], Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
					LotId: lot, MassKg: mass, MoisturePct: 3.5, SbGradePct: grade, Product: pb.Product_PRODUCT_ORE,
					Site: &pb.Location{Lat: 30.7 + rng.Float64()/10, Lon: 66.6 + rng.Float64()/10, Name: "Qila Abdullah pit 3"}}}}
			}},
			{mine, func(prev, _ string) *pb.Statement {
				return &pb.Statement{EventTime: at(30), Body: &pb.Statement_Assay{Assay: &pb.Assay{
					LotId: lot, SubjectLink: prev, SampleId: "S-" + lot,
					Elements: []*pb.ElementConcentration{{Element: "Sb", Pct: grade}, {Element: "As", Pct: 0.2}, {Element: "Pb", Pct: 0.05}, {Element: "Hg", Pct: 0.001}}}}}
			}},
			{mine, func(_, origin string) *pb.Statement {
				return &pb.Statement{EventTime: at(120), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
					LotId: lot, CustodyLink: origin, ToPartyId: exp.id, MassKg: mass, MoisturePct: 3.5,
					Seals: []string{"SL-" + lot[len(lot)-6:] + "-1", "SL-" + lot[len(lot)-6:] + "-2"}, Transport: "truck LES-4471",
					Route: []*pb.Waypoint{{Location: &pb.Location{Lat: 30.18, Lon: 66.99, Name: "Quetta"}, Time: at(600)}}}}}
			}},
			{exp, func(prev, _ string) *pb.Statement {
				return &pb.Statement{EventTime: at(1800), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
					LotId: lot, DispatchLink: prev, MassKg: mass - 10, SealsIntact: true, Location: &pb.Location{Lat: 24.86, Lon: 67.01, Name: "Karachi"}}}}
			}},
			{exp, func(prev, _ string) *pb.Statement {
				return &pb.Statement{EventTime: at(2400), Body: &pb.Statement_Dispatch{Dispatch: &pb.Dispatch{
					LotId: lot, CustodyLink: prev, ToPartyId: sm.id, MassKg: mass - 10, MoisturePct: 3.4,
					Seals: []string{"CN-" + lot[len(lot)-6:]}, Transport: "vessel MSC ANTIMONY"}}}
			}},
			{sm, func(prev, _ string) *pb.Statement {
				return &pb.Statement{EventTime: at(40000), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
					LotId: lot, DispatchLink: prev, MassKg: mass - 25, SealsIntact: true, Location: &pb.Location{Lat: 29.76, Lon: -95.37, Name: "Houston"}}}}
			}},
		}
		prev, origin := "", ""
		for _, s := range steps {
			if ctx.Err() != nil || !f.take() {
				return
			}
			st := s.st(prev, origin)
			st.PartyId = s.who.id
			link, err := f.submitLink(ctx, s.who.key, st)
			if err != nil {
				f.fail(err)
				return
			}
			if origin == "" {
				origin = link
			}
			prev = link
		}
	}
}

func (f *filler) submit(ctx context.Context, key ed25519.PrivateKey, st *pb.Statement, registration bool) error {
	_, err := f.submitLink(ctx, key, st)
	if err == nil && registration {
		f.regs.Add(1)
	}
	return err
}

// submitLink signs st with key, submits it and returns its link.
func (f *filler) submitLink(ctx context.Context, key ed25519.PrivateKey, st *pb.Statement) (string, error) {
	env, err := record.Sign(st, key)
	if err != nil {
		return "", err
	}
	r, err := f.store.Submit(ctx, env)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("submitting %T of %s: %w", st.GetBody(), st.GetPartyId(), err)
	}
	if r.Duplicate {
		return "", fmt.Errorf("unexpected duplicate at index %d", r.Entry.Index)
	}
	f.appended.Add(1)
	f.bytes.Add(int64(len(r.Entry.Data)))
	return r.ID, nil
}

// progress prints a line a second until the returned func is called.
func (f *filler) progress(start time.Time) func() {
	if f.o.Progress == nil {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, lastT := int64(0), start
		for {
			select {
			case <-done:
				fmt.Fprintln(f.o.Progress)
				return
			case now := <-t.C:
				n := f.appended.Load()
				fmt.Fprintf(f.o.Progress, "\rprovfill: %d / %d records (%5.1f%%), %.0f records/s now, %.0f/s average, %s ",
					n, f.o.Records, 100*float64(n)/float64(max(f.o.Records, 1)), float64(n-last)/now.Sub(lastT).Seconds(),
					float64(n)/now.Sub(start).Seconds(), now.Sub(start).Round(time.Second))
				last, lastT = n, now
			}
		}
	}()
	return func() { close(done); <-stopped }
}
