package verifier

import (
	"cmp"
	"slices"
	"time"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/registry"
)

// Keys and roles, judged by package registry's rules against the registry
// as the whole bundle records it (KEY_MISUSE), and event times against the
// log's own time (TIMELINE).

// roleCheck flags a record whose party's roles do not allow what it does
// (registry.Allows).
func (r *run) roleCheck(rec *entry, a registry.Action, lots []string) {
	p := r.party(rec.st.GetPartyId())
	if registry.Allows(p, a) {
		return
	}
	r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), lots, []string{p.GetRegistrationRecord()},
		"party %q signed %s, which its roles %v do not allow", rec.st.GetPartyId(), a, p.GetRegistration().GetRoles())
}

// keyChecks raises KEY_MISUSE for signatures by keys that the registry,
// as the whole bundle records it, says were not valid when the log took
// the record (registry.KeyProblems): revoked before the record, revoked as
// of a time at or before the log took it, or outside their window.
//
// It raises KEY_RECOVERY for signatures by a key the registrar added
// alone (a key recovery), naming the rotation; and REVOCATION_BACKDATED
// for signatures the log took after the time a revocation claimed but
// before the revocation reach let it take effect.
func (r *run) keyChecks() {
	for _, rec := range r.recs {
		owner := actingOn(rec.st)
		for _, kid := range rec.keys {
			owner := owner
			k := registry.FindKey(r.party(owner), kid)
			if cp := rec.st.GetCorrection().GetCounterpartyId(); k == nil && cp != "" {
				owner = cp // a handoff's correction, co-signed by the counterparty
				k = registry.FindKey(r.party(owner), kid)
			}
			if k == nil {
				continue
			}
			if k.GetRecoveryRecord() != "" {
				r.flag(rec, RuleKeyRecovery, pb.Severity_SEVERITY_WARNING, rec.lot(), nil, []string{k.GetRecoveryRecord()},
					"signed by key %s of %q, which the registrar added alone (key recovery, record %s), without a signature by any key %q held before",
					kid, owner, k.GetRecoveryRecord(), owner)
			} else if rot := r.unconsented(owner, kid, map[string]*entry{}); rot != nil {
				r.flag(rec, RuleKeyRecovery, pb.Severity_SEVERITY_WARNING, rec.lot(), nil, []string{rot.id},
					"signed by key %s of %q, added (through record %s, index %d) with the consent only of keys that, as the registry's later records show, were revoked or not valid when they gave it: in effect a key recovery",
					kid, owner, rot.id, rot.idx)
			}
			if rc, ok := r.reached[kid]; ok {
				if lt := rec.logTime(); !lt.Before(rc.claimed) && rc.rec.idx > rec.idx && registry.ValidAt(k, lt) && !(k.GetRevoked() && !lt.Before(k.GetRevokedAt().AsTime())) {
					r.flag(rec, RuleRevocationBackdated, pb.Severity_SEVERITY_WARNING, rec.lot(), nil, []string{rc.rec.id},
						"the revocation of key %s of %q at index %d dates its compromise to %s, before the log took this record (%s), but it was logged %s, more than the %.0f-day revocation reach later: applied from %s only",
						kid, owner, rc.rec.idx, ts(rc.claimed), ts(lt), ts(rc.rec.logTime()), r.cfg.RevocationReach.Hours()/24, ts(k.GetRevokedAt().AsTime()))
				}
			}
			for _, p := range registry.KeyProblems(k, registry.Position{Index: rec.idx, LogTime: rec.logTime(), EventTime: rec.time}) {
				switch p.Problem {
				case registry.RevokedBefore:
					r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), nil, []string{r.idAt(k.GetRevokedIndex())},
						"signed by key %s of %q after its revocation was logged at index %d", kid, owner, k.GetRevokedIndex())
				case registry.RevokedAsOf:
					r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), nil, []string{r.idAt(k.GetRevokedIndex())},
						"%s %s is at or after the revocation time %s of key %s of %q (revocation at index %d)",
						p.What, ts(p.Time), ts(k.GetRevokedAt().AsTime()), kid, owner, k.GetRevokedIndex())
				case registry.OutsideWindow:
					r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), nil, []string{r.retiredBy[kid]},
						"%s %s is outside the validity window of key %s of %q (%s)", p.What, ts(p.Time), kid, owner, registry.Window(k))
				}
			}
		}
	}
}

