package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	apipb "github.com/antimony-ledger/provenance/proto/provenance/v1"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

func init() {
	register("keygen", "make a party key pair: KEYFILE (0600) and KEYFILE.pub", keygen)
	register("register", "register a party (signed with the registrar key)", registerParty)
	register("rotate-key", "add a party key and retire another (the party's current key and the registrar co-sign; the registrar key from --registrar-key or PROVCTL_REGISTRAR_KEY)", rotateKey)
	register("revoke-key", "revoke a party key (signed with the registrar key from --registrar-key or PROVCTL_REGISTRAR_KEY)", revokeKey)
	register("submit", "submit a prepared request or envelope file (from --sign-only): FILE", submitFile)
	register("cosign", "add a signature to a prepared request (from --sign-only) and submit it", cosign)
	register("rotate-registrar", "replace the registrar key (signed by the current key and the new one)", rotateRegistrar)
	register("extract", "a mine records a new lot", extract)
	register("assay", "record an assay of a lot (its holder, or a LAB it named)", assay)
	register("name-labs", "name the LABs that may assay a lot you hold, for as long as you hold it", nameLabs)
	register("dispatch", "hand a lot to another party", dispatch)
	register("receive", "counter-sign the dispatch of a lot to you", receive)
	register("transform", "split, merge, concentrate, smelt or refine held lots", transform)
}

func keygen(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "keygen", "KEYFILE", &g)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	path := fs.Arg(0)
	pub, priv, err := record.GenerateKey()
	if err != nil {
		return err
	}
	if err := keyfile.WritePrivate(path, priv); err != nil {
		return err
	}
	if err := os.WriteFile(path+".pub", record.MarshalPublicKey(pub), 0o644); err != nil {
		return err
	}
	if g.json {
		fmt.Fprintf(e.stdout, "{\"key_id\": %q, \"private_key_file\": %q, \"public_key_file\": %q}\n", record.KeyID(pub), path, path+".pub")
		return nil
	}
	fmt.Fprintf(e.stdout, "key id:      %s\nprivate key: %s (keep it; mode 0600)\npublic key:  %s.pub (to share: a party gives it to the registrar to be registered; a registrar gives it to the server, --registrar-pub)\n", record.KeyID(pub), path, path)
	return nil
}

// submit signs st, and then with each of also, and submits it, printing
// the outcome.
func submit(ctx context.Context, e *env, g *globals, s *client.Signer, st *pb.Statement, also ...ed25519.PrivateKey) error {
	g.as = s
	env, err := s.Sign(st)
	if err != nil {
		return err
	}
	for _, k := range also {
		record.Cosign(env, k)
	}
	return submitEnvelope(ctx, e, g, env)
}

// submitEnvelope submits a signed envelope (or, with --sign-only, prints
// the request), printing the outcome.
func submitEnvelope(ctx context.Context, e *env, g *globals, env *pb.Envelope) error {
	if g.signOnly {
		return printJSON(e.stdout, &apipb.SubmitRequest{Envelope: env})
	}
	c, err := dial(g)
	if err != nil {
		return err
	}
	defer c.Close()
	if g.check != nil && !g.check.skip {
		// Before the submission's own deadline: a person may take a
		// while to answer.
		if err := g.check.check(ctx, e, g, c, env); err != nil {
			return err
		}
	}
	ctx, cancel := withTimeout(ctx, g)
	defer cancel()
	r, err := c.Submit(ctx, env)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(e.stdout, r)
	}
	what := "recorded"
	if r.GetDuplicate() {
		what = "already recorded"
	}
	fmt.Fprintf(e.stdout, "%s at index %d\nrecord %s\n", what, r.GetIndex(), r.GetLeafHash())
	return nil
}

func registrarSigner(path string) (*client.Signer, error) {
	if path == "" {
		return nil, usageErr("--registrar-key (or PROVCTL_REGISTRAR_KEY) is required: the registrar's private key, made offline with provctl keygen")
	}
	key, err := readPrivate("--registrar-key", path)
	if err != nil {
		return nil, err
	}
	return &client.Signer{PartyID: record.RegistrarPartyID, Key: key}, nil
}

