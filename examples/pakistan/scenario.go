package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/keyfile"
	"github.com/antimony-ledger/provenance/internal/refdata"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// The parties below are fictional; the mines' positions, capacities, grades
// and impurity envelopes come from internal/refdata (sources and
// assumptions named in its data files). Places on routes are real towns,
// with approximate coordinates.
var (
	chitral   = place("Chitral", 35.85, 71.79)
	dir       = place("Dir", 35.21, 71.88)
	peshawar  = place("Peshawar", 34.01, 71.58)
	multan    = place("Multan", 30.20, 71.47)
	karachi   = place("Karachi", 24.86, 67.01)
	portQasim = place("Port Qasim", 24.77, 67.35)
	quetta    = place("Quetta", 30.18, 67.00)
	khuzdar   = place("Khuzdar", 27.81, 66.61)
	baltimore = place("Baltimore", 39.27, -76.58)
)

func place(name string, lat, lon float64) *pb.Location {
	return &pb.Location{Name: name, Lat: lat, Lon: lon}
}

// Story is one lot's journey and what it is meant to show.
type Story struct {
	Lot    string // the lot a buyer would verify
	Title  string
	Expect []string // rule ids the verifier should raise; empty for a clean lot
}

// A scenario drives the Pakistan -> US supply chain against a server.
type scenario struct {
	c         *client.Client
	out       io.Writer
	registrar *client.Signer
	suffix    string // appended to ids when running against a shared server
	ref       *refdata.Dataset
	parties   map[string]*client.Signer
	// keys is the directory the parties' private keys are saved in, as
	// provctl keygen saves them (PARTY.key and PARTY.key.pub), so that
	// provctl can go on as them; none if empty.
	keys string
	// as holds a client per signer: each party connects as itself.
	as map[*client.Signer]*client.Client
	// reader is, for each lot, the party that last took or was sent it:
	// the one that verifies it (a party sees its lots' whole ancestry).
	reader map[string]*client.Signer
	// start is day 0 of the scenario's calendar: scenarioDays before the
	// run, so the whole story (registrations half a day before day 0, the
	// last receipt on day 27) lies in the past but within the 30 days the
	// verifier allows between an event and the log taking its record
	// (verifier.Config.MaxBackdate). The example submits weeks of events
	// in seconds; a log judges them by its own clock.
	start time.Time
}

// scenarioDays is how far back day 0 of the scenario lies.
const scenarioDays = 28

// seaDays is the oxide's voyage from Port Qasim to Baltimore: about 8,200
// nautical miles by way of Suez at 16 knots (an assumption of this example,
// not a sourced figure).
const seaDays = 21

func (s *scenario) id(base string) string { return base + s.suffix }

func (s *scenario) say(format string, args ...any) { fmt.Fprintf(s.out, format+"\n", args...) }

// at returns a time on the scenario's calendar: day d, hour h.
func (s *scenario) at(d, h float64) time.Time {
	return s.start.Add(time.Duration((d*24 + h) * float64(time.Hour)))
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func (s *scenario) submit(ctx context.Context, who string, st *pb.Statement) (string, error) {
	signer := s.registrar
	if who != record.RegistrarPartyID {
		signer = s.parties[who]
	}
	c, err := s.client(ctx, signer)
	if err != nil {
		return "", err
	}
	r, err := c.SignAndSubmit(ctx, signer, st)
	if err != nil {
		return "", fmt.Errorf("%s: %w", who, err)
	}
	switch b := st.GetBody().(type) {
	case *pb.Statement_Extraction:
		s.reader[b.Extraction.GetLotId()] = signer
	case *pb.Statement_Receipt:
		s.reader[b.Receipt.GetLotId()] = signer
	case *pb.Statement_Dispatch:
		s.reader[b.Dispatch.GetLotId()] = s.parties[b.Dispatch.GetToPartyId()]
	case *pb.Statement_Transformation:
		for _, o := range b.Transformation.GetOutputs() {
			s.reader[o.GetLotId()] = signer
		}
	}
	return r.GetLeafHash(), nil
}

// client returns the client that acts as signer's party.
func (s *scenario) client(ctx context.Context, signer *client.Signer) (*client.Client, error) {
	if c, ok := s.as[signer]; ok {
		return c, nil
	}
	c, err := s.c.As(ctx, signer.Credentials())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", signer.PartyID, err)
	}
	s.as[signer] = c
	return c, nil
}

