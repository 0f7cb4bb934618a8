package report

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/antimony-ledger/provenance/internal/refdata"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/verifier"
)

// The route map: an equirectangular projection (x scaled by the cosine of
// the middle latitude, so a km is about as long either way) of the
// Afghanistan-Pakistan border region, drawn from internal/refdata: the
// simplified border line (the Durand line), the corridor along it that the
// BORDER_CORRIDOR rule watches, the crossings and the reference mines; over
// it, the places and dispatch routes of the lot's records. Points far
// outside the region (a port of arrival in the US) are listed under the map
// rather than drawn.

var loadRef = sync.OnceValues(refdata.Load)

// The region a point must lie in to be drawn.
const (
	regionLatMin, regionLatMax = 18.0, 42.0
	regionLonMin, regionLonMax = 56.0, 80.0
	mapW                       = 640.0
	mapPadDeg                  = 0.6
)

type mpoint struct {
	X, Y  float64
	Label string
	Class string
	Tip   string
}

type mroute struct {
	Points string
	Tip    string
}

type mtick struct {
	X1, Y1, X2, Y2 float64
	Label          string
	LX, LY         float64
}

type mapView struct {
	W, H      float64
	Border    string
	CorridorW float64
	CorridorK float64 // the corridor's width in km, for the legend
	Ticks     []mtick
	Crossings []mpoint
	Mines     []mpoint
	Places    []mpoint
	Routes    []mroute
	OffMap    []string
	Err       string
}

func inRegion(lat, lon float64) bool {
	return lat >= regionLatMin && lat <= regionLatMax && lon >= regionLonMin && lon <= regionLonMax
}

