package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

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
	dec := json.NewDecoder(io.TeeReader(lr, &buf))
	if err := scanBundle(dec, maxRecords); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("verifier: the bundle is larger than the limit of %d bytes", maxBytes)
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
		return nil, fmt.Errorf("verifier: the bundle is larger than the limit of %d bytes", maxBytes)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("verifier: decoding bundle: data after the bundle's JSON object")
	}
	return UnmarshalBundle(buf.Bytes())
}

// scanBundle reads the JSON tokens of a bundle from dec, up to the end of
// its top-level object, counting the elements of its "records" array.
func scanBundle(dec *json.Decoder, maxRecords int) error {
	depth, records := 0, 0
	key, wantKey, inRecords := "", false, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return errors.New("verifier: decoding bundle: unexpected end of the file")
		}
		if err != nil {
			return fmt.Errorf("verifier: decoding bundle: %w", err)
		}
		d, isDelim := tok.(json.Delim)
		switch {
		case depth == 1 && wantKey && !isDelim:
			key, _ = tok.(string) // json.Decoder gives object keys as strings
			wantKey = false
			continue
		case isDelim && (d == '{' || d == '['):
			if depth == 0 && d != '{' {
				return errors.New("verifier: decoding bundle: not a JSON object")
			}
			if depth == 1 {
				inRecords = key == "records" && d == '['
			} else if depth == 2 && inRecords {
				if records++; maxRecords > 0 && records > maxRecords {
					return fmt.Errorf("verifier: the bundle holds more than %d records, the limit", maxRecords)
				}
			}
			depth++
			if depth == 1 {
				wantKey = true
			}
			continue
		case isDelim:
			depth--
			if depth == 0 {
				return nil
			}
		case depth == 0:
			return errors.New("verifier: decoding bundle: not a JSON object")
		}
		if depth == 1 {
			wantKey = true // a value, scalar or nested, is complete
		}
	}
}