// The parties of the scenario, by their ids without the run's suffix.
type partyDef struct {
	id, name, country string
	roles             []pb.Role
	refMine           string
	site              *pb.Location
}

var partyDefs = []partyDef{
	{id: "mine-krinj", name: "Krinj Antimony Mine (Chitral)", country: "PK", roles: []pb.Role{pb.Role_ROLE_MINE}, refMine: "PK-KP-KRINJ"},
	{id: "mine-qila-abdullah", name: "Qila Abdullah Antimony Mine (Balochistan)", country: "PK", roles: []pb.Role{pb.Role_ROLE_MINE}, refMine: "PK-BA-QILA-ABDULLAH"},
	{id: "indus-exports", name: "Indus Minerals Exports (Karachi)", country: "PK", roles: []pb.Role{pb.Role_ROLE_EXPORTER}, site: karachi},
	{id: "qasim-oxides", name: "Port Qasim Antimony Oxide Works", country: "PK", roles: []pb.Role{pb.Role_ROLE_SMELTER}, site: portQasim},
	{id: "karachi-assay", name: "Karachi Assay Laboratory", country: "PK", roles: []pb.Role{pb.Role_ROLE_LAB}, site: karachi},
	{id: "ohio-flame", name: "Ohio Flame Retardants Inc.", country: "US", roles: []pb.Role{pb.Role_ROLE_BUYER}, site: baltimore},
}

// keysFree makes sure no key file of this run's parties is in the keys
// directory (a key file is never overwritten): with keys of an earlier
// run there, the parties take a suffix, as on a reused store; if even
// those are there, it refuses, before anything is registered rather than
// part-way into the scenario.
func (s *scenario) keysFree() error {
	taken := func() string {
		for _, d := range partyDefs {
			if path := filepath.Join(s.keys, s.id(d.id)+".key"); s.keys != "" && fileExists(path) {
				return path
			}
		}
		return ""
	}
	if taken() != "" && s.suffix == "" {
		base := "-" + time.Now().UTC().Format("150405")
		s.suffix = base
		for i := 2; taken() != "" && i <= 100; i++ {
			s.suffix = fmt.Sprintf("%s-%d", base, i)
		}
	}
	if path := taken(); path != "" {
		return fmt.Errorf("%s exists, from an earlier run: keys are never overwritten; name another directory with --keys, or move that one away", path)
	}
	return nil
}

func (s *scenario) registerParties(ctx context.Context) error {
	mineProfile := func(id string) (*pb.MineProfile, *pb.Location, error) {
		m, ok := s.ref.MineByID(id)
		if !ok {
			return nil, nil, fmt.Errorf("reference mine %s missing", id)
		}
		prof := &pb.MineProfile{Deposit: m.Name + ", " + m.Province, AnnualOreCapacityKg: m.AnnualOreCapacityKg, GradeMinPct: m.GradeMinPct, GradeMaxPct: m.GradeMaxPct}
		for _, e := range m.Envelope {
			prof.AssayEnvelope = append(prof.AssayEnvelope, &pb.ElementRange{Element: e.Element, MinPct: e.MinPct, MaxPct: e.MaxPct})
		}
		return prof, place(m.Name, m.Lat, m.Lon), nil
	}
	for _, d := range partyDefs {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return err
		}
		reg := &pb.PartyRegistration{
			PartyId: s.id(d.id), Name: d.name, Roles: d.roles, Country: d.country, Site: d.site,
			Keys: []*pb.PartyKey{{PublicKey: pub, NotBefore: ts(s.start.AddDate(0, -1, 0))}},
		}
		if d.refMine != "" {
			if reg.Mine, reg.Site, err = mineProfile(d.refMine); err != nil {
				return err
			}
			reg.Licence = "ML-" + d.refMine
		}
		if _, err := s.submit(ctx, record.RegistrarPartyID, &pb.Statement{EventTime: ts(s.start.Add(-12 * time.Hour)), Body: &pb.Statement_PartyRegistration{PartyRegistration: reg}}); err != nil {
			return err
		}
		s.parties[s.id(d.id)] = &client.Signer{PartyID: s.id(d.id), Key: priv}
		if err := s.saveKey(s.id(d.id), pub, priv); err != nil {
			return err
		}
		s.say("  registered %-22s %s", s.id(d.id), d.name)
	}
	return nil
}

