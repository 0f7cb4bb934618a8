package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// records splits a backup into its magic and records (header and payload
// each).
func records(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	p := b[len(magic):]
	for len(p) > 0 {
		n := int(binary.BigEndian.Uint32(p[1:headerSize]))
		out = append(out, p[:headerSize+n])
		p = p[headerSize+n:]
	}
	return out
}

func errRecord(why string) []byte {
	h := []byte{kindError, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[1:], uint32(len(why)))
	return append(h, why...)
}

// TestErrorRecordOnlyWhereWriterPutsIt_review13: Write puts its 'X'
// record (the writer's failure) only once the store's stream has begun,
// after a store record, and nothing after it; Read takes one anywhere
// after the magic and answers ErrStopped, "the server stopped the backup
// after it began: <the record's text>", without ErrCorrupt. A file that
// is not what Write wrote (Read's doc: "A failure wraps ErrCorrupt when
// the file is not what Write wrote") is then reported as a server's
// failure in words its editor chose: an 'X' record as the first record,
// among the key files, or after the manifest, in place of the end record
// whose checksum would have shown the file altered.
func TestErrorRecordOnlyWhereWriterPutsIt_review13(t *testing.T) {
	l, files := testLog(t, false, 5)
	var buf bytes.Buffer
	if _, err := Write(context.Background(), &buf, l, files, time.Now()); err != nil {
		t.Fatal(err)
	}
	recs := records(t, buf.Bytes())
	if len(recs) < 5 || recs[0][0] != kindFile || recs[len(recs)-2][0] != kindMeta || recs[len(recs)-1][0] != kindEnd {
		t.Fatalf("unexpected record layout: %d records", len(recs))
	}
	firstStore := 0
	for i, r := range recs {
		if r[0] == kindStore {
			firstStore = i
			break
		}
	}
	build := func(upTo int) []byte {
		b := []byte(magic)
		for _, r := range recs[:upTo] {
			b = append(b, r...)
		}
		return append(b, errRecord("the server ran out of disk; nothing is wrong with this file")...)
	}
	// Where Write puts it: after a store record. ErrStopped is right.
	if _, err := Read(bytes.NewReader(build(firstStore+1)), nil); !errors.Is(err, ErrStopped) {
		t.Fatalf("an 'X' record after the first store record: %v; want ErrStopped", err)
	}
	for _, c := range []struct {
		what string
		upTo int
	}{
		{"as the first record", 0},
		{"after the key files, before any store record", firstStore},
		{"after the manifest, in place of the end record", len(recs) - 1},
	} {
		_, err := Read(bytes.NewReader(build(c.upTo)), nil)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("an 'X' record %s (Write never puts one there): %v; want ErrCorrupt", c.what, err)
		}
	}
}
