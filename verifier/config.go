package verifier

import (
	"fmt"
	"sync"
	"time"

	"github.com/antimony-ledger/provenance/internal/refdata"
	"github.com/antimony-ledger/provenance/registry"
)

// A Config holds the thresholds of the rules. Every default is either a
// public figure with its source (docs/DOMAIN.md, and package refdata,
// which names the sources of its data) or an assumption, labelled as such.
// The zero Config is not useful: start from [DefaultConfig].
type Config struct {
	// HandoffTolerance is the relative weight gain allowed between a
	// dispatch and its receipt, between what a holder held and what it
	// dispatched, and between the wet input and output masses of a split
	// or merge. Default 0.02: the ±2 % of a 5 t antimony ingot lot (MMTA
	// metal norms, antimony; GB/T 1599-2014).
	HandoffTolerance float64

	// SplitMergeRecovery is the most contained Sb the outputs of a split
	// or merge may hold per unit of input Sb, before HandoffTolerance.
	// Default 1.0: no material is created by dividing or blending lots.
	SplitMergeRecovery float64
	// ConcentrateRecovery is the most contained Sb a concentrating step may
	// keep. Default 0.95, the top of the 80-95 % flotation recovery range
	// (usantimony.com terminology; beneficiation study, 66.8 % Sb at 79.5 %).
	ConcentrateRecovery float64
	// SmeltRecovery is the most contained Sb smelting may keep. Default
	// 0.98, the upper end of the ~95-98 % of docs/DOMAIN.md rule R3 (typical
	// volatilization recovery ~94.8 %, docs/DOMAIN.md numbers, no publication
	// named), chosen high so that only impossible yields are flagged.
	SmeltRecovery float64
	// RefineRecovery is the most contained Sb refining may keep. Default
	// 0.98. Assumption: docs/DOMAIN.md gives no refining recovery; the smelting
	// bound is reused.
	RefineRecovery float64

	// CapacityWindow is the look-back window for capacity and national
	// volume checks, ending at the lot's latest extraction. The server's
	// bundles include each origin mine's extractions in this window.
	// Default 365 days, the period of a licensed annual capacity.
	CapacityWindow time.Duration
	// CapacityTolerance is the relative excess over a prorated capacity or
	// national output that is tolerated. Default 0.05. Assumption: no
	// source gives a tolerance on licensed capacity.
	CapacityTolerance float64
	// NationalCountry is the ISO 3166-1 code of the country whose recorded
	// mine output bounds NationalOutputKgSbPerYear. Default "PK".
	NationalCountry string
	// NationalOutputKgSbPerYear is the country's recorded antimony mine
	// output. Default 20,000 kg Sb/yr: Pakistan ~20 t Sb a year, USGS-derived
	// table in MDPI Processes 10(8):1590 (2022).
	NationalOutputKgSbPerYear float64
	// MaxNationalRecords bounds the national extractions a bundle carries
	// for ORIGIN_VOLUME. Their sum is a lower bound of the country's, so a
	// flag raised on it is sound; past the bound the rule can miss. Default
	// 5000 (assumption): ~20 t Sb a year is a few hundred truck lots of
	// ore, so a country whose year holds more extraction records than
	// this is far out of keeping already.
	MaxNationalRecords int

	// AssayFactor is how far outside a mine's reference envelope an
	// element may be, as a factor on the bounds (above max x factor or
	// below min / factor). Default 2. Assumption: the reference envelopes
	// themselves are assumptions (refdata mines.json), so only gross
	// departures are flagged.
	AssayFactor float64
	// GradeTolerance is the relative slack on a mine's declared ore grade
	// range (grade_min_pct..grade_max_pct) for ore extractions and ore
	// assays. Default 0.10. Assumption; the Qila Abdullah range 7-12 % Sb
	// (USGS, Quetta-Pishin district) thus accepts 6.3-13.2 %.
	GradeTolerance float64

	// ClockSkew is how far an event time may precede the event it
	// continues, or a waypoint time its predecessor, before TIMELINE flags
	// it. Default 1 hour. Assumption: signers' clocks and manual entry.
	ClockSkew time.Duration
	// MaxEventAhead is how far an event time may be after the time the log
	// took its record before TIMELINE flags it (critical). Default 10
	// minutes: the server refuses more (custody.MaxEventAhead), allowing
	// for clocks a few minutes apart, so only a log that broke that rule
	// shows one.
	MaxEventAhead time.Duration
	// MaxBackdate is how long before the log took a record its event time
	// may be before TIMELINE flags it (warning): a record is signed when
	// its event happens, or soon after, and one dated far back is what a
	// key thief, or anyone slipping a record under a capacity or key
	// window, would sign. Default 30 days. Assumption: paper records
	// entered late (a weighbridge slip from a remote mine) take days, not
	// months.
	MaxBackdate time.Duration
	// RevocationReach is how long before the log took a key revocation
	// (or a rotation retiring a key) the key's validity may end
	// (registry.Registry.RevocationReach); it must be the server's. A
	// revocation that claims more is applied at the bound and reported
	// (REVOCATION_BACKDATED) on the records it would otherwise condemn.
	RevocationReach time.Duration
	// MaxCheckpointAhead is how far after the verifier's own clock (Now) a
	// checkpoint's signed time may be before the bundle is INVALID: a
	// checkpoint dated in the future would pass any freshness limit for
	// ever. Default 10 minutes, the allowance the server gives event
	// times, for clocks a few minutes apart.
	MaxCheckpointAhead time.Duration
	// Now is the verifier's clock, which checkpoint times are judged
	// against; nil means time.Now.
	Now func() time.Time
	// MaxAge, if positive, is how long ago (by Now) a bundle's checkpoint
	// may have been signed: an older bundle is INVALID (stale bundle). A
	// bundle says what the log held when its checkpoint was signed, and a
	// revocation or a later sale logged since is not in it. Default 0 (any
	// age): a library caller decides; provctl bundle verify defaults to
	// 24 hours (--max-age).
	MaxAge time.Duration
	// MaxTransitSpeedKmh is the highest plausible average speed of a
	// consignment between two timed points, great-circle distance over
	// elapsed time (a lower bound on the real speed). Default 80 km/h.
	// Assumption: docs/DOMAIN.md has no transit times; 80 km/h is above any
	// loaded truck's average on Pakistani roads and above sea freight, so
	// only air freight or impossible timings exceed it.
	MaxTransitSpeedKmh float64
	// MaxTransitDwell is the longest plausible time between a dispatch
	// and its receipt. Default 120 days. Assumption: mine to Karachi by
	// road plus Karachi to a US port by sea is weeks, not months
	// (docs/DOMAIN.md: transit times not found).
	MaxTransitDwell time.Duration
	// MaxSiteDistanceKm is how far from its mine's registered site an
	// extraction may be before SITE_MISMATCH flags it (warning): a mine
	// may open a new pit, but ore "extracted" a long way from the licence
	// is what a mine fronting for another source would declare. Zero
	// turns the rule off. An assumption: the licence areas of the deposits
	// in internal/refdata span a few km; 25 km leaves room for a district.
	MaxSiteDistanceKm float64

	// CorridorKm is the width of the border corridor: a location within
	// this distance of the simplified Afghanistan-Pakistan border line is
	// in the corridor. Default 15 km. Assumption: both licensed antimony
	// districts lie 20-40 km from the line (refdata: the Qila Abdullah
	// reference site 21 km, Krinj 36 km, Chitral town 33 km, Dir 25 km),
	// so a wider band would flag every licensed Pakistani source and mean
	// nothing; 15 km covers the approaches to the crossings, which sit on
	// the line. The line itself may be 10-20 km off between vertices
	// (refdata border.json), so the band is a screen, not a survey.
	CorridorKm float64
	// CrossingRadiusKm is how close to a border crossing a route point
	// must be to count as passing through it. Default 15 km. Assumption:
	// three crossing positions are themselves 10-20 km uncertain
	// (refdata crossings.json); the Qila Abdullah reference site is about
	// 29 km from Chaman, so the docs/DOMAIN.md R7 caveat (Chaman lies in Qila
	// Abdullah district) is met by a corridor model, not a crossing radius.
	CrossingRadiusKm float64
	// SiteMatchKm is the distance within which a route point counts as at
	// the dispatch's starting site, so that a shipment leaving a mine that
	// lies in the corridor is not flagged again for its first waypoint.
	// Default 10 km. Assumption.
	SiteMatchKm float64

	// MaxEvidence caps the record ids listed in one flag. Default 32.
	MaxEvidence int
	// MaxRecords caps the records of a bundle, so a hostile bundle cannot
	// make verification unbounded. Default 1,000,000.
	MaxRecords int

	// ref is the reference data: border line and crossings, from
	// refdata.Load(). Without it (in a Config not made by DefaultConfig)
	// BORDER_CORRIDOR finds nothing.
	ref *refdata.Dataset
}