// leg is one dispatch and (unless unconfirmed) its receipt.
type leg struct {
	lot, from, to      string
	link               string // the custody record being continued
	sentKg, receivedKg float64
	moisture           float64
	depart             time.Time
	route              []*pb.Location
	hours              []float64 // hours after departure at each route point
	crossing           string
	noReceipt          bool
	transport          string
}

// move dispatches a lot and, unless the leg is unconfirmed, receives it.
// It returns the record the receiver's custody rests on.
func (s *scenario) move(ctx context.Context, l leg) (string, error) {
	d := &pb.Dispatch{
		LotId: l.lot, CustodyLink: l.link, ToPartyId: l.to, MassKg: l.sentKg, MoisturePct: l.moisture,
		Seals: []string{"SEAL-" + l.lot}, Transport: l.transport, BorderCrossing: l.crossing,
	}
	for i, p := range l.route {
		d.Route = append(d.Route, &pb.Waypoint{Location: p, Time: ts(l.depart.Add(time.Duration(l.hours[i] * float64(time.Hour))))})
	}
	disp, err := s.submit(ctx, l.from, &pb.Statement{EventTime: ts(l.depart), Body: &pb.Statement_Dispatch{Dispatch: d}})
	if err != nil {
		return "", err
	}
	s.say("  %-12s %s dispatched %s kg to %s", l.lot, l.from, kg(l.sentKg), l.to)
	if l.noReceipt {
		s.say("  %-12s (no receipt is ever signed)", l.lot)
		return disp, nil
	}
	arrive := l.depart.Add(time.Duration(l.hours[len(l.hours)-1] * float64(time.Hour)))
	last := l.route[len(l.route)-1]
	rec, err := s.submit(ctx, l.to, &pb.Statement{EventTime: ts(arrive.Add(time.Hour)), Body: &pb.Statement_Receipt{Receipt: &pb.Receipt{
		LotId: l.lot, DispatchLink: disp, MassKg: l.receivedKg, SealsIntact: true, Location: last,
	}}})
	if err != nil {
		return "", err
	}
	s.say("  %-12s %s received %s kg", l.lot, l.to, kg(l.receivedKg))
	return rec, nil
}

func kg(v float64) string { return fmt.Sprintf("%.0f", v) }

func (s *scenario) extract(ctx context.Context, mine, lot string, massKg, moisture, grade float64, day float64) (string, error) {
	m := s.parties[mine]
	site := s.siteOf(mine)
	id, err := s.submit(ctx, m.PartyID, &pb.Statement{EventTime: ts(s.at(day, 8)), Body: &pb.Statement_Extraction{Extraction: &pb.Extraction{
		LotId: lot, MassKg: massKg, MoisturePct: moisture, SbGradePct: grade, Site: site, Product: pb.Product_PRODUCT_ORE,
	}}})
	if err != nil {
		return "", err
	}
	s.say("  %-12s %s extracted %s kg of ore at %.1f%% Sb", lot, mine, kg(massKg), grade)
	return id, nil
}

func (s *scenario) siteOf(mine string) *pb.Location {
	ref := map[string]string{s.id("mine-krinj"): "PK-KP-KRINJ", s.id("mine-qila-abdullah"): "PK-BA-QILA-ABDULLAH"}[mine]
	m, _ := s.ref.MineByID(ref)
	return place(m.Name, m.Lat, m.Lon)
}

// nameLab has the lot's holder name the Karachi laboratory to assay it:
// a lab may assay only a lot whose holder named it.
func (s *scenario) nameLab(ctx context.Context, holder, lot, link string, day float64) error {
	lab := s.id("karachi-assay")
	if _, err := s.submit(ctx, holder, &pb.Statement{EventTime: ts(s.at(day, 12)), Body: &pb.Statement_LabNomination{LabNomination: &pb.LabNomination{
		LotId: lot, CustodyLink: link, LabPartyIds: []string{lab},
	}}}); err != nil {
		return err
	}
	s.say("  %-12s %s named %s to assay it", lot, holder, lab)
	return nil
}

