package code

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey derives a fixed key so codes (and the fuzz seeds) are reproducible.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testClaims() Claims {
	return Claims{
		KeyID:      1,
		TicketID:   [16]byte{0x3f, 0x1a, 0x9c, 0x02, 0xde, 0xad, 0xbe, 0xef, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80},
		Version:    3,
		Kind:       2,
		Entries:    4,
		ValidFrom:  time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC),
		ValidUntil: time.Date(2026, 9, 30, 22, 30, 0, 0, time.UTC),
		ZoneMask:   0b1011,
	}
}

func testKeySet(t testing.TB, ids ...uint8) *KeySet {
	t.Helper()
	k := NewKeySet()
	for _, id := range ids {
		if err := k.AddPrivate(id, testKey(id)); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func mustSign(t testing.TB, k *KeySet, c Claims) string {
	t.Helper()
	s, err := k.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// reencode decodes a code's text, lets f change the bytes, and re-encodes.
func reencode(t testing.TB, s string, f func(b []byte)) string {
	t.Helper()
	b, err := base45DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	f(b)
	return base45Encode(b)
}

func claimsEqual(a, b Claims) bool {
	return a.KeyID == b.KeyID && a.TicketID == b.TicketID && a.Version == b.Version &&
		a.Kind == b.Kind && a.Entries == b.Entries && a.ZoneMask == b.ZoneMask &&
		a.ValidFrom.Equal(b.ValidFrom) && a.ValidUntil.Equal(b.ValidUntil)
}

func TestRoundTrip(t *testing.T) {
	k := testKeySet(t, 1)
	for _, c := range []Claims{
		testClaims(),
		{KeyID: 1}, // open validity, everything zero
		{KeyID: 1, Version: ^uint32(0), Entries: ^uint16(0), Kind: 255, ZoneMask: ^uint32(0),
			ValidUntil: time.Unix(int64(^uint32(0))*60, 0)}, // field maxima
		{KeyID: 1, ValidFrom: time.Date(2026, 1, 1, 12, 0, 0, 0, time.FixedZone("X", 3600))},
	} {
		s := mustSign(t, k, c)
		if len(s) != EncodedLen || len(s) != base45EncodedLen(binLen) {
			t.Fatalf("len = %d, want %d", len(s), EncodedLen)
		}
		for _, r := range s {
			if !strings.ContainsRune(base45Alphabet, r) {
				t.Fatalf("%q is outside the QR alphanumeric set", r)
			}
		}
		code, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		got := code.Claims()
		if !claimsEqual(got, c) {
			t.Fatalf("claims = %+v, want %+v", got, c)
		}
		if !got.ValidFrom.IsZero() && got.ValidFrom.Location() != time.UTC {
			t.Fatalf("ValidFrom not in UTC: %v", got.ValidFrom)
		}
		if code.KeyID() != c.KeyID || code.TicketID() != c.TicketID || code.TicketVersion() != c.Version {
			t.Fatal("accessors disagree with Claims")
		}
		if err := k.Verify(code); err != nil {
			t.Fatal(err)
		}
		if code.String() != s {
			t.Fatal("String does not reproduce the parsed text")
		}
		d, err := DigestOf(s)
		if err != nil || d != code.Digest() {
			t.Fatalf("DigestOf = %v, %v; want %v", d, err, code.Digest())
		}
		cb, err := ParseBytes([]byte(s))
		if err != nil || cb != code {
			t.Fatalf("ParseBytes differs from Parse: %v", err)
		}
	}
}

func TestSignMatchesKeySetSign(t *testing.T) {
	a, err := Sign(testKey(1), testClaims())
	if err != nil {
		t.Fatal(err)
	}
	if b := mustSign(t, testKeySet(t, 1), testClaims()); a != b {
		t.Fatal("Sign and KeySet.Sign differ for the same key and claims")
	}
}

// Every single-bit change to the binary form must be caught by Parse or Verify.
func TestTamperAnyByte(t *testing.T) {
	k := testKeySet(t, 1)
	s := mustSign(t, k, testClaims())
	for i := 0; i < binLen; i++ {
		for bit := 0; bit < 8; bit++ {
			bad := reencode(t, s, func(b []byte) { b[i] ^= 1 << bit })
			code, err := Parse(bad)
			if err == nil {
				err = k.Verify(code)
			}
			switch {
			case err == nil:
				t.Fatalf("byte %d bit %d: tampered code accepted", i, bit)
			case errors.Is(err, ErrBadSignature), errors.Is(err, ErrUnknownKey),
				errors.Is(err, ErrUnsupportedVersion), errors.Is(err, ErrMalformed):
			default:
				t.Fatalf("byte %d bit %d: unexpected error %v", i, bit, err)
			}
		}
	}
}

// Changing any character of the text, to any other character, must fail too.
func TestTamperAnyChar(t *testing.T) {
	k := testKeySet(t, 1)
	s := mustSign(t, k, testClaims())
	for i := 0; i < len(s); i++ {
		for _, r := range []byte("09AZ $:a") {
			if r == s[i] {
				continue
			}
			bad := s[:i] + string(r) + s[i+1:]
			code, err := Parse(bad)
			if err == nil {
				err = k.Verify(code)
			}
			if err == nil {
				t.Fatalf("char %d -> %q: tampered code accepted", i, r)
			}
		}
	}
}

func TestWrongKey(t *testing.T) {
	k := testKeySet(t, 1)
	s := mustSign(t, k, testClaims())
	code, _ := Parse(s)

	if err := NewKeySet().Verify(code); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("empty key set: %v, want ErrUnknownKey", err)
	}
	var zero KeySet
	if err := zero.Verify(code); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("zero key set: %v, want ErrUnknownKey", err)
	}
	// Key 2's key registered under id 1: the id is known, the signature is not.
	other := NewKeySet()
	if err := other.AddPublic(1, testKey(2).Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	if err := other.Verify(code); !errors.Is(err, ErrBadSignature) || errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other key: %v, want only ErrBadSignature", err)
	}
	// Signed with key 2 but claiming id 1.
	forged, err := Sign(testKey(2), testClaims())
	if err != nil {
		t.Fatal(err)
	}
	fc, err := Parse(forged)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Verify(fc); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged: %v, want ErrBadSignature", err)
	}
	if _, err := k.Sign(Claims{KeyID: 9}); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("sign with missing private key: %v, want ErrUnknownKey", err)
	}
	if err := k.Verify(Code{}); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("zero Code: %v, want ErrUnsupportedVersion", err)
	}
}

