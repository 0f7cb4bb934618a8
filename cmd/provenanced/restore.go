package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/antimony-ledger/provenance/internal/backup"
	"github.com/antimony-ledger/provenance/internal/datadir"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	"github.com/antimony-ledger/provenance/ledger"
	"github.com/antimony-ledger/provenance/tlog"
)

const restoreUsage = `usage: provenanced restore --from FILE --data DIR [--log-key FILE]

Rebuilds a data directory from a backup made by provenanced backup. DIR
must not exist, or be empty. Before writing anything it checks the backup
whole: every checksum, the format versions, and the manifest's checkpoint
against the backup's log.pub. It then builds the directory next to DIR
(the store, log.pub, registrar.pub, and the private keys the backup holds
or --log-key gives, 0600), runs on it the audit provenanced audit runs,
checks that the restored tree's size and root are the checkpoint's, and
only then moves it to DIR. On any failure it removes what it wrote: DIR is
left as it was. (Killed outright, it may leave the directory it was
building, .DIR.restore-*, next to DIR: remove it.)

provenanced signs checkpoints with the log's private key (log.key), so it
starts on a restored directory only if the key is there: from the backup
(provenanced backup --include-private-keys), from --log-key, or copied to
DIR/log.key (0600) later. The directory can be audited without it.

A restored log is the log as of the backup: records acknowledged after the
backup was taken are not in it, and clients that saw a later checkpoint
report the log as rolled back. Progress goes to stderr, the summary to
stdout. Exit status: 0 restored, 1 failed, 2 usage.

`

// restoreMain runs "provenanced restore args..." and returns the exit
// status.
func restoreMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provenanced restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, restoreUsage)
		fs.PrintDefaults()
	}
	from := fs.String("from", "", "backup `file` to restore")
	dataDir := fs.String("data", "", "data `dir`ectory to create (new, or empty)")
	logKey := fs.String("log-key", "", "the log's private key `file` (log.key of the original data directory), if the backup does not hold it")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *from == "" || *dataDir == "" {
		fmt.Fprintln(stderr, "provenanced restore: --from FILE and --data DIR are required, and it takes no arguments")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var progress io.Writer
	if !*quiet {
		progress = stderr
	}
	sum, err := runRestore(ctx, *from, *dataDir, *logKey, progress)
	if err != nil {
		fmt.Fprintf(stderr, "provenanced restore: %v; nothing was written to %s\n", err, *dataDir)
		return 1
	}
	m := sum.Manifest
	fmt.Fprintf(stdout, "restored %s from %s (taken %s): tree size %d, root %s\n", *dataDir, *from, m.Created.Format(time.RFC3339), m.TreeSize, m.Root)
	fmt.Fprintf(stdout, "store of %d bytes (%d keys) loaded in %s; audit passed: %d entries, %d signatures in %s; %s in all\n",
		m.StoreBytes, m.StoreKeys, sum.Load.Round(time.Millisecond), sum.Audit.Entries, sum.Audit.Signatures, sum.Audit.Elapsed.Round(time.Millisecond), sum.Elapsed.Round(time.Millisecond))
	if !sum.LogKey {
		fmt.Fprintf(stdout, "NOTE: %s has no %s: provenanced will not start on it until the log's private key is there (copy it to %s, mode 0600, or restore again with --log-key FILE). provenanced audit --data %s works meanwhile.\n",
			*dataDir, logKeyFile, filepath.Join(*dataDir, logKeyFile), *dataDir)
	}
	return 0
}

// restoreSummary is what runRestore reports.
type restoreSummary struct {
	Manifest backup.Manifest
	Audit    auditSummary
	LogKey   bool          // the restored directory holds log.key
	Load     time.Duration // loading the store
	Elapsed  time.Duration // in all
}

