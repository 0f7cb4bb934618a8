package refdata_test

import (
	"fmt"

	"github.com/antimony-ledger/provenance/internal/refdata"
)

func ExampleDataset_NearestCrossing() {
	d, err := refdata.Load()
	if err != nil {
		panic(err)
	}
	landiKotal := refdata.Point{Lat: 34.10, Lon: 71.14}
	c, km := d.NearestCrossing(landiKotal)
	fmt.Printf("%s %.1f km, Afghan side: %v\n", c.Name, km, d.InAfghanistan(landiKotal))
	jalalabad := refdata.Point{Lat: 34.43, Lon: 70.45}
	fmt.Printf("Jalalabad Afghan side: %v\n", d.InAfghanistan(jalalabad))
	// Output:
	// Torkham 5.3 km, Afghan side: false
	// Jalalabad Afghan side: true
}
