package gateapi

import "testing"

func TestTicketNumberCheckDigit(t *testing.T) {
	for _, n := range []uint64{0, 1, 42, 99_999_999_999, 12_345_678_901} {
		s := TicketNumber(n)
		if got, ok := NormalizeTicketNumber(s); !ok || got != s {
			t.Fatalf("TicketNumber(%d) = %q does not validate", n, s)
		}
		// Every single-digit change is caught.
		for i := 0; i < len(s); i++ {
			for d := byte('0'); d <= '9'; d++ {
				if d == s[i] {
					continue
				}
				b := []byte(s)
				b[i] = d
				if _, ok := NormalizeTicketNumber(string(b)); ok {
					t.Fatalf("%s with digit %d changed to %c still validates", s, i, d)
				}
			}
		}
	}
	if got, ok := NormalizeTicketNumber(TicketNumber(42)[:4] + " " + TicketNumber(42)[4:]); !ok || got != TicketNumber(42) {
		t.Fatalf("spaces: %q %v", got, ok)
	}
	for _, bad := range []string{"", "12345", "1234567890123", "12345678901a"} {
		if _, ok := NormalizeTicketNumber(bad); ok {
			t.Fatalf("%q validates", bad)
		}
	}
}

func TestIDCardHashNormalizes(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	a, b := IDCardHash(key, "11010519491231002x"), IDCardHash(key, " 110105 19491231002X ")
	if a != b || len(a) != 64 {
		t.Fatalf("hashes %q and %q, want equal 64 hex digits", a, b)
	}
	if IDCardHash([]byte("another key of thirty-two bytes!"), "11010519491231002X") == a {
		t.Fatal("the hash does not depend on the key")
	}
}
