package main

import (
	"context"
	"flag"
	"fmt"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

func init() {
	register("correct", "correct the mass, place or seal state of your own extraction, dispatch or receipt, once (the other side of a handoff co-signs): --record ID --lot LOT --reason TEXT", correct)
}

// correct signs a correction of the party's own record. It reads the lot's
// history for the record's kind and, for a dispatch or a receipt, the
// counterparty who must co-sign: with --counterparty-key here, or later
// with provctl cosign on the request --sign-only prints.
func correct(ctx context.Context, e *env, args []string) error {
	var g globals
	var k keyFlags
	fs := newFlags(e, "correct", "", &g)
	g.addSignOnly(fs)
	g.addCheck(fs) // a correction is permanent too, and corrected once (a new user's trial)
	k.add(fs)
	id := fs.String("record", "", "id of the record to correct: your extraction, dispatch or receipt")
	lot := fs.String("lot", "", "the record's lot")
	mass := fs.Float64("mass-kg", 0, "the corrected wet mass, kg")
	lat := fs.Float64("lat", 0, "the corrected place (an extraction's site, a receipt's location): latitude")
	lon := fs.Float64("lon", 0, "the corrected place: longitude")
	intact := fs.Bool("seals-intact", false, "correct a receipt to seals intact")
	broken := fs.Bool("seals-broken", false, "correct a receipt to seals broken")
	reason := fs.String("reason", "", "why the record was wrong (required; it is on the record for good)")
	cpKey := fs.String("counterparty-key", "", "a private key of the other side of the handoff (a dispatch's addressee, a receipt's sender), which co-signs; without it, --sign-only hands the request to them (provctl cosign)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case *id == "" || *lot == "" || *reason == "":
		return usageErr("--record, --lot and --reason are required: a correction names the record it corrects and says why")
	case *intact && *broken:
		return usageErr("--seals-intact and --seals-broken: give one")
	case set["lat"] != set["lon"]:
		return usageErr("--lat and --lon go together")
	case !set["mass-kg"] && !set["lat"] && !*intact && !*broken:
		return usageErr("nothing to correct: give --mass-kg, --lat and --lon, or --seals-intact / --seals-broken")
	}
	s, err := k.signer(&g)
	g.as = s
	if err != nil {
		return err
	}
	c := &pb.Correction{LotId: *lot, Corrects: *id, Reason: *reason}
	if set["mass-kg"] {
		c.MassKg = mass
	}
	if set["lat"] {
		c.Location = &pb.Location{Lat: *lat, Lon: *lon}
	}
	if *intact || *broken {
		c.SealsIntact = intact
	}
	if c.CounterpartyId, err = counterpartyOf(ctx, &g, *lot, *id); err != nil {
		return err
	}
	st := &pb.Statement{Body: &pb.Statement_Correction{Correction: c}}
	if c.GetCounterpartyId() == "" {
		return submit(ctx, e, &g, s, st)
	}
	if *cpKey == "" {
		if !g.signOnly {
			return usageErr("record %s is one side of a handoff: its correction is co-signed by %q; give --counterparty-key, or --sign-only to hand the request to them (provctl cosign --key THEIR_KEY REQUEST.json)", *id, c.GetCounterpartyId())
		}
		return submit(ctx, e, &g, s, st)
	}
	key, err := readPrivate("--counterparty-key", *cpKey)
	if err != nil {
		return err
	}
	return submit(ctx, e, &g, s, st, key)
}

// counterpartyOf reads lot's history and returns who co-signs a correction
// of record id: "" for an extraction, a dispatch's addressee, a receipt's
// sender.
func counterpartyOf(ctx context.Context, g *globals, lot, id string) (string, error) {
	c, err := dial(g)
	if err != nil {
		return "", err
	}
	defer c.Close()
	ctx, cancel := withTimeout(ctx, g)
	defer cancel()
	r, err := c.Lot(ctx, lot)
	if err != nil {
		return "", err
	}
	byID := map[string]*pb.Statement{}
	for _, h := range r.GetHistory() {
		byID[h.GetLeafHash()] = h.GetStatement()
	}
	st := byID[id]
	if st == nil {
		return "", fmt.Errorf("record %s is not in lot %q's history", id, lot)
	}
	switch b := st.GetBody().(type) {
	case *pb.Statement_Extraction:
		return "", nil
	case *pb.Statement_Dispatch:
		return b.Dispatch.GetToPartyId(), nil
	case *pb.Statement_Receipt:
		if d := byID[b.Receipt.GetDispatchLink()]; d != nil {
			return d.GetPartyId(), nil
		}
		return "", fmt.Errorf("the dispatch %s that receipt %s answers is not in lot %q's history", b.Receipt.GetDispatchLink(), id, lot)
	}
	return "", fmt.Errorf("record %s is not an extraction, dispatch or receipt: only those are corrected", id)
}
