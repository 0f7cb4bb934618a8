package backend_test

import (
	"testing"
)

// TestManyCorrectionsLinearOverCapacity_review20: 79e2ab2 bounds the
// corrections whose withdrawn flags withdrawn weighs one by one at 16
// (maxExactCorrections) so that a bundle of many corrections is not
// verified in time quadratic in them; withdrawnLotYear, beside it, still
// replays the bundle's prefix twice for every correction of the chain,
// without bound, whenever the lot's mines put more Sb into it than a
// year of their capacity (lotYearPossible): exactly the lots a buyer most
// needs verified, and a lot any mine can make so by logging one large
// extraction. Doubling the corrected hops about quadruples the work.
func TestManyCorrectionsLinearOverCapacity_review20(t *testing.T) {
	linearInCorrections(t, 800_000) // more than a year of its mine's capacity
}
