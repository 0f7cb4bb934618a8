package tlog

import (
	"strings"
	"testing"
)

func TestParseCheckpoint(t *testing.T) {
	root := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" // SHA-256("")
	for _, tc := range []struct {
		name, text string
		ok         bool
		size       uint64
	}{
		{"valid", "o.example/log\n42\n" + root + "\n", true, 42},
		{"zero", "o\n0\n" + root + "\n", true, 0},
		{"extension lines", "o\n1\n" + root + "\next\n", true, 1},
		{"no final newline", "o\n1\n" + root, false, 0},
		{"two lines", "o\n1\n", false, 0},
		{"empty origin", "\n1\n" + root + "\n", false, 0},
		{"leading zero", "o\n01\n" + root + "\n", false, 0},
		{"signed size", "o\n+1\n" + root + "\n", false, 0},
		{"size overflow", "o\n18446744073709551616\n" + root + "\n", false, 0},
		{"short root", "o\n1\nAAAA\n", false, 0},
		{"unpadded root", "o\n1\n" + strings.TrimSuffix(root, "=") + "\n", false, 0},
		{"empty extension", "o\n1\n" + root + "\n\n", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCheckpoint(tc.text)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseCheckpoint(%q) err = %v, want ok=%v", tc.text, err, tc.ok)
			}
			if tc.ok && (c.Size != tc.size || c.Marshal() != strings.Join(strings.SplitAfter(tc.text, "\n")[:3], "")) {
				t.Errorf("ParseCheckpoint(%q) = %+v, marshals to %q", tc.text, c, c.Marshal())
			}
		})
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add("o.example/log\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
	f.Add("o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nx\n")
	f.Add("\n\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCheckpoint(text)
		if err != nil {
			return
		}
		if c.Origin == "" || strings.Contains(c.Origin, "\n") {
			t.Fatalf("accepted origin %q", c.Origin)
		}
		m := c.Marshal()
		if !strings.HasPrefix(text, m) {
			t.Fatalf("Marshal() = %q is not a prefix of the parsed text %q", m, text)
		}
		c2, err := ParseCheckpoint(m)
		if err != nil || c2 != c {
			t.Fatalf("round trip: %+v, %v; want %+v", c2, err, c)
		}
	})
}