// runRestore restores the backup in file into the new or empty directory
// dataDir, with the log key in logKeyPath if not empty.
func runRestore(ctx context.Context, file, dataDir, logKeyPath string, progress io.Writer) (restoreSummary, error) {
	var sum restoreSummary
	start := time.Now()
	if err := checkRestoreTarget(dataDir); err != nil {
		return sum, err
	}
	f, err := os.Open(file)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sum, err
	}
	// First, the whole backup is checked; nothing is written before.
	c, err := backup.Read(newReadProgress(f, fi.Size(), "checking", progress), nil)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", file, err)
	}
	sum.Manifest = c.Manifest
	files := map[string][]byte{}
	for name, data := range c.Files {
		files[name] = data
	}
	if data := files[logKeyFile]; data != nil {
		if err := checkLogKey(data, c.Verifier); err != nil {
			return sum, fmt.Errorf("%s: the log key in the backup: %w", file, err)
		}
	}
	if logKeyPath != "" {
		data, err := keyfile.ReadPrivateFile(logKeyPath)
		if err != nil {
			return sum, fmt.Errorf("--log-key: %w", err)
		}
		if err := checkLogKey(data, c.Verifier); err != nil {
			return sum, fmt.Errorf("--log-key %s: %w", logKeyPath, err)
		}
		files[logKeyFile] = data
	}
	sum.LogKey = files[logKeyFile] != nil

	// The directory is built next to dataDir and moved there once sound.
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return sum, err
	}
	parent := filepath.Dir(abs)
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(abs)+".restore-*")
	if err != nil {
		return sum, fmt.Errorf("making the directory to restore into: %w", err)
	}
	moved := false
	defer func() {
		if !moved {
			os.RemoveAll(tmp)
		}
	}()
	for name, data := range files {
		perm := os.FileMode(0o644)
		if backup.IsPrivate(name) {
			perm = 0o600
		}
		if err := datadir.WriteNew(filepath.Join(tmp, name), data, perm); err != nil {
			return sum, err
		}
	}
	// Second, the store, read again and checked again as it is loaded.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return sum, err
	}
	pr, pw := io.Pipe()
	read := make(chan error, 1)
	go func() {
		_, err := backup.Read(newReadProgress(f, fi.Size(), "loading", progress), pw)
		pw.CloseWithError(err)
		read <- err
	}()
	loadStart := time.Now()
	info, err := ledger.Restore(ctx, filepath.Join(tmp, ledgerDir), pr)
	sum.Load = time.Since(loadStart)
	pr.CloseWithError(errRestoreStopped)
	if rerr := <-read; rerr != nil && !errors.Is(rerr, errRestoreStopped) {
		return sum, fmt.Errorf("%s changed while being restored: %w", file, rerr)
	}
	if err != nil {
		return sum, err
	}
	if err := sameState(info.Size, info.Root, c.Checkpoint); err != nil {
		return sum, fmt.Errorf("the restored store: %w", err)
	}
	if string(info.Checkpoint) != c.Manifest.Checkpoint {
		return sum, errors.New("the restored store's checkpoint is not the manifest's")
	}
	// The audit provenanced audit runs, on what will be dataDir.
	sum.Audit, err = runAudit(ctx, tmp, "", progress)
	if err != nil {
		var ae *ledger.AuditError
		if errors.As(err, &ae) {
			return sum, fmt.Errorf("the restored log fails its audit at index %d: %s", ae.Index, ae.Reason)
		}
		return sum, fmt.Errorf("auditing the restored log: %w", err)
	}
	if err := sameState(sum.Audit.Size, sum.Audit.Root, c.Checkpoint); err != nil {
		return sum, fmt.Errorf("the audited log: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return sum, err
	}
	// rename(2) replaces an empty directory: dataDir, if it exists, was
	// checked empty above.
	if err := syscall.Rename(tmp, abs); err != nil {
		return sum, fmt.Errorf("moving the restored directory to %s: %w", dataDir, err)
	}
	moved = true
	if err := syncDir(parent); err != nil {
		return sum, err
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

var errRestoreStopped = errors.New("the store's restore stopped")

// checkRestoreTarget refuses a dataDir that exists and is not an empty
// directory.
func checkRestoreTarget(dataDir string) error {
	fi, err := os.Stat(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dataDir)
	}
	if _, err := os.Stat(filepath.Join(dataDir, ledgerDir)); err == nil {
		return fmt.Errorf("%s holds a ledger already: restore into a new or empty directory", dataDir)
	}
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%s is not empty (it holds %s): restore into a new or empty directory", dataDir, ents[0].Name())
	}
	return nil
}

// checkLogKey checks that data is a log signer key whose verifier is v.
func checkLogKey(data []byte, v *tlog.Verifier) error {
	s, err := tlog.NewSigner(strings.TrimSpace(string(data)))
	if err != nil {
		if bytes.Contains(data, []byte("-----BEGIN")) {
			return fmt.Errorf("it is a PEM key (a party's or the registrar's, as provctl keygen writes them), not the log's: give log.key of the original data directory, a signer key that begins PRIVATE+KEY+")
		}
		return fmt.Errorf("it is not a log signer key (%v): give log.key of the original data directory, which begins PRIVATE+KEY+", err)
	}
	if sv := s.Verifier(); sv.Name() != v.Name() || !sv.PublicKey().Equal(v.PublicKey()) {
		return fmt.Errorf("it is the key of %s (%08x), not of the backup's log %s (%08x)", sv.Name(), sv.KeyHash(), v.Name(), v.KeyHash())
	}
	return nil
}

// sameState checks a tree size and root against a checkpoint's.
func sameState(size uint64, root [32]byte, c tlog.Checkpoint) error {
	if size != c.Size || root != c.Root {
		return fmt.Errorf("tree size %d root %x, but the backup's checkpoint says size %d root %x", size, root, c.Size, c.Root)
	}
	return nil
}

// readProgress reads from r and, at most once a second, rewrites a
// progress line on out (if not nil), ending it at EOF.
type readProgress struct {
	r         io.Reader
	out       io.Writer
	what      string
	n, total  int64
	start, at time.Time
	printed   bool
}

func newReadProgress(r io.Reader, total int64, what string, out io.Writer) *readProgress {
	now := time.Now()
	return &readProgress{r: r, out: out, what: what, total: total, start: now, at: now}
}

func (p *readProgress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.out == nil {
		return n, err
	}
	if now := time.Now(); now.Sub(p.at) >= time.Second {
		fmt.Fprintf(p.out, "\rrestore: %s the backup: %.1f / %.1f MiB, %s ", p.what, float64(p.n)/(1<<20), float64(p.total)/(1<<20), now.Sub(p.start).Round(time.Second))
		p.at, p.printed = now, true
	}
	if err == io.EOF && p.printed {
		fmt.Fprintln(p.out)
		p.printed = false
	}
	return n, err
}
