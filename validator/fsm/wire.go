package fsm

import (
	"encoding/binary"
	"errors"
)

// Decode errors. Every error a decoder returns wraps one of them and names
// the field.
var (
	ErrVersion   = errors.New("fsm: unknown encoding version")
	ErrTruncated = errors.New("fsm: truncated")
	ErrMalformed = errors.New("fsm: malformed")
)

type decodeError struct {
	what, field string
	err         error
}

func (e *decodeError) Error() string {
	return e.err.Error() + ": " + e.what + " " + e.field
}

func (e *decodeError) Unwrap() error { return e.err }

// reader reads a canonical encoding. The first error sticks and later reads
// return zero values, so decoders read straight through and check once.
type reader struct {
	b    []byte
	off  int
	s    string // string(b), made on first str so all strings share one allocation
	what string // what is decoded, for error messages
	err  error
}

func (r *reader) fail(field string, err error) {
	if r.err == nil {
		r.err = &decodeError{what: r.what, field: field, err: err}
	}
}

// header reads the two header bytes: encoding version and type.
func (r *reader) header(version, typ byte) {
	switch {
	case len(r.b) < 1:
		r.fail("version", ErrTruncated)
	case r.b[0] != version:
		r.fail("version", ErrVersion)
	case len(r.b) < 2:
		r.fail("type", ErrTruncated)
	case r.b[1] != typ:
		r.fail("type", ErrMalformed)
	default:
		r.off = 2
	}
}

func (r *reader) byte(field string) byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail(field, ErrTruncated)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// enum reads a byte no greater than max.
func (r *reader) enum(field string, max byte) byte {
	c := r.byte(field)
	if c > max {
		r.fail(field, ErrMalformed)
		return 0
	}
	return c
}

func (r *reader) bool(field string) bool { return r.enum(field, 1) == 1 }

func (r *reader) fixed(dst []byte, field string) {
	if r.err != nil {
		return
	}
	if len(r.b)-r.off < len(dst) {
		r.fail(field, ErrTruncated)
		return
	}
	r.off += copy(dst, r.b[r.off:])
}

func (r *reader) u16(field string) uint16 {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 2 {
		r.fail(field, ErrTruncated)
		return 0
	}
	v := binary.BigEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32(field string) uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 4 {
		r.fail(field, ErrTruncated)
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

// varintLen returns the length of the varint at r.off, failing on truncated,
// overlong or non-minimal encodings.
func (r *reader) varintLen(field string) int {
	if r.err != nil {
		return 0
	}
	rest := r.b[r.off:]
	for n := 0; ; {
		if n == len(rest) {
			r.fail(field, ErrTruncated)
			return 0
		}
		if n == binary.MaxVarintLen64 {
			r.fail(field, ErrMalformed)
			return 0
		}
		c := rest[n]
		n++
		if c < 0x80 {
			if c == 0 && n > 1 { // a minimal varint never ends in 0x00
				r.fail(field, ErrMalformed)
				return 0
			}
			return n
		}
	}
}

// uvarint reads an unsigned varint no greater than max.
func (r *reader) uvarint(field string, max uint64) uint64 {
	n := r.varintLen(field)
	if n == 0 {
		return 0
	}
	v, m := binary.Uvarint(r.b[r.off : r.off+n])
	if m != n || v > max {
		r.fail(field, ErrMalformed)
		return 0
	}
	r.off += n
	return v
}

// varint reads a zigzag signed varint.
func (r *reader) varint(field string) int64 {
	n := r.varintLen(field)
	if n == 0 {
		return 0
	}
	v, m := binary.Varint(r.b[r.off : r.off+n])
	if m != n {
		r.fail(field, ErrMalformed)
		return 0
	}
	r.off += n
	return v
}

// count reads an item count, bounded by max and by how many items of at
// least minEach bytes the rest of the input can hold, so a hostile count
// cannot force a large allocation.
func (r *reader) count(field string, max, minEach int) int {
	c := r.uvarint(field, uint64(max))
	if r.err != nil {
		return 0
	}
	if c > uint64((len(r.b)-r.off)/minEach) {
		r.fail(field, ErrTruncated)
		return 0
	}
	return int(c)
}

// str reads a length-prefixed string of min to max bytes.
func (r *reader) str(field string, min, max int) string {
	n := int(r.uvarint(field, uint64(max)))
	if r.err != nil {
		return ""
	}
	if n < min {
		r.fail(field, ErrMalformed)
		return ""
	}
	if n == 0 {
		return ""
	}
	if len(r.b)-r.off < n {
		r.fail(field, ErrTruncated)
		return ""
	}
	if r.s == "" {
		r.s = string(r.b)
	}
	s := r.s[r.off : r.off+n]
	r.off += n
	return s
}

// bytes reads a length-prefixed byte string of at most max bytes, aliasing
// the input.
func (r *reader) bytes(field string, max int) []byte {
	n := int(r.uvarint(field, uint64(max)))
	if r.err != nil {
		return nil
	}
	if len(r.b)-r.off < n {
		r.fail(field, ErrTruncated)
		return nil
	}
	b := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

func (r *reader) finish() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("end", ErrMalformed) // trailing bytes
	}
	return r.err
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}