func parseRoles(s string) ([]pb.Role, error) {
	var roles []pb.Role
	for _, name := range strings.Split(s, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		v, ok := pb.Role_value["ROLE_"+name]
		if !ok || name == "UNSPECIFIED" {
			return nil, usageErr("unknown role %q (MINE, EXPORTER, TRADER, SMELTER, REFINER, BUYER, LAB, AUDITOR)", name)
		}
		roles = append(roles, pb.Role(v))
	}
	return roles, nil
}

func parseProduct(s string) (pb.Product, error) {
	v, ok := pb.Product_value["PRODUCT_"+strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, usageErr("unknown product %q (ORE, CONCENTRATE, TRIOXIDE, METAL)", s)
	}
	return pb.Product(v), nil
}

// parseRanges parses "As=0:0.5,Hg=0:0.005".
func parseRanges(s string) ([]*pb.ElementRange, error) {
	if s == "" {
		return nil, nil
	}
	var out []*pb.ElementRange
	for _, part := range strings.Split(s, ",") {
		el, rng, ok := strings.Cut(part, "=")
		lo, hi, ok2 := strings.Cut(rng, ":")
		if !ok || !ok2 {
			return nil, usageErr("assay envelope %q: want ELEMENT=MIN:MAX", part)
		}
		min, err1 := strconv.ParseFloat(lo, 64)
		max, err2 := strconv.ParseFloat(hi, 64)
		if err1 != nil || err2 != nil {
			return nil, usageErr("assay envelope %q: bad number", part)
		}
		out = append(out, &pb.ElementRange{Element: el, MinPct: min, MaxPct: max})
	}
	return out, nil
}

func location(lat, lon float64, name string) *pb.Location {
	if lat == 0 && lon == 0 && name == "" {
		return nil
	}
	return &pb.Location{Lat: lat, Lon: lon, Name: name}
}

func registerParty(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "register", "", &g)
	g.addSignOnly(fs)
	regKey := fs.String("registrar-key", os.Getenv("PROVCTL_REGISTRAR_KEY"), "registrar private key file (env PROVCTL_REGISTRAR_KEY)")
	id := fs.String("party-id", "", "new party id")
	name := fs.String("name", "", "legal name")
	roles := fs.String("role", "", "roles, comma-separated: MINE, EXPORTER, TRADER, SMELTER, REFINER, BUYER, LAB, AUDITOR")
	country := fs.String("country", "PK", "ISO 3166-1 alpha-2 country")
	pubFile := fs.String("pub", "", "the party's public key PEM file (from provctl keygen)")
	lat := fs.Float64("lat", 0, "site latitude")
	lon := fs.Float64("lon", 0, "site longitude")
	site := fs.String("site", "", "site name")
	licence := fs.String("licence", "", "licence number")
	capKg := fs.Float64("capacity-kg", 0, "mine: licensed ore capacity, kg per year")
	gmin := fs.Float64("grade-min", 0, "mine: lowest ore Sb grade, %")
	gmax := fs.Float64("grade-max", 0, "mine: highest ore Sb grade, %")
	deposit := fs.String("deposit", "", "mine: deposit or district")
	envl := fs.String("assay-envelope", "", "mine: impurity envelope, e.g. As=0:0.5,Hg=0:0.005 (percent)")
	from := fs.String("valid-from", "", "key valid from, RFC 3339 (default now)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	s, err := registrarSigner(*regKey)
	if err != nil {
		return err
	}
	if *pubFile == "" {
		return usageErr("--pub is required")
	}
	pub, err := keyfile.ReadPublic(*pubFile)
	if err != nil {
		return err
	}
	rs, err := parseRoles(*roles)
	if err != nil {
		return err
	}
	nb := time.Now()
	if *from != "" {
		if nb, err = parseTime("--valid-from", *from); err != nil {
			return err
		}
	}
	reg := &pb.PartyRegistration{
		PartyId: *id, Name: *name, Roles: rs, Country: *country, Site: location(*lat, *lon, *site), Licence: *licence,
		Keys: []*pb.PartyKey{{PublicKey: pub, NotBefore: timestamppb.New(nb)}},
	}
	if *capKg > 0 {
		ranges, err := parseRanges(*envl)
		if err != nil {
			return err
		}
		reg.Mine = &pb.MineProfile{Deposit: *deposit, AnnualOreCapacityKg: *capKg, GradeMinPct: *gmin, GradeMaxPct: *gmax, AssayEnvelope: ranges}
	}
	return submit(ctx, e, &g, s, &pb.Statement{Body: &pb.Statement_PartyRegistration{PartyRegistration: reg}})
}

