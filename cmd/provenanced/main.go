// Command provenanced serves the antimony provenance ledger: gRPC, and a
// REST gateway with OpenAPI and health over HTTP; Prometheus metrics,
// pprof and gRPC reflection are on a separate admin listener.
//
// With no flags it keeps its data in ./data, serves gRPC on 127.0.0.1:8443
// and HTTP on 127.0.0.1:8080, and on first start creates the log's
// checkpoint signing key and the registrar key in the data directory:
//
//	data/log.key        note signer key of the log (0600)
//	data/log.pub        note verifier key clients pin to check checkpoints
//	data/registrar.key  registrar Ed25519 private key, PKCS #8 PEM (0600)
//	data/registrar.pub  registrar public key, PKIX PEM
//	data/ledger/        the Badger store
//
// Later starts reuse them. With --registrar-pub the registrar private key
// is never created here: the operator keeps it elsewhere and only the
// public key is configured (and copied to data/registrar.pub on first
// start; a different key on a later start is refused).
//
// On start it prints to stdout, one line each, for clients and scripts:
//
//	log verifier key: <note verifier key>
//	registrar key id: <key id> (public key <path>)
//	grpc listening on <host:port>
//	admin listening on http://<host:port> (...)   (unless --admin-addr off)
//	http listening on http://<host:port>   (https:// with TLS)
//
// The admin listener (--admin-addr, 127.0.0.1:9090 by default) serves the
// operator's surface: Prometheus /metrics, /debug/pprof/, /healthz with
// details, online backups (/admin/backup) and gRPC reflection; none of
// them is on the public ports.
//
// Subcommands: provenanced audit checks a stopped server's data directory
// (audit.go); provenanced backup takes a backup of a running server
// through its admin listener (backup.go), and provenanced restore rebuilds
// a data directory from one (restore.go). The
// limits on clients (--party-rate, --max-streams, ...) are described in
// internal/server's Limits, with their defaults.
//
// Logs go to stderr. SIGINT or SIGTERM stops it gracefully: in-flight calls
// finish (an acknowledged append is durable), the store is closed, and it
// exits 0.
//
// Every flag has an environment fallback: PROVENANCED_ and the flag name
// in upper case with dashes as underscores (PROVENANCED_GRPC_ADDR).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/antimony-ledger/provenance/internal/backend"
	"github.com/antimony-ledger/provenance/internal/server"
	"github.com/antimony-ledger/provenance/internal/witness"
)

// defaultMemoryLimit is the Go heap's soft limit when GOMEMLIMIT does not
// set one. Most of the heap is caches of fixed size (Badger's table blocks
// and memtables, the tree's node cache); without a limit the collector
// lets the heap grow to twice what is live before it runs, which on a
// 1M-record log doubled the server's memory (BENCHMARKS.md, "Flags that
// keep up"). A soft limit makes the collector run earlier instead: past
// it, it spends more CPU, never refuses memory.
//
// What stays live grows with the log (the verifiable map is held in
// memory: about 280 MB at 4.3M records), and a limit that leaves the
// collector little room above it keeps it running back to back: at 4.3M
// records, live 550 MB under the 640 MiB limit, half the server's CPU went
// to the collector and appends ran at a third of their rate with room
// (BENCHMARKS.md, "The verifiable map's arena"). So the limit follows the
// live heap: never less than memoryHeadroom above it.
const (
	defaultMemoryLimit = 640 << 20
	memoryHeadroom     = 320 << 20
)

// memoryLimit is the soft limit for a live heap of live bytes, in a
// memory cgroup (a container's limit) of hard bytes, 0 for none: never
// above nine tenths of that, where the collector had better work harder
// than the kernel kill the server.
func memoryLimit(live uint64, hard int64) int64 {
	l := max(defaultMemoryLimit, int64(min(live, 1<<50))+memoryHeadroom)
	if hard > 0 {
		l = min(l, hard/10*9)
	}
	return l
}

