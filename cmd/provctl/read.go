package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/antimony-ledger/provenance/client"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
)

func init() {
	register("lot", "show a lot's state and custody history: LOT", showLot)
	register("party", "show a party and its keys: PARTY", showParty)
	register("lots", "list the lots a party holds: PARTY", showPartyLots)
	register("checkpoint", "fetch, verify and remember the latest checkpoint", showCheckpoint)
	register("proof inclusion", "fetch and check an inclusion proof: INDEX [TREE_SIZE]", proofInclusion)
	register("proof consistency", "show a consistency proof (checkpoint and verify check one for you): FIRST [SECOND]", proofConsistency)
	register("entry", "show the log entry at INDEX", showEntry)
}

// reader runs fn with a connected client and a deadline.
func reader(ctx context.Context, g *globals, fn func(ctx context.Context, c *client.Client) error) error {
	c, err := dial(g)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := withTimeout(ctx, g)
	defer cancel()
	return fn(ctx, c)
}

func showLot(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "lot", "LOT", &g)
	g.addAuth(fs)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		r, err := c.Lot(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(e.stdout, r)
		}
		l := r.GetLot()
		held := "held by"
		if l.GetConsumed() {
			held = "last held by" // it no longer exists
		}
		fmt.Fprintf(e.stdout, "lot %s: %s, %.1f kg, %.2f%% Sb, %s %s\n", l.GetLotId(), productName(l.GetProduct()), l.GetMassKg(), l.GetSbGradePct(), held, l.GetHolderPartyId())
		if l.GetInTransitTo() != "" {
			fmt.Fprintf(e.stdout, "in transit to %s (dispatch %s)\n", l.GetInTransitTo(), l.GetPendingDispatch())
		}
		if l.GetConsumed() {
			fmt.Fprintln(e.stdout, "used up by a transformation: its outputs are the lots that hold its material now")
		}
		if labs := l.GetNamedLabs(); len(labs) > 0 {
			fmt.Fprintf(e.stdout, "labs named by the holder: %s\n", strings.Join(labs, ", "))
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nINDEX\tEVENT TIME\tPARTY\tWHAT\tRECORD")
		for _, h := range r.GetHistory() {
			st := h.GetStatement()
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", h.GetIndex(), st.GetEventTime().AsTime().UTC().Format(time.DateTime), st.GetPartyId(), describeStatement(st), h.GetLeafHash())
		}
		return tw.Flush()
	})
}

func productName(p pb.Product) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PRODUCT_"))
}

