// Package archtest holds the architecture tests: they fail when a package
// depends, directly or through others, on a layer the README's layout
// forbids it.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/antimony-ledger/provenance/"

// Import paths, or prefixes of them, that name a layer.
const (
	badger  = "github.com/dgraph-io/badger"
	gateway = "github.com/grpc-ecosystem/grpc-gateway"
	grpc    = "google.golang.org/grpc"
)

// grpcServer lists the packages of gRPC's server side that a client has no
// use for: google.golang.org/grpc itself holds both sides, so a client
// links it, but nothing more of the server.
var grpcServer = []string{grpc + "/reflection", grpc + "/health", grpc + "/admin", grpc + "/xds", module + "internal/server", gateway}

// transitive lists, per package, import path prefixes that must not be
// among its dependencies (go list -deps, tests excluded): the formats and
// the rules are pure, a buyer's verifier links neither a database nor RPC,
// the client no server, and the log nothing of antimony.
var transitive = map[string][]string{
	"record":                       {badger, grpc, gateway, module + "ledger", module + "custody", module + "internal"},
	"tlog":                         {badger, grpc, gateway, module + "ledger", module + "custody", module + "record", module + "internal"},
	"registry":                     {badger, grpc, gateway, module + "ledger", module + "custody", module + "internal"},
	"index":                        {badger, grpc, gateway, module + "ledger", module + "custody", module + "internal"},
	"proto/provenance/v1/recordpb": {grpc, gateway},
	"verifier":                     {badger, grpc, gateway, module + "ledger", module + "custody", module + "client", module + "internal/backend", module + "internal/server"},
	"client":                       append([]string{badger, module + "ledger", module + "custody", module + "verifier", module + "internal"}, grpcServer...),
	"ledger":                       {grpc, gateway, module + "custody", module + "verifier", module + "record", module + "registry", module + "proto", module + "internal", module + "client"},
	"custody":                      {grpc, gateway, module + "verifier", module + "internal", module + "client"},
	"proto/gateway/provenance/v1":  {badger, module + "custody", module + "ledger"},
	"proto/provenance/v1":          {badger, gateway, module + "custody", module + "ledger"},
	"internal/backend":             {gateway, module + "internal/server", module + "client"},
	"internal/refdata":             {module},
	"internal/report":              {badger, grpc, gateway, module + "ledger", module + "custody", module + "client", module + "internal/backend", module + "internal/server"},
	"internal/keyfile":             {badger, grpc, gateway, module + "ledger", module + "custody"},
	"authtoken":                    {badger, grpc, gateway, module},
}

// direct lists, per package directory, import path prefixes its files,
// tests included, must not import: the log knows nothing of antimony,
// domain packages know nothing of the transport, and the pure packages do
// no I/O of their own.
var direct = map[string][]string{
	"ledger":           {module + "custody", module + "verifier", module + "record", module + "registry", module + "proto", module + "internal", module + "client", grpc},
	"custody":          {module + "verifier", module + "internal/server", module + "client", grpc, gateway},
	"verifier":         {module + "internal/server", module + "client", grpc, gateway},
	"record":           {"os", "net", "syscall", module + "custody", module + "ledger", grpc},
	"tlog":             {"os", "net", "syscall", module},
	"registry":         {"os", "net", "syscall", module + "custody", module + "ledger", grpc},
	"index":            {"os", "net", "syscall", module + "custody", module + "ledger", grpc},
	"internal/refdata": {module},
	"internal/report":  {"os", "net", "syscall", grpc},
	"authtoken":        {"os", "net", "syscall", module},
}

// TestDependencies checks every package's transitive dependencies, as the
// Go command lists them.
func TestDependencies(t *testing.T) {
	root := filepath.Join("..", "..")
	for pkg, bad := range transitive {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./"+pkg)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go list -deps ./%s: %v\n%s", pkg, err, stderr)
		}
		deps := strings.Fields(string(out))
		if len(deps) == 0 {
			t.Fatalf("go list -deps ./%s listed nothing", pkg)
		}
		for _, d := range deps {
			if d == module+pkg {
				continue
			}
			for _, b := range bad {
				if d == b || strings.HasPrefix(d, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(d, b)) {
					t.Errorf("%s depends on %s: it must not depend on %s", pkg, d, b)
				}
			}
		}
	}
}

// TestDirectImports checks the imports of every file, tests included.
func TestDirectImports(t *testing.T) {
	root := filepath.Join("..", "..")
	for dir, bad := range direct {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			test := strings.HasSuffix(f, "_test.go")
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if path == module+dir {
					continue // an external test package importing its own package
				}
				if test && strings.HasPrefix(path, module+"internal/") {
					continue // test fixtures (chaintest, lottest) build records for tests
				}
				for _, b := range bad {
					if path == b || strings.HasPrefix(path, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(path, b)) {
						t.Errorf("%s imports %s: %s must not depend on %s", f, path, dir, b)
					}
				}
			}
		}
	}
}

// TestConsoleWasm: the web console's WebAssembly module, the buyer's
// verifier in a browser, links neither a database, nor RPC, nor any
// server code. It builds only for GOOS=js GOARCH=wasm, so it is listed
// for that platform.
func TestConsoleWasm(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./internal/console/wasm")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps ./internal/console/wasm: %v\n%s", err, stderr)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, module+"verifier") || !slices.Contains(deps, module+"authtoken") {
		t.Fatalf("the module does not link the verifier and authtoken: %v", deps)
	}
	bad := []string{badger, grpc, gateway, module + "ledger", module + "custody", module + "client", module + "internal/backend", module + "internal/server", module + "internal/console"}
	for _, d := range deps {
		for _, b := range bad {
			if d == b || strings.HasPrefix(d, b+"/") {
				if d == module+"internal/console/wasm" {
					continue
				}
				t.Errorf("the console's wasm module depends on %s: it must not depend on %s", d, b)
			}
		}
	}
}
