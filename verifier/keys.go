package verifier

import (
	"cmp"
	"slices"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/registry"
)

// Keys and roles, judged by package registry's rules against the registry
// as the whole bundle records it (KEY_MISUSE).

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
// as the whole bundle records it, says were not valid at the event time
// (registry.KeyProblems): revoked before the record, revoked as of a time
// at or before its event time, or outside their window.
func (r *run) keyChecks() {
	for _, rec := range r.recs {
		owner := rec.st.GetPartyId()
		for _, kid := range rec.keys {
			k := registry.FindKey(r.party(owner), kid)
			for _, p := range registry.KeyProblems(k, registry.Position{Index: rec.idx, EventTime: rec.time}) {
				switch p.Problem {
				case registry.RevokedBefore:
					r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), nil, []string{r.idAt(k.GetRevokedIndex())},
						"signed by key %s of %q after its revocation was logged at index %d", kid, owner, k.GetRevokedIndex())
				case registry.RevokedAsOf:
					r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), nil, []string{r.idAt(k.GetRevokedIndex())},
						"event time %s is at or after the revocation time %s of key %s of %q (revocation at index %d)",
						ts(rec.time), ts(k.GetRevokedAt().AsTime()), kid, owner, k.GetRevokedIndex())
				case registry.OutsideWindow:
					r.flag(rec, RuleKeyMisuse, pb.Severity_SEVERITY_CRITICAL, rec.lot(), nil, []string{r.retiredBy[kid]},
						"event time %s is outside the validity window of key %s of %q (%s)", ts(rec.time), kid, owner, registry.Window(k))
				}
			}
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