func rotateKey(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "rotate-key", "", &g)
	g.addSignOnly(fs)
	regKey := fs.String("registrar-key", os.Getenv("PROVCTL_REGISTRAR_KEY"), "registrar private key file (env PROVCTL_REGISTRAR_KEY)")
	partyKey := fs.String("key", "", "a current private key of the party, which co-signs (without it, --sign-only or --recovery)")
	recovery := fs.Bool("recovery", false, "the registrar alone adds the key (the party lost its keys): every verification of records signed with it reports KEY_RECOVERY")
	id := fs.String("party-id", "", "party id")
	pubFile := fs.String("pub", "", "new public key PEM file")
	retire := fs.String("retire", "", "key id to retire")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *id == "" || *pubFile == "" {
		return usageErr("--party-id and --pub are required")
	}
	pub, err := keyfile.ReadPublic(*pubFile)
	if err != nil {
		return err
	}
	now := timestamppb.Now()
	rot := &pb.KeyRotation{PartyId: *id, NewKey: &pb.PartyKey{PublicKey: pub, NotBefore: now}, RetireKeyId: *retire}
	if *retire != "" {
		rot.RetireAt = now
	}
	st := &pb.Statement{Body: &pb.Statement_KeyRotation{KeyRotation: rot}}
	var keys []ed25519.PrivateKey
	if *partyKey != "" {
		k, err := readPrivate("--key", *partyKey)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	switch {
	case *partyKey == "" && *recovery:
		fmt.Fprintf(e.stderr, "provctl rotate-key: key recovery: no key of %q co-signs; every verification of records signed with the new key reports KEY_RECOVERY\n", *id)
	case *partyKey == "" && !g.signOnly:
		return usageErr("a rotation needs a signature by a current key of %q: give --key, or --sign-only to hand the request to the party (provctl cosign), or --recovery if the party lost its keys", *id)
	}
	if *regKey == "" {
		if !g.signOnly || len(keys) == 0 {
			return usageErr("--registrar-key is required, or --key with --sign-only to hand the request to the registrar (provctl cosign)")
		}
		// Signed by the party only, for the registrar to co-sign.
		s := &client.Signer{PartyID: record.RegistrarPartyID, Key: keys[0]}
		return submit(ctx, e, &g, s, st)
	}
	s, err := registrarSigner(*regKey)
	if err != nil {
		return err
	}
	return submit(ctx, e, &g, s, st, keys...)
}

// cosign adds a signature to a request that --sign-only printed and
// submits it: a rotation the party signed, handed to the registrar, or
// the other way round.
func cosign(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "cosign", "REQUEST.json", &g)
	g.addSignOnly(fs)
	g.addCheck(fs)
	keyFile := fs.String("key", "", "private key file to sign with (a party key, or the registrar's)")
	recovery := fs.Bool("recovery", false, "sign a key rotation that no one else has signed: a key recovery, which every verification of records signed with the new key reports (KEY_RECOVERY)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if *keyFile == "" {
		return usageErr("--key is required")
	}
	key, err := readPrivate("--key", *keyFile)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var req apipb.SubmitRequest
	if err := protojson.Unmarshal(raw, &req); err != nil || req.GetEnvelope() == nil {
		return fmt.Errorf("%s is not a request printed by --sign-only: %v", fs.Arg(0), err)
	}
	env := req.GetEnvelope()
	kid := record.KeyID(key.Public().(ed25519.PublicKey))
	for _, sig := range env.GetSignatures() {
		if sig.GetKeyid() == kid {
			return fmt.Errorf("key %s has signed %s already", kid, fs.Arg(0))
		}
	}
	st, err := record.DecodeStatement(env.GetPayload())
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	// Say what is being signed, and by whom already.
	var signers []string
	for _, sig := range env.GetSignatures() {
		signers = append(signers, sig.GetKeyid())
	}
	fmt.Fprintf(e.stderr, "provctl cosign: %s %s, made by %s, signed by %s; adding the signature of %s (--key)%s\n",
		describeStatement(st), st.GetEventTime().AsTime().UTC().Format(time.RFC3339), st.GetPartyId(), orNone(signers), kid, cosigner(st, len(signers)))
	if st.GetKeyRotation() != nil && len(signers) == 0 && !*recovery {
		return usageErr("no key of %q has signed this rotation: signing it alone is a key recovery; say --recovery if that is what you mean", st.GetKeyRotation().GetPartyId())
	}
	return submitEnvelope(ctx, e, &g, record.Cosign(env, key))
}