// timeChecks raises TIMELINE for records whose event time the log's own
// time contradicts: after the log took the record (beyond MaxEventAhead,
// which the server refuses), or long before it (beyond MaxBackdate: a
// record signed now but dated back, as a key thief would date it).
func (r *run) timeChecks() {
	for _, rec := range r.recs {
		lt := rec.logTime()
		switch ahead, back := rec.time.Sub(lt), lt.Sub(rec.time); {
		case r.cfg.MaxEventAhead > 0 && ahead > r.cfg.MaxEventAhead:
			r.flag(rec, RuleTimeline, pb.Severity_SEVERITY_CRITICAL, rec.lot(), nil, nil,
				"event time %s is %s after the log took the record (%s): an event cannot postdate its record",
				ts(rec.time), ahead.Round(time.Second), ts(lt))
		case r.cfg.MaxBackdate > 0 && back > r.cfg.MaxBackdate:
			r.flag(rec, RuleTimeline, pb.Severity_SEVERITY_WARNING, rec.lot(), nil, nil,
				"event time %s is %.0f days before the log took the record (%s), more than the %.0f days allowed: backdated",
				ts(rec.time), back.Hours()/24, ts(lt), r.cfg.MaxBackdate.Hours()/24)
		}
	}
}

// idAt returns the id of the bundle's record at index idx, or "".
func (r *run) idAt(idx uint64) string {
	i, ok := slices.BinarySearchFunc(r.recs, idx, func(e *entry, idx uint64) int { return cmp.Compare(e.idx, idx) })
	if !ok {
		return ""
	}
	return r.recs[i].id
}

// unconsented returns the key rotation behind key kid of party owner whose
// consent does not hold when judged by the registry as the whole bundle
// records it: every co-signer of the party was revoked (a revocation
// logged later, dating the compromise before the rotation) or outside its
// window then, or is itself unconsented; nil if kid's consent holds. The
// store judged the rotation by the registry as it stood then; a key stolen
// and used to consent before its owner noticed shows only later.
func (r *run) unconsented(owner, kid string, memo map[string]*entry) *entry {
	rot := r.addedBy[kid]
	if rot == nil {
		return nil // a registration's key
	}
	if v, ok := memo[kid]; ok {
		return v
	}
	// Co-signers precede the rotation in the log, so the recursion ends;
	// until it does, kid counts as unconsented.
	memo[kid] = rot
	for _, c := range rot.keys {
		ck := registry.FindKey(r.party(owner), c)
		if ck == nil || ck.GetRecoveryRecord() != "" {
			continue
		}
		if r.invalidConsent(ck, rot) {
			continue
		}
		if r.unconsented(owner, c, memo) == nil {
			memo[kid] = nil
			return nil
		}
	}
	return rot
}

// invalidConsent reports whether key ck could not consent to rotation rot,
// by the registry as the whole bundle records it: revoked before it, or as
// of a time at or before it, or outside its window then. A window the
// rotation itself ended (retiring ck, from the time the log took it) does
// not count: a key consents to its own retirement.
func (r *run) invalidConsent(ck *pb.KeyStatus, rot *entry) bool {
	for _, p := range registry.KeyProblems(ck, registry.Position{Index: rot.idx, LogTime: rot.logTime(), EventTime: rot.time}) {
		if p.Problem == registry.OutsideWindow && r.retiredBy[ck.GetKeyId()] == rot.id && !p.Time.Before(ck.GetNotBefore().AsTime()) {
			continue
		}
		return true
	}
	return false
}
