package main

import "testing"

func TestMinFreeBytesFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want int64
		ok   bool
	}{
		{nil, "", 0, true}, // the ledger's default
		{[]string{"--min-free-bytes", "1GiB"}, "", 1 << 30, true},
		{[]string{"--min-free-bytes", "24 MiB"}, "", 24 << 20, true},
		{[]string{"--min-free-bytes", "1048576"}, "", 1 << 20, true},
		{[]string{"--min-free-bytes", "off"}, "", -1, true},
		{nil, "512MiB", 512 << 20, true},
		{[]string{"--min-free-bytes", "0"}, "", 0, false},
		{[]string{"--min-free-bytes", "-5"}, "", 0, false},
		{[]string{"--min-free-bytes", "lots"}, "", 0, false},
	} {
		getenv := func(k string) string {
			if k == "PROVENANCED_MIN_FREE_BYTES" {
				return c.env
			}
			return ""
		}
		o, err := parseFlags(c.args, getenv)
		if (err == nil) != c.ok || (c.ok && o.MinFreeBytes != c.want) {
			t.Errorf("%q (env %q): MinFreeBytes %d, %v; want %d, ok %v", c.args, c.env, o.MinFreeBytes, err, c.want, c.ok)
		}
	}
}