// describeStatement says in a few words what a statement records.
func describeStatement(st *pb.Statement) string {
	switch b := st.GetBody().(type) {
	case *pb.Statement_Extraction:
		x := b.Extraction
		return fmt.Sprintf("extracted %.0f kg %s at %.1f%% Sb", x.GetMassKg(), productName(x.GetProduct()), x.GetSbGradePct())
	case *pb.Statement_Assay:
		var parts []string
		for _, el := range b.Assay.GetElements() {
			parts = append(parts, fmt.Sprintf("%s %g%%", el.GetElement(), el.GetPct()))
		}
		return "assay " + strings.Join(parts, ", ")
	case *pb.Statement_Dispatch:
		d := b.Dispatch
		s := fmt.Sprintf("dispatched %.0f kg to %s", d.GetMassKg(), d.GetToPartyId())
		if d.GetBorderCrossing() != "" {
			s += " via " + d.GetBorderCrossing()
		}
		return s
	case *pb.Statement_Correction:
		c := b.Correction
		var parts []string
		if c.MassKg != nil {
			parts = append(parts, fmt.Sprintf("mass %.0f kg", c.GetMassKg()))
		}
		if l := c.GetLocation(); l != nil {
			parts = append(parts, fmt.Sprintf("place %.4f, %.4f", l.GetLat(), l.GetLon()))
		}
		if c.SealsIntact != nil {
			parts = append(parts, fmt.Sprintf("seals intact %t", c.GetSealsIntact()))
		}
		s := fmt.Sprintf("corrected record %s: %s (%s)", c.GetCorrects(), strings.Join(parts, ", "), record.Printable(c.GetReason()))
		if cp := c.GetCounterpartyId(); cp != "" {
			s += ", co-signed by " + cp
		}
		return s
	case *pb.Statement_LabNomination:
		if labs := b.LabNomination.GetLabPartyIds(); len(labs) > 0 {
			return "named labs to assay it: " + strings.Join(labs, ", ")
		}
		return "withdrew every lab it had named"
	case *pb.Statement_Receipt:
		r := b.Receipt
		s := fmt.Sprintf("received %.0f kg", r.GetMassKg())
		if !r.GetSealsIntact() {
			s += ", seals broken"
		}
		return s
	case *pb.Statement_Transformation:
		t := b.Transformation
		var ins, outs []string
		for _, in := range t.GetInputs() {
			ins = append(ins, fmt.Sprintf("%s %.0f kg", in.GetLotId(), in.GetMassKg()))
		}
		for _, out := range t.GetOutputs() {
			outs = append(outs, fmt.Sprintf("%s %.0f kg %s", out.GetLotId(), out.GetMassKg(), productName(out.GetProduct())))
		}
		return fmt.Sprintf("%s %s -> %s", strings.ToLower(strings.TrimPrefix(t.GetKind().String(), "TRANSFORMATION_KIND_")), strings.Join(ins, " + "), strings.Join(outs, " + "))
	case *pb.Statement_PartyRegistration:
		return "registered " + b.PartyRegistration.GetPartyId()
	case *pb.Statement_KeyRotation:
		return "rotated a key of " + b.KeyRotation.GetPartyId() + " (new key " + record.KeyID(b.KeyRotation.GetNewKey().GetPublicKey()) + ")"
	case *pb.Statement_KeyRevocation:
		return "revoked a key of " + b.KeyRevocation.GetPartyId()
	case *pb.Statement_RegistrarRotation:
		return "replaced the registrar key with " + record.KeyID(b.RegistrarRotation.GetNewKey())
	}
	return "?"
}

func showParty(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "party", "PARTY", &g)
	g.addAuth(fs)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		r, err := c.Custody.GetParty(ctx, &apipb.GetPartyRequest{PartyId: fs.Arg(0)})
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(e.stdout, r)
		}
		reg := r.GetParty().GetRegistration()
		var roles []string
		for _, ro := range reg.GetRoles() {
			roles = append(roles, strings.TrimPrefix(ro.String(), "ROLE_"))
		}
		fmt.Fprintf(e.stdout, "party %s: %s (%s), %s\n", reg.GetPartyId(), reg.GetName(), reg.GetCountry(), strings.Join(roles, ", "))
		if m := reg.GetMine(); m != nil {
			deposit := m.GetDeposit()
			if deposit != "" {
				deposit += ", "
			}
			fmt.Fprintf(e.stdout, "mine: %slicensed %.0f t ore/yr, grade %.1f-%.1f%% Sb\n", deposit, m.GetAnnualOreCapacityKg()/1000, m.GetGradeMinPct(), m.GetGradeMaxPct())
		}
		for _, k := range r.GetParty().GetKeys() {
			state := "valid from " + k.GetNotBefore().AsTime().UTC().Format(time.RFC3339)
			if k.GetNotAfter() != nil {
				state += " until " + k.GetNotAfter().AsTime().UTC().Format(time.RFC3339)
			}
			if k.GetRevoked() {
				state = fmt.Sprintf("REVOKED at index %d", k.GetRevokedIndex())
			}
			if rec := k.GetRecoveryRecord(); rec != "" {
				state += "; RECOVERED by the registrar alone (record " + rec + ")"
			}
			fmt.Fprintf(e.stdout, "key %s: %s\n", k.GetKeyId(), state)
		}
		return nil
	})
}

func showPartyLots(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "lots", "PARTY", &g)
	g.addAuth(fs)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		r, err := c.Custody.ListPartyLots(ctx, &apipb.ListPartyLotsRequest{PartyId: fs.Arg(0)})
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(e.stdout, r)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LOT\tPRODUCT\tMASS KG\tSB %\tSTATE")
		for _, l := range r.GetLots() {
			state := "held"
			if l.GetInTransitTo() != "" {
				state = "in transit to " + l.GetInTransitTo()
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.2f\t%s\n", l.GetLotId(), productName(l.GetProduct()), l.GetMassKg(), l.GetSbGradePct(), state)
		}
		return tw.Flush()
	})
}

