package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/client"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

func init() {
	register("verify", "verify a lot here, trusting only the pinned keys: LOT", verifyLot)
	register("bundle export", "write a lot's offline provenance bundle: LOT", bundleExport)
	register("bundle verify", "verify a bundle file offline, with no server: FILE", bundleVerify)
	register("flags", "list the flags raised across the log", listFlags)
	register("rules", "list the verifier's rules", listRules)
}

// verdictError maps a report's verdict to the exit code.
func verdictError(r *pb.VerificationReport) error {
	switch r.GetVerdict() {
	case pb.Verdict_VERDICT_VERIFIED:
		return nil
	case pb.Verdict_VERDICT_FLAGGED:
		return &exitError{code: exitFlagged, err: fmt.Errorf("lot %s: %d flag(s)", r.GetLotId(), len(r.GetFlags()))}
	}
	return &exitError{code: exitInvalid, err: fmt.Errorf("lot %s: verification failed", r.GetLotId())}
}

func printReport(e *env, g *globals, r *pb.VerificationReport) error {
	if g.json {
		if err := printJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		fmt.Fprint(e.stdout, verifier.Text(r))
	}
	return verdictError(r)
}

// defaultMaxAge is how old a bundle's checkpoint may be unless --max-age
// says otherwise: a buyer paying today wants today's log, and a quiet log
// re-signs its checkpoint each minute it is read.
const defaultMaxAge = 24 * time.Hour

func maxAgeFlag(fs *flag.FlagSet, v *time.Duration) {
	fs.DurationVar(v, "max-age", defaultMaxAge, "refuse a bundle whose checkpoint was signed longer ago than this (exit 4); 0: any age")
}

func verifyLot(ctx context.Context, e *env, args []string) error {
	var g globals
	var t trustFlags
	var maxAge time.Duration
	fs, trust, err := parseTrusted(e, "verify", "LOT", args, &g, &t, func(fs *flag.FlagSet) { maxAgeFlag(fs, &maxAge) })
	if err != nil {
		return err
	}
	if maxAge < 0 {
		return usageErr("--max-age %s: want a positive duration such as 24h, or 0", maxAge)
	}
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		b, err := c.Bundle(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		// The bundle's checkpoint must extend every checkpoint this client
		// saw before: a rolled-back or forked log fails here.
		if _, err := c.CheckCheckpoint(ctx, trust.Log, client.DirCheckpointStore{Dir: t.stateDir, Log: trust.Log}, []byte(b.GetCheckpoint())); err != nil {
			if g.json {
				// A script reads the verdict on stdout, whatever failed.
				rep := &pb.VerificationReport{LotId: fs.Arg(0), Verdict: pb.Verdict_VERDICT_INVALID, Errors: []string{err.Error()}}
				rep.Text = verifier.Text(rep)
				if perr := printJSON(e.stdout, rep); perr != nil {
					return perr
				}
			}
			return &exitError{code: exitInvalid, err: err}
		}
		cfg := verifier.DefaultConfig()
		cfg.MaxAge = maxAge
		return printReport(e, &g, verifier.VerifyLot(fs.Arg(0), b, trust, cfg))
	})
}

// parseTrusted parses a command that takes one argument and verifies
// against the pinned keys, and returns those keys.
func parseTrusted(e *env, name, arg string, args []string, g *globals, t *trustFlags, more ...func(*flag.FlagSet)) (*flag.FlagSet, verifier.Trust, error) {
	fs := newFlags(e, name, arg, g)
	g.addAuth(fs)
	t.add(fs)
	for _, f := range more {
		f(fs)
	}
	if err := parse(fs, args, 1); err != nil {
		return nil, verifier.Trust{}, err
	}
	trust, err := t.trust()
	if err == nil && trust.Witnesses == nil {
		fmt.Fprintf(e.stderr, "provctl %s: no --witness-policy: the checkpoint's witness cosignatures are not checked, so a log that shows you a history others do not see would go unnoticed\n", name)
	}
	return fs, trust, err
}

func (t *trustFlags) trust() (verifier.Trust, error) {
	v, err := t.logVerifier()
	if err != nil {
		return verifier.Trust{}, err
	}
	reg, err := t.registrar()
	if err != nil {
		return verifier.Trust{}, err
	}
	p, err := t.policy(v.VKey())
	if err != nil {
		return verifier.Trust{}, err
	}
	return verifier.Trust{Log: v, Registrar: reg, Witnesses: p}, nil
}

