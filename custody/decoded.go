package custody

import (
	"sync"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/tlog"
)

// decodedCache keeps the decoded envelopes and statements of the records
// the store took last, by record id, so that a reader following the log
// (the flag follower) need not decode them again. A record id is the hash
// of the record's bytes, so an entry is right whatever became of the
// commit it was decoded for. The decoded values are shared: readers must
// not change them.
type decodedCache struct {
	mu   sync.Mutex
	ring [decodedKept]tlog.RecordID
	next int
	m    map[tlog.RecordID]decoded
}

type decoded struct {
	env *pb.Envelope
	st  *pb.Statement
}

// decodedKept is how many records the cache keeps: a few seconds of
// appends at the highest rates measured, so a follower a little behind
// finds them.
const decodedKept = 16384

func (c *decodedCache) put(id tlog.RecordID, env *pb.Envelope, st *pb.Statement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[tlog.RecordID]decoded, decodedKept)
	}
	if _, ok := c.m[id]; ok {
		return
	}
	delete(c.m, c.ring[c.next])
	c.ring[c.next] = id
	c.next = (c.next + 1) % decodedKept
	c.m[id] = decoded{env, st}
}

// Decoded returns the envelope and statement of the record with id if the
// store decoded it recently, for a reader of the log that would decode it
// again. They are shared: do not change them.
func (s *Store) Decoded(id tlog.RecordID) (*pb.Envelope, *pb.Statement, bool) {
	s.decoded.mu.Lock()
	defer s.decoded.mu.Unlock()
	d, ok := s.decoded.m[id]
	return d.env, d.st, ok
}
