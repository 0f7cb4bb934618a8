package refdata

// Sources of the figures below, as recorded in docs/DOMAIN.md.
const (
	// SourceGradesRecoveries names the source of the stibnite, concentrate
	// and Sb2O3 grades and the flotation recovery range.
	SourceGradesRecoveries = "usantimony.com terminology; flotation test 66.8 % Sb at 79.5 % recovery (beneficiation study on scribd)"
	// SourceSmelting names the source of the smelting recovery figure.
	// docs/DOMAIN.md records ~94.8 % volatilization recovery without naming a
	// publication for it.
	SourceSmelting = "docs/DOMAIN.md numbers: smelting volatilization recovery ~94.8 % (no publication named); docs/DOMAIN.md design brief: smelting recovery about 95 %"
	// SourceIngotNorms names the source of the ingot lot tolerance and
	// impurity limits.
	SourceIngotNorms = "MMTA metal norms, antimony; GB/T 1599-2014"
	// SourceProduction names the source of the national production figure
	// and the Qila Abdullah reserve.
	SourceProduction = "USGS-derived table in MDPI Processes 10(8):1590 (2022)"
	// SourceQilaAbdullah names the source of the Qila Abdullah grade and
	// reserve.
	SourceQilaAbdullah = "USGS, 'Antimony deposits, Quetta-Pishin district, Quetta division, Pakistan'; Hussain 1974 via a Balochistan mineral profile"
)

// Grades, in percent Sb by mass.
const (
	// StibniteSbPct is the Sb content of pure stibnite, Sb2S3
	// (stoichiometric). Source: [SourceGradesRecoveries].
	StibniteSbPct = 71.7
	// ConcentrateSbPctMin is the low end of flotation concentrate grades.
	// Source: [SourceGradesRecoveries].
	ConcentrateSbPctMin = 50.0
	// ConcentrateSbPctMax is the high end of flotation concentrate grades.
	// Source: [SourceGradesRecoveries].
	ConcentrateSbPctMax = 68.0
	// DSOSbPctMin is the low end of hand-sorted direct-shipping ore grades.
	// Source: docs/DOMAIN.md numbers (no publication named).
	DSOSbPctMin = 30.0
	// DSOSbPctMax is the high end of hand-sorted direct-shipping ore grades.
	// Source: docs/DOMAIN.md numbers (no publication named).
	DSOSbPctMax = 60.0
	// Sb2O3SbPctTheoretical is the Sb content of pure antimony trioxide.
	// Source: [SourceGradesRecoveries].
	Sb2O3SbPctTheoretical = 83.53
	// Sb2O3SbPctFinishedMin is the low end of finished trioxide grades.
	// Source: docs/DOMAIN.md numbers (82.5–83.3 % finished).
	Sb2O3SbPctFinishedMin = 82.5
	// Sb2O3SbPctFinishedMax is the high end of finished trioxide grades.
	// Source: docs/DOMAIN.md numbers (82.5–83.3 % finished).
	Sb2O3SbPctFinishedMax = 83.3
)

// Recoveries and tolerances, as fractions (0.95 means 95 %).
const (
	// FlotationRecoveryMin is the low end of Sb recovery into flotation
	// concentrate. Source: [SourceGradesRecoveries].
	FlotationRecoveryMin = 0.80
	// FlotationRecoveryMax is the high end of Sb recovery into flotation
	// concentrate: the most contained Sb a concentrating step may keep.
	// Source: [SourceGradesRecoveries].
	FlotationRecoveryMax = 0.95
	// SmeltingRecoveryTypical is the typical Sb recovery of volatilization
	// smelting. Source: [SourceSmelting].
	SmeltingRecoveryTypical = 0.948
	// SmeltingRecoveryMax is the most contained Sb a smelting step may keep.
	// Assumption: 94.8 % rounded up to the "about 95 %" of the design brief (docs/DOMAIN.md); the
	// red-flag notes in docs/DOMAIN.md allow ~95–98 %, so a verifier wanting
	// fewer false alarms may raise it.
	SmeltingRecoveryMax = 0.95
	// HandoffTolerance is the relative weight difference allowed between a
	// dispatch and its receipt, after moisture: the ±2 % of a 5 t antimony
	// ingot lot. Source: [SourceIngotNorms].
	HandoffTolerance = 0.02
)

// Masses, in kg.
const (
	// IngotLotKg is the nominal antimony ingot lot.
	// Source: [SourceIngotNorms].
	IngotLotKg = 5000.0
	// PakistanMineOutputSbKgPerYear is Pakistan's recorded antimony mine
	// output, ~20 t Sb a year. Source: [SourceProduction].
	PakistanMineOutputSbKgPerYear = 20000.0
	// QilaAbdullahReserveOreKg is the Qila Abdullah ore reserve, ~26,000 t.
	// Source: [SourceQilaAbdullah]; also [SourceProduction].
	QilaAbdullahReserveOreKg = 26_000_000.0
)

// A Figure is one of the package's grade, recovery, tolerance or mass
// constants with its unit and source, for reports that must cite the
// figures they apply.
type Figure struct {
	// Name is the Go constant's name.
	Name string
	// Value is the constant's value.
	Value float64
	// Unit is "%" (percent by mass), "fraction" or "kg" / "kg/yr".
	Unit string
	// Source names the public source, or describes the assumption.
	Source string
	// Assumption is true when the value was chosen rather than sourced.
	Assumption bool
}

// Figures returns the grade, recovery, tolerance and mass constants with
// their units and sources, in a fixed order. The slice is new on every call.
func Figures() []Figure {
	const domain = "docs/DOMAIN.md numbers (no publication named)"
	return []Figure{
		{"StibniteSbPct", StibniteSbPct, "%", SourceGradesRecoveries, false},
		{"ConcentrateSbPctMin", ConcentrateSbPctMin, "%", SourceGradesRecoveries, false},
		{"ConcentrateSbPctMax", ConcentrateSbPctMax, "%", SourceGradesRecoveries, false},
		{"DSOSbPctMin", DSOSbPctMin, "%", domain, false},
		{"DSOSbPctMax", DSOSbPctMax, "%", domain, false},
		{"Sb2O3SbPctTheoretical", Sb2O3SbPctTheoretical, "%", SourceGradesRecoveries, false},
		{"Sb2O3SbPctFinishedMin", Sb2O3SbPctFinishedMin, "%", domain, false},
		{"Sb2O3SbPctFinishedMax", Sb2O3SbPctFinishedMax, "%", domain, false},
		{"FlotationRecoveryMin", FlotationRecoveryMin, "fraction", SourceGradesRecoveries, false},
		{"FlotationRecoveryMax", FlotationRecoveryMax, "fraction", SourceGradesRecoveries, false},
		{"SmeltingRecoveryTypical", SmeltingRecoveryTypical, "fraction", SourceSmelting, false},
		{"SmeltingRecoveryMax", SmeltingRecoveryMax, "fraction", "assumption: 94.8 % (" + SourceSmelting + ") rounded up to 95 %", true},
		{"HandoffTolerance", HandoffTolerance, "fraction", SourceIngotNorms, false},
		{"IngotLotKg", IngotLotKg, "kg", SourceIngotNorms, false},
		{"PakistanMineOutputSbKgPerYear", PakistanMineOutputSbKgPerYear, "kg/yr", SourceProduction, false},
		{"QilaAbdullahReserveOreKg", QilaAbdullahReserveOreKg, "kg", SourceQilaAbdullah, false},
	}
}