func bundleExport(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "bundle export", "LOT", &g)
	g.addAuth(fs)
	out := fs.String("o", "", "output file (default LOT.bundle.json)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if *out == "" {
		*out = fs.Arg(0) + ".bundle.json"
	}
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		b, err := c.Bundle(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		data, err := verifier.MarshalBundle(b)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, data, 0o644); err != nil {
			return err
		}
		if g.json {
			return printPlainJSON(e.stdout, map[string]any{"file": *out, "lotId": b.GetLotId(), "records": len(b.GetRecords()), "treeSize": checkpointSize(b.GetCheckpoint())})
		}
		fmt.Fprintf(e.stdout, "wrote %s: %d records, checkpoint of %s entries\n", *out, len(b.GetRecords()), checkpointSize(b.GetCheckpoint()))
		return nil
	})
}

func checkpointSize(n string) string {
	lines := strings.SplitN(n, "\n", 3)
	if len(lines) < 2 {
		return "?"
	}
	return lines[1]
}

func bundleVerify(ctx context.Context, e *env, args []string) error {
	var g globals
	var t trustFlags
	var lot string
	var maxAge time.Duration
	fs, trust, err := parseTrusted(e, "bundle verify", "FILE", args, &g, &t, func(fs *flag.FlagSet) {
		fs.StringVar(&lot, "lot", "", "the lot the bundle must be of (recommended: a bundle of another lot is refused)")
		maxAgeFlag(fs, &maxAge)
	})
	if err != nil {
		return err
	}
	if maxAge < 0 {
		return usageErr("--max-age %s: want a positive duration such as 24h, or 0", maxAge)
	}
	cfg := verifier.DefaultConfig()
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	// A regular file larger than the limit is refused before any read.
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > verifier.MaxBundleSize {
		return &exitError{code: exitInvalid, err: fmt.Errorf("reading bundle: %s is %d bytes, more than the limit of %d (%d MiB)", fs.Arg(0), fi.Size(), verifier.MaxBundleSize, verifier.MaxBundleSize>>20)}
	}
	bundle, err := verifier.ReadBundle(f, cfg.MaxRecords)
	if err != nil {
		return &exitError{code: exitInvalid, err: fmt.Errorf("reading bundle: %w", err)}
	}
	cfg.MaxAge = maxAge
	if lot == "" {
		lot = bundle.GetLotId()
		fmt.Fprintf(e.stderr, "provctl bundle verify: no --lot: verifying the lot the bundle names (%q); pass --lot to refuse another lot's bundle\n", lot)
	}
	rep := verifier.VerifyLot(lot, bundle, trust, cfg)
	err = printReport(e, &g, rep)
	printAge(e, &g, rep)
	return err
}

// printAge prints how long ago a bundle's checkpoint was signed (on
// stdout after the report, or on stderr with --json): a bundle says what
// the log held then, not what it holds now.
func printAge(e *env, g *globals, rep *pb.VerificationReport) {
	ct := rep.GetCheckpointTime()
	if ct == nil {
		return // INVALID before the checkpoint was read: the report says why
	}
	w := e.stdout
	if g.json {
		w = e.stderr
	}
	if age := time.Since(ct.AsTime()); age >= 0 {
		fmt.Fprintf(w, "bundle as of the log's checkpoint signed %s, %s ago\n", ct.AsTime().UTC().Format(time.RFC3339), verifier.Age(age))
	} else {
		fmt.Fprintf(w, "bundle as of the log's checkpoint signed %s, %s ahead of this machine's clock\n", ct.AsTime().UTC().Format(time.RFC3339), verifier.Age(-age))
	}
}