// cosigner says whose key the signature cosign adds must be, for the
// statements whose cosignature is someone's in particular: a key
// rotation (a current key of the party and the registrar's, in either
// order) and a correction of a handoff (its counterparty's). The ledger
// refuses a signature by anyone else; this says so before it does.
func cosigner(st *pb.Statement, signed int) string {
	switch r := st.GetKeyRotation(); {
	case r != nil && signed == 0:
		return fmt.Sprintf(", which must be a current key of %s (or the registrar's, with --recovery)", r.GetPartyId())
	case r != nil:
		return fmt.Sprintf(", which must be the registrar's key or a current key of %s, whichever has not signed", r.GetPartyId())
	case st.GetCorrection().GetCounterpartyId() != "":
		return fmt.Sprintf(", which must be a key of the counterparty, %s", st.GetCorrection().GetCounterpartyId())
	}
	return ""
}

// rotateRegistrar replaces the registrar key: the current key and the new
// one both sign. Clients that pin the first registrar key follow it.
func rotateRegistrar(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "rotate-registrar", "", &g)
	g.addSignOnly(fs)
	regKey := fs.String("registrar-key", os.Getenv("PROVCTL_REGISTRAR_KEY"), "current registrar private key file (env PROVCTL_REGISTRAR_KEY)")
	newKey := fs.String("new-key", "", "the new registrar private key file (provctl keygen)")
	reason := fs.String("reason", "", "why")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *newKey == "" {
		return usageErr("--new-key is required")
	}
	s, err := registrarSigner(*regKey)
	if err != nil {
		return err
	}
	next, err := readPrivate("--new-key", *newKey)
	if err != nil {
		return err
	}
	return submit(ctx, e, &g, s, &pb.Statement{Body: &pb.Statement_RegistrarRotation{RegistrarRotation: &pb.RegistrarRotation{
		NewKey: next.Public().(ed25519.PublicKey), Reason: *reason,
	}}}, next)
}

func revokeKey(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "revoke-key", "", &g)
	g.addSignOnly(fs)
	regKey := fs.String("registrar-key", os.Getenv("PROVCTL_REGISTRAR_KEY"), "registrar private key file (env PROVCTL_REGISTRAR_KEY)")
	id := fs.String("party-id", "", "party id")
	keyID := fs.String("key-id", "", "key id to revoke")
	reason := fs.String("reason", "", "why")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	s, err := registrarSigner(*regKey)
	if err != nil {
		return err
	}
	return submit(ctx, e, &g, s, &pb.Statement{Body: &pb.Statement_KeyRevocation{KeyRevocation: &pb.KeyRevocation{
		PartyId: *id, KeyId: *keyID, RevokedAt: timestamppb.Now(), Reason: *reason,
	}}})
}

