package verifier

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/antimony-ledger/provenance/internal/refdata"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// Geography and transit: the border corridor model applied to sites,
// waypoints and named crossings (BORDER_CORRIDOR), the speed and dwell of
// transits (IMPLAUSIBLE_TRANSIT) and the time order of routes (TIMELINE).

func pt(l *pb.Location) refdata.Point { return refdata.Point{Lat: l.GetLat(), Lon: l.GetLon()} }

func (r *run) crossingNamed(name string) (refdata.Crossing, bool) {
	if r.cfg.ref == nil {
		return refdata.Crossing{}, false
	}
	if c, ok := r.cfg.ref.CrossingByName(name); ok {
		return c, true
	}
	low := strings.ToLower(name)
	for _, c := range r.cfg.ref.Crossings {
		if strings.Contains(low, strings.ToLower(c.Name)) {
			return c, true
		}
	}
	return refdata.Crossing{}, false
}

// speedCheck flags an implied average speed above the maximum between two
// timed points.
func (r *run) speedCheck(rec *entry, lot string, lots []string, a *pb.Location, at time.Time, b *pb.Location, bt time.Time, what string) {
	km := refdata.DistanceKm(pt(a), pt(b))
	if km < 1 || r.cfg.MaxTransitSpeedKmh <= 0 {
		return
	}
	h := bt.Sub(at).Hours()
	if h <= 0 || km/h > r.cfg.MaxTransitSpeedKmh {
		speed := "an instant"
		if h > 0 {
			speed = fmt.Sprintf("%.0f km/h", km/h)
		}
		r.flag(rec, RuleImplausibleTransit, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
			"lot %q covered %.0f km to the %s in %.1f h: %s, above the %.0f km/h maximum (great-circle, a lower bound)",
			lot, km, what, math.Max(h, 0), speed, r.cfg.MaxTransitSpeedKmh)
	}
}

// borderPoint applies the corridor model to one location: the Afghan side
// or a crossing is critical; the corridor is a warning, except for route
// points within SiteMatchKm of the route's start (a mine in the corridor
// is flagged once, at its extraction).
func (r *run) borderPoint(rec *entry, lot string, lots []string, l *pb.Location, what string, start *pb.Location, mineSite bool) {
	ref := r.cfg.ref
	if l == nil || ref == nil {
		return
	}
	p := pt(l)
	g := r.border(p)
	if g.afghan {
		r.flag(rec, RuleBorderCorridor, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
			"%s (%.4f, %.4f) of lot %q is on the Afghan side of the border line", what, p.Lat, p.Lon, lot)
		return
	}
	if c, km := g.crossing, g.crossingKm; km <= r.cfg.CrossingRadiusKm {
		r.flag(rec, RuleBorderCorridor, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
			"%s (%.4f, %.4f) of lot %q is %.1f km from the %s border crossing (radius %.0f km)", what, p.Lat, p.Lon, lot, km, c.Name, r.cfg.CrossingRadiusKm)
		return
	}
	km := g.borderKm
	if km > r.cfg.CorridorKm {
		return
	}
	if start != nil && refdata.DistanceKm(p, pt(start)) <= r.cfg.SiteMatchKm {
		return
	}
	kind := "is"
	if mineSite {
		kind = "is a mine site"
	}
	r.flag(rec, RuleBorderCorridor, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
		"%s (%.4f, %.4f) of lot %q %s %.1f km from the Afghanistan-Pakistan border, inside the %.0f km corridor", what, p.Lat, p.Lon, lot, kind, km, r.cfg.CorridorKm)
}

// borderFacts is what the corridor model says of one point.
type borderFacts struct {
	afghan     bool
	crossing   refdata.Crossing // the nearest, unless afghan
	crossingKm float64
	borderKm   float64 // unless afghan
}

// border returns the corridor model's facts for p (r.cfg.ref is set),
// worked out once per point in a verification: a bundle holds many records
// at the same few sites, and the border line has hundreds of segments.
func (r *run) border(p refdata.Point) borderFacts {
	if g, ok := r.geo[p]; ok {
		return g
	}
	ref := r.cfg.ref
	var g borderFacts
	if g.afghan = inAfghanBox(p) && ref.InAfghanistan(p); !g.afghan {
		g.crossing, g.crossingKm = ref.NearestCrossing(p)
		g.borderKm = ref.DistanceToBorderKm(p)
	}
	if r.geo == nil {
		r.geo = map[refdata.Point]borderFacts{}
	}
	r.geo[p] = g
	return g
}

