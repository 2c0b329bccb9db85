// Package wire reads the canonical binary encodings of validator/ticket and
// validator/fsm: fixed bytes, minimal varints, bounded counts and
// length-prefixed strings. Canonical means one encoding per value, so a
// replica can compare records byte for byte: a non-minimal varint, a
// length past the end or trailing bytes are errors, never tolerated.
package wire

import (
	"encoding/binary"
	"errors"
)

// Decode errors; every error a Reader returns wraps one of them and names
// what was decoded and the field.
var (
	ErrVersion   = errors.New("unknown encoding version")
	ErrTruncated = errors.New("truncated")
	ErrMalformed = errors.New("malformed")
)

// DecodeError says where decoding failed.
type DecodeError struct {
	Prefix, What, Field string
	Err                 error
}

func (e *DecodeError) Error() string {
	return e.Prefix + " " + e.What + " " + e.Field + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Reader reads an encoding. The first error sticks and later reads return
// zero values, so decoders read straight through and check Err once.
type Reader struct {
	B      []byte
	Off    int
	Prefix string // the decoding package, for error messages ("fsm:")
	What   string // what is decoded, for error messages ("scan record")
	Err    error
	s      string // string(B), made on first Str so all strings share one allocation
}

// Fail records err for field unless an error is recorded already.
func (r *Reader) Fail(field string, err error) {
	if r.Err == nil {
		r.Err = &DecodeError{Prefix: r.Prefix, What: r.What, Field: field, Err: err}
	}
}

// Byte reads one byte.
func (r *Reader) Byte(field string) byte {
	if r.Err != nil {
		return 0
	}
	if r.Off >= len(r.B) {
		r.Fail(field, ErrTruncated)
		return 0
	}
	c := r.B[r.Off]
	r.Off++
	return c
}

// Fixed fills dst.
func (r *Reader) Fixed(dst []byte, field string) {
	if r.Err != nil {
		return
	}
	if len(r.B)-r.Off < len(dst) {
		r.Fail(field, ErrTruncated)
		return
	}
	r.Off += copy(dst, r.B[r.Off:])
}

// U16 reads a big-endian uint16.
func (r *Reader) U16(field string) uint16 {
	var b [2]byte
	r.Fixed(b[:], field)
	return binary.BigEndian.Uint16(b[:])
}

// U32 reads a big-endian uint32.
func (r *Reader) U32(field string) uint32 {
	var b [4]byte
	r.Fixed(b[:], field)
	return binary.BigEndian.Uint32(b[:])
}

// varintLen returns the length of the varint at Off, failing on truncated,
// overlong (over 64 bits) or non-minimal encodings.
func (r *Reader) varintLen(field string) int {
	if r.Err != nil {
		return 0
	}
	rest := r.B[r.Off:]
	for n := 0; ; {
		if n == len(rest) {
			r.Fail(field, ErrTruncated)
			return 0
		}
		if n == binary.MaxVarintLen64 {
			r.Fail(field, ErrMalformed)
			return 0
		}
		c := rest[n]
		n++
		if c < 0x80 {
			if c == 0 && n > 1 { // a minimal varint never ends in 0x00, except 0 itself
				r.Fail(field, ErrMalformed)
				return 0
			}
			return n
		}
	}
}

// Uvarint reads an unsigned varint no greater than max.
func (r *Reader) Uvarint(field string, max uint64) uint64 {
	n := r.varintLen(field)
	if n == 0 {
		return 0
	}
	v, m := binary.Uvarint(r.B[r.Off : r.Off+n])
	if m != n || v > max {
		r.Fail(field, ErrMalformed)
		return 0
	}
	r.Off += n
	return v
}

// Varint reads a zigzag signed varint.
func (r *Reader) Varint(field string) int64 {
	n := r.varintLen(field)
	if n == 0 {
		return 0
	}
	v, m := binary.Varint(r.B[r.Off : r.Off+n])
	if m != n {
		r.Fail(field, ErrMalformed)
		return 0
	}
	r.Off += n
	return v
}

// Count reads an item count, bounded by max and by how many items of at
// least minEach bytes the rest of the input can hold, so a hostile count
// cannot force a large allocation.
func (r *Reader) Count(field string, max, minEach int) int {
	c := r.Uvarint(field, uint64(max))
	if r.Err != nil {
		return 0
	}
	if c > uint64((len(r.B)-r.Off)/minEach) {
		r.Fail(field, ErrTruncated)
		return 0
	}
	return int(c)
}

// Str reads a length-prefixed string of min to max bytes.
func (r *Reader) Str(field string, min, max int) string {
	n := int(r.Uvarint(field, uint64(max)))
	if r.Err != nil {
		return ""
	}
	if n < min {
		r.Fail(field, ErrMalformed)
		return ""
	}
	if n == 0 {
		return ""
	}
	if len(r.B)-r.Off < n {
		r.Fail(field, ErrTruncated)
		return ""
	}
	if r.s == "" {
		r.s = string(r.B)
	}
	s := r.s[r.Off : r.Off+n]
	r.Off += n
	return s
}

// Bytes reads a length-prefixed byte string of at most max bytes, aliasing
// the input.
func (r *Reader) Bytes(field string, max int) []byte {
	n := int(r.Uvarint(field, uint64(max)))
	if r.Err != nil {
		return nil
	}
	if len(r.B)-r.Off < n {
		r.Fail(field, ErrTruncated)
		return nil
	}
	b := r.B[r.Off : r.Off+n : r.Off+n]
	r.Off += n
	return b
}

// Finish fails on trailing bytes and returns the error, if any.
func (r *Reader) Finish() error {
	if r.Err == nil && r.Off != len(r.B) {
		r.Fail("end", ErrMalformed)
	}
	return r.Err
}
