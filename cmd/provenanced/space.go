package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/antimony-ledger/provenance/ledger"
)

// byteSize is the flag of --min-free-bytes: a number of bytes, with an
// optional KiB, MiB or GiB suffix, or "off" (a negative value: no check).
// Zero stands for the ledger's default.
type byteSize struct{ p *int64 }

func (f byteSize) String() string {
	if f.p == nil {
		return ""
	}
	switch {
	case *f.p < 0:
		return "off"
	case *f.p == 0:
		return ledger.FormatBytes(ledger.DefaultMinFreeBytes)
	}
	return ledger.FormatBytes(uint64(*f.p))
}

func (f byteSize) Set(s string) error {
	if s == "off" {
		*f.p = -1
		return nil
	}
	t := strings.ReplaceAll(s, " ", "")
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*float64(mult) >= 1<<62 {
		return fmt.Errorf("want a positive size in bytes (with an optional KiB, MiB or GiB suffix) or \"off\", not %q", s)
	}
	*f.p = int64(v * float64(mult))
	return nil
}
