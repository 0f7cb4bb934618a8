package server

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/antimony-ledger/provenance/authtoken"
	"github.com/antimony-ledger/provenance/custody"
	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
	"github.com/antimony-ledger/provenance/registry"
)

// OperatorPartyID is the identity of a token signed with the log's own
// key: the operator, who holds every record on its disk already and so
// reads all of them through the API too. It signs no records.
const OperatorPartyID = record.OperatorPartyID

// A caller is who makes a call, as its token shows.
type caller struct {
	party     string // "" when anonymous
	auditor   bool   // ROLE_AUDITOR, or the operator: reads everything
	registrar bool   // the current registrar key
}

func (c caller) anonymous() bool { return c.party == "" }

// readsAll reports whether c may read every record.
func (c caller) readsAll() bool { return c.auditor }

func (c caller) String() string {
	if c.anonymous() {
		return "an anonymous caller"
	}
	return "party " + c.party
}

// authenticator checks the tokens calls carry (package authtoken) against
// the registry, remembering a good token for a short while so a busy
// client costs one signature check per authCacheTTL.
type authenticator struct {
	store    *custody.Store
	origin   string
	operator []byte // the log's Ed25519 public key; nil: no operator
	now      func() time.Time

	mu    sync.Mutex
	cache map[string]cachedCaller
}

type cachedCaller struct {
	c     caller
	until time.Time
}

const (
	// authCacheTTL bounds how long a checked token is trusted without
	// looking at the registry again: a revoked key stops working within
	// it.
	authCacheTTL = 30 * time.Second
	authCacheMax = 1 << 14
)

func newAuthenticator(store *custody.Store) (*authenticator, error) {
	c, _, err := store.Log().LatestCheckpoint()
	if err != nil {
		return nil, err
	}
	return &authenticator{
		store: store, origin: c.Origin, operator: store.Log().SignerKey(), now: time.Now,
		cache: map[string]cachedCaller{},
	}, nil
}

// errAuth is the Unauthenticated error: it says what is wrong with the
// credential and how to make one, never anything about a record.
func errAuth(format string, args ...any) error {
	return status.Errorf(codes.Unauthenticated, "authentication: "+format, args...)
}

// authenticate returns the caller of ctx's call: anonymous without an
// authorization header, else the party whose valid token it carries.
func (a *authenticator) authenticate(ctx context.Context) (caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	switch len(vals) {
	case 0:
		return caller{}, nil
	case 1:
	default:
		return caller{}, errAuth("%d authorization headers, want one", len(vals))
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return caller{}, errAuth(`the authorization header must be "Bearer TOKEN" (provctl token makes one)`)
	}
	tok = strings.TrimSpace(tok)
	now := a.now()
	a.mu.Lock()
	cc, ok := a.cache[tok]
	a.mu.Unlock()
	if ok && now.Before(cc.until) {
		return cc.c, nil
	}
	claims, err := authtoken.Parse(tok)
	if err != nil {
		return caller{}, errAuth("%v", err)
	}
	if err := claims.Check(a.origin, now); err != nil {
		return caller{}, errAuth("%v", err)
	}
	c, err := a.resolve(claims, now)
	if err != nil {
		return caller{}, err
	}
	until := now.Add(authCacheTTL)
	if claims.Expires.Before(until) {
		until = claims.Expires
	}
	a.mu.Lock()
	if len(a.cache) >= authCacheMax {
		clear(a.cache)
	}
	a.cache[tok] = cachedCaller{c, until}
	a.mu.Unlock()
	return c, nil
}

// resolve finds who holds the token's key: the operator (the log key),
// the registrar (its current key), or a registered party whose key may
// sign now.
func (a *authenticator) resolve(claims authtoken.Claims, now time.Time) (caller, error) {
	keyID := record.KeyID(claims.Key)
	switch claims.Party {
	case OperatorPartyID:
		if a.operator != nil && bytes.Equal(claims.Key, a.operator) {
			return caller{party: OperatorPartyID, auditor: true}, nil
		}
		if _, err := a.store.Party(OperatorPartyID); err != nil {
			return caller{}, errAuth("key %s is not the log's key", keyID)
		}
	case record.RegistrarPartyID:
		r, err := a.store.CurrentRegistrar()
		if err != nil {
			return caller{}, registryErr(err)
		}
		if r.ID != keyID {
			return caller{}, errAuth("key %s is not the current registrar key", keyID)
		}
		return caller{party: record.RegistrarPartyID, registrar: true}, nil
	}
	if err := record.CheckID("party", claims.Party); err != nil {
		return caller{}, errAuth("%v", err)
	}
	// An unregistered party and a key that is not the party's get the
	// same refusal, so that a token signed with any key cannot be used to
	// probe the directory, which is for parties only.
	notKey := errAuth("key %s is not a key of party %q (or the party is not registered)", keyID, claims.Party)
	p, err := a.store.Party(claims.Party)
	if errors.Is(err, record.ErrNotFound) {
		return caller{}, notKey
	} else if err != nil {
		return caller{}, registryErr(err)
	}
	ks := registry.FindKey(p, keyID)
	if ks == nil {
		return caller{}, notKey
	}
	// As if the party signed a record now: a revoked key, or one outside
	// its window, authenticates nobody.
	if err := registry.CheckKey(ks, registry.Position{Index: math.MaxUint64, LogTime: now}); err != nil {
		return caller{}, errAuth("key %s of party %q may not sign now: %v", keyID, claims.Party, err)
	}
	return caller{party: claims.Party, auditor: slices.Contains(p.GetRegistration().GetRoles(), pb.Role_ROLE_AUDITOR)}, nil
}

// registryErr is what a caller is told when its credentials could not be
// checked against the registry: DataLoss if the store is damaged (a retry
// does not mend that), else Unavailable, to try again.
func registryErr(err error) error {
	if st := damageStatus(err, "authentication cannot read the registry"); st != nil {
		return st
	}
	return status.Error(codes.Unavailable, "authentication: cannot read the registry")
}
