package custody

// MadeFromHeld returns how many lots the store's memory of madeFrom
// holds, and how many input lot ids its lists hold, each list once.
func MadeFromHeld(s *Store) (entries, ids int) {
	s.madeFromMu.Lock()
	defer s.madeFromMu.Unlock()
	return len(s.madeFromOf), s.madeFromIDs
}

// MadeFromDecodes returns how many records madeFrom decoded.
func MadeFromDecodes(s *Store) int64 { return s.madeFromDecodes.Load() }

// MadeFromCacheIDs is madeFromCacheIDs.
const MadeFromCacheIDs = madeFromCacheIDs
