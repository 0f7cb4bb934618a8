// Package formatspec holds the outsider test of docs/FORMAT.md: it builds
// statements, PAE, signatures, the stored DSSE JSON, key ids and record ids
// by hand from that document, with the standard library and the generated
// protobuf types only, submits them to a real server over REST, and checks
// the server's answers against what it computed, and the document's worked
// example against the bytes it computes itself.
package formatspec
