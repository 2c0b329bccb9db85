package code

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse: Parse never panics, rejects only with this package's errors,
// and whatever it accepts is canonical: it re-encodes to the same text and
// its claims re-marshal to the same payload bytes.
func FuzzParse(f *testing.F) {
	k := testKeySet(f, 1)
	f.Add(mustSign(f, k, testClaims()))
	f.Add(mustSign(f, k, Claims{KeyID: 1}))
	f.Add("")
	f.Add("BB8")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		cb, errb := ParseBytes([]byte(s))
		if c != cb || (err == nil) != (errb == nil) {
			t.Fatalf("Parse and ParseBytes disagree: %v / %v", err, errb)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("Parse(%q): unexpected error %v", s, err)
			}
			return
		}
		if got := c.String(); got != s {
			t.Fatalf("Parse(%q) re-encodes to %q", s, got)
		}
		claims := c.Claims()
		var b [binLen]byte
		if err := claims.marshal(&b); err != nil {
			t.Fatalf("accepted claims do not marshal: %v", err)
		}
		if !bytes.Equal(b[:payloadLen], c.b[:payloadLen]) {
			t.Fatalf("claims re-marshal differently:\n%x\n%x", b[:payloadLen], c.b[:payloadLen])
		}
		if err := k.Verify(c); err != nil && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Verify: unexpected error %v", err)
		}
		if d, err := DigestOf(s); err != nil || d != c.Digest() {
			t.Fatalf("DigestOf: %v", err)
		}
	})
}
