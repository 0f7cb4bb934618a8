package pdfprint

import "testing"

// TestPages counts page objects, not the page tree (/Pages), however the
// PDF spaces its names.
func TestPages(t *testing.T) {
	for pdf, want := range map[string]int{
		"": 0,
		"1 0 obj << /Type /Pages /Kids [2 0 R] /Count 1 >> 2 0 obj << /Type /Page /Parent 1 0 R >>":           1,
		"<</Type/Pages/Count 3>> <</Type/Page/Parent 1 0 R>> <</Type /Page\n/Parent 1 0 R>> <</Type\n/Page>>": 3,
		"<< /Type /Catalog /Pages 1 0 R >> << /Type /Pages >> << /Type /PageLabel >>":                         0,
	} {
		if got := Pages([]byte(pdf)); got != want {
			t.Errorf("Pages(%q) = %d, want %d", pdf, got, want)
		}
	}
}
