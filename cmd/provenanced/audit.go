package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	"github.com/antimony-ledger/provenance/ledger"
	"github.com/antimony-ledger/provenance/tlog"
)

// Exit codes of "provenanced audit".
const (
	auditSound   = 0 // every check passed
	auditUnsound = 1 // the log does not match the checkpoint, or a record is bad
	auditCannot  = 2 // the audit could not run: usage, missing files, store in use
)

const auditUsage = `usage: provenanced audit [--data DIR] [--checkpoint FILE]

Audits a stopped server's data directory: re-hashes every entry and checks
the Merkle root against the latest stored checkpoint (or --checkpoint), after
verifying the checkpoint with DIR/log.pub; re-decodes every record and
re-verifies every signature against the key registered for its signer at
that point in the log, the registry being rebuilt from the log itself and
the registrar key read from DIR/registrar.pub. The log's private key is not
needed.

Stop provenanced first: its Badger store admits one process at a time (or
audit a copy of the data directory). Progress goes to stderr, the summary
to stdout. Exit status: 0 sound, 1 unsound (the first bad index is named),
2 the audit could not run.

`

// auditMain runs "provenanced audit args..." and returns the exit status.
func auditMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provenanced audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, auditUsage)
		fs.PrintDefaults()
	}
	def := "data"
	if v := getenv("PROVENANCED_DATA"); v != "" {
		def = v
	}
	dataDir := fs.String("data", def, "data `dir`ectory of the (stopped) server")
	ckptFile := fs.String("checkpoint", "", "audit against this signed checkpoint `file` instead of the latest stored one")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return auditSound
		}
		return auditCannot
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "provenanced audit: unexpected arguments %q\n", fs.Args())
		return auditCannot
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var progress io.Writer
	if !*quiet {
		progress = stderr
	}
	sum, err := runAudit(ctx, *dataDir, *ckptFile, progress)
	var ae *ledger.AuditError
	switch {
	case errors.As(err, &ae):
		fmt.Fprintf(stdout, "audit FAILED at index %d: %s\n", ae.Index, ae.Reason)
		fmt.Fprintf(stdout, "entries before it checked: %d (%d signatures) in %s\n", sum.Entries, sum.Signatures, sum.Elapsed.Round(time.Millisecond))
		return auditUnsound
	case errors.Is(err, errUnsound):
		fmt.Fprintf(stdout, "audit FAILED: %v\n", err)
		return auditUnsound
	case errors.Is(err, ledger.ErrDataLoss):
		// Damage found opening the store (a Badger log that fails its
		// checksum with data after it): a verdict, not a failure to run.
		fmt.Fprintf(stdout, "audit FAILED: %v\n", err)
		return auditUnsound
	case err != nil:
		fmt.Fprintf(stderr, "provenanced audit: %v\n", err)
		return auditCannot
	}
	fmt.Fprintf(stdout, "audit passed: %d entries, %d signatures, checkpoint size %d root %x\n", sum.Entries, sum.Signatures, sum.Size, sum.Root)
	// The server refuses appends while the record exists, readable or not.
	if what, ok := ledger.DamageRecord(filepath.Join(*dataDir, ledgerDir)); ok {
		fmt.Fprintf(stdout, "note: %s records damage an earlier check found (%s); this audit found none now. The server refuses appends while the file exists: remove it to take appends again.\n",
			filepath.Join(*dataDir, ledgerDir, ledger.DamageMarker), what)
	}
	fmt.Fprintf(stdout, "elapsed %s (store open %s): %.0f entries/s, %.0f signatures/s; cpu %.1fs (%.2f cores)\n",
		sum.Elapsed.Round(time.Millisecond), sum.OpenTime.Round(time.Millisecond),
		rate(sum.Entries, sum.Elapsed), rate(sum.Signatures, sum.Elapsed), sum.CPU.Seconds(), sum.CPU.Seconds()/sum.Elapsed.Seconds())
	return auditSound
}

// errUnsound marks audit failures that are a verdict on the log rather
// than a failure to run the audit.
var errUnsound = errors.New("log is unsound")

// auditSummary is what runAudit reports.
type auditSummary struct {
	custody.AuditReport
	Size     uint64        // checkpoint size
	Root     [32]byte      // checkpoint root
	OpenTime time.Duration // opening the store
	CPU      time.Duration // process user+system time during the audit
}