func extract(ctx context.Context, e *env, args []string) error {
	var g globals
	var k keyFlags
	fs := newFlags(e, "extract", "", &g)
	g.addSignOnly(fs)
	g.addCheck(fs)
	k.add(fs)
	lot := fs.String("lot", "", "new lot id (required)")
	mass := fs.Float64("mass-kg", 0, "wet mass, kg (required)")
	moist := fs.Float64("moisture", 0, "moisture, % of wet mass")
	grade := fs.Float64("grade", 0, "Sb grade of dry material, % (required)")
	lat := fs.Float64("lat", 0, "site latitude (default: the mine's registered site)")
	lon := fs.Float64("lon", 0, "site longitude (default: the mine's registered site)")
	product := fs.String("product", "ore", "ORE or CONCENTRATE")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	s, err := k.signer(&g)
	g.as = s
	if err != nil {
		return err
	}
	// An extraction is permanent, and its grade and site are what the
	// verifier checks it by: no defaults of 0 % Sb at 0°N 0°E.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range []string{"lot", "mass-kg", "grade"} {
		if !set[name] {
			return usageErr("--lot, --mass-kg and --grade are required (missing --%s): the record is permanent", name)
		}
	}
	p, err := parseProduct(*product)
	if err != nil {
		return err
	}
	site := &pb.Location{Lat: *lat, Lon: *lon}
	switch {
	case set["lat"] != set["lon"]:
		return usageErr("give both --lat and --lon, or neither for the mine's registered site")
	case !set["lat"]:
		if site, err = registeredSite(ctx, &g, k.party); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "provctl extract: at %s's registered site, %g, %g %s(give --lat and --lon if the ore came from elsewhere)\n", k.party, site.GetLat(), site.GetLon(), parenName(site.GetName()))
	}
	return submit(ctx, e, &g, s, &pb.Statement{Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: *lot, MassKg: *mass, MoisturePct: *moist, SbGradePct: *grade, Site: site, Product: p,
	}}})
}

// registeredSite fetches the site a party registered.
func registeredSite(ctx context.Context, g *globals, party string) (*pb.Location, error) {
	c, err := dial(g)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := withTimeout(ctx, g)
	defer cancel()
	r, err := c.Custody.GetParty(ctx, &apipb.GetPartyRequest{PartyId: party})
	if err != nil {
		return nil, err
	}
	site := r.GetParty().GetRegistration().GetSite()
	if site == nil || site.GetLat() == 0 && site.GetLon() == 0 {
		return nil, usageErr("--lat and --lon are required: %s registered no site to default to", party)
	}
	return &pb.Location{Lat: site.GetLat(), Lon: site.GetLon(), Name: site.GetName()}, nil
}

func parenName(name string) string {
	if name == "" {
		return ""
	}
	return "(" + name + ") "
}

// lotHead fetches the current custody record of a lot, for links the user
// did not give.
func lotHead(ctx context.Context, g *globals, lotID string) (head, pending string, err error) {
	c, err := dial(g)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	ctx, cancel := withTimeout(ctx, g)
	defer cancel()
	return c.LotHead(ctx, lotID)
}

func assay(ctx context.Context, e *env, args []string) error {
	var g globals
	var k keyFlags
	var elements multiFlag
	fs := newFlags(e, "assay", "", &g)
	g.addSignOnly(fs)
	g.addCheck(fs)
	k.add(fs)
	lot := fs.String("lot", "", "lot id")
	link := fs.String("subject", "", "record the sample was drawn from (default: the lot's current custody record)")
	sample := fs.String("sample", "", "sample id")
	fs.Var(&elements, "element", "ELEMENT=PCT, repeatable (e.g. --element Sb=9.1 --element As=0.2)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	s, err := k.signer(&g)
	g.as = s
	if err != nil {
		return err
	}
	var els []*pb.ElementConcentration
	for _, el := range elements {
		name, v, ok := strings.Cut(el, "=")
		pct, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return usageErr("--element %q: want ELEMENT=PCT", el)
		}
		els = append(els, &pb.ElementConcentration{Element: name, Pct: pct})
	}
	if *link == "" {
		if *link, _, err = lotHead(ctx, &g, *lot); err != nil {
			return err
		}
	}
	return submit(ctx, e, &g, s, &pb.Statement{Body: &pb.Statement_Assay{Assay: &pb.Assay{
		LotId: *lot, SubjectLink: *link, SampleId: *sample, Elements: els,
	}}})
}