func TestKeyRotation(t *testing.T) {
	signer := testKeySet(t, 1, 2)
	c1, c2 := testClaims(), testClaims()
	c2.KeyID = 2
	s1, s2 := mustSign(t, signer, c1), mustSign(t, signer, c2)

	// A handheld holds only the public halves.
	hh := NewKeySet()
	for _, id := range []uint8{1, 2} {
		if err := hh.AddPublic(id, testKey(id).Public().(ed25519.PublicKey)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{s1, s2} {
		code, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := hh.Verify(code); err != nil {
			t.Fatalf("key %d: %v", code.KeyID(), err)
		}
	}
	if _, err := hh.Sign(c1); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("public-only set signed: %v", err)
	}
}

func TestDigest(t *testing.T) {
	k := testKeySet(t, 1)
	c := testClaims()
	s1 := mustSign(t, k, c)
	c.Version++
	s2 := mustSign(t, k, c)
	d1, err1 := DigestOf(s1)
	d2, err2 := DigestOf(s2)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if d1 == d2 {
		t.Fatal("reprint has the same digest as the code it replaces")
	}
	// Ed25519 is deterministic: re-signing identical claims gives the same code.
	if again, _ := DigestOf(mustSign(t, k, testClaims())); again != d1 {
		t.Fatal("identical claims gave a different digest")
	}
	if len(d1.String()) != 32 {
		t.Fatalf("Digest.String = %q", d1.String())
	}
	if _, err := DigestOf("nope"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("DigestOf(garbage): %v", err)
	}
}

func TestParseMalformed(t *testing.T) {
	k := testKeySet(t, 1)
	valid := mustSign(t, k, testClaims())
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrMalformed},
		{"one char", "A", ErrMalformed},
		{"lower case", strings.ToLower(valid), ErrMalformed},
		{"trailing newline", valid + "\n", ErrMalformed},
		{"leading space", " " + valid, ErrMalformed},
		{"utf-8", valid[:150] + "é", ErrMalformed},
		{"dropped char", valid[:EncodedLen-1], ErrMalformed},
		{"dropped byte", base45Encode(mustDecode(t, valid)[:binLen-1]), ErrMalformed},
		{"payload only", base45Encode(mustDecode(t, valid)[:payloadLen]), ErrMalformed},
		{"extra byte", base45Encode(append(mustDecode(t, valid), 0)), ErrTooLong},
		{"max input", strings.Repeat("0", maxInputLen), ErrUnsupportedVersion},
		{"over max input", strings.Repeat("0", maxInputLen+1), ErrTooLong},
		{"huge", strings.Repeat("A", 1<<20), ErrTooLong},
		{"format 0", reencode(t, valid, func(b []byte) { b[0] = 0 }), ErrUnsupportedVersion},
		{"format 2", reencode(t, valid, func(b []byte) { b[0] = 2 }), ErrUnsupportedVersion},
		{"bad triplet", "GGW" + valid[3:], ErrMalformed},
		{"from after until", reencode(t, valid, func(b []byte) { b[offFrom] = 0xFF }), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := Parse(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			if code != (Code{}) {
				t.Fatal("Parse returned a non-zero Code with an error")
			}
			if _, err := ParseBytes([]byte(tt.in)); !errors.Is(err, tt.want) {
				t.Fatalf("ParseBytes error = %v, want %v", err, tt.want)
			}
		})
	}
}

