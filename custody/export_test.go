package custody

// WithoutFoldIndex makes stores write no fold index, as stores before it,
// until the returned function is called.
func WithoutFoldIndex() (restore func()) {
	withoutFoldIndex = true
	return func() { withoutFoldIndex = false }
}

// WithoutNamedLabs makes stores admit an assay by any LAB, as stores
// before lab nominations did, until the returned function is called.
func WithoutNamedLabs() (restore func()) {
	withoutNamedLabs = true
	return func() { withoutNamedLabs = false }
}
