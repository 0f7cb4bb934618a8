//go:build !linux && !darwin

package main

import "os"

// isTerminal reports whether f is a terminal. Without a way to read its
// settings here, no: provctl then asks nothing, and wants --yes,
// --seals-intact or --seals-broken instead.
func isTerminal(f *os.File) bool { return false }
