package report_test

import (
	"fmt"

	"github.com/antimony-ledger/provenance/internal/report"
)

// Every rule's flag is explained in plain words, in one place, for the
// report, the console and provctl.
func ExampleExplain() {
	fmt.Println(report.Explain("TRANSIT_GAIN"))
	// Output: A consignment weighed more on arrival than when it was sent, or more was sent than the holder had, beyond the normal weighing tolerance; or small gains that each pass add up to more than the tolerance over the lot's journey. Weight gained in transit is where outside material is added.
}
