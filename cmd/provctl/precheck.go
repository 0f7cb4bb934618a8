package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/antimony-ledger/provenance/client"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/tlog"
	"github.com/antimony-ledger/provenance/verifier"
)

// Checked before written: a record in the log is permanent, and so is a
// flag it raises. Before submitting a custody record, provctl verifies
// the lot as provctl verify does, then again with the signed record
// appended as the log would append it (verifier.PreviewLots), and asks
// before submitting a record that would raise a CRITICAL flag. An
// extraction, which starts a lot, is checked against its mine instead
// (precheck_extract.go).

// checkFlags are the flags of a command that appends a custody record.
type checkFlags struct {
	skip  bool
	yes   bool
	trust trustFlags
}

func (k *checkFlags) add(fs *flag.FlagSet) {
	fs.BoolVar(&k.skip, "no-check", false, "submit without first verifying the lot with the record added (by default provctl does, and asks before a record that would raise a CRITICAL flag; an extraction is checked against its mine's registration and yearly tallies)")
	fs.BoolVar(&k.yes, "yes", false, "submit even if the record would raise a CRITICAL flag or could not be checked (the flags are printed all the same); needed to do so when stdin is not a terminal")
	k.trust.add(fs)
}

// addCheck adds the check's flags to a command that submits a custody
// record.
func (g *globals) addCheck(fs *flag.FlagSet) {
	g.check = &checkFlags{}
	g.check.add(fs)
}

// recordLots returns the lots whose verification a statement changes
// (preview) and the existing lots whose bundles show it (from); none for a
// statement that does not continue a lot (an extraction starts one, with
// no history: check previews it against its mine; registry statements
// touch no lot).
func recordLots(st *pb.Statement) (preview, from []string) {
	switch b := st.GetBody().(type) {
	case *pb.Statement_Dispatch:
		from = []string{b.Dispatch.GetLotId()}
	case *pb.Statement_Receipt:
		from = []string{b.Receipt.GetLotId()}
	case *pb.Statement_Assay:
		from = []string{b.Assay.GetLotId()}
	case *pb.Statement_LabNomination:
		from = []string{b.LabNomination.GetLotId()}
	case *pb.Statement_Correction:
		from = []string{b.Correction.GetLotId()}
	case *pb.Statement_Transformation:
		for _, in := range b.Transformation.GetInputs() {
			if !slices.Contains(from, in.GetLotId()) {
				from = append(from, in.GetLotId())
			}
		}
		for _, out := range b.Transformation.GetOutputs() {
			if !slices.Contains(preview, out.GetLotId()) && !slices.Contains(from, out.GetLotId()) {
				preview = append(preview, out.GetLotId())
			}
		}
	}
	return append(preview, from...), from
}

// A refusal is a record not submitted: what it would raise, or why it
// could not be checked. With --json it is printed on stdout.
type refusal struct {
	Submitted bool              `json:"submitted"`
	Reason    string            `json:"reason"`
	NewFlags  []json.RawMessage `json:"newFlags"`
	Errors    []string          `json:"errors"`
}

