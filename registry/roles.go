package registry

import (
	"slices"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
)

// An Action is something a party does with a statement that its roles
// must allow.
type Action int

const (
	// Extract creates a lot at a mine (an extraction).
	Extract Action = iota + 1
	// Dispatch hands a held lot to another party.
	Dispatch
	// Receive counter-signs a dispatch addressed to the party.
	Receive
	// Hold takes custody of a lot: a dispatch's addressee must be able to.
	Hold
	// Transform splits, merges or processes held lots.
	Transform
	// AssayUnheld assays a lot the party does not hold (its holder may
	// always assay it), if the holder named the party (see [RequireAssay]).
	AssayUnheld
)

// custodyRoles may hold, dispatch and receive lots; all of them but a
// BUYER may transform them.
var (
	custodyRoles   = []pb.Role{pb.Role_ROLE_MINE, pb.Role_ROLE_EXPORTER, pb.Role_ROLE_TRADER, pb.Role_ROLE_SMELTER, pb.Role_ROLE_REFINER, pb.Role_ROLE_BUYER}
	transformRoles = []pb.Role{pb.Role_ROLE_MINE, pb.Role_ROLE_EXPORTER, pb.Role_ROLE_TRADER, pb.Role_ROLE_SMELTER, pb.Role_ROLE_REFINER}
)

// Roles returns the roles one of which allows a.
func (a Action) Roles() []pb.Role {
	switch a {
	case Extract:
		return []pb.Role{pb.Role_ROLE_MINE}
	case Dispatch, Receive, Hold:
		return custodyRoles
	case Transform:
		return transformRoles
	case AssayUnheld:
		return []pb.Role{pb.Role_ROLE_LAB}
	}
	return nil
}

// String names the statement a, as in "may not sign an extraction".
func (a Action) String() string {
	switch a {
	case Extract:
		return "an extraction"
	case Dispatch:
		return "a dispatch"
	case Receive:
		return "a receipt"
	case Hold:
		return "custody of a lot"
	case Transform:
		return "a transformation"
	case AssayUnheld:
		return "an assay of a lot it does not hold"
	}
	return "an unknown action"
}

// Allows reports whether p's roles allow a. A nil party has no roles.
func Allows(p *pb.Party, a Action) bool {
	return slices.ContainsFunc(a.Roles(), func(r pb.Role) bool { return HasRole(p, r) })
}

// HasRole reports whether p is registered with role r. A nil party has no
// roles.
func HasRole(p *pb.Party, r pb.Role) bool {
	return slices.Contains(p.GetRegistration().GetRoles(), r)
}

// Require returns nil if p's roles allow a, and otherwise an error wrapping
// [record.ErrNotAllowed] that names the roles needed.
func Require(p *pb.Party, a Action) error {
	if Allows(p, a) {
		return nil
	}
	id := p.GetRegistration().GetPartyId()
	if a == Hold {
		return record.Rejectf(record.ErrNotAllowed, "party %q cannot take custody of a lot", id)
	}
	names := make([]string, len(a.Roles()))
	for i, r := range a.Roles() {
		names[i] = r.String()
	}
	return record.Rejectf(record.ErrNotAllowed, "party %q may not sign %s: needs one of roles %v", id, a, names)
}

// RequireAssay returns nil if party p may assay a lot held by holder,
// whose holder has named the labs named for its custody (its latest lab
// nomination since it took custody), and otherwise an error wrapping
// [record.ErrNotAllowed]: the holder may always; any other party only if
// it is a LAB ([AssayUnheld]) and the holder named it. So a stranger cannot
// flood another party's lot with assays, nor pin a false one on it.
func RequireAssay(p *pb.Party, lot, holder string, named []string) error {
	id := p.GetRegistration().GetPartyId()
	if id == holder {
		return nil
	}
	if err := Require(p, AssayUnheld); err != nil {
		return err
	}
	if !slices.Contains(named, id) {
		return record.Rejectf(record.ErrNotAllowed, "lab %q may not assay lot %q: its holder has not named it (the holder names the labs that may assay its lot with a lab nomination, for as long as it holds the lot)", id, lot)
	}
	return nil
}

// RequireLab returns nil if p may be named to assay lots: it has a role
// that allows [AssayUnheld] (a LAB). Otherwise the error wraps
// [record.ErrNotAllowed].
func RequireLab(p *pb.Party) error {
	if Allows(p, AssayUnheld) {
		return nil
	}
	return record.Rejectf(record.ErrNotAllowed, "party %q cannot be named to assay a lot: it is not a LAB (roles %v)", p.GetRegistration().GetPartyId(), p.GetRegistration().GetRoles())
}