var loadRef = sync.OnceValues(refdata.Load)

// DefaultConfig returns the documented defaults. It panics only if the
// embedded reference data is invalid, which the refdata tests rule out.
func DefaultConfig() Config {
	ref, err := loadRef()
	if err != nil {
		panic(fmt.Sprintf("verifier: loading reference data: %v", err))
	}
	return Config{
		HandoffTolerance:          refdata.HandoffTolerance,
		SplitMergeRecovery:        1.0,
		ConcentrateRecovery:       refdata.FlotationRecoveryMax,
		SmeltRecovery:             0.98,
		RefineRecovery:            0.98,
		CapacityWindow:            365 * 24 * time.Hour,
		CapacityTolerance:         0.05,
		NationalCountry:           "PK",
		NationalOutputKgSbPerYear: refdata.PakistanMineOutputSbKgPerYear,
		MaxNationalRecords:        5000,
		AssayFactor:               2,
		GradeTolerance:            0.10,
		ClockSkew:                 time.Hour,
		MaxEventAhead:             10 * time.Minute,
		MaxBackdate:               30 * 24 * time.Hour,
		RevocationReach:           registry.DefaultRevocationReach,
		MaxCheckpointAhead:        10 * time.Minute,
		MaxTransitSpeedKmh:        80,
		MaxTransitDwell:           120 * 24 * time.Hour,
		MaxSiteDistanceKm:         25,
		CorridorKm:                15,
		CrossingRadiusKm:          15,
		SiteMatchKm:               10,
		MaxEvidence:               32,
		MaxRecords:                1_000_000,
		ref:                       ref,
	}
}
