package code

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestBase45RFC9285(t *testing.T) {
	// Examples from RFC 9285 sections 4.3 and 4.4, plus the group bounds.
	tests := []struct {
		raw, text string
	}{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
		{"\x00", "00"},
		{"\x00\x00", "000"},
		{"\xff", "U5"},
		{"\xff\xff", "FGW"},
	}
	for _, tt := range tests {
		if got := base45Encode([]byte(tt.raw)); got != tt.text {
			t.Errorf("encode(%q) = %q, want %q", tt.raw, got, tt.text)
		}
		got, err := base45DecodeString(tt.text)
		if err != nil || string(got) != tt.raw {
			t.Errorf("decode(%q) = %q, %v; want %q", tt.text, got, err, tt.raw)
		}
	}
}

func TestBase45DecodeRejects(t *testing.T) {
	tests := []struct {
		name, text string
		want       error
	}{
		{"single char", "A", errB45Length},
		{"leftover char", "BB8A", errB45Length},
		{"lower case", "bb8", errB45Char},
		{"outside alphabet", "BB#", errB45Char},
		{"non-ascii", "BB\xc3", errB45Char},
		{"nul", "BB\x00", errB45Char},
		{"triplet 65536", "GGW", errB45Range},
		{"four chars", "::::", errB45Length},
		{"triplet 91124", ":::", errB45Range},
		{"pair 256", "V5", errB45Range},
		{"pair 314", ":6", errB45Range},
		{"bad pair char", "BB8a0", errB45Char},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := base45DecodeString(tt.text)
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode(%q) error = %v, want %v", tt.text, err, tt.want)
			}
		})
	}
}

func TestBase45AllBytes(t *testing.T) {
	var src []byte
	for i := 0; i < 256; i++ {
		for j := 0; j < 256; j += 7 {
			src = append(src, byte(i), byte(j))
		}
	}
	src = append(src, 0xAB)
	text := base45Encode(src)
	for _, r := range text {
		if !strings.ContainsRune(base45Alphabet, r) {
			t.Fatalf("encoded form holds %q, outside the QR alphanumeric set", r)
		}
	}
	got, err := base45DecodeString(text)
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("round trip failed: %v", err)
	}
}

func TestBase45ShortDst(t *testing.T) {
	if _, err := base45Decode(make([]byte, 1), "BB8"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short dst: err = %v", err)
	}
}

func FuzzBase45(f *testing.F) {
	for _, s := range []string{"", "BB8", "%69 VD92EX0", "UJCLQE7W581", "QED8WEX0", "GGW", "FGW", "U5", "V5", "A", "bb8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := base45DecodeString(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode(%q): error %v does not wrap ErrMalformed", s, err)
			}
			// Any bytes encode and decode back, whatever the text was.
			raw := []byte(s)
			back, err := base45DecodeString(base45Encode(raw))
			if err != nil || !bytes.Equal(back, raw) {
				t.Fatalf("encode/decode of %q: %q, %v", raw, back, err)
			}
			return
		}
		// Strict decoding: accepted text is the one canonical encoding.
		if enc := base45Encode(b); enc != s {
			t.Fatalf("decode(%q) re-encodes to %q", s, enc)
		}
	})
}