func buildMap(recs []*rec, crossingsNamed map[string]bool) mapView {
	ref, err := loadRef()
	if err != nil {
		return mapView{Err: "reference data not available: " + err.Error()}
	}
	corridorKm := verifier.DefaultConfig().CorridorKm
	// The frame: the border, crossings and mines, and the lot's places.
	latMin, latMax, lonMin, lonMax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	grow := func(lat, lon float64) {
		if !inRegion(lat, lon) {
			return
		}
		latMin, latMax = math.Min(latMin, lat), math.Max(latMax, lat)
		lonMin, lonMax = math.Min(lonMin, lon), math.Max(lonMax, lon)
	}
	for _, p := range ref.Border {
		grow(p.Lat, p.Lon)
	}
	for _, m := range ref.Mines {
		grow(m.Lat, m.Lon)
	}
	type located struct {
		loc   *pb.Location
		class string
		tip   string
	}
	var places []located
	var routes [][]*pb.Location
	var routeTips []string
	// A dispatch's route runs from where the lot last was, through its
	// waypoints, to where its receipt was signed.
	at := map[string]*pb.Location{} // lot -> where its latest record put it
	routeOf := map[string]int{}     // dispatch record id -> index in routes
	extend := func(locs []*pb.Location, l *pb.Location) []*pb.Location {
		if l == nil || (len(locs) > 0 && locs[len(locs)-1].GetLat() == l.GetLat() && locs[len(locs)-1].GetLon() == l.GetLon()) {
			return locs
		}
		return append(locs, l)
	}
	for _, r := range recs {
		st := r.st
		switch {
		case st.GetExtraction() != nil:
			at[st.GetExtraction().GetLotId()] = st.GetExtraction().GetSite()
			places = append(places, located{st.GetExtraction().GetSite(), "extract", "extraction of " + st.GetExtraction().GetLotId() + " by " + st.GetPartyId()})
		case st.GetReceipt() != nil:
			x := st.GetReceipt()
			at[x.GetLotId()] = x.GetLocation()
			if i, ok := routeOf[x.GetDispatchLink()]; ok {
				routes[i] = extend(routes[i], x.GetLocation())
			}
			places = append(places, located{x.GetLocation(), "receipt", "receipt of " + x.GetLotId() + " by " + st.GetPartyId()})
		case st.GetTransformation() != nil:
			t := st.GetTransformation()
			for _, o := range t.GetOutputs() {
				at[o.GetLotId()] = t.GetSite()
			}
			places = append(places, located{t.GetSite(), "step", kindName(t.GetKind()) + " by " + st.GetPartyId()})
		case st.GetDispatch() != nil:
			d := st.GetDispatch()
			locs := extend(nil, at[d.GetLotId()])
			for _, wp := range d.GetRoute() {
				locs = extend(locs, wp.GetLocation())
			}
			routeOf[r.id] = len(routes)
			routes = append(routes, locs)
			routeTips = append(routeTips, fmt.Sprintf("dispatch of %s by %s to %s", d.GetLotId(), st.GetPartyId(), d.GetToPartyId()))
		}
	}
	for _, p := range places {
		if p.loc != nil {
			grow(p.loc.GetLat(), p.loc.GetLon())
		}
	}
	for _, rt := range routes {
		for _, l := range rt {
			grow(l.GetLat(), l.GetLon())
		}
	}
	latMin, latMax = latMin-mapPadDeg, latMax+mapPadDeg
	lonMin, lonMax = lonMin-mapPadDeg, lonMax+mapPadDeg
	cos := math.Cos((latMin + latMax) / 2 * math.Pi / 180)
	k := mapW / ((lonMax - lonMin) * cos) // SVG units per degree of latitude
	xy := func(lat, lon float64) (float64, float64) {
		return (lon - lonMin) * cos * k, (latMax - lat) * k
	}
	v := mapView{W: mapW, H: (latMax - latMin) * k, CorridorK: corridorKm}
	// A degree of latitude is about 111.2 km.
	v.CorridorW = 2 * corridorKm * k / 111.2

	var pts []string
	for _, p := range ref.Border {
		x, y := xy(p.Lat, p.Lon)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	v.Border = strings.Join(pts, " ")
	for lat := math.Ceil(latMin/2) * 2; lat <= latMax; lat += 2 {
		_, y := xy(lat, lonMin)
		v.Ticks = append(v.Ticks, mtick{X1: 0, Y1: y, X2: v.W, Y2: y, Label: fmt.Sprintf("%g°N", lat), LX: 3, LY: y - 2})
	}
	for lon := math.Ceil(lonMin/2) * 2; lon <= lonMax; lon += 2 {
		x, _ := xy(latMin, lon)
		v.Ticks = append(v.Ticks, mtick{X1: x, Y1: 0, X2: x, Y2: v.H, Label: fmt.Sprintf("%g°E", lon), LX: x + 2, LY: v.H - 3})
	}
	for _, c := range ref.Crossings {
		x, y := xy(c.Lat, c.Lon)
		class := "crossing"
		if crossingsNamed[strings.ToLower(c.Name)] {
			class = "crossing hit"
		}
		v.Crossings = append(v.Crossings, mpoint{X: x, Y: y, Label: c.Name, Class: class, Tip: "border crossing " + c.Name})
	}
	for _, m := range ref.Mines {
		x, y := xy(m.Lat, m.Lon)
		class, tip := "mine", m.Name+" ("+m.Country+"), reference deposit"
		if !m.Licensed {
			class, tip = "mine unlicensed", m.Name+" ("+m.Country+"), fingerprint reference, not a permissible source"
		}
		v.Mines = append(v.Mines, mpoint{X: x, Y: y, Label: m.Name, Class: class, Tip: tip})
	}
	for _, p := range places {
		if p.loc == nil {
			continue
		}
		if !inRegion(p.loc.GetLat(), p.loc.GetLon()) {
			v.OffMap = append(v.OffMap, fmt.Sprintf("%s: %s (%.2f, %.2f)", p.tip, place(p.loc), p.loc.GetLat(), p.loc.GetLon()))
			continue
		}
		x, y := xy(p.loc.GetLat(), p.loc.GetLon())
		// Records at one place (an extraction and the dispatch from its
		// site, two receipts at one warehouse) share a dot and a label.
		if i := slices.IndexFunc(v.Places, func(q mpoint) bool { return q.X == x && q.Y == y }); i >= 0 {
			v.Places[i].Tip += "; " + p.tip
			continue
		}
		v.Places = append(v.Places, mpoint{X: x, Y: y, Label: trunc(p.loc.GetName(), 24), Class: p.class, Tip: p.tip + " at " + place(p.loc)})
	}
	for i, rt := range routes {
		// A route is drawn in runs of points inside the region; a leg
		// that leaves it (a sea voyage) is named under the map.
		var run []string
		flush := func() {
			if len(run) > 1 {
				v.Routes = append(v.Routes, mroute{Points: strings.Join(run, " "), Tip: routeTips[i]})
			}
			run = nil
		}
		for _, l := range rt {
			if !inRegion(l.GetLat(), l.GetLon()) {
				flush()
				v.OffMap = append(v.OffMap, fmt.Sprintf("%s: route point %s (%.2f, %.2f)", routeTips[i], place(l), l.GetLat(), l.GetLon()))
				continue
			}
			x, y := xy(l.GetLat(), l.GetLon())
			run = append(run, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		flush()
	}
	return v
}