func mustDecode(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base45DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignInvalid(t *testing.T) {
	k := testKeySet(t, 1)
	base := testClaims()
	tests := []struct {
		name string
		edit func(*Claims)
	}{
		{"seconds", func(c *Claims) { c.ValidFrom = c.ValidFrom.Add(time.Second) }},
		{"nanoseconds", func(c *Claims) { c.ValidUntil = c.ValidUntil.Add(1) }},
		{"epoch", func(c *Claims) { c.ValidFrom = time.Unix(0, 0) }},
		{"before epoch", func(c *Claims) { c.ValidFrom = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"after uint32 minutes", func(c *Claims) { c.ValidUntil = time.Unix((int64(^uint32(0))+1)*60, 0) }},
		{"from after until", func(c *Claims) { c.ValidFrom, c.ValidUntil = c.ValidUntil, c.ValidFrom }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			if _, err := k.Sign(c); !errors.Is(err, ErrInvalidClaims) {
				t.Fatalf("Sign error = %v, want ErrInvalidClaims", err)
			}
		})
	}
	if _, err := Sign(ed25519.PrivateKey{1, 2, 3}, base); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("short private key: %v, want ErrInvalidKey", err)
	}
	// Equal bounds and a single open bound are fine.
	c := base
	c.ValidFrom = c.ValidUntil
	if _, err := k.Sign(c); err != nil {
		t.Fatal(err)
	}
	c.ValidFrom = time.Time{}
	if _, err := k.Sign(c); err != nil {
		t.Fatal(err)
	}
}

