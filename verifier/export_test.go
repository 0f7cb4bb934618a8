package verifier

// ReadBundleWithin is readBundle with a byte limit of the test's choosing.
var ReadBundleWithin = readBundle
