package outbox

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/admitpark/admit/validator/gateapi"
)

// Kinds of outbox rows (the outbox.kind column).
const (
	KindIssue     = "issue"
	KindRevoke    = "revoke"
	KindUpdate    = "update"
	KindConfigure = "configure"
)

// Format is the newest payload format this package reads; it writes
// format 1 (see the package doc).
const Format = 1

// Errors; check with errors.Is.
var (
	// ErrPayload: a payload that does not decode, or lacks what its kind
	// needs.
	ErrPayload = errors.New("outbox: bad payload")
	// ErrFormat: a payload of a format newer than Format, written by newer
	// code.
	ErrFormat = errors.New("outbox: payload format newer than this code reads")
	// ErrInvalidTicket: an issue payload the cluster would refuse.
	ErrInvalidTicket = errors.New("outbox: the cluster would refuse this ticket")
)

// Ticket is the payload of an issue row: a ticket with its current code
// (the cluster keeps only the code's digest) or its digest. Times are
// RFC 3339 in JSON, with the offset they were written with.
//
// Its fields are those of gateapi.TicketJSON, on purpose: the relay sends
// it as gateapi.TicketJSON(t), a conversion the compiler checks, so a
// change of either type stops the build until the relay (and Validate)
// say how the stored format maps to the wire.
type Ticket struct {
	ID         string    `json:"id"` // 32 hex digits
	Version    uint64    `json:"version"`
	Product    string    `json:"product"`
	Kind       string    `json:"kind"`
	Entries    uint16    `json:"entries,omitempty"`
	Zones      []string  `json:"zones,omitempty"`
	ValidFrom  time.Time `json:"valid_from,omitzero"`
	ValidUntil time.Time `json:"valid_until,omitzero"`
	SlotStart  time.Time `json:"slot_start,omitzero"`
	SlotEnd    time.Time `json:"slot_end,omitzero"`
	Status     string    `json:"status,omitempty"`
	Code       string    `json:"code,omitempty"`
	Digest     string    `json:"digest,omitempty"`
	Holder     string    `json:"holder,omitempty"`
	Park       string    `json:"park,omitempty"` // the ticket's park; rows before it have none
	// Credentials that open the ticket besides its code (cards, ID-number
	// hashes, typed ticket numbers); rows before them have none.
	Credentials []gateapi.CredentialJSON `json:"credentials,omitempty"`
}

// Validate reports whether the cluster would accept t (the gate API's own
// check, gateapi.TicketJSON.Ticket), wrapping ErrInvalidTicket: what the
// cluster would refuse must fail when sales writes it, not block the relay.
func (t Ticket) Validate() error {
	j := gateapi.TicketJSON(t)
	if _, err := j.Ticket(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidTicket, err)
	}
	return nil
}

// Change is the payload of a revoke row ({"version":N}) and of an update
// row (also "op", and "valid_until" for extend).
type Change struct {
	Version    uint64    `json:"version"`              // the ticket's version after the change
	Op         string    `json:"op,omitempty"`         // update: suspend, resume, extend (gateapi.Op*)
	ValidUntil time.Time `json:"valid_until,omitzero"` // extend
}

// Configure is the payload of a configure row: the park's time zone,
// zones to upsert, or gates to add (usually one of the three).
type Configure struct {
	TimeZone string `json:"time_zone,omitempty"` // the park's IANA zone: its days at the gates
	Zones    []Zone `json:"zones,omitempty"`
	Gates    []Gate `json:"gates,omitempty"`
	// Park is the park's id: the cluster learns which park it serves.
	Park string `json:"park,omitempty"`
	// Keys are the park's ticket signing public keys (the whole set).
	Keys []Key `json:"keys,omitempty"`
	// IDCardKey keys the hashes of ID numbers (gateapi.IDCardHash), 32
	// bytes in standard base64: the cluster hashes an ID card read at a
	// gate and looks the hash up; it never sees ID numbers at rest.
	IDCardKey string `json:"id_card_key,omitempty"`
}

// Key is a ticket signing public key in a configure payload.
type Key struct {
	ID     uint8  `json:"id"`
	Public string `json:"public"` // Ed25519 public key, standard base64
}

// Zone is a zone in a configure payload: what the cluster keeps of it.
type Zone struct {
	ID   string `json:"id"`
	Cap  uint32 `json:"cap"`  // 0: none
	Warn uint32 `json:"warn"` // 0: none
	// Bit is the zone's bit in ticket codes' zone masks (zones.bit, 0-31);
	// nil when the zone has none (past the 32nd), and in rows written
	// before bits were sent: the cluster then keeps what it knows.
	Bit *int `json:"bit,omitempty"`
}

// Gate is a gate in a configure payload. The cluster makes the gate's
// token itself when it first learns the gate.
type Gate struct {
	ID        string `json:"id"`
	Zone      string `json:"zone"`
	Direction string `json:"direction"` // in, out, both
}

// DecodeTicket decodes an issue payload.
func DecodeTicket(payload []byte) (Ticket, error) {
	var t Ticket
	if err := decode(payload, &t); err != nil {
		return t, err
	}
	if t.ID == "" || t.Version == 0 {
		return t, fmt.Errorf(`%w: an issue payload needs "id" and "version": %s`, ErrPayload, payload)
	}
	return t, nil
}

// DecodeChange decodes a revoke or update payload.
func DecodeChange(payload []byte) (Change, error) {
	var c Change
	if err := decode(payload, &c); err != nil {
		return c, err
	}
	if c.Version == 0 {
		return c, fmt.Errorf(`%w: payload must be {"version":N,...}: %s`, ErrPayload, payload)
	}
	return c, nil
}

// DecodeConfigure decodes a configure payload.
func DecodeConfigure(payload []byte) (Configure, error) {
	var c Configure
	if err := decode(payload, &c); err != nil {
		return c, err
	}
	if c.empty() {
		return c, fmt.Errorf(`%w: payload must hold "time_zone", "zones", "gates", "park", "keys" or "id_card_key": %s`, ErrPayload, payload)
	}
	return c, nil
}

// empty: c tells the cluster nothing.
func (c Configure) empty() bool {
	return len(c.Zones)+len(c.Gates)+len(c.Keys) == 0 && c.TimeZone == "" && c.Park == "" && c.IDCardKey == ""
}

// validateKeys checks that every key is an Ed25519 public key in standard
// base64 and that no id repeats.
func (c Configure) validateKeys() error {
	seen := map[uint8]bool{}
	for _, k := range c.Keys {
		b, err := base64.StdEncoding.DecodeString(k.Public)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: key %d is not an Ed25519 public key in standard base64", ErrPayload, k.ID)
		}
		if seen[k.ID] {
			return fmt.Errorf("%w: key id %d twice", ErrPayload, k.ID)
		}
		seen[k.ID] = true
	}
	return nil
}

// decode checks the payload's format (absent: 1) and decodes it into v.
func decode(payload []byte, v any) error {
	var f struct {
		Format *int `json:"format"`
	}
	if err := json.Unmarshal(payload, &f); err != nil {
		return fmt.Errorf("%w: %v: %s", ErrPayload, err, payload)
	}
	switch {
	case f.Format == nil: // format 1, as every row before formats had
	case *f.Format > Format:
		return fmt.Errorf("%w: format %d (this code reads 1 to %d)", ErrFormat, *f.Format, Format)
	case *f.Format < 1:
		return fmt.Errorf(`%w: "format" %d: %s`, ErrPayload, *f.Format, payload)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: %v: %s", ErrPayload, err, payload)
	}
	return nil
}
