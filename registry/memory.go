package registry

import (
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// A Memory is a registry held in memory, rebuilt by applying registry
// records in log order ([Memory.Put]): the offline audit's and the
// verifier's. It is a [Reader]. It is not safe for concurrent use.
type Memory struct {
	parties map[string]*pb.Party
	owners  map[string]string // key id -> party id
}

// NewMemory returns an empty registry.
func NewMemory() *Memory {
	return &Memory{parties: map[string]*pb.Party{}, owners: map[string]string{}}
}

// Put stores what a registry record changed.
func (m *Memory) Put(c Change) {
	if c.Party == nil {
		return
	}
	id := c.Party.GetRegistration().GetPartyId()
	m.parties[id] = c.Party
	for _, k := range c.Party.GetKeys() {
		m.owners[k.GetKeyId()] = id
	}
}

// Get returns the party registered as id, or nil.
func (m *Memory) Get(id string) *pb.Party { return m.parties[id] }

// Party implements [Reader].
func (m *Memory) Party(id string) (*pb.Party, error) {
	if p := m.parties[id]; p != nil {
		return p, nil
	}
	return nil, record.Rejectf(record.ErrNotFound, "party %q is not registered", id)
}

// KeyOwner implements [Reader].
func (m *Memory) KeyOwner(keyID string) (string, error) {
	if id, ok := m.owners[keyID]; ok {
		return id, nil
	}
	return "", record.Rejectf(record.ErrNotFound, "key %s is not registered", keyID)
}
