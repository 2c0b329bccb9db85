package ticket

import "github.com/admitpark/admit/validator/internal/wire"

// decoder reads this package's encodings (wire.Reader, plus the version
// byte).
type decoder struct{ wire.Reader }

func newDecoder(b []byte, what string) decoder {
	return decoder{wire.Reader{B: b, Prefix: "ticket: decode", What: what}}
}

func (d *decoder) version(want byte) {
	if len(d.B) == 0 {
		d.Fail("version", ErrTruncated)
		return
	}
	if d.B[0] != want {
		d.Fail("version", ErrVersion)
		return
	}
	d.Off = 1
}
