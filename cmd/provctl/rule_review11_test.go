package main

import (
	"testing"

	"github.com/antimony-ledger/provenance/internal/backend"
)

// TestRuleFlagTakesINVALID_review11: the server's listings take the rule
// "INVALID" (backend.RuleInvalid, the flag listed for a lot whose
// verification fails; internal/backend/listing.go checkRule accepts it).
// provctl's new --rule check knows only verifier.Rules(), so `provctl
// flags --rule INVALID` and `provctl list-lots --rule INVALID`, which the
// server answers, are now refused as usage errors (exit 2), and the list
// of rules the refusal gives leaves INVALID out.
func TestRuleFlagTakesINVALID_review11(t *testing.T) {
	if err := checkRuleFlag(backend.RuleInvalid); err != nil {
		t.Fatalf("provctl --rule %s, which the server's listings take: %v", backend.RuleInvalid, err)
	}
}
