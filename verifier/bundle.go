package verifier

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
)

// MaxBundleSize bounds the bytes UnmarshalBundle accepts.
const MaxBundleSize = 256 << 20

// MarshalBundle encodes a bundle as a file: multiline protojson.
func MarshalBundle(b *pb.Bundle) ([]byte, error) {
	if b == nil {
		return nil, errors.New("verifier: no bundle")
	}
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("verifier: encoding bundle: %w", err)
	}
	return append(out, '\n'), nil
}

// UnmarshalBundle decodes a bundle file written by [MarshalBundle]. It
// rejects unknown fields and a bundle without a lot id or checkpoint; it
// does not verify anything else (see [Verify]).
func UnmarshalBundle(data []byte) (*pb.Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("verifier: bundle is %d bytes, limit %d", len(data), MaxBundleSize)
	}
	b := &pb.Bundle{}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, b); err != nil {
		return nil, fmt.Errorf("verifier: decoding bundle: %w", err)
	}
	if b.GetLotId() == "" {
		return nil, errors.New("verifier: bundle has no lot_id")
	}
	if b.GetCheckpoint() == "" {
		return nil, errors.New("verifier: bundle has no checkpoint")
	}
	return b, nil
}