// runAudit opens the store in dataDir without its log signing key and
// audits it. Progress lines go to progress unless it is nil.
func runAudit(ctx context.Context, dataDir, ckptFile string, progress io.Writer) (auditSummary, error) {
	var sum auditSummary
	vkey, err := os.ReadFile(filepath.Join(dataDir, logPubFile))
	if err != nil {
		return sum, fmt.Errorf("reading the log verifier key: %w", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		return sum, fmt.Errorf("parsing %s: %w", filepath.Join(dataDir, logPubFile), err)
	}
	regPub, err := keyfile.ReadPublic(filepath.Join(dataDir, registrarPubFile))
	if err != nil {
		return sum, fmt.Errorf("registrar key: %w", err)
	}
	ldir := filepath.Join(dataDir, ledgerDir)
	if _, err := os.Stat(ldir); errors.Is(err, fs.ErrNotExist) {
		return sum, fmt.Errorf("%s holds no ledger", dataDir)
	}
	// Badger logs are of no use to the audit's reader unless they are errors.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	openStart := time.Now()
	store, err := custody.Open(ctx, ldir, custody.Config{
		Origin: verifier.Name(), LogSigner: verifyOnlySigner{verifier}, Registrar: regPub, Logger: logger,
		// The audit checks every entry, and must open a store that the
		// server's check at start refuses, to name the damage.
		OpenCheck: -1,
	})
	if err != nil {
		if errors.Is(err, ledger.ErrLocked) {
			return sum, fmt.Errorf("the ledger in %s is in use: stop provenanced first, or audit a copy (%w)", dataDir, err)
		}
		return sum, fmt.Errorf("opening store: %w", err)
	}
	defer store.Close()
	sum.OpenTime = time.Since(openStart)

	ckpt := store.Log().Checkpoint()
	if ckptFile != "" {
		if ckpt, err = os.ReadFile(ckptFile); err != nil {
			return sum, err
		}
	}
	c, err := tlog.OpenCheckpoint(ckpt, verifier)
	if err != nil {
		if ckptFile == "" {
			// The store's own checkpoint does not verify with its key.
			return sum, fmt.Errorf("%w: stored checkpoint: %v", errUnsound, err)
		}
		return sum, fmt.Errorf("%s: %w", ckptFile, err)
	}
	sum.Size, sum.Root = c.Size, c.Root

	cpu0 := cpuTime()
	start := time.Now()
	var cb func(done, total uint64)
	if progress != nil {
		cb = progressPrinter(progress, start)
	}
	rep, err := store.Audit(ctx, ckpt, verifier, cb)
	sum.AuditReport = rep
	sum.CPU = cpuTime() - cpu0
	if progress != nil {
		fmt.Fprintln(progress)
	}
	var ae *ledger.AuditError
	if err != nil && !errors.As(err, &ae) && ctx.Err() == nil {
		// A root the entries do not produce, a checkpoint larger than the
		// log, an entry that cannot be read: the log is not shown sound.
		return sum, fmt.Errorf("%w: %v", errUnsound, err)
	}
	return sum, err
}

// progressPrinter returns a progress callback that rewrites one line on w
// at most once a second: entries done of total, and the recent rate.
func progressPrinter(w io.Writer, start time.Time) func(done, total uint64) {
	var last time.Time
	var lastDone uint64
	return func(done, total uint64) {
		now := time.Now()
		if now.Sub(last) < time.Second && done < total {
			return
		}
		r := 0.0
		if !last.IsZero() {
			r = float64(done-lastDone) / now.Sub(last).Seconds()
		} else {
			r = rate(done, now.Sub(start))
		}
		pct := 100.0
		if total > 0 {
			pct = 100 * float64(done) / float64(total)
		}
		fmt.Fprintf(w, "\raudit: %d / %d entries (%5.1f%%), %.0f entries/s, %s ", done, total, pct, r, now.Sub(start).Round(time.Second))
		last, lastDone = now, done
	}
}

func rate(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// cpuTime returns the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// verifyOnlySigner stands in for the log's signer when the store is opened
// only to be audited: it names the log's key but refuses to sign, so an
// audit needs only the public key and can never append a checkpoint.
type verifyOnlySigner struct{ v note.Verifier }

func (s verifyOnlySigner) Name() string    { return s.v.Name() }
func (s verifyOnlySigner) KeyHash() uint32 { return s.v.KeyHash() }
func (s verifyOnlySigner) Sign([]byte) ([]byte, error) {
	return nil, errors.New("opened for audit: no signing key")
}
