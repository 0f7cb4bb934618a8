// Package refdata is the reference data the verifier checks claims against:
// Afghanistan–Pakistan border crossings, a simplified Afghanistan–Pakistan
// border line, reference antimony deposits, and the grade, recovery and
// tolerance figures of the antimony trade, each with its public source.
//
// # Data files
//
// The data ship inside the binary as JSON files under data/ (crossings.json,
// border.json, mines.json), embedded with go:embed. Each file has a
// top-level "sources" array naming the public source of its figures and an
// "assumptions" array for values chosen because no source gave them.
// [Load] parses them strictly (unknown fields and trailing data are errors)
// and validates every value, so a bad edit fails the tests, not a
// verification. Grades, recoveries and tolerances are Go constants in
// figures.go; [Figures] lists them with their sources.
//
// Units follow the protobuf records: masses in kg, grades and assay
// envelopes in percent by mass, coordinates in WGS84 decimal degrees.
//
// # What is sourced and what is assumed
//
// Torkham and Chaman coordinates, the Qila Abdullah grade (7–12 % Sb) and
// reserve (~26,000 t ore), the Chitral and Kharnak mineralogy and all
// figures in figures.go come from the public sources named beside them.
// The coordinates of Ghulam Khan, Kharlachi and Angoor Adda, the coordinates
// of every deposit, mine capacities, impurity envelopes and the course of
// the border between crossings are labelled assumptions: treat them as
// defaults for the example and for corridor checks, not as survey data.
//
// # Geometry
//
// [DistanceKm] is the haversine great-circle distance on a sphere of radius
// [EarthRadiusKm]. [DistanceToPolylineKm] finds the nearest point of each
// segment in a local equirectangular projection centred on that segment and
// measures the haversine distance to it; at the scale of the border (segments
// under ~150 km) the error is well under 1 km. [Dataset.InAfghanistan] tells
// which side of the border line a point lies on; see its documentation for
// the method and its limits.
package refdata

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

//go:embed data/*.json
var files embed.FS

// maxCrossingOffBorderKm is how far a crossing may lie from the border
// polyline before Load reports the data as inconsistent. Crossings are
// vertices of the polyline, so the distance is normally zero.
const maxCrossingOffBorderKm = 1.0

// A Point is a position in WGS84 decimal degrees: latitude north positive,
// longitude east positive.
type Point struct {
	// Lat is the latitude in degrees, in [-90, 90].
	Lat float64 `json:"lat"`
	// Lon is the longitude in degrees, in [-180, 180].
	Lon float64 `json:"lon"`
}

// A Crossing is an Afghanistan–Pakistan border crossing.
type Crossing struct {
	// Name is the crossing's common name, such as "Torkham".
	Name string `json:"name"`
	// Point is the crossing's position.
	Point
	// Approximate is true when the position is an assumption rather than a
	// sourced figure; such positions may be 10–20 km off.
	Approximate bool `json:"approximate"`
	// District is the Pakistani district on whose side the crossing lies.
	District string `json:"district"`
	// Source names where the position comes from, or says it is an assumption.
	Source string `json:"source"`
}

// An ElementRange is the expected concentration range of one element,
// matching the ElementRange protobuf message.
type ElementRange struct {
	// Element is the chemical symbol, such as "As" or "Hg".
	Element string `json:"element"`
	// MinPct is the lower bound in percent by mass.
	MinPct float64 `json:"min_pct"`
	// MaxPct is the upper bound in percent by mass.
	MaxPct float64 `json:"max_pct"`
}

// Contains reports whether pct lies within the range, bounds included.
func (r ElementRange) Contains(pct float64) bool {
	return pct >= r.MinPct && pct <= r.MaxPct
}

