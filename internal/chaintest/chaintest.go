// Package chaintest builds signed custody records for tests, benchmarks and
// examples: a registrar, parties with deterministic keys, and statements
// signed the way a party's own software would sign them.
//
// Keys are derived from fixed seeds so that record hashes, and therefore
// outputs that show them, are stable from run to run. Never use these keys
// outside tests and examples.
package chaintest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/antimony-ledger/provenance/custody"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"

	"github.com/antimony-ledger/provenance/tlog"
)

// Origin is the checkpoint origin of logs made by [Chain.OpenStore].
const Origin = "antimony.example/testlog"

// A Party is a registered party with its signing key.
type Party struct {
	ID  string
	Key ed25519.PrivateKey
	Reg *pb.PartyRegistration
}

// KeyID returns the key id of the party's key.
func (p *Party) KeyID() string { return record.KeyID(p.Key.Public().(ed25519.PublicKey)) }

// A Chain holds a registrar, a log key and parties.
type Chain struct {
	Registrar ed25519.PrivateKey
	LogSigner *tlog.Signer
	// LogSignerKey is LogSigner's private key as DATA/log.key holds it.
	LogSignerKey string
	LogVerifier  *tlog.Verifier
	// LogVerifierKey is the encoded verifier key, as a client pins it.
	LogVerifierKey string
	// Start is the time keys become valid and the default event time base.
	Start   time.Time
	Parties map[string]*Party
	// Clock is the log's clock in stores opened by OpenStore: it starts at
	// Start and every statement the chain signs moves it to a minute after
	// the statement's event time, unless it is later already. So records
	// signed and submitted in order are integrated a minute after their
	// events, whatever today's date.
	Clock *Clock
}

// A Clock is a simulated clock that moves forward (unless a test steps
// it back), or the real one.
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	real bool
}

// RealClock returns a clock that is time.Now: for a server whose records
// are signed outside the chain (by provctl, say) and dated now.
func RealClock() *Clock { return &Clock{real: true} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	if c.real {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock to t if t is later; the real clock ignores it.
func (c *Clock) Advance(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// StepBack sets the clock back by d, as an operator's clock stepped back
// would be (tests of what reads the log's clock). The real clock ignores
// it.
func (c *Clock) StepBack(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(-d)
}

// New returns a chain with a registrar and a log key and no parties.
func New() *Chain {
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed("log-key")), Origin)
	if err != nil {
		panic(err)
	}
	signer, err := tlog.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	verifier, err := tlog.NewVerifier(vkey)
	if err != nil {
		panic(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return &Chain{
		Registrar:      ed25519.NewKeyFromSeed(seed("registrar")),
		LogSigner:      signer,
		LogSignerKey:   skey,
		LogVerifier:    verifier,
		LogVerifierKey: vkey,
		Start:          start,
		Parties:        map[string]*Party{},
		Clock:          &Clock{t: start},
	}
}

func seed(name string) []byte {
	s := sha256.Sum256([]byte("chaintest/" + name))
	return s[:]
}

// RegistrarPublic returns the registrar's public key.
func (c *Chain) RegistrarPublic() ed25519.PublicKey { return c.Registrar.Public().(ed25519.PublicKey) }

// AddParty creates a party with a deterministic key valid from c.Start.
// A MINE gets a small default profile (Qila Abdullah-like ore, 7-12% Sb).
func (c *Chain) AddParty(id, name, country string, roles ...pb.Role) *Party {
	key := ed25519.NewKeyFromSeed(seed("party/" + id))
	reg := &pb.PartyRegistration{
		PartyId: id, Name: name, Roles: roles, Country: country,
		Keys: []*pb.PartyKey{{PublicKey: key.Public().(ed25519.PublicKey), NotBefore: timestamppb.New(c.Start)}},
	}
	for _, r := range roles {
		if r == pb.Role_ROLE_MINE {
			reg.Mine = &pb.MineProfile{
				Deposit: "test deposit", AnnualOreCapacityKg: 500_000, GradeMinPct: 7, GradeMaxPct: 12,
				AssayEnvelope: []*pb.ElementRange{{Element: "As", MinPct: 0, MaxPct: 0.5}, {Element: "Hg", MinPct: 0, MaxPct: 0.005}},
			}
		}
	}
	p := &Party{ID: id, Key: key, Reg: reg}
	c.Parties[id] = p
	return p
}

// Register returns the registrar-signed registration of p.
func (c *Chain) Register(p *Party) *pb.Envelope {
	return c.signWith(c.Registrar, &pb.Statement{
		PartyId:   record.RegistrarPartyID,
		EventTime: timestamppb.New(c.Start),
		Body:      &pb.Statement_PartyRegistration{PartyRegistration: p.Reg},
	})
}

// RegistrarSign signs a registry statement with the registrar key, filling
// party_id and event_time when unset.
func (c *Chain) RegistrarSign(st *pb.Statement) *pb.Envelope {
	st.PartyId = record.RegistrarPartyID
	if st.EventTime == nil {
		st.EventTime = timestamppb.New(c.Start)
	}
	return c.signWith(c.Registrar, st)
}

// Sign signs st as p, filling party_id and (when unset) event_time.
func (c *Chain) Sign(p *Party, st *pb.Statement) *pb.Envelope {
	if st.PartyId == "" {
		st.PartyId = p.ID
	}
	if st.EventTime == nil {
		st.EventTime = timestamppb.New(c.Start.Add(24 * time.Hour))
	}
	return c.signWith(p.Key, st)
}

func (c *Chain) signWith(key ed25519.PrivateKey, st *pb.Statement) *pb.Envelope {
	c.Clock.Advance(st.GetEventTime().AsTime().Add(time.Minute))
	env, err := record.Sign(st, key)
	if err != nil {
		panic(err)
	}
	return env
}

// ID returns the record id of env, in its text form.
func ID(env *pb.Envelope) string {
	id, err := record.IDOf(env)
	if err != nil {
		panic(err)
	}
	return id.String()
}

// OpenStore opens a custody store on a temporary directory, closed when
// the test ends.
func (c *Chain) OpenStore(tb testing.TB) *custody.Store {
	tb.Helper()
	s, err := custody.Open(tb.Context(), tb.TempDir(), custody.Config{
		Origin: Origin, LogSigner: c.LogSigner, Registrar: c.RegistrarPublic(), Now: c.Clock.Now,
	})
	if err != nil {
		tb.Fatalf("opening store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Submit submits envs in order and fails the test on the first rejection.
// It returns the record ids.
func Submit(tb testing.TB, s *custody.Store, envs ...*pb.Envelope) []string {
	tb.Helper()
	var ids []string
	for i, env := range envs {
		r, err := s.Submit(context.Background(), env)
		if err != nil {
			tb.Fatalf("submitting envelope %d: %v", i, err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

// At returns c.Start plus d.
func (c *Chain) At(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(c.Start.Add(d)) }

// Day is 24 hours.
const Day = 24 * time.Hour

// Must panics on err; for fixtures.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("chaintest: %v", err))
	}
	return v
}
