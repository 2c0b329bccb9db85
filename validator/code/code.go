package code

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"time"
)

// Sentinel errors; every error returned by this package wraps one of them.
var (
	// ErrMalformed: the text is not a well-formed code (bad character, bad
	// Base45 group, wrong length for its format, impossible field values).
	ErrMalformed = errors.New("code: malformed")
	// ErrTooLong: the text is longer than its format allows, or over 255
	// bytes (then rejected before decoding).
	ErrTooLong = errors.New("code: too long")
	// ErrUnsupportedVersion: the format version byte is not one we know.
	ErrUnsupportedVersion = errors.New("code: unsupported format version")
	// ErrUnknownKey: no key with the code's (or claims') key id.
	ErrUnknownKey = errors.New("code: unknown key id")
	// ErrBadSignature: the signature does not match the payload and key.
	ErrBadSignature = errors.New("code: bad signature")
	// ErrInvalidClaims: claims that cannot be signed (see Sign).
	ErrInvalidClaims = errors.New("code: invalid claims")
	// ErrInvalidKey: a key of the wrong size or an inconsistent private key.
	ErrInvalidKey = errors.New("code: invalid key")
	// ErrKeyConflict: a different key is already registered under that id.
	ErrKeyConflict = errors.New("code: key id already in use")
)

// Prebuilt wrapped errors for the scan path: rejecting garbage must not
// allocate, since a gate may see floods of it.
var (
	errB45Length    = wrap(ErrMalformed, "Base45 length leaves a single character")
	errB45Char      = wrap(ErrMalformed, "character outside the QR alphanumeric set")
	errB45Range     = wrap(ErrMalformed, "Base45 group value out of range")
	errEmpty        = wrap(ErrMalformed, "empty")
	errShort        = wrap(ErrMalformed, "too short for its format version")
	errLong         = wrap(ErrTooLong, "longer than its format version allows")
	errInput        = wrap(ErrTooLong, "input exceeds the maximum length")
	errVersion      = wrap(ErrUnsupportedVersion, "unknown format version byte")
	errValidRange   = wrap(ErrMalformed, "valid-from after valid-until")
	errBadSignature = wrap(ErrBadSignature, "signature does not verify")
)

type wrapped struct {
	err error
	msg string
}

func wrap(err error, msg string) error { return &wrapped{err, msg} }
func (w *wrapped) Error() string       { return w.err.Error() + ": " + w.msg }
func (w *wrapped) Unwrap() error       { return w.err }

const (
	// FormatVersion is the first byte of every code this package issues.
	FormatVersion = 1
	// EncodedLen is the length in characters of a format-1 code.
	EncodedLen = 152

	payloadLen = 37
	binLen     = payloadLen + ed25519.SignatureSize // 101
	// maxInputLen bounds what Parse looks at, leaving room for a longer
	// future format to be reported as unsupported rather than too long.
	maxInputLen = 255
	maxBinLen   = maxInputLen / 3 * 2
)

// signContext is prefixed to the payload before signing so a code key's
// signature can never be mistaken for one over some other protocol's bytes.
const signContext = "admit/code\x00"

// Claims is what a code asserts about a ticket.
type Claims struct {
	KeyID    uint8    // which signing key; keys rotate
	TicketID [16]byte // random ticket id
	Version  uint32   // ticket version; a reprint gets a higher one
	Kind     uint8    // entitlement kind, opaque here (see validator/ticket)
	Entries  uint16   // entries or persons; 0 where not applicable
	// ValidFrom and ValidUntil are whole UTC minutes; the zero time means an
	// open start or end. Their inclusive/exclusive meaning belongs to callers.
	ValidFrom  time.Time
	ValidUntil time.Time
	ZoneMask   uint32 // bit i = zone i of the park's configuration
}

// Digest identifies one exact code (payload and signature). The cluster
// stores the digest of a ticket's current code; any other code for the same
// ticket (forged, or superseded by a reprint) has a different digest.
type Digest [16]byte

// String returns the digest in lower-case hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Code is a parsed code: its binary form, structurally checked but not
// signature-verified. It is a plain value so parsing does not allocate. The
// zero Code is not a valid code.
type Code struct {
	b [binLen]byte
}

