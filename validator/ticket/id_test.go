package ticket

import "testing"

func TestParseID(t *testing.T) {
	want := [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	for _, s := range []string{
		"0123456789abcdeffedcba9876543210",
		"0123456789ABCDEFFEDCBA9876543210",
		"01234567-89ab-cdef-fedc-ba9876543210",
	} {
		got, err := ParseID(s)
		if err != nil || got != want {
			t.Errorf("ParseID(%q) = %x, %v", s, got, err)
		}
	}
	if s := FormatID(want); s != "0123456789abcdeffedcba9876543210" {
		t.Errorf("FormatID = %q", s)
	}
	for _, s := range []string{
		"",
		"0123456789abcdeffedcba987654321",   // short
		"0123456789abcdeffedcba98765432100", // long
		"0123456789abcdeffedcba987654321g",
		"01234567-89ab-cdef-fedc_ba9876543210",
		"0123456789-ab-cdef-fedc-ba98765432",
	} {
		if _, err := ParseID(s); err == nil {
			t.Errorf("ParseID(%q): want error", s)
		}
	}
}

func BenchmarkParseID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseID("01234567-89ab-cdef-fedc-ba9876543210"); err != nil {
			b.Fatal(err)
		}
	}
}