// check verifies the lots env continues with and without it and, if env
// would raise a CRITICAL flag or cannot be checked, says so and asks
// (--yes answers for a caller that cannot be asked). A nil error means
// submit.
func (k *checkFlags) check(ctx context.Context, e *env, g *globals, c *client.Client, env *pb.Envelope) error {
	st, err := record.DecodeStatement(env.GetPayload())
	if err != nil {
		return nil // malformed: the server refuses it, and says why
	}
	preview, from := recordLots(st)
	if len(from) == 0 && st.GetExtraction() == nil {
		return nil
	}
	trust, err := k.trust.trust()
	if err != nil {
		if ee, ok := err.(*exitError); ok {
			return usageErr("%v; the pinned keys are needed to check the record before it is written (--no-check skips the check)", ee.err)
		}
		return err
	}
	ctx, cancel := withTimeout(ctx, g)
	defer cancel()
	if x := st.GetExtraction(); x != nil {
		base, err := k.extractionBase(ctx, e, c, trust, st)
		if err != nil {
			return err
		}
		return k.decide(e, g, verifier.PreviewNewLot(x.GetLotId(), base, []*pb.Envelope{env}, trust, verifier.DefaultConfig()))
	}
	bundles, err := fetchBundles(ctx, c, from)
	if err != nil {
		return err
	}
	if inLog(bundles, env) {
		return nil // the same record again: the server answers that it has it
	}
	// As provctl verify: the log must extend what this client saw.
	if _, err := c.CheckCheckpoint(ctx, trust.Log, client.DirCheckpointStore{Dir: k.trust.stateDir, Log: trust.Log}, []byte(bundles[0].GetCheckpoint())); err != nil {
		return &exitError{code: exitInvalid, err: fmt.Errorf("not submitted: %w", err)}
	}
	if err := addRegistration(ctx, c, trust, bundles, st.GetPartyId()); err != nil {
		return err
	}
	return k.decide(e, g, verifier.PreviewLots(preview, bundles, []*pb.Envelope{env}, trust, verifier.DefaultConfig()))
}

// decide prints what a preview found and, if the record would raise a
// CRITICAL flag or could not be checked, asks (--yes answers for a caller
// that cannot be asked). A nil error means submit.
func (k *checkFlags) decide(e *env, g *globals, p *verifier.Preview) error {
	var critical []*pb.Flag
	for _, f := range p.New {
		if f.GetSeverity() == pb.Severity_SEVERITY_CRITICAL {
			critical = append(critical, f)
		} else {
			fmt.Fprintf(e.stderr, "note: this record would raise %s %s on lot %s: %s\n", severityName(f.GetSeverity()), f.GetRule(), f.GetLotId(), f.GetMessage())
		}
	}
	if len(critical) == 0 && len(p.Errors) == 0 {
		return nil
	}
	if len(critical) > 0 {
		fmt.Fprintf(e.stderr, "This record would raise %d CRITICAL flag(s), permanent once the record is in the log:\n", len(critical))
		for _, f := range critical {
			fmt.Fprintf(e.stderr, "  %s on lot %s: %s\n", f.GetRule(), f.GetLotId(), f.GetMessage())
			if d := ruleDescription(f.GetRule()); d != "" {
				fmt.Fprintf(e.stderr, "    (%s: %s)\n", f.GetRule(), d)
			}
		}
		fmt.Fprintln(e.stderr, "Check the values you typed (masses, grades, lot, location, time).")
	}
	if len(p.Errors) > 0 {
		fmt.Fprintln(e.stderr, "The record could not be checked before it is written:")
		for _, m := range p.Errors {
			fmt.Fprintf(e.stderr, "  %s\n", m)
			if strings.Contains(m, "unknown key") {
				// addRegistration finds a registration, not the rotations
				// after it: the server has no call for a party's registry
				// records with their proofs.
				fmt.Fprintln(e.stderr, "  (provctl finds the registration of a party that has signed nothing in the lot's history, not its key rotations: a key a rotation added is not checked until then)")
			}
		}
	}
	if k.yes {
		fmt.Fprintln(e.stderr, "Submitting anyway (--yes).")
		return nil
	}
	reason := "not submitted: stdin is not a terminal, so provctl cannot ask; correct the record, or pass --yes to submit it anyway"
	if len(critical) == 0 {
		reason = "not submitted: stdin is not a terminal, so provctl cannot ask; pass --yes to submit it unchecked"
	}
	if e.interactive {
		if a := e.ask("Submit anyway? [y/N] "); a == "y" || a == "yes" {
			return nil
		}
		reason = "not submitted"
	}
	if g.json {
		r := refusal{Reason: reason, NewFlags: []json.RawMessage{}, Errors: p.Errors}
		if r.Errors == nil {
			r.Errors = []string{}
		}
		for _, f := range critical {
			b, err := jsonOptions.Marshal(f)
			if err != nil {
				return err
			}
			r.NewFlags = append(r.NewFlags, b)
		}
		if err := printPlainJSON(e.stdout, r); err != nil {
			return err
		}
	}
	return errors.New(reason)
}