func showCheckpoint(ctx context.Context, e *env, args []string) error {
	var g globals
	var t trustFlags
	fs := newFlags(e, "checkpoint", "", &g)
	g.addAuth(fs)
	t.add(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	v, err := t.logVerifier()
	if err != nil {
		return err
	}
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		r, err := c.Ledger.GetCheckpoint(ctx, &apipb.GetCheckpointRequest{})
		if err != nil {
			return err
		}
		cp, err := c.CheckCheckpoint(ctx, v, client.DirCheckpointStore{Dir: t.stateDir, Log: v}, []byte(r.GetCheckpoint()))
		if err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
		if g.json {
			return printJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stdout, "checkpoint verified and consistent with the last one seen: %s, %d entries\n\n%s", cp.Origin, cp.Size, r.GetCheckpoint())
		if len(r.GetWitnesses()) > 0 {
			fmt.Fprintln(e.stdout, "\nwitnesses:")
			for _, w := range r.GetWitnesses() {
				state := "cosigned the latest cosigned checkpoint"
				if !w.GetCosigned() {
					state = "did not cosign it"
				}
				if w.GetError() != "" {
					state += "; last error: " + w.GetError()
				}
				fmt.Fprintf(e.stdout, "  %s  size %d  %s\n", w.GetName(), w.GetTreeSize(), state)
			}
		}
		if pol, err := t.policy(v.VKey()); err != nil {
			return err
		} else if pol != nil {
			wc, by, err := tlog.OpenWitnessed([]byte(r.GetCosignedCheckpoint()), v, pol, nil)
			if err != nil {
				return &exitError{code: exitInvalid, err: fmt.Errorf("cosigned checkpoint: %w", err)}
			}
			fmt.Fprintf(e.stdout, "\ncosigned checkpoint of %d entries meets the witness policy: cosigned by %s\n", wc.Size, strings.Join(by, ", "))
		}
		return nil
	})
}

func uintArgs(args []string) ([]uint64, error) {
	var out []uint64
	for _, a := range args {
		v, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return nil, usageErr("%q is not a non-negative integer", a)
		}
		out = append(out, v)
	}
	return out, nil
}

func proofInclusion(ctx context.Context, e *env, args []string) error {
	var g globals
	var t trustFlags
	fs := newFlags(e, "proof inclusion", "INDEX [TREE_SIZE]", &g)
	g.addAuth(fs)
	t.add(fs)
	if err := parse(fs, args, -1); err != nil {
		return err
	}
	nums, err := uintArgs(fs.Args())
	if err != nil || len(nums) < 1 || len(nums) > 2 {
		return usageErr("want INDEX [TREE_SIZE]")
	}
	v, err := t.logVerifier()
	if err != nil {
		return err
	}
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		cr, err := c.Ledger.GetCheckpoint(ctx, &apipb.GetCheckpointRequest{})
		if err != nil {
			return err
		}
		cp, err := c.CheckCheckpoint(ctx, v, client.DirCheckpointStore{Dir: t.stateDir, Log: v}, []byte(cr.GetCheckpoint()))
		if err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
		// The tree checked is the latest checkpoint's, or an older one
		// whose root the proof gives and a consistency proof ties to the
		// latest.
		size := cp.Size
		if len(nums) == 2 {
			if nums[1] > cp.Size {
				return usageErr("tree size %d is beyond the latest checkpoint (size %d)", nums[1], cp.Size)
			}
			size = nums[1]
		}
		if nums[0] >= size {
			return usageErr("index %d is not in a tree of size %d", nums[0], size)
		}
		ent, err := c.Ledger.GetEntry(ctx, &apipb.GetEntryRequest{Index: nums[0]})
		if err != nil {
			return err
		}
		r, err := c.Ledger.GetInclusionProof(ctx, &apipb.GetInclusionProofRequest{Index: nums[0], TreeSize: size})
		if err != nil {
			return err
		}
		hashes, err := client.ProofHashes(r.GetHashes())
		if err != nil {
			return &exitError{code: exitInvalid, err: fmt.Errorf("inclusion proof does not verify: %w", err)}
		}
		leaf, err := client.EntryLeaf(ent.GetEntry())
		if err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
		if err := inclusionAgainst(ctx, c, cp, leaf.Hash(), nums[0], size, hashes); err != nil {
			return err
		}
		if g.json {
			return printJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stdout, "entry %d (record %s) is in the tree of size %d: %d-hash proof verified", nums[0], ent.GetEntry().GetLeafHash(), size, len(hashes))
		if size != cp.Size {
			fmt.Fprintf(e.stdout, ", and that tree is consistent with the latest checkpoint (size %d)", cp.Size)
		}
		fmt.Fprintln(e.stdout)
		return nil
	})
}

