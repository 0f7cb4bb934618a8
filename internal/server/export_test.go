package server

// Scoped returns how many listings the read policy limited to a party's
// lots, and Gathered how many times it gathered a party's lots; SetScope
// turns the limiting on or off.
func Scoped() int64   { return scoped.Load() }
func Gathered() int64 { return gathered.Load() }

func SetScope(on bool) { noScope.Store(!on) }

// SetMaxScopedLots sets the most lots a party's listings are limited to,
// until the test ends.
func SetMaxScopedLots(t interface{ Cleanup(func()) }, n int) {
	old := maxScopedLots
	maxScopedLots = n
	t.Cleanup(func() { maxScopedLots = old })
}
