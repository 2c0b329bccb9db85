package credential

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/ticket"
)

// OutboxTicket is a ticket as its tickets row stands, with its
// credentials, as an outbox issue row carries it to the cluster: the
// whole ticket at its stored version with its code (a cluster that holds
// signing keys takes a version only with a code signed for it).
func OutboxTicket(ctx context.Context, db DB, id [16]byte) (outbox.Ticket, error) {
	var (
		t                     outbox.Ticket
		zones                 []string
		status, c             string
		version               int64
		entries               int
		validFrom, validUntil time.Time
		slotStart, slotEnd    *time.Time
	)
	err := db.QueryRow(ctx, `SELECT product_id, kind, entries, zones, valid_from, valid_until, slot_start, slot_end,
			status, version, code, holder_name, park_id FROM tickets WHERE id = $1`, id).
		Scan(&t.Product, &t.Kind, &entries, &zones, &validFrom, &validUntil, &slotStart, &slotEnd,
			&status, &version, &c, &t.Holder, &t.Park)
	if err != nil {
		return t, fmt.Errorf("ticket %s: %w", ticket.FormatID(id), err)
	}
	t.ID, t.Version, t.Entries = ticket.FormatID(id), uint64(version), uint16(entries)
	t.ValidFrom, t.ValidUntil = validFrom.UTC(), validUntil.UTC()
	if slotStart != nil {
		t.SlotStart = slotStart.UTC()
	}
	if slotEnd != nil {
		t.SlotEnd = slotEnd.UTC()
	}
	if len(zones) > 0 {
		t.Zones = zones
	}
	switch status {
	case "active", "suspended":
		t.Status = status
	default:
		return t, fmt.Errorf("ticket %s is %s: the cluster gets no new version of it", t.ID, status)
	}
	t.Code = c
	if t.Credentials, err = ForTicket(ctx, db, id); err != nil {
		return t, err
	}
	return t, nil
}

// Signer signs codes (keys.Signer).
type Signer interface {
	Sign(code.Claims) (string, error)
}

// NewVersion gives a ticket (locked by the caller) its next version: the
// code is signed anew for it with the validity the row holds now (a
// caller that moves the ticket updates the row first), the row gets the
// version, code and keyID, and the ticket is returned as the outbox issue
// row must carry it. The old code then answers "replaced" at the gates.
func NewVersion(ctx context.Context, tx DB, s Signer, keyID uint8, id [16]byte) (outbox.Ticket, error) {
	var (
		c                     string
		version               int64
		validFrom, validUntil time.Time
	)
	if err := tx.QueryRow(ctx, `SELECT code, version, valid_from, valid_until FROM tickets WHERE id = $1`, id).
		Scan(&c, &version, &validFrom, &validUntil); err != nil {
		return outbox.Ticket{}, fmt.Errorf("ticket %s: %w", ticket.FormatID(id), err)
	}
	if version >= math.MaxUint32 {
		return outbox.Ticket{}, fmt.Errorf("ticket %s cannot get a newer version", ticket.FormatID(id))
	}
	old, err := code.Parse(c)
	if err != nil {
		return outbox.Ticket{}, fmt.Errorf("ticket %s: stored code does not parse: %w", ticket.FormatID(id), err)
	}
	claims := old.Claims()
	if claims.TicketID != id {
		return outbox.Ticket{}, fmt.Errorf("ticket %s: stored code is for ticket %s", ticket.FormatID(id), ticket.FormatID(claims.TicketID))
	}
	version++
	claims.Version = uint32(version)
	claims.ValidFrom, claims.ValidUntil = validFrom.Truncate(time.Minute), validUntil.Truncate(time.Minute)
	if c, err = s.Sign(claims); err != nil {
		return outbox.Ticket{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET version = $2, code = $3, key_id = $4 WHERE id = $1`,
		id, version, c, int(keyID)); err != nil {
		return outbox.Ticket{}, err
	}
	return OutboxTicket(ctx, tx, id)
}