// fetchBundles fetches the lots' bundles, again if the log grew between
// two of them, so that all are of one checkpoint.
func fetchBundles(ctx context.Context, c *client.Client, lots []string) ([]*pb.Bundle, error) {
	var bundles []*pb.Bundle
	for try := 0; try < 3; try++ {
		bundles = bundles[:0]
		for _, lot := range lots {
			b, err := c.Bundle(ctx, lot)
			if err != nil {
				return nil, err
			}
			bundles = append(bundles, b)
		}
		if !slices.ContainsFunc(bundles, func(b *pb.Bundle) bool { return b.GetCheckpoint() != bundles[0].GetCheckpoint() }) {
			break
		}
	}
	return bundles, nil
}

// addRegistration adds the signer's registration record, with its
// inclusion proof to the bundles' checkpoint, to the first bundle when no
// bundle holds it: an addressee who has signed nothing in the lot's
// history is not in its bundle, and its signature needs its key. (A key
// it was given by a rotation is not found this way: the preview then says
// it cannot check the record.)
func addRegistration(ctx context.Context, c *client.Client, trust verifier.Trust, bundles []*pb.Bundle, party string) error {
	for _, b := range bundles {
		for _, br := range b.GetRecords() {
			if _, st, err := record.Decode(br.GetData()); err == nil && st.GetPartyRegistration().GetPartyId() == party {
				return nil
			}
		}
	}
	cp, err := tlog.OpenCheckpoint([]byte(bundles[0].GetCheckpoint()), trust.Log)
	if err != nil {
		return nil // the preview says why the bundle does not verify
	}
	pr, err := c.Custody.GetParty(ctx, &apipb.GetPartyRequest{PartyId: party})
	if err != nil {
		return err
	}
	rr, err := c.Ledger.GetRecord(ctx, &apipb.GetRecordRequest{LeafHash: pr.GetParty().GetRegistrationRecord()})
	if err != nil {
		return err
	}
	ent := rr.GetEntry()
	if ent.GetIndex() >= cp.Size {
		return nil // registered after the checkpoint: the preview says it cannot find the party
	}
	proof, err := c.Ledger.GetInclusionProof(ctx, &apipb.GetInclusionProofRequest{Index: ent.GetIndex(), TreeSize: cp.Size})
	if err != nil {
		return err
	}
	br := &pb.BundleRecord{Index: ent.GetIndex(), Data: ent.GetData(), InclusionProof: proof.GetHashes(),
		IntegratedTime: ent.GetRecordTime(), Extra: ent.GetExtra(), MapRoot: ent.GetMapRoot()}
	b := bundles[0]
	i, found := slices.BinarySearchFunc(b.Records, br.Index, func(r *pb.BundleRecord, idx uint64) int {
		switch {
		case r.GetIndex() < idx:
			return -1
		case r.GetIndex() > idx:
			return 1
		}
		return 0
	})
	if found {
		b.Records[i] = br // a leaf shown without its record
	} else {
		b.Records = slices.Insert(b.Records, i, br)
	}
	return nil
}

func severityName(s pb.Severity) string { return strings.TrimPrefix(s.String(), "SEVERITY_") }

// ruleDescription says in plain words what a rule flags.
func ruleDescription(id string) string {
	for _, r := range verifier.Rules() {
		if r.ID == id {
			return r.Description
		}
	}
	return ""
}

// jsonOptions are how provctl prints protobuf messages as JSON: every
// field present, zeros included, so a script finds the same fields in
// every answer.
var jsonOptions = protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: true}

// inLog reports whether env is a record of one of bundles already: the
// same signed record submitted again, which the server takes as the one
// it has, and which a preview cannot append a second time.
func inLog(bundles []*pb.Bundle, env *pb.Envelope) bool {
	data, err := record.EncodeEnvelope(env)
	if err != nil {
		return false
	}
	rid := tlog.RecordIDOf(data)
	for _, b := range bundles {
		for _, r := range b.GetRecords() {
			if tlog.RecordIDOf(r.GetData()) == rid {
				return true
			}
		}
	}
	return false
}
