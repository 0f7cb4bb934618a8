package verifier

import (
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// Rule ids. They are stable: reports, flag queries and documentation
// refer to them. Each says where it is checked.
const (
	// RuleOrphanInput: extract (an extraction by a non-mine) and
	// continueFrom (a link to a record that does not hold the lot), in
	// massflow.go.
	RuleOrphanInput = "ORPHAN_INPUT"
	// RuleMassSurplus: transform (outputs beyond inputs x recovery, or a
	// split or merge gaining mass) and gradeCheck (a grade above the
	// product's stoichiometric maximum), in massflow.go.
	RuleMassSurplus = "MASS_SURPLUS"
	// RuleMineOverCapacity: volume, in volume.go.
	RuleMineOverCapacity = "MINE_OVER_CAPACITY"
	// RuleOriginVolume: volume, in volume.go.
	RuleOriginVolume = "ORIGIN_VOLUME"
	// RuleAssayMismatch: assay (an assay outside the origin mines'
	// envelopes), in assay.go, and extract (a declared ore grade outside
	// the mine's range), in massflow.go.
	RuleAssayMismatch = "ASSAY_MISMATCH"
	// RuleTransitGain: dispatch and receipt, in massflow.go.
	RuleTransitGain = "TRANSIT_GAIN"
	// RuleUnconfirmedCustody: custodyCheck and receipt, in massflow.go,
	// and analyse (the lot still in transit), in analyse.go.
	RuleUnconfirmedCustody = "UNCONFIRMED_CUSTODY"
	// RuleDoubleSpend: continueFrom, create and transform, in
	// massflow.go.
	RuleDoubleSpend = "DOUBLE_SPEND"
	// RuleTimeline: continueFrom, in massflow.go; route and arrival, in
	// geography.go.
	RuleTimeline = "TIMELINE"
	// RuleImplausibleTransit: speedCheck and arrival, in geography.go.
	RuleImplausibleTransit = "IMPLAUSIBLE_TRANSIT"
	// RuleBorderCorridor: borderPoint and route, in geography.go.
	RuleBorderCorridor = "BORDER_CORRIDOR"
	// RuleKeyMisuse: keyChecks and roleCheck, in keys.go (by the
	// registry's rules), and assay (an assay by neither the lot's holder
	// nor a LAB), in assay.go.
	RuleKeyMisuse = "KEY_MISUSE"
	// RuleSiteMismatch: extract, in massflow.go.
	RuleSiteMismatch = "SITE_MISMATCH"
	// RuleKeyRecovery: keyChecks, in keys.go.
	RuleKeyRecovery = "KEY_RECOVERY"
	// RuleRevocationBackdated: keyChecks, in keys.go.
	RuleRevocationBackdated = "REVOCATION_BACKDATED"
	// RuleUnnamedLab: assay (an assay by a LAB that the lot's holder had
	// not named), in assay.go.
	RuleUnnamedLab = "UNNAMED_LAB"
)

// A RuleInfo describes one rule.
type RuleInfo struct {
	// ID is the stable rule id, e.g. MASS_SURPLUS.
	ID string
	// Severity is the highest severity the rule raises.
	Severity pb.Severity
	// Description says in one line what the rule flags.
	Description string
}

var rules = []RuleInfo{
	{RuleOrphanInput, pb.Severity_SEVERITY_CRITICAL, "material not traced to an extraction by a registered MINE party (extraction signed by a non-mine, or a link to a record that does not hold the lot)"},
	{RuleMassSurplus, pb.Severity_SEVERITY_CRITICAL, "a transformation's outputs contain more Sb than its inputs x the kind's maximum recovery, or a split/merge outputs more mass than it consumed, or carries gains without origin that add up past the handoff tolerance"},
	{RuleMineOverCapacity, pb.Severity_SEVERITY_CRITICAL, "an origin mine's extractions in the capacity window exceed its licensed ore capacity prorated to the window"},
	{RuleOriginVolume, pb.Severity_SEVERITY_CRITICAL, "Sb extracted in the national country in the window exceeds its recorded annual output, or a lot holds more Sb from one mine than the mine can produce in a year"},
	{RuleAssayMismatch, pb.Severity_SEVERITY_CRITICAL, "an ore or concentrate's assay or declared grade lies outside its origin mine's reference envelope or grade range (warning); Hg and As both high, the Afghan Kharnak pattern (critical)"},
	{RuleTransitGain, pb.Severity_SEVERITY_CRITICAL, "a receipt weighs more than its dispatch, or a dispatch more than the lot held, beyond the handoff tolerance; or gains that each stay inside it add up, over the lot's handoffs, splits and merges, past it"},
	{RuleUnconfirmedCustody, pb.Severity_SEVERITY_CRITICAL, "a dispatch without a receipt, a receipt with broken seals (warning), or a custody break: signer not the holder or addressee (critical)"},
	{RuleDoubleSpend, pb.Severity_SEVERITY_CRITICAL, "a custody record continued twice, a transformation consuming more than the lot held, or a lot id created twice"},
	{RuleTimeline, pb.Severity_SEVERITY_WARNING, "an event time earlier than the event it continues, route waypoint times going backwards, or an event time more than MaxBackdate before (or MaxEventAhead after) the log took the record"},
	{RuleImplausibleTransit, pb.Severity_SEVERITY_WARNING, "an implied average speed between timed points above the maximum, or a dispatch-to-receipt dwell above the maximum"},
	{RuleBorderCorridor, pb.Severity_SEVERITY_CRITICAL, "a site or route point on the Afghan side or at a border crossing, or a named crossing (critical); a mine site or route point in the border corridor (warning)"},
	{RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, "a record signed by a key revoked before the log took it, outside the key's validity window at that time, or by a party whose role does not allow the statement"},
	{RuleSiteMismatch, pb.Severity_SEVERITY_WARNING, "an extraction further from its mine's registered site than MaxSiteDistanceKm (25 km)"},
	{RuleKeyRecovery, pb.Severity_SEVERITY_WARNING, "a record signed by a key that the registrar added to its party alone, without a signature by any of the party's keys, or whose consenting keys turn out (from revocations logged later) to have been revoked then (a key recovery: the registrar could have made the key itself)"},
	{RuleRevocationBackdated, pb.Severity_SEVERITY_WARNING, "a record signed by a key whose revocation dates the key's compromise before the record, further back than the revocation reach allows, so it is applied only from the bound"},
	{RuleUnnamedLab, pb.Severity_SEVERITY_WARNING, "an assay of a lot by a LAB that the lot's holder had not named (its latest lab nomination since it took custody), which the ledger refuses: a log from before the rule, or an operator that admitted it"},
}

// Rules lists every rule with its highest severity and a one-line
// description, in a fixed order.
func Rules() []RuleInfo { return append([]RuleInfo(nil), rules...) }
