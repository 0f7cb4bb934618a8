package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/antimony-ledger/provenance/internal/backup"
	"github.com/antimony-ledger/provenance/internal/keyfile"
)

const backupUsage = `usage: provenanced backup --out FILE [--admin-addr ADDR] [--include-private-keys] [--force]

Takes an online backup of a running provenanced through its admin listener
(GET /admin/backup): the ledger store as of one commit (every record
acknowledged before the backup began is in it; appends go on meanwhile), a
manifest (origin, tree size, the signed checkpoint of that state, SHA-256
checksums) and the public keys log.pub and registrar.pub. The private keys
(log.key, and registrar.key if the data directory holds it) are included
only with --include-private-keys.

FILE is written to a temporary file next to it, checked (every checksum,
and the checkpoint against the backup's log.pub), synced and then renamed
into place: an existing FILE is kept unless --force. It is made readable
by its owner only (0600): it holds every party's records. Progress goes
to stderr, the summary to stdout. Restore it with provenanced restore.
Exit status: 0 written, 1 failed, 2 usage.

`

// backupMain runs "provenanced backup args..." and returns the exit status.
func backupMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provenanced backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, backupUsage)
		fs.PrintDefaults()
	}
	def := "127.0.0.1:9090"
	if v := getenv("PROVENANCED_ADMIN_ADDR"); v != "" {
		def = v
	}
	addr := fs.String("admin-addr", def, "`address` of the server's admin listener (its --admin-addr)")
	out := fs.String("out", "", "backup `file` to write")
	private := fs.Bool("include-private-keys", false, "include log.key (and registrar.key, if the server's data directory holds it): whoever reads the backup can then sign as the log")
	force := fs.Bool("force", false, "replace FILE if it exists")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *out == "" {
		fmt.Fprintln(stderr, "provenanced backup: --out FILE is required, and takes no arguments")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var progress io.Writer
	if !*quiet {
		progress = stderr
	}
	sum, err := runBackup(ctx, *addr, *out, *private, *force, progress)
	if err != nil {
		fmt.Fprintf(stderr, "provenanced backup: %v\n", err)
		return 1
	}
	m := sum.Manifest
	fmt.Fprintf(stdout, "backup written to %s: tree size %d, checkpoint root %s\n", *out, m.TreeSize, m.Root)
	fmt.Fprintf(stdout, "%d bytes (store %d bytes, %d keys) in %s; origin %s\n", sum.Bytes, m.StoreBytes, m.StoreKeys, sum.Elapsed.Round(time.Millisecond), m.Origin)
	if m.PrivateKeys {
		names := make([]string, 0, len(sum.Files))
		for _, n := range sum.Files {
			if backup.IsPrivate(n) {
				names = append(names, n)
			}
		}
		fmt.Fprintf(stderr, "WARNING: %s holds the private keys (%s): whoever reads it can sign checkpoints as this log. It is mode 0600; keep it offline, encrypted, and apart from ordinary backups.\n", *out, strings.Join(names, ", "))
	} else {
		fmt.Fprintf(stdout, "private keys: not included (keep log.key safe apart: a restored server needs it to sign; see provenanced restore --log-key)\n")
	}
	return 0
}

// backupSummary is what runBackup reports.
type backupSummary struct {
	Manifest backup.Manifest
	Files    []string // names of the key files in it
	Bytes    int64
	Elapsed  time.Duration
}

