package custody

// MadeFromHeld returns how many lots the store's memory of madeFrom holds,
// and how many input lot ids they hold in all.
func MadeFromHeld(s *Store) (entries, ids int) {
	s.madeFromMu.Lock()
	defer s.madeFromMu.Unlock()
	for _, ins := range s.madeFromOf {
		entries++
		ids += len(ins)
	}
	return entries, ids
}

// MadeFromCacheSize is madeFromCacheSize.
const MadeFromCacheSize = madeFromCacheSize