// A Mine is a reference antimony deposit: where it is, what its licence
// allows it to produce and what its ore looks like. Its fields map onto the
// MineProfile protobuf message.
type Mine struct {
	// ID is a stable identifier, such as "PK-BA-QILA-ABDULLAH".
	ID string `json:"id"`
	// Name is the deposit or district name.
	Name string `json:"name"`
	// Country is the ISO 3166-1 alpha-2 country code.
	Country string `json:"country"`
	// Province is the first-level administrative division, such as
	// "Balochistan" or "Ghor".
	Province string `json:"province"`
	// District is the district, empty when unknown.
	District string `json:"district"`
	// Point is the deposit's position.
	Point
	// Approximate is true when the position is an assumption.
	Approximate bool `json:"approximate"`
	// DepositType describes the ore body, such as "stibnite-quartz veins".
	DepositType string `json:"deposit_type"`
	// Licensed is false for a fingerprint reference that is not a
	// permissible source, such as the Afghan Kharnak deposit.
	Licensed bool `json:"licensed"`
	// AnnualOreCapacityKg is the licensed run-of-mine ore capacity in kg
	// per year; zero for an unlicensed reference.
	AnnualOreCapacityKg float64 `json:"annual_ore_capacity_kg"`
	// GradeMinPct is the lowest expected Sb grade of run-of-mine ore, in
	// percent by mass.
	GradeMinPct float64 `json:"grade_min_pct"`
	// GradeMaxPct is the highest expected Sb grade of run-of-mine ore, in
	// percent by mass.
	GradeMaxPct float64 `json:"grade_max_pct"`
	// ReserveOreKg is the ore reserve in kg, zero when unknown.
	ReserveOreKg float64 `json:"reserve_ore_kg"`
	// Envelope is the expected impurity profile of the ore, one range per
	// element.
	Envelope []ElementRange `json:"envelope"`
	// Sources names the public sources of the mine's figures.
	Sources []string `json:"sources"`
	// Note holds caveats for users of the entry.
	Note string `json:"note"`
}

// EnvelopeFor returns the mine's expected range for the element with the
// given chemical symbol (case-insensitive) and whether the envelope has one.
func (m Mine) EnvelopeFor(element string) (ElementRange, bool) {
	for _, r := range m.Envelope {
		if strings.EqualFold(r.Element, element) {
			return r, true
		}
	}
	return ElementRange{}, false
}

// MaxAnnualSbKg returns the most antimony, in kg, the mine's ore can
// contain in a year: licensed ore capacity times the top of the grade range.
func (m Mine) MaxAnnualSbKg() float64 {
	return m.AnnualOreCapacityKg * m.GradeMaxPct / 100
}

// A Dataset is the parsed and validated reference data.
type Dataset struct {
	// Crossings are the border crossings, north to south.
	Crossings []Crossing
	// Border is the simplified Afghanistan–Pakistan border line, ordered
	// north-east to south-west. It is an approximation for corridor checks,
	// not a legal boundary.
	Border []Point
	// Mines are the reference deposits.
	Mines []Mine
	// Sources lists every public source named by the data files, without
	// duplicates, in file order.
	Sources []string
	// Assumptions lists every value chosen because no source gave it, in
	// file order.
	Assumptions []string
}

// header is the part every data file shares.
type header struct {
	Description string   `json:"description"`
	Sources     []string `json:"sources"`
	Assumptions []string `json:"assumptions"`
}

type crossingsFile struct {
	header
	Crossings []Crossing `json:"crossings"`
}

type borderVertex struct {
	Point
	Note string `json:"note"`
}

type borderFile struct {
	header
	Order  string         `json:"order"`
	Points []borderVertex `json:"points"`
}

type minesFile struct {
	header
	Mines []Mine `json:"mines"`
}

