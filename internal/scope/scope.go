// Package scope carries, from the server's read policy to the listings,
// the lots a caller's listing is limited to, so that a party with a few
// lots in a large log is answered from its own lots rather than from a
// scan of every lot in the log.
package scope

import "context"

type lotsKey struct{}

// WithLots returns a context whose listings read only lots, which are in
// id order. The read policy still decides what of it the caller may read.
func WithLots(ctx context.Context, lots []string) context.Context {
	return context.WithValue(ctx, lotsKey{}, lots)
}

// Lots returns the lots a listing under ctx is limited to, in id order,
// and whether it is limited.
func Lots(ctx context.Context) ([]string, bool) {
	lots, ok := ctx.Value(lotsKey{}).([]string)
	return lots, ok
}
