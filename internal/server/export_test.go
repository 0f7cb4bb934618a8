package server

// Scoped returns how many listings the read policy limited to a party's
// lots; SetScope turns that on or off.
func Scoped() int64 { return scoped.Load() }

func SetScope(on bool) { noScope.Store(!on) }