// Load parses and validates the embedded data files. Every call returns a
// fresh Dataset, which the caller may keep and share read-only.
func Load() (*Dataset, error) {
	var (
		cf crossingsFile
		bf borderFile
		mf minesFile
	)
	if err := decode("data/crossings.json", &cf); err != nil {
		return nil, err
	}
	if err := decode("data/border.json", &bf); err != nil {
		return nil, err
	}
	if err := decode("data/mines.json", &mf); err != nil {
		return nil, err
	}
	d := &Dataset{Crossings: cf.Crossings, Mines: mf.Mines}
	for _, v := range bf.Points {
		d.Border = append(d.Border, v.Point)
	}
	seen := map[string]bool{}
	for _, h := range []header{cf.header, bf.header, mf.header} {
		for _, s := range h.Sources {
			if !seen[s] {
				seen[s] = true
				d.Sources = append(d.Sources, s)
			}
		}
		d.Assumptions = append(d.Assumptions, h.Assumptions...)
	}
	errs := []error{
		checkHeader("crossings.json", cf.header),
		checkHeader("border.json", bf.header),
		checkHeader("mines.json", mf.header),
	}
	if bf.Order != "north-east to south-west" {
		errs = append(errs, fmt.Errorf("refdata: border.json: order %q, want %q", bf.Order, "north-east to south-west"))
	}
	errs = append(errs, d.validate()...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// decode reads one embedded file into v, rejecting unknown fields and
// trailing data.
func decode(name string, v any) error {
	b, err := files.ReadFile(name)
	if err != nil {
		return fmt.Errorf("refdata: %w", err)
	}
	return decodeBytes(name, b, v)
}

// decodeBytes parses b, the contents of the file name, into v, rejecting
// unknown fields and trailing data.
func decodeBytes(name string, b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("refdata: %s: %w", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("refdata: %s: trailing data after the top-level object", name)
	}
	return nil
}

func checkHeader(name string, h header) error {
	var errs []error
	if strings.TrimSpace(h.Description) == "" {
		errs = append(errs, fmt.Errorf("refdata: %s: empty description", name))
	}
	if len(h.Sources) == 0 {
		errs = append(errs, fmt.Errorf("refdata: %s: no sources", name))
	}
	if h.Assumptions == nil {
		errs = append(errs, fmt.Errorf("refdata: %s: missing assumptions array", name))
	}
	for i, s := range append(append([]string{}, h.Sources...), h.Assumptions...) {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, fmt.Errorf("refdata: %s: empty source or assumption #%d", name, i))
		}
	}
	return errors.Join(errs...)
}

// validPoint reports whether p is a finite position within the WGS84 ranges.
func validPoint(p Point) bool {
	return !math.IsNaN(p.Lat) && !math.IsNaN(p.Lon) &&
		p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180
}

func validPct(v float64) bool { return v >= 0 && v <= 100 } // false for NaN

// validate checks every value of d and returns one error per problem.
func (d *Dataset) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("refdata: "+format, args...))
	}

	if len(d.Border) < 2 {
		bad("border.json: %d points, need at least 2", len(d.Border))
	}
	for i, p := range d.Border {
		if !validPoint(p) {
			bad("border.json: point %d %v out of range", i, p)
		}
		if i > 0 && p == d.Border[i-1] {
			bad("border.json: point %d repeats point %d", i, i-1)
		}
	}
	if n := len(d.Border); n >= 2 && !(d.Border[0].Lat > d.Border[n-1].Lat && d.Border[0].Lon > d.Border[n-1].Lon) {
		bad("border.json: points not ordered north-east to south-west")
	}

	if len(d.Crossings) == 0 {
		bad("crossings.json: no crossings")
	}
	names := map[string]bool{}
	for i, c := range d.Crossings {
		key := strings.ToLower(strings.TrimSpace(c.Name))
		switch {
		case key == "":
			bad("crossings.json: crossing %d has no name", i)
		case names[key]:
			bad("crossings.json: duplicate crossing %q", c.Name)
		}
		names[key] = true
		if !validPoint(c.Point) {
			bad("crossings.json: %s: position %v out of range", c.Name, c.Point)
		}
		if strings.TrimSpace(c.Source) == "" {
			bad("crossings.json: %s: no source", c.Name)
		}
		if c.Approximate != strings.HasPrefix(c.Source, "assumption") {
			bad("crossings.json: %s: approximate=%v but source %q", c.Name, c.Approximate, c.Source)
		}
		if len(d.Border) >= 2 && validPoint(c.Point) {
			if km := DistanceToPolylineKm(c.Point, d.Border); km > maxCrossingOffBorderKm {
				bad("crossings.json: %s lies %.1f km from the border line", c.Name, km)
			}
		}
	}

	if len(d.Mines) == 0 {
		bad("mines.json: no mines")
	}
	ids := map[string]bool{}
	for i, m := range d.Mines {
		switch {
		case strings.TrimSpace(m.ID) == "":
			bad("mines.json: mine %d has no id", i)
		case ids[m.ID]:
			bad("mines.json: duplicate id %q", m.ID)
		}
		ids[m.ID] = true
		if strings.TrimSpace(m.Name) == "" {
			bad("mines.json: %s: no name", m.ID)
		}
		if len(m.Country) != 2 || strings.ToUpper(m.Country) != m.Country {
			bad("mines.json: %s: country %q is not an ISO 3166-1 alpha-2 code", m.ID, m.Country)
		}
		if !validPoint(m.Point) {
			bad("mines.json: %s: position %v out of range", m.ID, m.Point)
		}
		if !(m.AnnualOreCapacityKg >= 0) || math.IsInf(m.AnnualOreCapacityKg, 0) {
			bad("mines.json: %s: capacity %v", m.ID, m.AnnualOreCapacityKg)
		}
		if m.Licensed && m.AnnualOreCapacityKg == 0 {
			bad("mines.json: %s: licensed mine with zero capacity", m.ID)
		}
		if !(m.ReserveOreKg >= 0) || math.IsInf(m.ReserveOreKg, 0) {
			bad("mines.json: %s: reserve %v", m.ID, m.ReserveOreKg)
		}
		if !validPct(m.GradeMinPct) || !validPct(m.GradeMaxPct) || m.GradeMinPct > m.GradeMaxPct || m.GradeMaxPct > StibniteSbPct {
			bad("mines.json: %s: grade range [%v, %v] %%", m.ID, m.GradeMinPct, m.GradeMaxPct)
		}
		if len(m.Envelope) == 0 {
			bad("mines.json: %s: empty envelope", m.ID)
		}
		elems := map[string]bool{}
		for _, r := range m.Envelope {
			if r.Element == "" || elems[strings.ToLower(r.Element)] {
				bad("mines.json: %s: missing or duplicate element %q", m.ID, r.Element)
			}
			elems[strings.ToLower(r.Element)] = true
			if !validPct(r.MinPct) || !validPct(r.MaxPct) || r.MinPct > r.MaxPct {
				bad("mines.json: %s: %s range [%v, %v] %%", m.ID, r.Element, r.MinPct, r.MaxPct)
			}
		}
		if len(m.Sources) == 0 {
			bad("mines.json: %s: no sources", m.ID)
		}
	}
	return errs
}