// inAfghanBox reports whether p lies in Afghanistan's bounding box
// (29.3-38.5 N, 60.5-75 E). refdata's side-of-line test is meaningful only
// near the border; far away (the Americas, Europe) it may say "Afghan".
func inAfghanBox(p refdata.Point) bool {
	return p.Lat >= 29.3 && p.Lat <= 38.5 && p.Lon >= 60.5 && p.Lon <= 75
}

// route checks a dispatch's route, from the lot's location start: waypoint
// times in order (TIMELINE), speed between timed points
// (IMPLAUSIBLE_TRANSIT), and every point and any named crossing against
// the border corridor model (BORDER_CORRIDOR).
func (r *run) route(rec *entry, lot string, lots []string, d *pb.Dispatch, start *pb.Location) {
	prevLoc, prevT := start, rec.time
	for i, w := range d.GetRoute() {
		wt := w.GetTime().AsTime()
		what := fmt.Sprintf("route waypoint %d", i)
		if wt.Before(prevT.Add(-r.cfg.ClockSkew)) {
			r.flag(rec, RuleTimeline, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
				"%s time %s is before the previous point's time %s", what, ts(wt), ts(prevT))
		}
		if prevLoc != nil {
			r.speedCheck(rec, lot, lots, prevLoc, prevT, w.GetLocation(), wt, what)
		}
		r.borderPoint(rec, lot, lots, w.GetLocation(), what, start, false)
		prevLoc, prevT = w.GetLocation(), wt
	}
	if name := strings.TrimSpace(d.GetBorderCrossing()); name != "" {
		if c, ok := r.crossingNamed(name); ok {
			r.flag(rec, RuleBorderCorridor, pb.Severity_SEVERITY_CRITICAL, lot, lots, nil,
				"dispatch of lot %q names the Afghanistan-Pakistan border crossing %s (%s district)", lot, c.Name, c.District)
		} else {
			r.flag(rec, RuleBorderCorridor, pb.Severity_SEVERITY_WARNING, lot, lots, nil,
				"dispatch of lot %q names border crossing %q, not a known Afghanistan-Pakistan crossing: check the transit country", lot, name)
		}
	}
}

// arrival checks the transit of dispatch d, which left from, to its
// receipt x (rec): the receipt not before the last waypoint (TIMELINE), the
// speed from the last timed point to where it was received, and the dwell
// between dispatch and receipt (IMPLAUSIBLE_TRANSIT).
func (r *run) arrival(rec *entry, lot string, lots []string, d *entry, from *pb.Location, x *pb.Receipt) {
	disp, signer := d.st.GetDispatch(), rec.st.GetPartyId()
	prevLoc, prevT := from, d.time
	if route := disp.GetRoute(); len(route) > 0 {
		last := route[len(route)-1]
		prevLoc, prevT = last.GetLocation(), last.GetTime().AsTime()
	}
	if rec.time.Before(prevT.Add(-r.cfg.ClockSkew)) && len(disp.GetRoute()) > 0 {
		r.flag(rec, RuleTimeline, pb.Severity_SEVERITY_WARNING, lot, lots, []string{d.id},
			"receipt time %s is before the dispatch's last waypoint time %s", ts(rec.time), ts(prevT))
	}
	end := x.GetLocation()
	if end == nil {
		end = r.party(signer).GetRegistration().GetSite()
	}
	if prevLoc != nil && end != nil {
		r.speedCheck(rec, lot, lots, prevLoc, prevT, end, rec.time, "receipt location")
	}
	if dwell := rec.time.Sub(d.time); r.cfg.MaxTransitDwell > 0 && dwell > r.cfg.MaxTransitDwell {
		r.flag(rec, RuleImplausibleTransit, pb.Severity_SEVERITY_WARNING, lot, lots, []string{d.id},
			"lot %q took %.0f days from dispatch to receipt, above the %.0f-day maximum", lot, dwell.Hours()/24, r.cfg.MaxTransitDwell.Hours()/24)
	}
}