func listFlags(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "flags", "", &g)
	g.addAuth(fs)
	party := fs.String("flagged-party", "", "only flags naming this party")
	rule := fs.String("rule", "", "only this rule id")
	lot := fs.String("lot", "", "only this lot")
	sev := fs.String("min-severity", "", "INFO, WARNING or CRITICAL")
	since := fs.String("since", "", "only events at or after this time, RFC 3339")
	until := fs.String("until", "", "only events before this time, RFC 3339")
	limit := fs.Int("limit", 10000, "stop after this many flags (the JSON then carries nextPageToken to go on)")
	token := fs.String("page-token", "", "start from this nextPageToken of an earlier listing")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *limit <= 0 {
		return usageErr("--limit must be positive")
	}
	req := &apipb.ListFlagsRequest{PartyId: *party, Rule: *rule, LotId: *lot}
	if *sev != "" {
		v, ok := pb.Severity_value["SEVERITY_"+strings.ToUpper(*sev)]
		if !ok {
			return usageErr("--min-severity %q: want INFO, WARNING or CRITICAL", *sev)
		}
		req.MinSeverity = pb.Severity(v)
	}
	if *since != "" {
		t, err := parseTime("--since", *since)
		if err != nil {
			return err
		}
		req.Since = timestamppb.New(t)
	}
	if *until != "" {
		t, err := parseTime("--until", *until)
		if err != nil {
			return err
		}
		req.Until = timestamppb.New(t)
	}
	req.PageToken = *token
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		r := &apipb.ListFlagsResponse{}
		for {
			req.PageSize = int32(min(*limit-len(r.Flags), 5000))
			page, err := c.Verifier.ListFlags(ctx, req)
			if err != nil {
				return usageIfInvalid(err, req.PageToken == *token)
			}
			r.Flags = append(r.Flags, page.GetFlags()...)
			r.PendingLots, r.UnreadRecords, r.NextPageToken, r.FollowerOff = page.GetPendingLots(), page.GetUnreadRecords(), page.GetNextPageToken(), page.GetFollowerOff()
			if page.GetNextPageToken() == "" || len(r.Flags) >= *limit {
				break
			}
			req.PageToken = page.GetNextPageToken()
		}
		incomplete(e, "flags", "flags", r.GetPendingLots(), r.GetUnreadRecords(), r.GetFollowerOff())
		if g.json {
			return printJSON(e.stdout, r)
		}
		if len(r.GetFlags()) == 0 {
			// A bare header read as a broken listing in a new-user trial.
			fmt.Fprintln(e.stdout, "no flags (among the lots you may read)")
		} else {
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEVERITY\tRULE\tLOT\tPARTY\tINDEX\tMESSAGE")
			for _, f := range r.GetFlags() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", strings.TrimPrefix(f.GetSeverity().String(), "SEVERITY_"), flagRule(f), f.GetLotId(), f.GetPartyId(), f.GetIndex(), f.GetMessage())
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if r.GetNextPageToken() != "" {
			// A listing cut at --limit said nothing (a new user's trial:
			// 10,000 of 56,781 flags, exit 0), as list-lots says.
			fmt.Fprintf(e.stderr, "provctl flags: stopped at --limit %d; go on with %s\n", *limit, goOn(fs, r.GetNextPageToken(), "flagged-party", "rule", "lot", "min-severity", "since", "until"))
		}
		return nil
	})
}

// flagRule is a flag's rule as the plain listing shows it: a flag a
// correction withdrew is marked, for it stays listed but does not count in
// the lot's verdict.
func flagRule(f *pb.Flag) string {
	by := f.GetCorrectedBy()
	if len(by) == 0 {
		return f.GetRule()
	}
	short := make([]string, len(by))
	for i, id := range by {
		short[i] = shortID(id)
	}
	return fmt.Sprintf("%s (corrected by %s: not counted)", f.GetRule(), strings.Join(short, ", "))
}

// shortID keeps the distinctive head and tail of a record id, as the
// verification report does.
func shortID(id string) string {
	if len(id) <= 16 {
		return id
	}
	return id[:10] + "…" + id[len(id)-4:]
}

// usageIfInvalid makes the server's InvalidArgument answer to a listing's
// first request, the one the command line made (first: a rule it does not
// know, a bad --page-token or time range), a usage error, exit 2, as
// provctl's own checks of the other filters are: the server knows the
// rules it takes, which a provctl of another build may not. A refusal of
// a later page's token, the server's own (it restarted meanwhile), is not
// the command line's fault, and stays exit 1.
func usageIfInvalid(err error, first bool) error {
	if first && status.Code(err) == codes.InvalidArgument {
		return &exitError{code: exitUsage, err: err}
	}
	return err
}

func listRules(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "rules", "", &g)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if g.json {
		type rule struct {
			ID          string `json:"id"`
			Severity    string `json:"severity"`
			Description string `json:"description"`
		}
		rules := []rule{}
		for _, r := range verifier.Rules() {
			rules = append(rules, rule{r.ID, r.Severity.String(), r.Description})
		}
		return printPlainJSON(e.stdout, map[string]any{"rules": rules})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSEVERITY\tWHAT IT FLAGS")
	for _, r := range verifier.Rules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, strings.TrimPrefix(r.Severity.String(), "SEVERITY_"), r.Description)
	}
	return tw.Flush()
}

// incomplete says on stderr that a listing of what (its flags, its
// verdicts) is not complete, if the server says so: lots to verify in full
// and records to replay, which come later, unless its flag follower is
// off.
func incomplete(e *env, cmd, what string, pending, unread uint64, off bool) {
	switch {
	case pending == 0 && unread == 0:
	case off:
		fmt.Fprintf(e.stderr, "provctl %s: not complete: the server has %d lots to verify in full (after a key revocation or rotation, or a correction the listing does not follow) and %d records to replay, and its flag follower is off (provenanced --no-flag-follower, or a nearly full disk), so they wait until it runs; their %s may be missing or out of date\n",
			cmd, pending, unread, what)
	default:
		fmt.Fprintf(e.stderr, "provctl %s: not yet complete: the server has %d lots to verify in full (after a key revocation or rotation, or a correction the listing does not follow) and %d records to replay; their %s may be missing or out of date, list again later\n",
			cmd, pending, unread, what)
	}
}
