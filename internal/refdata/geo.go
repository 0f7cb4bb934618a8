package refdata

import "math"

// EarthRadiusKm is the mean radius of the Earth (IUGG R1 of WGS84), used by
// every distance in this package.
const EarthRadiusKm = 6371.0088

const degToRad = math.Pi / 180

// normalize clamps the latitude to [-90, 90] and wraps the longitude into
// [-180, 180], so that arithmetic on finite coordinates stays finite.
func normalize(p Point) Point {
	return Point{Lat: math.Max(-90, math.Min(90, p.Lat)), Lon: math.Remainder(p.Lon, 360)}
}

func finite(p Point) bool {
	return !math.IsNaN(p.Lat) && !math.IsNaN(p.Lon) && !math.IsInf(p.Lat, 0) && !math.IsInf(p.Lon, 0)
}

// wrapDeg maps a longitude difference into [-180, 180].
func wrapDeg(d float64) float64 { return math.Remainder(d, 360) }

// DistanceKm returns the great-circle (haversine) distance in km between a
// and b on a sphere of radius [EarthRadiusKm]; the error against the WGS84
// ellipsoid is under 0.5 %. Latitudes outside [-90, 90] are clamped and
// longitudes wrapped; non-finite coordinates give NaN.
func DistanceKm(a, b Point) float64 {
	if !finite(a) || !finite(b) {
		return math.NaN()
	}
	a, b = normalize(a), normalize(b)
	φ1, φ2 := a.Lat*degToRad, b.Lat*degToRad
	sφ := math.Sin((φ2 - φ1) / 2)
	sλ := math.Sin(wrapDeg(b.Lon-a.Lon) * degToRad / 2)
	h := sφ*sφ + math.Cos(φ1)*math.Cos(φ2)*sλ*sλ
	h = math.Max(0, math.Min(1, h))
	return 2 * EarthRadiusKm * math.Asin(math.Sqrt(h))
}

// A frame is a local equirectangular projection: x east and y north in
// degrees of latitude, with longitudes scaled by the cosine of the frame's
// latitude and measured from its origin.
type frame struct {
	origin Point
	cosφ   float64
}

func newFrame(origin Point, lat float64) frame {
	return frame{origin: origin, cosφ: math.Cos(lat * degToRad)}
}

func (f frame) xy(p Point) (x, y float64) {
	return wrapDeg(p.Lon-f.origin.Lon) * f.cosφ, p.Lat - f.origin.Lat
}

// segmentFrame is the projection used for segment a–b: centred on a, scaled
// at the segment's mean latitude.
func segmentFrame(a, b Point) frame { return newFrame(a, (a.Lat+b.Lat)/2) }

// hit is the nearest point of a polyline to a query point.
type hit struct {
	seg int     // index of the segment's first vertex
	t   float64 // position along the segment, in [0, 1]
	km  float64 // distance to the query point
}

// projectOnSegment returns the parameter t in [0, 1] of the point of a–b
// nearest to p in the segment's local projection.
func projectOnSegment(p, a, b Point) float64 {
	f := segmentFrame(a, b)
	bx, by := f.xy(b)
	px, py := f.xy(p)
	l2 := bx*bx + by*by
	if l2 == 0 {
		return 0
	}
	t := (px*bx + py*by) / l2
	if !(t > 0) { // also catches NaN
		return 0
	}
	return math.Min(1, t)
}

// pointAt returns the point at parameter t along a–b, interpolating the
// longitude the short way round.
func pointAt(a, b Point, t float64) Point {
	return normalize(Point{
		Lat: a.Lat + t*(b.Lat-a.Lat),
		Lon: a.Lon + t*wrapDeg(b.Lon-a.Lon),
	})
}

