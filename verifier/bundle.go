package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/antimony-ledger/provenance/proto/provenance/v1/recordpb"
	"github.com/antimony-ledger/provenance/record"
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

// ReadBundle reads a bundle file from r through limits that hold before
// anything is decoded: it stops at MaxBundleSize bytes, and, scanning the
// JSON as it streams in, at the first syntax error or at the record after
// maxRecords (0: no record limit), each with an error naming the limit.
// Only a file within both is decoded, by [UnmarshalBundle].
func ReadBundle(r io.Reader, maxRecords int) (*pb.Bundle, error) {
	return readBundle(r, MaxBundleSize, maxRecords)
}

func readBundle(r io.Reader, maxBytes int64, maxRecords int) (*pb.Bundle, error) {
	var buf bytes.Buffer
	lr := &io.LimitedReader{R: r, N: maxBytes + 1}
	tooBig := fmt.Errorf("verifier: the bundle is larger than the limit of %d bytes", maxBytes)
	dec := json.NewDecoder(io.TeeReader(lr, &buf))
	if err := scanBundle(dec, maxRecords); err != nil {
		if lr.N <= 0 {
			return nil, tooBig
		}
		return nil, err
	}
	// The rest after the JSON value: whitespace only, within the limit.
	rest, err := io.ReadAll(dec.Buffered())
	if err == nil {
		_, err = io.Copy(io.Discard, lr)
	}
	if err != nil {
		return nil, fmt.Errorf("verifier: reading bundle: %w", err)
	}
	if lr.N <= 0 {
		return nil, tooBig
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("verifier: decoding bundle: data after the bundle's JSON object")
	}
	return UnmarshalBundle(buf.Bytes())
}

// Limits scanBundle holds while a bundle file streams in, besides the
// record limit: how deep its JSON may nest (a bundle nests 4 deep), how
// many map proofs it may hold (one per lot and signer), and how many
// items any other list may hold (proof hashes: at most 64 for an inclusion
// proof, 256 for a map proof).
const (
	maxBundleDepth     = 6
	maxBundleMapProofs = 100_000
	maxBundleListItems = 256
)

// bundleKeys are a bundle's top-level keys, in either ProtoJSON spelling.
var bundleKeys = map[string]bool{
	"lotId": true, "lot_id": true, "checkpoint": true, "records": true,
	"mapProofs": true, "map_proofs": true, "witnessedCheckpoint": true, "witnessed_checkpoint": true,
}

// scanBundle reads the JSON tokens of a bundle from dec, up to the end of
// its top-level object, holding its limits: maxRecords records (0: any),
// the other lists' limits above, the nesting depth, and only a bundle's
// top-level keys.
func scanBundle(dec *json.Decoder, maxRecords int) error {
	type frame struct {
		list  bool
		key   string // for a list: the key it is the value of
		items int
	}
	var stack []frame
	wantKey := false // in an object, the next token is a key
	key := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return errors.New("verifier: decoding bundle: unexpected end of the file")
		}
		if err != nil {
			return fmt.Errorf("verifier: decoding bundle: %w", err)
		}
		d, isDelim := tok.(json.Delim)
		if wantKey && !isDelim {
			key, _ = tok.(string) // json.Decoder gives object keys as strings
			if len(stack) == 1 && !bundleKeys[key] {
				return fmt.Errorf("verifier: decoding bundle: unknown field %q", record.Printable(key))
			}
			wantKey = false
			continue
		}
		if !isDelim || d == '{' || d == '[' {
			// A value: count it as an item of the list it is in.
			if n := len(stack); n > 0 && stack[n-1].list {
				f := &stack[n-1]
				f.items++
				limit, what := maxBundleListItems, "items in one list"
				switch {
				case n == 2 && f.key == "records":
					limit, what = maxRecords, "records"
				case n == 2 && (f.key == "mapProofs" || f.key == "map_proofs"):
					limit, what = maxBundleMapProofs, "map proofs"
				}
				if limit > 0 && f.items > limit {
					return fmt.Errorf("verifier: the bundle holds more than %d %s, the limit", limit, what)
				}
			}
		}
		switch {
		case isDelim && (d == '{' || d == '['):
			if len(stack) == 0 && d != '{' {
				return errors.New("verifier: decoding bundle: not a JSON object")
			}
			if len(stack) >= maxBundleDepth {
				return fmt.Errorf("verifier: decoding bundle: nested more than %d deep, the limit", maxBundleDepth)
			}
			f := frame{list: d == '['}
			if f.list {
				f.key = key
			}
			stack = append(stack, f)
			wantKey = !f.list
			continue
		case isDelim:
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return nil
			}
		case len(stack) == 0:
			return errors.New("verifier: decoding bundle: not a JSON object")
		}
		// A value is complete: in an object, a key comes next.
		wantKey = !stack[len(stack)-1].list
	}
}