// Layout offsets of format 1; see doc.go.
const (
	offFormat  = 0
	offKeyID   = 1
	offTicket  = 2
	offVersion = 18
	offKind    = 22
	offEntries = 23
	offFrom    = 25
	offUntil   = 29
	offZones   = 33
	offSig     = payloadLen
)

// KeyID returns the id of the key the code claims to be signed with.
func (c Code) KeyID() uint8 { return c.b[offKeyID] }

// TicketID returns the ticket id.
func (c Code) TicketID() (id [16]byte) {
	copy(id[:], c.b[offTicket:offVersion])
	return id
}

// TicketVersion returns the ticket version.
func (c Code) TicketVersion() uint32 { return binary.BigEndian.Uint32(c.b[offVersion:]) }

// Claims decodes all fields. Times come back in UTC.
func (c Code) Claims() Claims {
	return Claims{
		KeyID:      c.b[offKeyID],
		TicketID:   c.TicketID(),
		Version:    c.TicketVersion(),
		Kind:       c.b[offKind],
		Entries:    binary.BigEndian.Uint16(c.b[offEntries:]),
		ValidFrom:  fromMinutes(binary.BigEndian.Uint32(c.b[offFrom:])),
		ValidUntil: fromMinutes(binary.BigEndian.Uint32(c.b[offUntil:])),
		ZoneMask:   binary.BigEndian.Uint32(c.b[offZones:]),
	}
}

// Digest returns the first 16 bytes of SHA-256 over the whole binary code.
func (c Code) Digest() (d Digest) {
	sum := sha256.Sum256(c.b[:])
	copy(d[:], sum[:])
	return d
}

// String returns the text form; for a parsed code it is the text parsed.
func (c Code) String() string { return base45Encode(c.b[:]) }

// Parse decodes and structurally checks a code's text. It does not verify
// the signature (see KeySet.Verify): the online path instead compares
// Digest with the digest the cluster stores. Parse never panics, rejects
// input over 255 bytes without reading it, and does not allocate.
func Parse(s string) (Code, error) { return parse(s) }

// ParseBytes is Parse for a byte slice (a network buffer), without the
// allocation a string conversion would cost.
func ParseBytes(b []byte) (Code, error) { return parse(b) }

func parse[T string | []byte](s T) (Code, error) {
	var c Code
	if len(s) == 0 {
		return c, errEmpty
	}
	if len(s) > maxInputLen {
		return c, errInput
	}
	var buf [maxBinLen]byte
	n, err := base45Decode(buf[:], s)
	if err != nil {
		return c, err
	}
	if buf[offFormat] != FormatVersion {
		return c, errVersion
	}
	switch {
	case n < binLen:
		return c, errShort
	case n > binLen:
		return c, errLong
	}
	copy(c.b[:], buf[:binLen])
	from := binary.BigEndian.Uint32(c.b[offFrom:])
	until := binary.BigEndian.Uint32(c.b[offUntil:])
	if from != 0 && until != 0 && from > until {
		return Code{}, errValidRange
	}
	return c, nil
}

// BinaryLen is the length in bytes of a format-1 code's binary form.
const BinaryLen = binLen

// MaxBinaryLen bounds the binary form of any code format this package may
// parse (what 255 characters of Base45 hold).
const MaxBinaryLen = maxBinLen

// Binary returns the code's binary form (BinaryLen bytes), which FromBinary
// reads back: what the cluster's log carries so that the state machine can
// verify a code without its text.
func (c Code) Binary() []byte { return append([]byte(nil), c.b[:]...) }

// AppendBinary appends the code's binary form to dst.
func (c Code) AppendBinary(dst []byte) []byte { return append(dst, c.b[:]...) }

