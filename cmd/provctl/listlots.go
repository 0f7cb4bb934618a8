package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/antimony-ledger/provenance/client"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

func init() {
	register("list-lots", "list lots with their current verdicts (--holder, --product, --verdict, --rule)", listLots)
}

// listLots lists lots, following the listing's pages up to --limit.
func listLots(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "list-lots", "", &g)
	g.addAuth(fs)
	holder := fs.String("holder", "", "only lots this party holds or has in transit to it")
	product := fs.String("product", "", "only lots of this product: ORE, CONCENTRATE, TRIOXIDE, ...")
	verdict := fs.String("verdict", "", "only lots with this verdict: VERIFIED, FLAGGED or INVALID")
	rule := fs.String("rule", "", "only lots with a current flag of this rule")
	limit := fs.Int("limit", 1000, "stop after this many lots (the JSON then carries nextPageToken to go on)")
	token := fs.String("page-token", "", "start from this nextPageToken of an earlier listing")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	req := &apipb.ListLotsRequest{HolderPartyId: *holder, Rule: *rule, PageToken: *token}
	if *product != "" {
		p, err := parseProduct(*product)
		if err != nil {
			return err
		}
		req.Product = p
	}
	if *verdict != "" {
		v, ok := pb.Verdict_value["VERDICT_"+strings.ToUpper(*verdict)]
		if !ok || v == 0 {
			return usageErr("--verdict %q: want VERIFIED, FLAGGED or INVALID", *verdict)
		}
		req.Verdict = pb.Verdict(v)
	}
	if *limit <= 0 {
		return usageErr("--limit must be positive")
	}
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		all := &apipb.ListLotsResponse{}
		for {
			req.PageSize = int32(min(*limit-len(all.Lots), 1000))
			r, err := c.Verifier.ListLots(ctx, req)
			if err != nil {
				return usageIfInvalid(err, req.PageToken == *token)
			}
			all.Lots = append(all.Lots, r.GetLots()...)
			all.PendingLots, all.UnreadRecords, all.NextPageToken, all.FollowerOff = r.GetPendingLots(), r.GetUnreadRecords(), r.GetNextPageToken(), r.GetFollowerOff()
			if r.GetNextPageToken() == "" || len(all.Lots) >= *limit {
				break
			}
			req.PageToken = r.GetNextPageToken()
		}
		incomplete(e, "list-lots", "verdicts", all.GetPendingLots(), all.GetUnreadRecords(), all.GetFollowerOff())
		if g.json {
			return printJSON(e.stdout, all)
		}
		if len(all.GetLots()) == 0 {
			// As flags says: a bare header reads as a broken listing.
			fmt.Fprintln(e.stdout, "no lots (among the lots you may read)")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LOT\tHOLDER\tPRODUCT\tMASS KG\tVERDICT\tRULES")
		for _, l := range all.GetLots() {
			v := strings.TrimPrefix(l.GetVerdict().String(), "VERDICT_")
			if l.GetVerdict() == pb.Verdict_VERDICT_UNSPECIFIED {
				v = "not yet verified"
			}
			if n := l.GetUnreadRecords(); n > 0 {
				v += fmt.Sprintf(" (before %d of its records)", n)
			}
			rules := strings.Join(l.GetRules(), ",")
			if rules == "" {
				rules = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\n", l.GetLot().GetLotId(), l.GetLot().GetHolderPartyId(), productName(l.GetLot().GetProduct()), l.GetLot().GetMassKg(), v, rules)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if all.GetNextPageToken() != "" {
			fmt.Fprintf(e.stderr, "provctl list-lots: stopped at --limit %d; go on with %s\n", *limit, goOn(fs, all.GetNextPageToken(), "holder", "product", "verdict", "rule"))
		}
		return nil
	})
}

// goOn is what a listing cut at --limit tells its user to go on with: the
// filters of fs it was given (a page token goes on only with them), and
// the token.
func goOn(fs *flag.FlagSet, token string, filters ...string) string {
	var args []string
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(filters, f.Name) {
			args = append(args, "--"+f.Name, shellQuote(f.Value.String()))
		}
	})
	return strings.Join(append(args, "--page-token", token), " ")
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/+=@%,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
