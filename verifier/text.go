package verifier

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"google.golang.org/protobuf/proto"
)

// Text renders a report for people: the verdict first, then the contained
// antimony with its origins and untraced share, then the flags (most
// severe first) with evidence hashes shortened, then any errors. Every
// string of the report is printed with its control and bidirectional
// characters escaped (record.Printable): a report of a hostile bundle
// cannot rewrite the screen it is shown on.
func Text(r *pb.VerificationReport) string {
	r = printable(r)
	var b strings.Builder
	verdict := strings.TrimPrefix(r.GetVerdict().String(), "VERDICT_")
	fmt.Fprintf(&b, "%s  lot %s\n", verdict, r.GetLotId())
	fmt.Fprintf(&b, "records %d, checkpoint tree size %d", r.GetRecords(), r.GetTreeSize())
	if ct := r.GetCheckpointTime(); ct != nil {
		fmt.Fprintf(&b, ", signed %s", ct.AsTime().UTC().Format(time.RFC3339))
	}
	if w := r.GetWitnessedBy(); len(w) > 0 {
		fmt.Fprintf(&b, ", witnessed by %s", strings.Join(w, ", "))
	}
	b.WriteString("\n")
	if r.GetVerdict() != pb.Verdict_VERDICT_INVALID {
		if by := r.GetConsumedBy(); by != "" {
			fmt.Fprintf(&b, "used up by transformation %s: the lot no longer exists, nobody holds it\n", shorten(by))
		} else if to := r.GetInTransitTo(); to != "" {
			fmt.Fprintf(&b, "held by %s, in transit to %s (dispatch %s)\n", r.GetHolderPartyId(), to, shorten(r.GetPendingDispatch()))
		} else if h := r.GetHolderPartyId(); h != "" {
			fmt.Fprintf(&b, "held by %s (latest record %s)\n", h, shorten(r.GetHeadRecord()))
		}
		fmt.Fprintf(&b, "mass %.1f kg, contained Sb %.1f kg\n", r.GetMassKg(), r.GetContainedSbKg())
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		if len(r.GetOrigins()) > 0 {
			fmt.Fprintln(&b, "origins:")
			for _, o := range r.GetOrigins() {
				fmt.Fprintf(tw, "  %s\t%.1f kg\t%.1f %%\t\n", o.GetMinePartyId(), o.GetSbKg(), o.GetShare()*100)
			}
			tw.Flush()
		}
		fmt.Fprintf(&b, "untraced %.1f %%\n", r.GetUntracedShare()*100)
	}
	if fs := r.GetFlags(); len(fs) > 0 {
		fmt.Fprintf(&b, "flags (%d):\n", len(fs))
		for _, f := range fs {
			sev := strings.TrimPrefix(f.GetSeverity().String(), "SEVERITY_")
			fmt.Fprintf(&b, "  %-8s %s  lot %s, party %s, index %d\n", sev, f.GetRule(), f.GetLotId(), f.GetPartyId(), f.GetIndex())
			fmt.Fprintf(&b, "           %s\n", f.GetMessage())
			if ev := f.GetEvidence(); len(ev) > 0 {
				short := make([]string, len(ev))
				for i, e := range ev {
					short[i] = shorten(e)
				}
				fmt.Fprintf(&b, "           evidence: %s\n", strings.Join(short, " "))
			}
			if by := f.GetCorrectedBy(); len(by) > 0 {
				short := make([]string, len(by))
				for i, e := range by {
					short[i] = shorten(e)
				}
				fmt.Fprintf(&b, "           CORRECTED by %s: raised on the values as first signed, withdrawn by the correction; not counted in the verdict\n", strings.Join(short, " "))
			}
		}
	}
	if cs := r.GetCorrections(); len(cs) > 0 {
		fmt.Fprintf(&b, "corrections (%d):\n", len(cs))
		for _, c := range cs {
			fmt.Fprintf(&b, "  %s corrects index %d (%s): %s\n", shorten(c.GetRecord()), c.GetCorrectsIndex(), shorten(c.GetCorrects()), strings.Join(c.GetChanges(), "; "))
			fmt.Fprintf(&b, "           reason: %s\n", c.GetReason())
			if c.GetAfterLotMovedOn() {
				b.WriteString("           made after the lot had moved on\n")
			}
		}
	}
	if es := r.GetErrors(); len(es) > 0 {
		fmt.Fprintf(&b, "errors (%d):\n", len(es))
		for _, e := range es {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}

// shorten keeps the distinctive head and tail of a base58 multihash (its
// first two characters are the same for every sha2-256 multihash).
func shorten(id string) string {
	if len(id) <= 16 {
		return id
	}
	return id[:10] + "…" + id[len(id)-4:]
}

// printable returns a copy of m with every string field, at any depth,
// made printable by record.Printable.
func printable[M proto.Message](m M) M {
	c := proto.Clone(m).(M)
	record.MapStrings(c, record.Printable)
	return c
}