// inclusionAgainst checks that proof puts the leaf with hash lh at index in the tree of
// the given size, against the trusted checkpoint cp: directly when that
// tree is cp's, or else through the root the proof gives and a
// consistency proof, fetched with c, from that tree to cp's. A check that
// fails is an *exitError; a failed request is returned as it is.
func inclusionAgainst(ctx context.Context, c *client.Client, cp tlog.Checkpoint, lh tlog.LeafHash, index, size uint64, proof [][32]byte) error {
	invalid := func(err error) error {
		return &exitError{code: exitInvalid, err: fmt.Errorf("inclusion proof does not verify: %w", err)}
	}
	if size == cp.Size {
		if err := tlog.VerifyInclusion(lh, index, size, proof, cp.Root); err != nil {
			return invalid(err)
		}
		return nil
	}
	root, err := tlog.InclusionRoot(lh, index, size, proof)
	if err != nil {
		return invalid(err)
	}
	cr, err := c.Ledger.GetConsistencyProof(ctx, &apipb.GetConsistencyProofRequest{First: size, Second: cp.Size})
	if err != nil {
		return err
	}
	cons, err := client.ProofHashes(cr.GetHashes())
	if err == nil {
		err = tlog.VerifyConsistency(size, cp.Size, cons, root, cp.Root)
	}
	if err != nil {
		return invalid(fmt.Errorf("the tree of size %d it puts the entry in is not consistent with the checkpoint of size %d: %w", size, cp.Size, err))
	}
	return nil
}

func proofConsistency(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "proof consistency", "FIRST [SECOND]", &g)
	g.addAuth(fs)
	if err := parse(fs, args, -1); err != nil {
		return err
	}
	nums, err := uintArgs(fs.Args())
	if err != nil || len(nums) < 1 || len(nums) > 2 {
		return usageErr("want FIRST [SECOND]")
	}
	second := uint64(0)
	if len(nums) == 2 {
		second = nums[1]
	}
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		r, err := c.Ledger.GetConsistencyProof(ctx, &apipb.GetConsistencyProofRequest{First: nums[0], Second: second})
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stdout, "consistency proof %d -> %d: %d hashes\n", r.GetFirst(), r.GetSecond(), len(r.GetHashes()))
		for _, h := range r.GetHashes() {
			fmt.Fprintf(e.stdout, "  %x\n", h)
		}
		return nil
	})
}

func showEntry(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "entry", "INDEX", &g)
	g.addAuth(fs)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	nums, err := uintArgs(fs.Args())
	if err != nil {
		return err
	}
	return reader(ctx, &g, func(ctx context.Context, c *client.Client) error {
		r, err := c.Ledger.GetEntry(ctx, &apipb.GetEntryRequest{Index: nums[0]})
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(e.stdout, r)
		}
		en := r.GetEntry()
		if len(en.GetData()) == 0 {
			// Reduced by the read policy to what a monitor needs.
			fmt.Fprintf(e.stdout, "entry %d, record %s\nlogged at %s\nthe record is withheld: you may not read it (README, \"Who may read what\"); authenticate with --key and --party as a party of its chain\n",
				en.GetIndex(), en.GetLeafHash(), en.GetRecordTime().AsTime().UTC().Format(time.RFC3339))
			return nil
		}
		fmt.Fprintf(e.stdout, "entry %d, record %s\nsigned by %s at %s: %s\n", en.GetIndex(), en.GetLeafHash(),
			en.GetStatement().GetPartyId(), en.GetStatement().GetEventTime().AsTime().UTC().Format(time.RFC3339), describeStatement(en.GetStatement()))
		return nil
	})
}
