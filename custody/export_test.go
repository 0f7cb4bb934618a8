package custody

// WithoutFoldIndex makes stores write no fold index, as stores before it,
// until the returned function is called.
func WithoutFoldIndex() (restore func()) {
	withoutFoldIndex = true
	return func() { withoutFoldIndex = false }
}
