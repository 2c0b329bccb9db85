package gateapi

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/ticket"
)

// TicketJSON is a ticket in the API. Times are RFC 3339; a ticket is sent
// with its current code (the node keeps only the code's digest) or digest.
type TicketJSON struct {
	ID         string    `json:"id"`
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
	// Park is the park the ticket belongs to; a cluster that knows its
	// park refuses a ticket of another. Empty: not checked.
	Park string `json:"park,omitempty"`
	// Credentials open this ticket besides its code: each binding is
	// replaced as a whole by a newer version. For CredentialIDCard the
	// value is the keyed hash (hex), never the ID number.
	Credentials []CredentialJSON `json:"credentials,omitempty"`
}

// CredentialJSON binds a credential to a ticket.
type CredentialJSON struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// ErrNotText: a text field holds a control character or invalid UTF-8
// (ticket.CleanText); the error names the field.
var ErrNotText = errors.New("must be printable UTF-8 text (no control characters, no invalid bytes)")

// Ticket converts and validates.
func (j *TicketJSON) Ticket() (ticket.Ticket, error) {
	var t ticket.Ticket
	var err error
	if t.ID, err = ticket.ParseID(j.ID); err != nil {
		return t, fmt.Errorf(`"id": %v`, err)
	}
	if j.Version == 0 {
		return t, errors.New(`"version" must be at least 1`)
	}
	if t.Kind, err = ticket.ParseKind(j.Kind); err != nil {
		return t, fmt.Errorf(`"kind": %v`, err)
	}
	t.Status = ticket.Active
	if j.Status != "" {
		if t.Status, err = ticket.ParseStatus(j.Status); err != nil {
			return t, fmt.Errorf(`"status": %v`, err)
		}
	}
	switch {
	case j.Code != "" && j.Digest != "":
		return t, errors.New(`send "code" or "digest", not both`)
	case j.Code != "":
		c, err := code.Parse(j.Code)
		if err != nil {
			return t, fmt.Errorf(`"code": %v`, err)
		}
		if c.TicketID() != t.ID || uint64(c.TicketVersion()) != j.Version {
			return t, errors.New(`"code" was made for another ticket id or version`)
		}
		t.Digest = c.Digest()
	case j.Digest != "":
		b, err := hex.DecodeString(j.Digest)
		if err != nil || len(b) != len(t.Digest) {
			return t, errors.New(`"digest" must be 32 hex digits`)
		}
		copy(t.Digest[:], b)
	default:
		return t, errors.New(`"code" or "digest" is required`)
	}
	t.Version, t.Product, t.Entries, t.Zones, t.Holder = j.Version, j.Product, j.Entries, j.Zones, j.Holder
	t.ValidFrom, t.ValidUntil = unixMs(j.ValidFrom), unixMs(j.ValidUntil)
	t.SlotStart, t.SlotEnd = unixMs(j.SlotStart), unixMs(j.SlotEnd)
	if !ticket.ValidName(t.Product) {
		return t, fmt.Errorf(`"product" must be 1-%d bytes`, ticket.MaxNameLen)
	}
	// Text that reaches the replicated log must be clean (see
	// ticket.CleanText): the gate API refuses it here, naming the field.
	if !ticket.CleanText(t.Product) {
		return t, fmt.Errorf(`"product" %w`, ErrNotText)
	}
	if !ticket.CleanText(t.Holder) {
		return t, fmt.Errorf(`"holder" %w`, ErrNotText)
	}
	for i, z := range t.Zones {
		if !ticket.CleanText(z) {
			return t, fmt.Errorf(`"zones[%d]" %w`, i, ErrNotText)
		}
	}
	if err := t.Validate(); err != nil {
		return t, err
	}
	return t, nil
}

// IssueRequest is the body of POST /v1/tickets/issue.
type IssueRequest struct {
	Tickets []TicketJSON `json:"tickets"`
}

// IssueResponse says, per ticket in request order, "applied", "stale"
// (the cluster already has this version or a newer one), or a refusal:
// "unsigned", "bad_signature", "wrong_park" (see IssueRefused).
type IssueResponse struct {
	Outcomes []string `json:"outcomes"`
	Applied  int      `json:"applied"`
	Stale    int      `json:"stale"`
	Refused  int      `json:"refused,omitempty"`
}

// ZoneUseJSON is a ticket's use of one zone.
type ZoneUseJSON struct {
	Zone           string    `json:"zone"`
	Used           uint16    `json:"used"`
	Inside         uint16    `json:"inside"`
	FirstEntryAt   time.Time `json:"first_entry_at,omitzero"`
	FirstEntryGate string    `json:"first_entry_gate,omitempty"`
	LastEntryAt    time.Time `json:"last_entry_at,omitzero"`
	LastEntryGate  string    `json:"last_entry_gate,omitempty"`
}

// TicketView answers GET /v1/tickets/{id or code}.
type TicketView struct {
	Ticket       TicketJSON    `json:"ticket"`
	Zones        []ZoneUseJSON `json:"zones"`
	Used         bool          `json:"used"`
	CodeCurrent  *bool         `json:"code_current,omitempty"` // asked by code: is it the ticket's current one?
	AppliedIndex uint64        `json:"applied_index"`          // the node's state is as of this log index
}

// ChangeRequest is the body of POST /v1/tickets/{id}/revoke and /update.
type ChangeRequest struct {
	Version    uint64    `json:"version"`              // the ticket's version after the change; must be newer
	Op         string    `json:"op,omitempty"`         // update: suspend, resume, extend
	ValidUntil time.Time `json:"valid_until,omitzero"` // extend
}

// ChangeResponse answers a revoke or update.
type ChangeResponse struct {
	Outcome        string    `json:"outcome"` // applied, stale, unknown, revoked, already_used, conflict
	FirstEntryAt   time.Time `json:"first_entry_at,omitzero"`
	FirstEntryGate string    `json:"first_entry_gate,omitempty"`
	Zone           string    `json:"zone,omitempty"`
}
