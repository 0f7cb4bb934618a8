package tlog

import (
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// VerifyInclusion checks that proof shows the leaf with hash leafHash
// ([Leaf.Hash]) at index is included in the tree of the given size with
// the given root. It returns nil only if the proof verifies.
func VerifyInclusion(leafHash LeafHash, index, size uint64, proofHashes [][32]byte, root [32]byte) error {
	return hexRoots(proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash[:], sliceHashes(proofHashes), root[:]))
}

// InclusionRoot returns the root of the tree of the given size in which
// proof puts the leaf with hash leafHash at index. The inclusion is shown
// once that root is a trusted one, or is proved consistent with one.
func InclusionRoot(leafHash LeafHash, index, size uint64, proofHashes [][32]byte) ([32]byte, error) {
	root, err := proof.RootFromInclusionProof(rfc6962.DefaultHasher, index, size, leafHash[:], sliceHashes(proofHashes))
	if err != nil {
		return [32]byte{}, err
	}
	return [32]byte(root), nil
}

// VerifyConsistency checks that proof shows the tree of size2 with root2 is
// an append-only extension of the tree of size1 with root1. It returns nil
// only if the proof verifies.
func VerifyConsistency(size1, size2 uint64, proofHashes [][32]byte, root1, root2 [32]byte) error {
	return hexRoots(proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, sliceHashes(proofHashes), root1[:], root2[:]))
}

// A RootMismatchError is a proof that does not lead to the root it is
// checked against; its message gives both roots in hex, as checkpoints
// and the tools show roots (the proof package prints them as lists of
// decimal bytes).
type RootMismatchError struct {
	Calculated, Expected []byte
}

func (e *RootMismatchError) Error() string {
	return fmt.Sprintf("the proof leads to root %x, not the expected root %x", e.Calculated, e.Expected)
}

// hexRoots restates the proof package's root mismatch with hex roots.
func hexRoots(err error) error {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return &RootMismatchError{Calculated: rm.CalculatedRoot, Expected: rm.ExpectedRoot}
	}
	return err
}

func sliceHashes(hs [][32]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}
