package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/antimony-ledger/provenance/client"
	"github.com/antimony-ledger/provenance/internal/datadir"
)

// TestFlagsAfterRestart: a log written while the server was stopped is
// replayed by the flag follower once, on the server's first start; after
// a restart the follower resumes from its stored position, so the first
// listing is current at once, with no catch-up. It fills 3,000 records
// itself; PROVFILL_FLAGS_DIR names a directory filled beforehand for the
// large run (provfill --data DIR --records 1000000), whose figures
// (replay time, first listing, listing latency percentiles, the server's
// peak RSS) BENCHMARKS.md records. It asserts no time.
func TestFlagsAfterRestart(t *testing.T) {
	dir := os.Getenv("PROVFILL_FLAGS_DIR")
	if dir == "" {
		dir = t.TempDir()
		if _, err := Fill(t.Context(), Options{DataDir: dir, Records: 3000, Parties: 30, Workers: 32}); err != nil {
			t.Fatal(err)
		}
	}
	bin := provenanced(t)
	creds := operator(t, dir)

	// First start: the follower replays the whole log.
	s, err := launch(bin, dir, "--log-level", "info")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.waitHealthy(5 * time.Minute); err != nil {
		s.cmd.Process.Kill()
		t.Fatalf("%v\n%s", err, s.stderr)
	}
	size := s.treeSize(t)
	start := time.Now()
	for last := time.Now(); ; {
		r := s.flags(t, creds, "/v1/flags?pageSize=1")
		if r.UnreadRecords == 0 && r.PendingLots == 0 {
			break
		}
		if time.Since(last) > 10*time.Second {
			t.Logf("replaying: %d of %d records left", r.UnreadRecords, size)
			last = time.Now()
		}
		if time.Since(start) > 30*time.Minute {
			t.Fatalf("the follower has not replayed %d records in 30 min", r.UnreadRecords)
		}
	}
	replay := time.Since(start)
	replayRSS := peakRSS(t, s.cmd.Process.Pid)
	s.stop(t)

	// Restart: it resumes where it stopped.
	s, err = launch(bin, dir, "--log-level", "info")
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop(t)
	if err := s.waitHealthy(5 * time.Minute); err != nil {
		s.cmd.Process.Kill()
		t.Fatalf("%v\n%s", err, s.stderr)
	}
	m := regexp.MustCompile(`flags resume from their stored state" replayed=(\d+) log=(\d+)`).FindStringSubmatch(s.stderr.String())
	if m == nil || m[1] != m[2] || m[1] != strconv.FormatUint(size, 10) {
		t.Fatalf("the restarted follower does not resume at the log's end (%d):\n%s", size, s.stderr)
	}
	t0 := time.Now()
	first := s.flags(t, creds, "/v1/flags?pageSize=500")
	firstTook := time.Since(t0)
	if first.UnreadRecords != 0 || first.PendingLots != 0 {
		t.Fatalf("first listing after the restart: %d records unread, %d lots pending", first.UnreadRecords, first.PendingLots)
	}

	// Listings, page after page.
	var flagsLat, lotsLat []time.Duration
	for _, kind := range []string{"flags", "lots"} {
		tok := ""
		for range 100 {
			q := fmt.Sprintf("/v1/%s?pageSize=100", kind)
			if tok != "" {
				q += "&pageToken=" + tok
			}
			t0 := time.Now()
			r := s.flags(t, creds, q)
			d := time.Since(t0)
			if kind == "flags" {
				flagsLat = append(flagsLat, d)
			} else {
				lotsLat = append(lotsLat, d)
			}
			if tok = r.NextPageToken; tok == "" {
				tok = "" // from the first page again
			}
		}
	}
	rss := peakRSS(t, s.cmd.Process.Pid)
	t.Logf("%d records: first start replayed them in %v (%.0f records/s; server peak RSS %d MiB); after a restart the first listing (500 flags) took %v with none unread; /v1/flags p50 %v p99 %v; /v1/lots p50 %v p99 %v (100 each, pages of 100); server peak RSS %d MiB",
		size, replay.Round(time.Millisecond), float64(size)/replay.Seconds(), replayRSS>>20, firstTook.Round(time.Microsecond),
		pct(flagsLat, 50), pct(flagsLat, 99), pct(lotsLat, 50), pct(lotsLat, 99), rss>>20)
}

type listing struct {
	UnreadRecords uint64 `json:"unreadRecords,string"`
	PendingLots   uint64 `json:"pendingLots,string"`
	NextPageToken string `json:"nextPageToken"`
}

// flags GETs a listing as the operator.
func (s *server) flags(t *testing.T, creds *client.Credentials, path string) listing {
	t.Helper()
	req, _ := http.NewRequest("GET", s.httpURL+path, nil)
	md, err := creds.GetRequestMetadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", md["authorization"])
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %s", path, r.Status)
	}
	var l listing
	if err := json.NewDecoder(r.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

func operator(t *testing.T, dir string) *client.Credentials {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, datadir.LogKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.OperatorCredentials(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Microsecond)
}

// peakRSS returns a process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