func TestKeySetAdd(t *testing.T) {
	k := NewKeySet()
	pub1 := testKey(1).Public().(ed25519.PublicKey)
	if err := k.AddPublic(1, pub1[:10]); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("short public key: %v", err)
	}
	if err := k.AddPrivate(1, testKey(1)[:32]); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("short private key: %v", err)
	}
	bad := append(ed25519.PrivateKey(nil), testKey(1)...)
	bad[63] ^= 1
	if err := k.AddPrivate(1, bad); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("inconsistent private key: %v", err)
	}
	if err := k.AddPublic(1, pub1); err != nil {
		t.Fatal(err)
	}
	if err := k.AddPublic(1, pub1); err != nil {
		t.Fatalf("re-adding the same key: %v", err)
	}
	if err := k.AddPrivate(1, testKey(1)); err != nil {
		t.Fatalf("adding the private half of a known public key: %v", err)
	}
	if err := k.AddPublic(1, testKey(2).Public().(ed25519.PublicKey)); !errors.Is(err, ErrKeyConflict) {
		t.Fatalf("replacing key 1: %v, want ErrKeyConflict", err)
	}
	if err := k.AddPrivate(1, testKey(2)); !errors.Is(err, ErrKeyConflict) {
		t.Fatalf("replacing private key 1: %v, want ErrKeyConflict", err)
	}
	// The set keeps its own copy of the caller's key bytes.
	mine := append(ed25519.PublicKey(nil), testKey(3).Public().(ed25519.PublicKey)...)
	if err := k.AddPublic(3, mine); err != nil {
		t.Fatal(err)
	}
	mine[0] ^= 0xFF
	c := testClaims()
	c.KeyID = 3
	s, _ := Sign(testKey(3), c)
	code, _ := Parse(s)
	if err := k.Verify(code); err != nil {
		t.Fatalf("caller's later change reached the key set: %v", err)
	}
}

// Run with -race: verifying while keys are added must be safe.
func TestKeySetConcurrent(t *testing.T) {
	k := testKeySet(t, 0)
	s := mustSign(t, k, Claims{KeyID: 0, Version: 1})
	code, _ := Parse(s)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if err := k.Verify(code); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for id := 1; id < 40; id++ {
		if err := k.AddPrivate(uint8(id), testKey(uint8(id))); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if _, err := k.Sign(Claims{KeyID: 39}); err != nil {
		t.Fatal(err)
	}
}

// The scan path (parse, id, version, digest) must not allocate, on success
// or on rejection.
func TestScanAllocs(t *testing.T) {
	s := mustSign(t, testKeySet(t, 1), testClaims())
	b := []byte(s)
	bad := "GGW" + s[3:]
	var sink Digest
	for name, f := range map[string]func(){
		"Parse": func() {
			c, _ := Parse(s)
			_, _ = c.TicketID(), c.TicketVersion()
			sink = c.Digest()
		},
		"ParseBytes": func() { c, _ := ParseBytes(b); sink = c.Digest() },
		"reject":     func() { _, _ = Parse(bad) },
		"Claims":     func() { c, _ := Parse(s); _ = c.Claims() },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
	_ = sink
}

func TestBinaryRoundTripAndVerifyKey(t *testing.T) {
	k := testKeySet(t, 1)
	c, err := Parse(mustSign(t, k, testClaims()))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Binary()
	if len(b) != BinaryLen {
		t.Fatalf("binary is %d bytes", len(b))
	}
	back, err := FromBinary(b)
	if err != nil || back != c {
		t.Fatalf("FromBinary: %v", err)
	}
	pub := testKey(1).Public().(ed25519.PublicKey)
	if err := VerifyKey(pub, back); err != nil {
		t.Fatalf("VerifyKey: %v", err)
	}
	if err := VerifyKey(testKey(2).Public().(ed25519.PublicKey), back); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other key: %v", err)
	}
	if err := VerifyKey(pub[:31], back); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("short key: %v", err)
	}
	for _, bad := range [][]byte{nil, b[:BinaryLen-1], append(bytes.Clone(b), 0), append([]byte{2}, b[1:]...), make([]byte, MaxBinaryLen+1)} {
		if _, err := FromBinary(bad); err == nil {
			t.Errorf("FromBinary(%d bytes) accepted", len(bad))
		}
	}
}