func (s *scenario) assay(ctx context.Context, lot, subject string, els map[string]float64, day float64) error {
	a := &pb.Assay{LotId: lot, SubjectLink: subject, SampleId: "S-" + lot}
	for _, el := range []string{"Sb", "As", "Pb", "Hg", "Cu", "Fe", "Bi", "S"} {
		if v, ok := els[el]; ok {
			a.Elements = append(a.Elements, &pb.ElementConcentration{Element: el, Pct: v})
		}
	}
	if _, err := s.submit(ctx, s.id("karachi-assay"), &pb.Statement{EventTime: ts(s.at(day, 14)), Body: &pb.Statement_Assay{Assay: a}}); err != nil {
		return err
	}
	s.say("  %-12s %s assayed it: Sb %.1f%%, As %.2f%%, Hg %.3f%%", lot, s.id("karachi-assay"), els["Sb"], els["As"], els["Hg"])
	return nil
}

func (s *scenario) transform(ctx context.Context, who string, kind pb.TransformationKind, ins []*pb.TransformationInput, outs []*pb.TransformationOutput, day float64) (string, error) {
	id, err := s.submit(ctx, who, &pb.Statement{EventTime: ts(s.at(day, 10)), Body: &pb.Statement_Transformation{Transformation: &pb.Transformation{
		Kind: kind, Inputs: ins, Outputs: outs,
	}}})
	if err != nil {
		return "", err
	}
	for _, o := range outs {
		s.say("  %-12s %s made %s kg of %s at %.1f%% Sb (%s)", o.GetLotId(), who, kg(o.GetMassKg()), productName(o.GetProduct()), o.GetSbGradePct(), kindName(kind))
	}
	return id, nil
}

func productName(p pb.Product) string {
	return map[pb.Product]string{pb.Product_PRODUCT_ORE: "ore", pb.Product_PRODUCT_CONCENTRATE: "concentrate", pb.Product_PRODUCT_TRIOXIDE: "Sb2O3", pb.Product_PRODUCT_METAL: "metal"}[p]
}

func kindName(k pb.TransformationKind) string {
	return map[pb.TransformationKind]string{pb.TransformationKind_TRANSFORMATION_KIND_SPLIT: "split", pb.TransformationKind_TRANSFORMATION_KIND_MERGE: "blend",
		pb.TransformationKind_TRANSFORMATION_KIND_CONCENTRATE: "concentrate", pb.TransformationKind_TRANSFORMATION_KIND_SMELT: "smelt", pb.TransformationKind_TRANSFORMATION_KIND_REFINE: "refine"}[k]
}

// roadFromKrinj is the Krinj -> Chitral -> Karachi truck route (N45, N5),
// with hours after departure at an average well under 60 km/h.
func (s *scenario) roadFromKrinj() ([]*pb.Location, []float64) {
	return []*pb.Location{s.siteOf(s.id("mine-krinj")), chitral, dir, peshawar, multan, karachi}, []float64{0, 1, 6, 13, 31, 61}
}

func (s *scenario) roadFromQilaAbdullah() ([]*pb.Location, []float64) {
	m, _ := s.ref.MineByID("PK-BA-QILA-ABDULLAH")
	return []*pb.Location{place(m.Name, m.Lat, m.Lon), quetta, khuzdar, karachi}, []float64{0, 3, 12, 26}
}