// nearest returns the nearest point of line to p. The line and p must be
// finite and normalized, and line must have at least two points.
func nearest(p Point, line []Point) hit {
	best := hit{km: math.Inf(1)}
	for i := 0; i+1 < len(line); i++ {
		a, b := line[i], line[i+1]
		t := projectOnSegment(p, a, b)
		km := DistanceKm(p, pointAt(a, b, t))
		// Where the projection degenerates (near a pole, or for segments
		// spanning a hemisphere) an end may be nearer than the projected
		// point: never report more than the distance to either end.
		if ka := DistanceKm(p, a); ka < km {
			t, km = 0, ka
		}
		if kb := DistanceKm(p, b); kb < km {
			t, km = 1, kb
		}
		if km < best.km {
			best = hit{seg: i, t: t, km: km}
		}
	}
	return best
}

// normalizeLine returns the normalized points of line and whether all of
// them are finite.
func normalizeLine(line []Point) ([]Point, bool) {
	out := make([]Point, len(line))
	for i, q := range line {
		if !finite(q) {
			return nil, false
		}
		out[i] = normalize(q)
	}
	return out, true
}

// DistanceToPolylineKm returns the distance in km from p to the nearest
// point of the polyline line. For each segment the nearest point is found in
// a local equirectangular projection centred on the segment (longitudes
// scaled by the cosine of its mean latitude), and the haversine distance to
// that point is measured. For segments and offsets up to ~150 km at mid
// latitudes the result is within well under 1 km of the exact distance to
// the great-circle segment (tested: under 0.35 km along the border); near
// the poles or for segments spanning a hemisphere it is no more than the
// distance to the nearest vertex, but may exceed the exact distance. Longitudes are interpolated the short way round.
//
// A one-point line gives the distance to that point; an empty line gives
// +Inf; non-finite coordinates give NaN. Finite coordinates out of range are
// clamped (latitude) or wrapped (longitude), and never give NaN.
func DistanceToPolylineKm(p Point, line []Point) float64 {
	if !finite(p) {
		return math.NaN()
	}
	pts, ok := normalizeLine(line)
	switch {
	case !ok:
		return math.NaN()
	case len(pts) == 0:
		return math.Inf(1)
	case len(pts) == 1:
		return DistanceKm(p, pts[0])
	}
	return nearest(normalize(p), pts).km
}

// cross returns the z component of (b-a) × (p-a) in frame f: positive when p
// is left of the directed line a→b, negative when right.
func cross(f frame, a, b, p Point) float64 {
	ax, ay := f.xy(a)
	bx, by := f.xy(b)
	px, py := f.xy(p)
	return (bx-ax)*(py-ay) - (by-ay)*(px-ax)
}

// sideOfPolyline returns +1 when p is left of the directed polyline line,
// -1 when right and 0 when on it or undecidable (fewer than two points,
// non-finite input). See [Dataset.InAfghanistan] for the method.
func sideOfPolyline(p Point, line []Point) int {
	if !finite(p) {
		return 0
	}
	pts, ok := normalizeLine(line)
	if !ok || len(pts) < 2 {
		return 0
	}
	p = normalize(p)
	h := nearest(p, pts)
	v := -1 // index of the vertex the nearest point sits on, if interior
	switch {
	case h.t == 0 && h.seg > 0:
		v = h.seg
	case h.t == 1 && h.seg+2 < len(pts):
		v = h.seg + 1
	}
	if v < 0 {
		a, b := pts[h.seg], pts[h.seg+1]
		return sign(cross(segmentFrame(a, b), a, b, p))
	}
	prev, at, next := pts[v-1], pts[v], pts[v+1]
	f := newFrame(at, at.Lat)
	s1, s2 := sign(cross(f, prev, at, p)), sign(cross(f, at, next, p))
	// Direction of turn at the vertex: the cross product of the incoming
	// direction with the outgoing one.
	ix, iy := f.xy(prev)
	ox, oy := f.xy(next)
	turn := (-ix)*oy - (-iy)*ox
	switch {
	case turn > 0: // left turn: the left side is the inner wedge
		switch {
		case s1 < 0 || s2 < 0:
			return -1
		case s1 > 0 && s2 > 0:
			return 1
		}
		return 0
	case turn < 0: // right turn: the right side is the inner wedge
		switch {
		case s1 > 0 || s2 > 0:
			return 1
		case s1 < 0 && s2 < 0:
			return -1
		}
		return 0
	default:
		return s1
	}
}

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}