// FromBinary checks a code's binary form as Parse checks its text (format
// version, length, validity range) and returns the code. It does not verify
// the signature and does not allocate.
func FromBinary(b []byte) (Code, error) {
	var c Code
	switch {
	case len(b) == 0:
		return c, errEmpty
	case len(b) > maxBinLen:
		return c, errInput
	case b[offFormat] != FormatVersion:
		return c, errVersion
	case len(b) < binLen:
		return c, errShort
	case len(b) > binLen:
		return c, errLong
	}
	copy(c.b[:], b)
	from := binary.BigEndian.Uint32(c.b[offFrom:])
	until := binary.BigEndian.Uint32(c.b[offUntil:])
	if from != 0 && until != 0 && from > until {
		return Code{}, errValidRange
	}
	return c, nil
}

// VerifyKey checks the code's signature against pub, the public key of the
// code's KeyID (the caller picks it): ErrBadSignature when it does not
// verify, ErrInvalidKey when pub is not an Ed25519 public key. Ed25519
// verification is deterministic, so replicas agree on the answer.
func VerifyKey(pub ed25519.PublicKey, c Code) error {
	if len(pub) != ed25519.PublicKeySize {
		return wrap(ErrInvalidKey, "public key has the wrong size")
	}
	if c.b[offFormat] != FormatVersion {
		return errVersion
	}
	var msg [len(signContext) + payloadLen]byte
	copy(msg[copy(msg[:], signContext):], c.b[:payloadLen])
	if !ed25519.Verify(pub, msg[:], c.b[offSig:]) {
		return errBadSignature
	}
	return nil
}

// DigestOf parses s and returns its digest.
func DigestOf(s string) (Digest, error) {
	c, err := Parse(s)
	if err != nil {
		return Digest{}, err
	}
	return c.Digest(), nil
}

// Sign encodes c, signs it with priv and returns the text form. priv must
// belong to c.KeyID; KeySet.Sign picks it by id instead. Non-zero times must
// be whole minutes after the Unix epoch (use t.Truncate(time.Minute)) and
// ValidFrom must not be after ValidUntil: a code must say exactly what was
// asked, so nothing is rounded silently.
func Sign(priv ed25519.PrivateKey, c Claims) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", wrap(ErrInvalidKey, "private key has the wrong size")
	}
	var b [binLen]byte
	if err := c.marshal(&b); err != nil {
		return "", err
	}
	var msg [len(signContext) + payloadLen]byte
	copy(msg[copy(msg[:], signContext):], b[:payloadLen])
	copy(b[offSig:], ed25519.Sign(priv, msg[:]))
	return base45Encode(b[:]), nil
}

func (c *Claims) marshal(b *[binLen]byte) error {
	from, err := toMinutes(c.ValidFrom)
	if err != nil {
		return err
	}
	until, err := toMinutes(c.ValidUntil)
	if err != nil {
		return err
	}
	if from != 0 && until != 0 && from > until {
		return wrap(ErrInvalidClaims, "ValidFrom after ValidUntil")
	}
	b[offFormat] = FormatVersion
	b[offKeyID] = c.KeyID
	copy(b[offTicket:], c.TicketID[:])
	binary.BigEndian.PutUint32(b[offVersion:], c.Version)
	b[offKind] = c.Kind
	binary.BigEndian.PutUint16(b[offEntries:], c.Entries)
	binary.BigEndian.PutUint32(b[offFrom:], from)
	binary.BigEndian.PutUint32(b[offUntil:], until)
	binary.BigEndian.PutUint32(b[offZones:], c.ZoneMask)
	return nil
}

// toMinutes maps the zero time to 0 and anything else to Unix minutes,
// refusing what would not survive the round trip.
func toMinutes(t time.Time) (uint32, error) {
	if t.IsZero() {
		return 0, nil
	}
	sec := t.Unix()
	if t.Nanosecond() != 0 || sec%60 != 0 {
		return 0, wrap(ErrInvalidClaims, "time is not a whole minute")
	}
	// Minute 0 is taken by "open", so the epoch itself is not representable.
	if m := sec / 60; m > 0 && m <= math.MaxUint32 {
		return uint32(m), nil
	}
	return 0, wrap(ErrInvalidClaims, "time outside 1970-01-01 00:01 .. year 10136 UTC")
}

func fromMinutes(m uint32) time.Time {
	if m == 0 {
		return time.Time{}
	}
	return time.Unix(int64(m)*60, 0).UTC()
}