// Run plays the whole scenario and returns the stories to verify.
func (s *scenario) Run(ctx context.Context) ([]Story, error) {
	var stories []Story
	if err := s.keysFree(); err != nil {
		return nil, err
	}
	exporter, smelter, buyer := s.id("indus-exports"), s.id("qasim-oxides"), s.id("ohio-flame")
	krinj, qila := s.id("mine-krinj"), s.id("mine-qila-abdullah")

	s.say("\nParties (keys made on this machine; the registrar signs each registration):")
	if err := s.registerParties(ctx); err != nil {
		return nil, err
	}

	// 1. A clean lot: Krinj ore -> exporter -> smelter (Sb2O3) -> US buyer.
	s.say("\n1. A clean lot from Chitral to Ohio")
	lot := s.id("KR-001")
	ext, err := s.extract(ctx, krinj, lot, 20000, 4, 12, 0)
	if err != nil {
		return nil, err
	}
	route, hours := s.roadFromKrinj()
	held, err := s.move(ctx, leg{lot: lot, from: krinj, to: exporter, link: ext, sentKg: 20000, receivedKg: 19950, moisture: 4, depart: s.at(1, 6), route: route, hours: hours, transport: "truck"})
	if err != nil {
		return nil, err
	}
	if err := s.nameLab(ctx, exporter, lot, held, 4); err != nil {
		return nil, err
	}
	if err := s.assay(ctx, lot, held, map[string]float64{"Sb": 12.1, "As": 0.08, "Pb": 0.02, "Hg": 0.001, "Cu": 0.01, "Fe": 1.2, "S": 4.8}, 4); err != nil {
		return nil, err
	}
	held, err = s.move(ctx, leg{lot: lot, from: exporter, to: smelter, link: held, sentKg: 19950, receivedKg: 19930, moisture: 4, depart: s.at(5, 8), route: []*pb.Location{karachi, portQasim}, hours: []float64{0, 2}, transport: "truck"})
	if err != nil {
		return nil, err
	}
	// 19,930 kg wet x 96% dry x 12% Sb = 2,296 kg Sb; smelting recovers
	// about 94% into Sb2O3 at 83.3% Sb: 2,591 kg of oxide.
	oxide := s.id("OX-001")
	smelt, err := s.transform(ctx, smelter, pb.TransformationKind_TRANSFORMATION_KIND_SMELT,
		[]*pb.TransformationInput{{LotId: lot, Link: held, MassKg: 19930}},
		[]*pb.TransformationOutput{{LotId: oxide, MassKg: 2591, Product: pb.Product_PRODUCT_TRIOXIDE, SbGradePct: 83.3}}, 6)
	if err != nil {
		return nil, err
	}
	if _, err := s.move(ctx, leg{lot: oxide, from: smelter, to: buyer, link: smelt, sentKg: 2591, receivedKg: 2590, depart: s.at(6, 14), route: []*pb.Location{portQasim, baltimore}, hours: []float64{0, seaDays * 24}, transport: "container ship"}); err != nil {
		return nil, err
	}
	stories = append(stories, Story{Lot: oxide, Title: "clean: Krinj ore smelted to Sb2O3, shipped to Ohio"})

	// 2. Extra ore blended in at the exporter: 10 t goes in, 18 t comes out.
	s.say("\n2. Ore of unknown origin blended in at the exporter")
	lot = s.id("QA-001")
	ext, err = s.extract(ctx, qila, lot, 10000, 3, 9, 2)
	if err != nil {
		return nil, err
	}
	qroute, qhours := s.roadFromQilaAbdullah()
	held, err = s.move(ctx, leg{lot: lot, from: qila, to: exporter, link: ext, sentKg: 10000, receivedKg: 9980, moisture: 3, depart: s.at(3, 6), route: qroute, hours: qhours, transport: "truck"})
	if err != nil {
		return nil, err
	}
	blend := s.id("QA-BLEND-1")
	if _, err := s.transform(ctx, exporter, pb.TransformationKind_TRANSFORMATION_KIND_MERGE,
		[]*pb.TransformationInput{{LotId: lot, Link: held, MassKg: 9980}},
		[]*pb.TransformationOutput{{LotId: blend, MassKg: 18000, Product: pb.Product_PRODUCT_ORE, SbGradePct: 9}}, 6); err != nil {
		return nil, err
	}
	stories = append(stories, Story{Lot: blend, Title: "exporter's blend holds more antimony than went in", Expect: []string{"MASS_SURPLUS"}})

	// 3. An assay that does not fit the declared mine (Hg and As of the
	// Afghan Kharnak type on a lot declared as Krinj ore).
	s.say("\n3. An assay that does not fit the declared mine")
	lot = s.id("KR-002")
	ext, err = s.extract(ctx, krinj, lot, 8000, 4, 12, 14)
	if err != nil {
		return nil, err
	}
	held, err = s.move(ctx, leg{lot: lot, from: krinj, to: exporter, link: ext, sentKg: 8000, receivedKg: 7990, moisture: 4, depart: s.at(15, 6), route: route, hours: hours, transport: "truck"})
	if err != nil {
		return nil, err
	}
	if err := s.nameLab(ctx, exporter, lot, held, 18); err != nil {
		return nil, err
	}
	if err := s.assay(ctx, lot, held, map[string]float64{"Sb": 11.5, "As": 2.1, "Pb": 0.03, "Hg": 0.42, "Fe": 2.0, "S": 6.0}, 18); err != nil {
		return nil, err
	}
	stories = append(stories, Story{Lot: lot, Title: "Krinj lot whose assay shows Hg and As of the Kharnak (Afghan) type", Expect: []string{"ASSAY_MISMATCH"}})

	// 4. A truck that gains weight on the road.
	s.say("\n4. A truck that gains weight between mine and exporter")
	lot = s.id("KR-003")
	ext, err = s.extract(ctx, krinj, lot, 12000, 4, 11, 20)
	if err != nil {
		return nil, err
	}
	if _, err := s.move(ctx, leg{lot: lot, from: krinj, to: exporter, link: ext, sentKg: 12000, receivedKg: 14500, moisture: 4, depart: s.at(21, 6), route: route, hours: hours, transport: "truck"}); err != nil {
		return nil, err
	}
	stories = append(stories, Story{Lot: lot, Title: "dispatched 12,000 kg, received 14,500 kg", Expect: []string{"TRANSIT_GAIN"}})

	// 5. A handoff never counter-signed.
	s.say("\n5. A handoff the addressee never counter-signs")
	lot = s.id("QA-002")
	ext, err = s.extract(ctx, qila, lot, 8000, 3, 10, 22)
	if err != nil {
		return nil, err
	}
	if _, err := s.move(ctx, leg{lot: lot, from: qila, to: exporter, link: ext, sentKg: 8000, moisture: 3, depart: s.at(23, 6), route: qroute, hours: qhours, noReceipt: true, transport: "truck"}); err != nil {
		return nil, err
	}
	stories = append(stories, Story{Lot: lot, Title: "dispatched to the exporter, never received", Expect: []string{"UNCONFIRMED_CUSTODY"}})

	// 6. A route through the border corridor: the truck reports in at the
	// Chaman crossing before heading south.
	s.say("\n6. A truck routed through the Chaman border crossing")
	lot = s.id("QA-003")
	ext, err = s.extract(ctx, qila, lot, 9000, 3, 9.5, 24)
	if err != nil {
		return nil, err
	}
	chaman, _ := s.ref.CrossingByName("Chaman")
	corridor := []*pb.Location{qroute[0], place("Chaman", chaman.Lat, chaman.Lon), quetta, khuzdar, karachi}
	if _, err := s.move(ctx, leg{lot: lot, from: qila, to: exporter, link: ext, sentKg: 9000, receivedKg: 8990, moisture: 3, depart: s.at(25, 6), route: corridor, hours: []float64{0, 2, 6, 15, 29}, crossing: "Chaman", transport: "truck"}); err != nil {
		return nil, err
	}
	stories = append(stories, Story{Lot: lot, Title: "route reported through the Chaman crossing", Expect: []string{"BORDER_CORRIDOR"}})

	// 7. A mine declaring more than it can produce: 400 t of ore in one
	// lot from a mine licensed for 150 t a year.
	s.say("\n7. A mine declaring more ore than its licence allows")
	lot = s.id("QA-004")
	if _, err := s.extract(ctx, qila, lot, 400000, 3, 9, 27); err != nil {
		return nil, err
	}
	stories = append(stories, Story{Lot: lot, Title: "400 t declared by a mine licensed for 150 t a year", Expect: []string{"MINE_OVER_CAPACITY"}})
	return stories, nil
}

// saveKey saves a party's key pair in s.keys as provctl keygen does:
// PARTY.key (mode 0600, never overwritten) and PARTY.key.pub.
func (s *scenario) saveKey(party string, pub ed25519.PublicKey, priv ed25519.PrivateKey) error {
	if s.keys == "" {
		return nil
	}
	path := filepath.Join(s.keys, party+".key")
	if err := keyfile.WritePrivate(path, priv); err != nil {
		return fmt.Errorf("saving the key of %s: %w", party, err)
	}
	return os.WriteFile(path+".pub", record.MarshalPublicKey(pub), 0o644)
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
