package payment

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/admitpark/admit/sales/web"
)

func TestCheckReference(t *testing.T) {
	for in, want := range map[string]string{
		" 000123456789 ":              "000123456789",
		"2026111622001400001":         "2026111622001400001",
		"RRN 6312-0001":               "RRN 6312-0001",
		"参考号 77":                      "参考号 77",
		"":                            "reference_required",
		"   ":                         "reference_required",
		strings.Repeat("9", 64):       strings.Repeat("9", 64),
		strings.Repeat("9", 65):       "bad_reference",
		"12\u200b34":                  "bad_reference", // zero-width space: not printable
		"12\t34":                      "bad_reference",
		"\xff\xfe":                    "bad_reference",
		strings.Repeat("票", 64) + " ": strings.Repeat("票", 64),
	} {
		got, err := CheckReference(MethodCard, in)
		var p *web.Problem
		switch {
		case err == nil && got != want:
			t.Errorf("CheckReference(%q) = %q, want %q", in, got, want)
		case err != nil && (!errors.As(err, &p) || p.Code != want || p.Status != http.StatusBadRequest):
			t.Errorf("CheckReference(%q): %v, want %s", in, err, want)
		}
	}
}

// FuzzCheckReference: whatever a cashier or a client types, CheckReference
// never panics, and what it accepts is trimmed, bounded, printable and
// accepted again unchanged.
func FuzzCheckReference(f *testing.F) {
	for _, s := range []string{"000123456789", " a ", "", "\x00", "票", strings.Repeat("x", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := CheckReference(MethodWallet, s)
		if err != nil {
			return
		}
		if out == "" || out != strings.TrimSpace(out) || utf8.RuneCountInString(out) > MaxReferenceRunes {
			t.Fatalf("%q accepted as %q", s, out)
		}
		for _, r := range out {
			if !unicode.IsPrint(r) {
				t.Fatalf("%q accepted with %U", s, r)
			}
		}
		if again, err := CheckReference(MethodWallet, out); err != nil || again != out {
			t.Fatalf("%q -> %q -> %q, %v", s, out, again, err)
		}
	})
}
