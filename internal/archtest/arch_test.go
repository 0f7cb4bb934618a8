// Package archtest holds the architecture test: it fails when a package
// imports across a layer the README's layout forbids.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/antimony-ledger/provenance/"

// forbidden lists, per package directory, import path prefixes it must not
// use (tests included): the log knows nothing of antimony, and domain
// packages know nothing of the transport.
var forbidden = map[string][]string{
	"ledger":           {module + "custody", module + "verifier", module + "proto", module + "internal", module + "client", "google.golang.org/grpc"},
	"custody":          {module + "verifier", module + "internal/server", module + "client", "google.golang.org/grpc", "github.com/grpc-ecosystem"},
	"verifier":         {module + "internal/server", module + "client", "google.golang.org/grpc", "github.com/grpc-ecosystem"},
	"internal/refdata": {module},
}

func TestLayering(t *testing.T) {
	root := filepath.Join("..", "..")
	for dir, bad := range forbidden {
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
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if path == module+dir {
					continue // an external test package importing its own package
				}
				for _, b := range bad {
					// The test fixture package builds custody records; the
					// rule is about what a package depends on in production.
					if strings.HasPrefix(path, b) && !(strings.HasSuffix(f, "_test.go") && path == module+"internal/chaintest") {
						t.Errorf("%s imports %s: %s must not depend on %s", f, path, dir, b)
					}
				}
			}
		}
	}
}