// CrossingByName returns the crossing with the given name, compared
// case-insensitively and ignoring surrounding spaces, and whether it exists.
func (d *Dataset) CrossingByName(name string) (Crossing, bool) {
	name = strings.TrimSpace(name)
	for _, c := range d.Crossings {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Crossing{}, false
}

// MineByID returns the mine with the given ID (exact match) and whether it
// exists.
func (d *Dataset) MineByID(id string) (Mine, bool) {
	for _, m := range d.Mines {
		if m.ID == id {
			return m, true
		}
	}
	return Mine{}, false
}

// NearestCrossing returns the crossing closest to p and its great-circle
// distance in km. With no crossings it returns the zero Crossing and +Inf.
func (d *Dataset) NearestCrossing(p Point) (Crossing, float64) {
	best, bestKm := Crossing{}, math.Inf(1)
	for _, c := range d.Crossings {
		if km := DistanceKm(p, c.Point); km < bestKm {
			best, bestKm = c, km
		}
	}
	return best, bestKm
}

// DistanceToBorderKm returns the distance in km from p to the simplified
// border line. The line itself is approximate (see [Dataset.Border]), so
// distances under about 20 km say "near the border", not more.
func (d *Dataset) DistanceToBorderKm(p Point) float64 {
	return DistanceToPolylineKm(p, d.Border)
}

// InAfghanistan reports whether p lies on the Afghan side of the simplified
// border line.
//
// Method: the border is ordered north-east to south-west, so walking along
// it Afghanistan is on the right (west / north-west) and Pakistan on the
// left. The nearest segment is found as in [DistanceToPolylineKm], and the
// sign of the cross product of that segment's direction with the vector to
// p, in the segment's local equirectangular projection, gives the side.
// When the nearest point is a shared vertex, the two segments meeting there
// are combined: at a left turn p is on the left only if it is left of both,
// at a right turn p is on the right only if it is right of both, which
// classifies the wedge at the corner correctly. Points exactly on the line
// count as not Afghan.
//
// Limits: the answer is only as good as the simplified line (10–20 km
// between vertices), so use it with [Dataset.DistanceToBorderKm] and a
// corridor margin rather than alone. It says which side of this border a
// point is on, not which country it is in: points beyond the ends of the
// line (Iran, China, the Wakhan) are classified by extending the end
// segments, and points far from the line (more than a few hundred km) may be
// classified by a segment that does not face them. Non-finite coordinates
// give false.
func (d *Dataset) InAfghanistan(p Point) bool {
	return sideOfPolyline(p, d.Border) < 0
}
