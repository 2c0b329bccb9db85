package fsm

import (
	"encoding/binary"
	"errors"

	"github.com/admitpark/admit/validator/internal/wire"
)

// Decode errors. Every error a decoder returns wraps one of them and names
// what was decoded and the field. They are validator/ticket's too.
var (
	ErrVersion   = wire.ErrVersion
	ErrTruncated = wire.ErrTruncated
	ErrMalformed = wire.ErrMalformed
)

// ErrNotText: an encoder was given a name, scan ID or other text with a
// control character or invalid UTF-8 (ticket.CleanText). Only encoders
// check it; apply decides old log entries as it always did.
var ErrNotText = errors.New("fsm: not clean text (control character or invalid UTF-8)")

// reader reads this package's encodings (wire.Reader, plus headers and
// enums).
type reader struct{ wire.Reader }

// newReader reads b from off; what names it in errors.
func newReader(b []byte, off int, what string) reader {
	return reader{wire.Reader{B: b, Off: off, Prefix: "fsm:", What: what}}
}

// header reads the two header bytes: encoding version and type.
func (r *reader) header(version, typ byte) {
	switch {
	case len(r.B) < 1:
		r.Fail("version", ErrTruncated)
	case r.B[0] != version:
		r.Fail("version", ErrVersion)
	case len(r.B) < 2:
		r.Fail("type", ErrTruncated)
	case r.B[1] != typ:
		r.Fail("type", ErrMalformed)
	default:
		r.Off = 2
	}
}

func (r *reader) enum(field string, max byte) byte {
	c := r.Byte(field)
	if c > max {
		r.Fail(field, ErrMalformed)
		return 0
	}
	return c
}

func (r *reader) bool(field string) bool { return r.enum(field, 1) == 1 }

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