// followMemoryLimit sets the soft limit for the live heap every interval
// until ctx is done. hard reads the memory cgroup's limit
// (cgroupMemoryLimit) each time, so that a container resized while the
// server runs is followed.
func followMemoryLimit(ctx context.Context, interval time.Duration, hard func() int64) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			debug.SetMemoryLimit(memoryLimit(sample[0].Value.Uint64(), hard()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startMemoryLimit sets the soft limit for a heap not yet grown, in the
// memory cgroup readFile shows, and follows the live heap and the
// cgroup's limit every interval until ctx is done; the channel returned
// is closed then.
func startMemoryLimit(ctx context.Context, interval time.Duration, readFile func(string) ([]byte, error)) <-chan struct{} {
	hard := func() int64 { return cgroupMemoryLimit(readFile) }
	debug.SetMemoryLimit(memoryLimit(0, hard()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		followMemoryLimit(ctx, interval, hard)
	}()
	return done
}

// cgroupMemoryLimit returns the memory limit that binds the process: the
// least of its memory cgroup's and its ancestors' (v2's memory.max and
// memory.high, v1's memory.limit_in_bytes), or 0 if none has one or they
// cannot be read. v2's memory.high is not a kill, but past it the kernel
// throttles the cgroup's every allocation and reclaims hard: a server
// held there crawls, so the collector had better keep the heap below it.
// The cgroup's directory is found through /proc/self/mountinfo: in a
// container the hierarchy mounted at /sys/fs/cgroup/memory may be the
// container's own cgroup, which /proc/self/cgroup names by its path on
// the host. readFile reads a file (os.ReadFile, or a test's).
func cgroupMemoryLimit(readFile func(string) ([]byte, error)) int64 {
	own, err := readFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	type mount struct{ root, dir string }
	// Where the hierarchies are mounted, and which of their cgroups is
	// the mount's root; without mountinfo, the usual places, whole.
	v2, v1 := mount{"/", "/sys/fs/cgroup"}, mount{"/", "/sys/fs/cgroup/memory"}
	if info, err := readFile("/proc/self/mountinfo"); err == nil {
		v2, v1 = mount{}, mount{}
		for line := range strings.Lines(string(info)) {
			// ID parent major:minor root mount-point options [optional...] - type source super-options
			f := strings.Fields(line)
			sep := slices.Index(f, "-")
			if sep < 5 || sep+3 >= len(f) {
				continue
			}
			switch m := (mount{f[3], f[4]}); {
			case f[sep+1] == "cgroup2" && v2.dir == "":
				v2 = m
			case f[sep+1] == "cgroup" && slices.Contains(strings.Split(f[sep+3], ","), "memory") && v1.dir == "":
				v1 = m
			}
		}
	}
	var limit int64
	for line := range strings.Lines(string(own)) {
		// hierarchy-ID:controllers:path; v2's is 0::path.
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var m mount
		var files []string
		switch {
		case parts[0] == "0" && parts[1] == "":
			m, files = v2, []string{"memory.max", "memory.high"}
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			m, files = v1, []string{"memory.limit_in_bytes"}
		default:
			continue
		}
		if m.dir == "" {
			continue
		}
		// The cgroup's path below the mount's root; one outside it (a
		// cgroup namespace's view) is the root itself.
		var rel string
		switch cg, root := path.Clean(parts[2]), path.Clean(m.root); {
		case root == "/":
			rel = cg
		case strings.HasPrefix(cg, root+"/"):
			rel = cg[len(root):]
		}
		for dir := path.Join(m.dir, rel); ; dir = path.Dir(dir) {
			for _, file := range files {
				if n := readLimit(readFile, path.Join(dir, file)); n > 0 && (limit == 0 || n < limit) {
					limit = n
				}
			}
			if dir == path.Clean(m.dir) || dir == "/" {
				break
			}
		}
	}
	return limit
}

// readLimit reads a cgroup memory limit file: 0 for none ("max", v1's
// page-rounded MaxInt64) or an unreadable one.
func readLimit(readFile func(string) ([]byte, error), name string) int64 {
	b, err := readFile(name)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<50 {
		return 0
	}
	return n
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "audit": // see audit.go
			os.Exit(auditMain(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		case "backup": // see backup.go
			os.Exit(backupMain(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		case "restore": // see restore.go
			os.Exit(restoreMain(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		}
	}
	opts, err := parseFlags(os.Args[1:], os.Getenv)
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "provenanced:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("GOMEMLIMIT") == "" {
		startMemoryLimit(ctx, 5*time.Second, os.ReadFile)
	}
	if err := Run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "provenanced:", err)
		os.Exit(1)
	}
}

// parseFlags parses the command line, with environment fallbacks read
// through getenv.
func parseFlags(args []string, getenv func(string) string) (Options, error) {
	fs := flag.NewFlagSet("provenanced", flag.ContinueOnError)
	env := func(name, def string) string {
		if v := getenv("PROVENANCED_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); v != "" {
			return v
		}
		return def
	}
	var o Options
	fs.StringVar(&o.DataDir, "data", env("data", "data"), "data `dir`ectory: keys and the Badger store")
	fs.StringVar(&o.GRPCAddr, "grpc-addr", env("grpc-addr", "127.0.0.1:8443"), "gRPC listen `address`; port 0 picks a free port")
	fs.StringVar(&o.HTTPAddr, "http-addr", env("http-addr", "127.0.0.1:8080"), "HTTP (REST, /openapi.json, /healthz) listen `address`; port 0 picks a free port")
	fs.StringVar(&o.AdminAddr, "admin-addr", env("admin-addr", "127.0.0.1:9090"), "admin `address` (/metrics, /debug/pprof/, /healthz with details, gRPC reflection), without authentication: keep it on loopback or a private network; \"off\" for none")
	fs.StringVar(&o.TLSCert, "tls-cert", env("tls-cert", ""), "TLS certificate `file` (PEM) for both listeners; with --tls-key")
	fs.StringVar(&o.TLSKey, "tls-key", env("tls-key", ""), "TLS private key `file` (PEM)")
	fs.StringVar(&o.LogLevel, "log-level", env("log-level", "info"), "log `level`: debug, info, warn or error")
	fs.StringVar(&o.Origin, "origin", env("origin", ""), "checkpoint origin of a new log (default "+DefaultOrigin+"); must match an existing log key")
	pprofAddr := fs.String("pprof-addr", "", "removed: profiles are on the admin listener (--admin-addr), at /debug/pprof/")
	fs.StringVar(&o.RegistrarPub, "registrar-pub", env("registrar-pub", ""), "registrar public key `file` (PEM), made offline with provctl keygen; required on first start")
	fs.StringVar(&o.WitnessPolicy, "witness-policy", env("witness-policy", ""), "witness policy `file`: checkpoints go to each witness line's URL (c2sp.org/tlog-witness), and bundles carry their cosignatures")
	fs.DurationVar(&o.WitnessInterval, "witness-interval", witness.DefaultInterval, "least `time` between two checkpoints sent to the witnesses")
	fs.BoolVar(&o.NoFlagFollower, "no-flag-follower", env("no-flag-follower", "") == "1", "do not keep flags current: listings serve the verifier state as it stands and count the records not replayed (for comparing append throughput)")
	lim := server.DefaultLimits()
	o.FlagMaxLag = backend.DefaultMaxLag
	limitFlags := []struct {
		name  string
		v     flag.Value
		usage string
	}{
		{"party-rate", floatLimit{&lim.PartyRate}, "`records` per second each signing party may submit, after its burst (\"off\": no limit)"},
		{"party-burst", intLimit{&lim.PartyBurst}, "`records` a party may submit at once before --party-rate applies"},
		{"max-verifications", intLimit{&lim.MaxHeavyCalls}, "`calls` of VerifyLot and GetBundle running at once; more wait up to 2s, then get ResourceExhausted (\"off\": no limit)"},
		{"max-bundle-bytes", intLimit{&lim.MaxBundleBytes}, "largest bundle GetBundle serves, in `bytes` (\"off\": no limit)"},
		{"max-streams", intLimit{&lim.MaxConcurrentStreams}, "`calls` open at once on one gRPC connection (\"off\": no limit)"},
		{"max-conn-idle", durLimit{&lim.MaxConnectionIdle}, "close a gRPC connection with no call open for this `duration` (\"off\": never)"},
		{"flag-max-lag", durLimit{&o.FlagMaxLag}, "while appends keep the processors busy, the flag follower steps aside for them until the oldest record it has not replayed was appended this `duration` ago (\"off\": flags kept current at the appends' expense)"},
		{"max-conn-age", durLimit{&lim.MaxConnectionAge}, "send a GOAWAY to a gRPC connection this old (`duration`; calls open then get 5m more; \"off\": never)"},
		{"min-free-bytes", byteSize{&o.MinFreeBytes}, "free `space` the data directory's filesystem keeps for the store to flush (bytes, or with KiB, MiB, GiB); under it appends get ResourceExhausted (HTTP 507) and reads go on; a start under it opens the store read-only (\"off\": no check)"},
	}
	for _, f := range limitFlags {
		if v := env(f.name, ""); v != "" {
			if err := f.v.Set(v); err != nil {
				return Options{}, fmt.Errorf("PROVENANCED_%s: %v", strings.ToUpper(strings.ReplaceAll(f.name, "-", "_")), err)
			}
		}
		fs.Var(f.v, f.name, f.usage)
	}
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if *pprofAddr != "" {
		return Options{}, fmt.Errorf("--pprof-addr is gone: profiles are served on the admin listener, --admin-addr (default 127.0.0.1:9090), at /debug/pprof/")
	}
	if o.AdminAddr == "off" {
		o.AdminAddr = ""
	}
	o.Limits = lim
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return Options{}, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return Options{}, fmt.Errorf("--log-level: %v", err)
	}
	o.Stdout = os.Stdout
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return o, nil
}

// Flags for limits: a value, or "off" for no limit (a negative value in
// server.Limits). The flag's default is the limit's default.

type floatLimit struct{ p *float64 }

func (f floatLimit) String() string {
	if f.p == nil {
		return ""
	}
	if *f.p < 0 {
		return "off"
	}
	return strconv.FormatFloat(*f.p, 'g', -1, 64)
}

func (f floatLimit) Set(s string) error {
	if s == "off" {
		*f.p = -1
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return fmt.Errorf("want a positive number or \"off\", not %q", s)
	}
	*f.p = v
	return nil
}

type intLimit struct{ p *int }

func (f intLimit) String() string {
	if f.p == nil {
		return ""
	}
	if *f.p < 0 {
		return "off"
	}
	return strconv.Itoa(*f.p)
}

func (f intLimit) Set(s string) error {
	if s == "off" {
		*f.p = -1
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("want a positive integer or \"off\", not %q", s)
	}
	*f.p = v
	return nil
}

type durLimit struct{ p *time.Duration }

func (f durLimit) String() string {
	if f.p == nil {
		return ""
	}
	if *f.p < 0 {
		return "off"
	}
	return f.p.String()
}

func (f durLimit) Set(s string) error {
	if s == "off" {
		*f.p = -1
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("want a positive duration or \"off\", not %q", s)
	}
	*f.p = v
	return nil
}
