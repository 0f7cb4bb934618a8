package report

import "github.com/antimony-ledger/provenance/verifier"

// explanations say, for someone who is not a metallurgist or a
// cryptographer, what each rule's flag means and why a buyer should care.
// The rule's own one-line description ([verifier.RuleInfo]) says what it
// checks; the flag's message gives the numbers.
var explanations = map[string]string{
	verifier.RuleOrphanInput: "Some of the material cannot be traced back to a registered mine: either an extraction was signed by a party that is not a registered mine, or a record claims to continue a lot it did not hold. " +
		"Material that enters the chain from nowhere is how undeclared ore is slipped into a clean lot.",
	verifier.RuleMassSurplus: "More antimony came out of a processing step (split, merge, concentrating, smelting or refining) than went into it, allowing for the best recovery that step can reach. " +
		"Metal does not appear from nothing: the surplus is material of unknown origin added along the way, and it is counted as untraced.",
	verifier.RuleMineOverCapacity: "The declared mine extracted more ore in the period than its licence allows it to produce. " +
		"A mine that ships more than it can dig is a typical front for material mined elsewhere.",
	verifier.RuleOriginVolume: "The antimony declared as mined in the country, or the antimony this lot attributes to one mine, is out of keeping with what that country or mine is recorded as producing in a year. " +
		"Pakistan's recorded output is small, so large volumes under a Pakistani origin are themselves a warning sign.",
	verifier.RuleAssayMismatch: "A laboratory assay or a declared grade does not fit the chemistry on record for the declared mine. " +
		"Mercury and arsenic high together is the signature of Afghan Kharnak-type ore: the paperwork names one mine, the chemistry suggests another, possibly Afghan, origin.",
	verifier.RuleTransitGain: "A consignment weighed more on arrival than when it was sent, or more was sent than the holder had, beyond the normal weighing tolerance; or small gains that each pass add up to more than the tolerance over the lot's journey. " +
		"Weight gained in transit is where outside material is added.",
	verifier.RuleUnconfirmedCustody: "A handover is not confirmed by both sides: a dispatch the addressee never signed for, a receipt reporting broken seals, or a record signed by a party that was neither the holder nor the addressee. " +
		"Unconfirmed handovers are where lots are swapped.",
	verifier.RuleDoubleSpend: "The same material was used twice: one custody record continued by two later records, a processing step consuming more than the lot held, or the same lot id created twice. " +
		"One batch cannot back two shipments.",
	verifier.RuleTimeline: "Dates do not add up: an event dated before the event it follows, route times going backwards, or a record dated long before (or after) the log received it. " +
		"Backdating is how records are slipped under a capacity or key deadline.",
	verifier.RuleImplausibleTransit: "The journey is not physically plausible: the implied average speed between two reported points is too high, or the material sat between dispatch and receipt far longer than a journey takes. " +
		"Long unexplained stops are where material can be exchanged.",
	verifier.RuleBorderCorridor: "A site or route point lies on the Afghan side of the border, at a border crossing, or in the corridor along the border. " +
		"Afghan material relabelled as Pakistani typically enters through these crossings and this corridor.",
	verifier.RuleKeyMisuse: "A record was signed with a key that was revoked or outside its validity period when the log received it, or by a party whose registered role does not allow that kind of record (for example an assay by someone who is neither the holder nor a laboratory). " +
		"Such a signature does not show that the named party made the claim.",
	verifier.RuleSiteMismatch: "An extraction was recorded far from the declared mine's registered site. " +
		"Ore dug elsewhere may be declared under a licensed mine's name.",
	verifier.RuleKeyRecovery: "A record was signed with a key that the registrar added to the party on its own, without the party's consent (a key recovery). " +
		"The registrar could have made that key itself, so the record rests on trusting the registrar.",
	verifier.RuleRevocationBackdated: "A key revocation claims the key was compromised further back than the log allows a revocation to reach; it is applied only from that limit. " +
		"Records signed with the key before then may have been made by whoever had the key.",
	verifier.RuleUnnamedLab: "An assay was made by a laboratory that the lot's holder had not named to assay it. " +
		"The ledger refuses such assays today; one in the log means an older log or an operator that admitted it, and a stranger could use it to pin a false assay on a lot.",
}

// Explain returns a plain-words explanation of a verifier rule ([verifier.Rules]):
// what its flag means and why a buyer should care. It returns "" for a rule it
// does not know. Reports, the web console and provctl all take the words from
// here, so a rule is explained the same way everywhere.
func Explain(rule string) string { return explanations[rule] }

// A Term is a word of the report's glossary.
type Term struct {
	// Name is the term as the report uses it, e.g. "contained Sb".
	Name string
	// Definition says what it means, in a sentence or two.
	Definition string
	// Short says it in a line, for the printed page's footnote-size
	// glossary.
	Short string
}

var glossary = []Term{
	{"contained Sb", "The antimony (Sb) inside the material, in kg: its dry mass (wet mass less moisture) times its antimony grade. A 10,000 kg lot of ore at 3 % moisture and 9 % Sb contains 873 kg Sb. It is what the records let one follow through processing, where masses change but the metal does not grow.", "the antimony inside the material, in kg: dry mass (wet mass less moisture) times Sb grade; processing changes masses, not the metal."},
	{"untraced share", "The part of the lot's contained Sb that the signed records do not lead back to an extraction by a registered mine: Sb that appeared in a processing step or a weighing beyond what the inputs could give, or that came from a party that is not a mine. 0 % means every kg is accounted for by the records; it does not mean the records are true (see the flags).", "the part of the contained Sb the signed records do not lead back to a registered mine's extraction; 0 % does not mean the records are true (see the flags)."},
	{"origin attribution", "How the lot's contained Sb divides between the mines whose extractions the records lead back to, following the signed masses and grades through every handover and processing step. It repeats what the signed records claim; an assay flag can show the chemistry disagrees.", "how the contained Sb divides between the mines the signed records lead back to: what the records claim, which an assay can contradict."},
	{"tree size", "The number of records in the public log when its operator signed the checkpoint this report was checked against. The log only grows: a later checkpoint with a larger tree size must contain this one unchanged.", "the number of records in the log when its operator signed the checkpoint; the log only grows."},
	{"checkpoint", "A statement signed by the log operator of the log's size and the hash of all its records (the root hash). Every record in this report is proved to be inside it.", "the log operator's signed statement of the log's size and root hash; every record here is proved to be in it."},
	{"inclusion proof", "A short list of hashes that shows a record is in the log the checkpoint describes, without downloading the whole log.", "a few hashes showing a record is in the log the checkpoint describes."},
	{"witness", "An independent party that checks the log only grows, and co-signs (cosigns) its checkpoints. A checkpoint cosigned by witnesses cannot be shown to one buyer and hidden from another without them noticing.", "an independent party that checks the log only grows and cosigns its checkpoints, so no buyer is shown a different log unnoticed."},
	{"verdict", "VERIFIED: every signature and proof checked and no rule raised a flag on the lot as corrected; a flag that values a correction replaced had raised may be shown, marked corrected, and does not count. FLAGGED: the records are authentic, but rules found something implausible. INVALID: a signature, link, key or proof failed, and nothing in the records can be relied on; or the lot no longer exists, used up by a transformation whose outputs are the lots to verify (the errors say which).", "VERIFIED: all checked, no flag (but corrected ones, shown); FLAGGED: authentic records, implausible claims; INVALID: a signature, link, key or proof failed, nothing can be relied on, or the lot was used up (the errors say which)."},
}

// Glossary returns the terms the report defines, in the order it shows them.
func Glossary() []Term { return append([]Term(nil), glossary...) }
