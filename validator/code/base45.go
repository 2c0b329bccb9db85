package code

// Base45 (RFC 9285), written here because the standard library has none and
// the decoder must be strict: every text form maps to exactly one byte string
// and back, so a parsed code re-encodes to the text that was scanned.

const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Value maps a character to its value; 0xFF marks a character outside
// the alphabet (including lower case, which QR alphanumeric mode lacks).
var base45Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := 0; i < len(base45Alphabet); i++ {
		t[base45Alphabet[i]] = byte(i)
	}
	return t
}()

// base45EncodedLen is the text length for n bytes.
func base45EncodedLen(n int) int { return n/2*3 + n%2*2 }

// base45DecodedLen is the byte length for n characters; ok is false for a
// length no encoder produces (n%3 == 1).
func base45DecodedLen(n int) (int, bool) {
	switch n % 3 {
	case 0:
		return n / 3 * 2, true
	case 2:
		return n/3*2 + 1, true
	}
	return 0, false
}

// base45Append appends the Base45 text of src to dst.
func base45Append(dst, src []byte) []byte {
	for len(src) >= 2 {
		n := int(src[0])<<8 | int(src[1])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/2025])
		src = src[2:]
	}
	if len(src) == 1 {
		n := int(src[0])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45])
	}
	return dst
}

// base45Encode returns the Base45 text of src.
func base45Encode(src []byte) string {
	return string(base45Append(make([]byte, 0, base45EncodedLen(len(src))), src))
}

// base45Decode decodes src into dst, which must hold base45DecodedLen(len(src))
// bytes, and returns the number of bytes written. It is generic so that the
// scan path can decode a string or a network buffer without copying either.
// Errors are the prebuilt ones below so a flood of garbage costs no allocation.
func base45Decode[T string | []byte](dst []byte, src T) (int, error) {
	n, ok := base45DecodedLen(len(src))
	if !ok {
		return 0, errB45Length
	}
	if len(dst) < n {
		return 0, errB45Length
	}
	j := 0
	for i := 0; i+3 <= len(src); i += 3 {
		c, d, e := base45Value[src[i]], base45Value[src[i+1]], base45Value[src[i+2]]
		// Valid values are < 64, so the OR is 0xFF exactly when one is invalid.
		if c|d|e == 0xFF {
			return 0, errB45Char
		}
		v := int(c) + int(d)*45 + int(e)*2025
		if v > 0xFFFF {
			return 0, errB45Range
		}
		dst[j], dst[j+1] = byte(v>>8), byte(v)
		j += 2
	}
	if len(src)%3 == 2 {
		i := len(src) - 2
		c, d := base45Value[src[i]], base45Value[src[i+1]]
		if c|d == 0xFF {
			return 0, errB45Char
		}
		v := int(c) + int(d)*45
		if v > 0xFF {
			return 0, errB45Range
		}
		dst[j] = byte(v)
		j++
	}
	return j, nil
}

// base45DecodeString is the allocating form, for tests and tools.
func base45DecodeString(s string) ([]byte, error) {
	n, ok := base45DecodedLen(len(s))
	if !ok {
		return nil, errB45Length
	}
	dst := make([]byte, n)
	if _, err := base45Decode(dst, s); err != nil {
		return nil, err
	}
	return dst, nil
}
