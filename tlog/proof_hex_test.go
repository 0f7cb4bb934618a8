package tlog_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/antimony-ledger/provenance/tlog"
)

// TestProofMismatchNamesRootsInHex: a proof that does not lead to the
// root it is checked against names both roots in hex, as checkpoints
// show them (a new user's trial: provctl's "log forked" printed them as
// lists of decimal bytes).
func TestProofMismatchNamesRootsInHex(t *testing.T) {
	h := rfc6962.DefaultHasher
	var leaves [][32]byte
	for i := range 3 {
		leaves = append(leaves, [32]byte(h.HashLeaf(fmt.Appendf(nil, "leaf %d", i))))
	}
	root2 := [32]byte(h.HashChildren(leaves[0][:], leaves[1][:]))
	other := [32]byte(h.HashChildren(leaves[1][:], leaves[2][:]))
	// The proof of tree 2 in tree 3 is the third leaf alone.
	err := tlog.VerifyConsistency(2, 3, [][32]byte{leaves[2]}, root2, other)
	var rm *tlog.RootMismatchError
	if !errors.As(err, &rm) || !strings.Contains(err.Error(), fmt.Sprintf("%x", other)) || strings.Contains(err.Error(), "[") {
		t.Fatalf("VerifyConsistency against another root: %v; want both roots in hex", err)
	}
	err = tlog.VerifyInclusion(tlog.LeafHash(leaves[0]), 0, 2, [][32]byte{leaves[1]}, other)
	if !errors.As(err, &rm) || !strings.Contains(err.Error(), fmt.Sprintf("%x", root2)) {
		t.Fatalf("VerifyInclusion against another root: %v; want both roots in hex", err)
	}
}
