package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/pdfprint"
	"github.com/antimony-ledger/provenance/internal/report"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/verifier"
)

func init() {
	register("report", "verify a lot here against the pinned keys and write its report for a compliance file (HTML or PDF): LOT", reportLot)
}

// errNoChromium says what to do when no browser can print the PDF.
var errNoChromium = fmt.Errorf("writing PDF needs headless Chromium or Google Chrome on PATH (looked for %s): install Chromium, or write HTML (--out LOT-report.html) and print it from a browser", strings.Join(pdfprint.Names, ", "))

func reportLot(ctx context.Context, e *env, args []string) error {
	var g globals
	var t trustFlags
	var maxAge time.Duration
	var out, bundleFile string
	fs, trust, err := parseTrusted(e, "report", "LOT", args, &g, &t, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "out", "", "where to write the report: FILE.html, FILE.pdf (printed by headless Chromium found on PATH), or - for HTML on stdout (default LOT-report.html)")
		fs.StringVar(&bundleFile, "bundle", "", "report on this offline bundle file (provctl bundle export) instead of fetching the lot's bundle from the server")
		maxAgeFlag(fs, &maxAge)
	})
	if err != nil {
		return err
	}
	if maxAge < 0 {
		return usageErr("--max-age %s: want a positive duration such as 24h, or 0", maxAge)
	}
	lot := fs.Arg(0)
	if g.json && out == "-" {
		return usageErr("--json and --out - would both write to stdout: write the report to a file")
	}
	if out == "" {
		out = lot + "-report.html"
	}
	pdf := out != "-" && strings.EqualFold(filepath.Ext(out), ".pdf")
	var browser string
	if pdf {
		// Fail before any work when the PDF cannot be made.
		if browser = pdfprint.Find(); browser == "" {
			return errNoChromium
		}
	}
	cfg := verifier.DefaultConfig()
	cfg.MaxAge = maxAge

	var b *pb.Bundle
	var rep *pb.VerificationReport
	var from string
	if bundleFile != "" {
		from = "the offline bundle " + filepath.Base(bundleFile)
		if b, err = readBundleFile(bundleFile, cfg); err != nil {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitInvalid {
				return err
			}
			// A file that is not a bundle within the limits is an
			// INVALID lot as verify reports it: the report says so.
			rep = &pb.VerificationReport{LotId: lot, Verdict: pb.Verdict_VERDICT_INVALID, Errors: []string{err.Error()}}
		}
	} else {
		err = reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
			if b, err = c.Bundle(ctx, lot); err != nil {
				return err
			}
			// As verify: the bundle's checkpoint must extend every
			// checkpoint this client saw before.
			if _, err := c.CheckCheckpoint(ctx, trust.Log, client.DirCheckpointStore{Dir: t.stateDir, Log: trust.Log}, []byte(b.GetCheckpoint())); err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			return nil
		})
		if err != nil {
			return err
		}
		from = "a bundle fetched from " + g.addr
	}
	if rep == nil {
		rep = verifier.VerifyLot(lot, b, trust, cfg)
	}

	var html bytes.Buffer
	if err := report.HTML(&html, report.Input{Lot: lot, Bundle: b, Report: rep, Generated: time.Now(), Source: source(trust, from)}); err != nil {
		return err
	}
	switch {
	case out == "-":
		if _, err := e.stdout.Write(html.Bytes()); err != nil {
			return err
		}
	case pdf:
		if err := pdfprint.Print(ctx, browser, html.Bytes(), out); err != nil {
			return err
		}
	default:
		if err := os.WriteFile(out, html.Bytes(), 0o644); err != nil {
			return err
		}
	}
	switch {
	case g.json:
		// For scripts: the verification the report shows, as verify
		// --json prints it.
		if err := printJSON(e.stdout, rep); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "provctl report: wrote %s\n", out)
	case out != "-":
		fmt.Fprintf(e.stdout, "wrote %s: lot %s %s\n", out, lot, strings.TrimPrefix(rep.GetVerdict().String(), "VERDICT_"))
	}
	return verdictError(rep)
}

// source says, for the report's header, where the bundle came from and
// which pinned keys were trusted. It names no machine: the report goes into
// a compliance file, and the verifying computer's host name is nobody's
// business there.
func source(trust verifier.Trust, from string) string {
	s := fmt.Sprintf("Verified by provctl from %s, trusting only the pinned log key %s+%08x and the registrar key %s", from, trust.Log.Name(), trust.Log.KeyHash(), record.KeyID(trust.Registrar))
	if trust.Witnesses != nil {
		s += ", with the witness policy " + trust.Witnesses.Quorum()
	} else {
		s += ", with no witness policy"
	}
	return s + "."
}

// readBundleFile reads a bundle file within the verifier's limits, as
// bundle verify does: a file past the size limit is refused before any
// read.
func readBundleFile(path string, cfg verifier.Config) (*pb.Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > verifier.MaxBundleSize {
		return nil, &exitError{code: exitInvalid, err: fmt.Errorf("reading bundle: %s is %d bytes, more than the limit of %d (%d MiB)", path, fi.Size(), verifier.MaxBundleSize, verifier.MaxBundleSize>>20)}
	}
	b, err := verifier.ReadBundle(f, cfg.MaxRecords)
	if err != nil {
		return nil, &exitError{code: exitInvalid, err: fmt.Errorf("reading bundle: %w", err)}
	}
	return b, nil
}
