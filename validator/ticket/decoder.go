package ticket

import "encoding/binary"

// decoder reads a canonical encoding. The first error sticks and later reads
// return zero values, so decode functions read straight through and check
// once at the end.
type decoder struct {
	b    []byte
	off  int
	s    string // string(b), made on first use so all strings share one allocation
	what string // "ticket", "state", "zone": for error messages
	err  error
}

type decodeError struct {
	what, field string
	err         error
}

func (e *decodeError) Error() string {
	return "ticket: decode " + e.what + " " + e.field + ": " + e.err.Error()
}

func (e *decodeError) Unwrap() error { return e.err }

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = &decodeError{what: d.what, field: field, err: err}
	}
}

func (d *decoder) version(want byte) {
	if len(d.b) == 0 {
		d.fail("version", ErrTruncated)
		return
	}
	if d.b[0] != want {
		d.fail("version", ErrVersion)
		return
	}
	d.off = 1
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail(field, ErrTruncated)
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) fixed(dst []byte, field string) {
	if d.err != nil {
		return
	}
	if len(d.b)-d.off < len(dst) {
		d.fail(field, ErrTruncated)
		return
	}
	d.off += copy(dst, d.b[d.off:])
}

// varintLen returns the length of the varint at d.off, failing on truncated,
// overlong (>64 bit) or non-minimal encodings.
func (d *decoder) varintLen(field string) int {
	if d.err != nil {
		return 0
	}
	rest := d.b[d.off:]
	n := 0
	for {
		if n == len(rest) {
			d.fail(field, ErrTruncated)
			return 0
		}
		if n == binary.MaxVarintLen64 {
			d.fail(field, ErrMalformed)
			return 0
		}
		c := rest[n]
		n++
		if c < 0x80 {
			// A minimal varint never ends in a zero byte, except 0 itself.
			if c == 0 && n > 1 {
				d.fail(field, ErrMalformed)
				return 0
			}
			return n
		}
	}
}

// uvarint reads an unsigned varint no greater than max.
func (d *decoder) uvarint(field string, max uint64) uint64 {
	n := d.varintLen(field)
	if n == 0 {
		return 0
	}
	v, m := binary.Uvarint(d.b[d.off : d.off+n])
	if m != n || v > max {
		d.fail(field, ErrMalformed)
		return 0
	}
	d.off += n
	return v
}

// varint reads a zigzag signed varint.
func (d *decoder) varint(field string) int64 {
	n := d.varintLen(field)
	if n == 0 {
		return 0
	}
	v, m := binary.Varint(d.b[d.off : d.off+n])
	if m != n {
		d.fail(field, ErrMalformed)
		return 0
	}
	d.off += n
	return v
}

// count reads an item count, bounded by max and by how many items of at
// least minEach bytes the rest of the input could hold.
func (d *decoder) count(field string, max, minEach int) int {
	c := d.uvarint(field, uint64(max))
	if d.err != nil {
		return 0
	}
	if c > uint64((len(d.b)-d.off)/minEach) {
		d.fail(field, ErrTruncated)
		return 0
	}
	return int(c)
}

// str reads a length-prefixed string of min to max bytes.
func (d *decoder) str(field string, min, max int) string {
	n := int(d.uvarint(field, uint64(max)))
	if d.err != nil {
		return ""
	}
	if n < min {
		d.fail(field, ErrMalformed)
		return ""
	}
	if n == 0 {
		return ""
	}
	if len(d.b)-d.off < n {
		d.fail(field, ErrTruncated)
		return ""
	}
	if d.s == "" {
		d.s = string(d.b)
	}
	s := d.s[d.off : d.off+n]
	d.off += n
	return s
}

func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("end", ErrMalformed) // trailing bytes
	}
	return d.err
}