// runBackup fetches a backup from the admin listener at addr into out.
func runBackup(ctx context.Context, addr, out string, private, force bool, progress io.Writer) (backupSummary, error) {
	var sum backupSummary
	if addr == "" || addr == "off" {
		return sum, errors.New("no admin address: a backup is taken through the server's admin listener; give its --admin-addr (the default is 127.0.0.1:9090)")
	}
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	if !force {
		if _, err := os.Lstat(out); err == nil {
			return sum, fmt.Errorf("%s exists: give another --out, or --force to replace it", out)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return sum, err
		}
	}
	url := strings.TrimSuffix(base, "/") + "/admin/backup"
	if private {
		url += "?private_keys=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return sum, fmt.Errorf("--admin-addr %q: %w", addr, err)
	}
	// The server checks every table block of its store before it sends a
	// byte (a damaged store is not backed up: ledger.Log.Backup), a few
	// seconds a GB; the header waits for that.
	hc := &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ResponseHeaderTimeout: 30 * time.Minute,
	}}
	start := time.Now()
	if progress != nil {
		fmt.Fprintf(progress, "backup: the server checks every table block of its store first (a few seconds a GB)\n")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return sum, fmt.Errorf("cannot reach the admin listener at %s (%v): is provenanced running with its admin listener there? (--admin-addr, default 127.0.0.1:9090; \"off\" serves none)", addr, op.Err)
		}
		return sum, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if resp.StatusCode == http.StatusNotFound {
			return sum, fmt.Errorf("%s answers 404 to GET /admin/backup (%s): is it the admin listener (--admin-addr, not --http-addr) of a provenanced that serves backups?", addr, strings.TrimSpace(string(msg)))
		}
		return sum, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}

	dir := filepath.Dir(out)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(out)+".*.partial")
	if err != nil {
		return sum, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return sum, err
	}
	pw := &progressWriter{w: tmp, out: progress, start: start, last: start}
	// Check the backup as it arrives: every checksum, and the checkpoint.
	c, err := backup.Read(io.TeeReader(resp.Body, pw), nil)
	pw.finish()
	if err != nil {
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		return sum, fmt.Errorf("the backup from %s is refused after %d bytes, and not written: %w", addr, pw.n, err)
	}
	if err := tmp.Sync(); err != nil {
		return sum, err
	}
	if err := tmp.Close(); err != nil {
		return sum, err
	}
	if force {
		err = os.Rename(tmp.Name(), out)
	} else {
		// Link, unlike rename, refuses to replace a file made meanwhile.
		if err = os.Link(tmp.Name(), out); err == nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		return sum, fmt.Errorf("putting the backup in place: %w", err)
	}
	done = true
	if err := syncDir(dir); err != nil {
		return sum, err
	}
	sum.Manifest, sum.Bytes, sum.Elapsed = c.Manifest, pw.n, time.Since(start)
	for n := range c.Files {
		sum.Files = append(sum.Files, n)
	}
	return sum, nil
}

// progressWriter writes to w and, at most once a second, rewrites a
// progress line on out (if not nil).
type progressWriter struct {
	w           io.Writer
	out         io.Writer
	n           int64
	start, last time.Time
	lastN       int64
	printed     bool
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if now := time.Now(); p.out != nil && now.Sub(p.last) >= time.Second {
		rate := float64(p.n-p.lastN) / now.Sub(p.last).Seconds()
		fmt.Fprintf(p.out, "\rbackup: %.1f MiB received, %.1f MiB/s, %s ", float64(p.n)/(1<<20), rate/(1<<20), now.Sub(p.start).Round(time.Second))
		p.last, p.lastN, p.printed = now, p.n, true
	}
	return n, err
}

func (p *progressWriter) finish() {
	if p.printed {
		fmt.Fprintln(p.out)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// keyFiles returns the key files of dataDir that a backup holds: log.pub
// and registrar.pub, and with private log.key and (if dataDir holds it)
// registrar.key. Private key files are read as the server reads them,
// refusing one open to others.
func keyFiles(dataDir string, private bool) ([]backup.File, error) {
	var files []backup.File
	for _, name := range []string{logPubFile, registrarPubFile} {
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			return nil, err
		}
		files = append(files, backup.File{Name: name, Data: b})
	}
	if !private {
		return files, nil
	}
	for _, name := range []string{logKeyFile, registrarKeyFile} {
		b, err := keyfile.ReadPrivateFile(filepath.Join(dataDir, name))
		if errors.Is(err, fs.ErrNotExist) && name == registrarKeyFile {
			continue // the registrar keeps it on its own machine
		}
		if err != nil {
			return nil, err
		}
		files = append(files, backup.File{Name: name, Data: b})
	}
	return files, nil
}