// nameLabs signs the holder's lab nomination of a lot: the LABs named may
// assay it until custody passes on (a receipt) or the holder names others.
func nameLabs(ctx context.Context, e *env, args []string) error {
	var g globals
	var k keyFlags
	var labs multiFlag
	fs := newFlags(e, "name-labs", "", &g)
	g.addSignOnly(fs)
	g.addCheck(fs)
	k.add(fs)
	lot := fs.String("lot", "", "id of a lot you hold (required)")
	fs.Var(&labs, "lab", fmt.Sprintf("party id of a LAB that may assay the lot, repeatable, at most %d; replaces the labs you named before", record.MaxNamedLabs))
	none := fs.Bool("none", false, "withdraw every lab you named (instead of --lab)")
	link := fs.String("link", "", "record that gave you custody (default: the lot's current custody record)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: provctl name-labs --lot LOT --lab LAB [--lab LAB2 ...] | --none

A party that does not hold a lot may assay it only if it is a LAB that the
lot's holder named: so no stranger can flood your lot with assays, or pin a
false one on it. Each naming replaces the one before; --none withdraws
every lab. The labs you name may assay the lot while you hold it (also
while a dispatch of it awaits its receipt); once the addressee receives
it, they may not, unless the new holder names them. You assay your own
lots without naming yourself.

`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *lot == "":
		return usageErr("--lot is required")
	case len(labs) == 0 && !*none:
		return usageErr("name at least one --lab, or say --none to withdraw every lab you named")
	case len(labs) > 0 && *none:
		return usageErr("--none withdraws every lab: give it without --lab")
	}
	s, err := k.signer(&g)
	if err != nil {
		return err
	}
	g.as = s
	if *link == "" {
		if *link, _, err = lotHead(ctx, &g, *lot); err != nil {
			return err
		}
	}
	return submit(ctx, e, &g, s, &pb.Statement{Body: &pb.Statement_LabNomination{LabNomination: &pb.LabNomination{
		LotId: *lot, CustodyLink: *link, LabPartyIds: labs,
	}}})
}

// parseWaypoint parses "LAT,LON,RFC3339[,NAME]".
func parseWaypoint(s string) (*pb.Waypoint, error) {
	parts := strings.SplitN(s, ",", 4)
	if len(parts) < 3 {
		return nil, usageErr("--waypoint %q: want LAT,LON,TIME[,NAME]", s)
	}
	lat, err1 := strconv.ParseFloat(parts[0], 64)
	lon, err2 := strconv.ParseFloat(parts[1], 64)
	t, err3 := time.Parse(time.RFC3339, parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, usageErr("--waypoint %q: %v", s, err)
	}
	w := &pb.Waypoint{Location: &pb.Location{Lat: lat, Lon: lon}, Time: timestamppb.New(t)}
	if len(parts) == 4 {
		w.Location.Name = parts[3]
	}
	return w, nil
}

func dispatch(ctx context.Context, e *env, args []string) error {
	var g globals
	var k keyFlags
	var seals, waypoints multiFlag
	fs := newFlags(e, "dispatch", "", &g)
	g.addSignOnly(fs)
	g.addCheck(fs)
	k.add(fs)
	lot := fs.String("lot", "", "lot id")
	to := fs.String("to", "", "addressee party id")
	mass := fs.Float64("mass-kg", 0, "wet mass weighed at dispatch, kg")
	moist := fs.Float64("moisture", 0, "moisture, %")
	link := fs.String("link", "", "record that gave you custody (default: the lot's current custody record)")
	transport := fs.String("transport", "", "vehicle or carrier")
	crossing := fs.String("crossing", "", "border crossing, if any")
	fs.Var(&seals, "seal", "seal number, repeatable")
	fs.Var(&waypoints, "waypoint", "LAT,LON,TIME[,NAME], repeatable, in order")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	s, err := k.signer(&g)
	g.as = s
	if err != nil {
		return err
	}
	d := &pb.Dispatch{LotId: *lot, CustodyLink: *link, ToPartyId: *to, MassKg: *mass, MoisturePct: *moist, Seals: seals, Transport: *transport, BorderCrossing: *crossing}
	for _, w := range waypoints {
		wp, err := parseWaypoint(w)
		if err != nil {
			return err
		}
		d.Route = append(d.Route, wp)
	}
	if d.CustodyLink == "" {
		if d.CustodyLink, _, err = lotHead(ctx, &g, *lot); err != nil {
			return err
		}
	}
	return submit(ctx, e, &g, s, &pb.Statement{Body: &pb.Statement_Dispatch{Dispatch: d}})
}

func receive(ctx context.Context, e *env, args []string) error {
	var g globals
	var k keyFlags
	fs := newFlags(e, "receive", "", &g)
	g.addSignOnly(fs)
	g.addCheck(fs)
	k.add(fs)
	lot := fs.String("lot", "", "lot id")
	mass := fs.Float64("mass-kg", 0, "wet mass weighed on arrival, kg")
	link := fs.String("dispatch", "", "the dispatch record (default: the lot's pending dispatch)")
	intact := fs.Bool("seals-intact", false, "the seals arrived intact (this or --seals-broken is required unless you are asked on a terminal)")
	broken := fs.Bool("seals-broken", false, "the seals arrived broken, missing or not matching the dispatch's")
	lat := fs.Float64("lat", 0, "where received: latitude (required)")
	lon := fs.Float64("lon", 0, "where received: longitude (required)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *intact && *broken {
		return usageErr("--seals-intact and --seals-broken: give one")
	}
	// A receipt says where the lot arrived, as an extraction says where
	// it was mined: the route checks need it.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range []string{"lot", "mass-kg", "lat", "lon"} {
		if !set[name] {
			return usageErr("--lot, --mass-kg, --lat and --lon are required (missing --%s): a receipt says where the lot arrived, and the record is permanent", name)
		}
	}
	s, err := k.signer(&g)
	g.as = s
	if err != nil {
		return err
	}
	// The receiver signs the seal state: it is asked, never assumed.
	if !*intact && !*broken {
		if !e.interactive {
			return usageErr("say how the seals arrived: --seals-intact or --seals-broken (the receipt is signed and permanent, so provctl does not assume)")
		}
		if *intact, err = askSeals(e, *lot); err != nil {
			return err
		}
	}
	if *link == "" {
		if _, *link, err = lotHead(ctx, &g, *lot); err != nil {
			return err
		}
		if *link == "" {
			return fmt.Errorf("lot %q has no dispatch awaiting receipt", *lot)
		}
	}
	return submit(ctx, e, &g, s, &pb.Statement{Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
		LotId: *lot, DispatchLink: *link, MassKg: *mass, SealsIntact: *intact, Location: &pb.Location{Lat: *lat, Lon: *lon}, // the flags are required: 0 0 reaches the server, which refuses it
	}}})
}

func transform(ctx context.Context, e *env, args []string) error {
	var g globals
	var k keyFlags
	var ins, outs multiFlag
	fs := newFlags(e, "transform", "", &g)
	g.addSignOnly(fs)
	g.addCheck(fs)
	k.add(fs)
	kind := fs.String("kind", "", "SPLIT, MERGE, CONCENTRATE, SMELT or REFINE")
	fs.Var(&ins, "in", "LOT:MASS_KG consumed, repeatable")
	fs.Var(&outs, "out", "LOT:MASS_KG:PRODUCT:GRADE_PCT produced, repeatable. An output's moisture is not a field of the record: a SPLIT or MERGE output has its inputs' moisture; the product of CONCENTRATE, SMELT or REFINE is taken as weighed dry, so give its dry mass")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	s, err := k.signer(&g)
	g.as = s
	if err != nil {
		return err
	}
	kv, ok := pb.TransformationKind_value["TRANSFORMATION_KIND_"+strings.ToUpper(*kind)]
	if !ok || kv == 0 {
		return usageErr("--kind %q: want SPLIT, MERGE, CONCENTRATE, SMELT or REFINE", *kind)
	}
	t := &pb.Transformation{Kind: pb.TransformationKind(kv)}
	for _, in := range ins {
		lot, m, ok := strings.Cut(in, ":")
		mass, err := strconv.ParseFloat(m, 64)
		if !ok || err != nil {
			return usageErr("--in %q: want LOT:MASS_KG", in)
		}
		head, _, err := lotHead(ctx, &g, lot)
		if err != nil {
			return err
		}
		t.Inputs = append(t.Inputs, &pb.TransformationInput{LotId: lot, Link: head, MassKg: mass})
	}
	for _, out := range outs {
		parts := strings.Split(out, ":")
		if len(parts) != 4 && len(parts) != 5 {
			return usageErr("--out %q: want LOT:MASS_KG:PRODUCT:GRADE_PCT[:MOISTURE_PCT]", out)
		}
		mass, err1 := strconv.ParseFloat(parts[1], 64)
		grade, err2 := strconv.ParseFloat(parts[3], 64)
		p, err3 := parseProduct(parts[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			return usageErr("--out %q: %v", out, err)
		}
		if len(parts) == 5 {
			// The record has no moisture field for an output: the
			// verifier takes a split's or merge's outputs at their inputs'
			// moisture, and a product of processing as weighed dry.
			moist, err := strconv.ParseFloat(parts[4], 64)
			switch {
			case err != nil || moist < 0 || moist >= 100:
				return usageErr("--out %q: moisture %q: want a percentage from 0 to under 100", out, parts[4])
			case t.GetKind() == pb.TransformationKind_TRANSFORMATION_KIND_SPLIT || t.GetKind() == pb.TransformationKind_TRANSFORMATION_KIND_MERGE:
				return usageErr("--out %q: a %s output has its inputs' moisture, which the verifier works out; give LOT:MASS_KG:PRODUCT:GRADE_PCT", out, strings.ToLower(*kind))
			}
			dry := mass * (1 - moist/100)
			fmt.Fprintf(e.stderr, "provctl transform: output %s: %g kg at %g %% moisture is recorded as %g kg dry (a product of processing is recorded dry)\n", parts[0], mass, moist, dry)
			mass = dry
		}
		t.Outputs = append(t.Outputs, &pb.TransformationOutput{LotId: parts[0], MassKg: mass, Product: p, SbGradePct: grade})
	}
	return submit(ctx, e, &g, s, &pb.Statement{Body: &pb.Statement_Transformation{Transformation: t}})
}

var _ = ed25519.PublicKeySize
var _ flag.Value = (*multiFlag)(nil)

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "no one yet"
	}
	return strings.Join(ids, ", ")
}

// askSeals asks on the terminal how the seals of lot arrived, with no
// default: the answer is signed.
func askSeals(e *env, lot string) (bool, error) {
	for range 3 {
		switch e.ask(fmt.Sprintf("Did the seals of lot %s arrive intact? [y/n] ", lot)) {
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
	}
	return false, usageErr("no answer about the seals (y or n): not submitted")
}

// submitFile submits a prepared envelope: a request printed by
// --sign-only (and perhaps co-signed), or a DSSE envelope as the ledger
// stores it.
func submitFile(ctx context.Context, e *env, args []string) error {
	var g globals
	fs := newFlags(e, "submit", "FILE", &g)
	g.addAuth(fs)
	g.addCheck(fs)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	env, err := readEnvelope(raw)
	if err != nil {
		return usageErr("%s: %v", fs.Arg(0), err)
	}
	st, err := record.DecodeStatement(env.GetPayload())
	if err != nil {
		return usageErr("%s: %v", fs.Arg(0), err)
	}
	var signers []string
	for _, sig := range env.GetSignatures() {
		signers = append(signers, sig.GetKeyid())
	}
	fmt.Fprintf(e.stderr, "provctl submit: %s %s, made by %s, signed by %s\n",
		describeStatement(st), st.GetEventTime().AsTime().UTC().Format(time.RFC3339), st.GetPartyId(), orNone(signers))
	if len(signers) == 0 {
		return usageErr("%s is not signed: sign it first (provctl cosign --key KEY --sign-only %s > signed.json)", fs.Arg(0), fs.Arg(0))
	}
	// The checked submission reads the lot as the record's signer would,
	// with the caller's --key and --party (PROVCTL_KEY, PROVCTL_PARTY).
	return submitEnvelope(ctx, e, &g, env)
}

// readEnvelope reads a request printed by --sign-only, or a DSSE
// envelope in its canonical JSON.
func readEnvelope(raw []byte) (*pb.Envelope, error) {
	var req apipb.SubmitRequest
	err := protojson.Unmarshal(raw, &req)
	if err == nil && req.GetEnvelope() != nil {
		return req.GetEnvelope(), nil
	}
	env, derr := record.DecodeEnvelope(raw)
	if derr == nil {
		return env, nil
	}
	if err == nil {
		err = errors.New("no envelope in the request")
	}
	return nil, fmt.Errorf("neither a request printed by --sign-only (%v) nor a DSSE envelope (%v)", err, derr)
}
