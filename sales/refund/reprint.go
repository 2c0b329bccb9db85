package refund

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/credential"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/ticket"
)

// Reprinted is the result of a reprint.
type Reprinted struct {
	ReprintID  int64  `json:"reprint_id"`
	TicketID   string `json:"ticket_id"`
	OldVersion int64  `json:"old_version"`
	Version    int64  `json:"version"`
	Code       string `json:"code"` // the new code; the old one answers "replaced" at the gate once synced
}

// ticketState is a tickets row as the cluster needs it.
type ticketState struct {
	id                    [16]byte
	product, kind, status string
	entries               int
	zones                 []string
	validFrom, validUntil time.Time
	slotStart, slotEnd    *time.Time
	holder                string
	version               int64
	code                  string
	park                  string
}

// outboxTicket is the ticket as an outbox issue row carries it to the
// cluster, with its current code.
func (t *ticketState) outboxTicket() outbox.Ticket {
	j := outbox.Ticket{
		ID: ticket.FormatID(t.id), Version: uint64(t.version), Product: t.product, Kind: t.kind,
		Entries: uint16(t.entries), ValidFrom: t.validFrom.UTC(), ValidUntil: t.validUntil.UTC(),
		Status: "active", Code: t.code, Holder: t.holder, Park: t.park,
	}
	if len(t.zones) > 0 {
		j.Zones = t.zones
	}
	if t.slotStart != nil {
		j.SlotStart = t.slotStart.UTC()
	}
	if t.slotEnd != nil {
		j.SlotEnd = t.slotEnd.UTC()
	}
	if t.status == "suspended" {
		j.Status = "suspended"
	}
	return j
}

// Reprint gives a ticket a new code (lost or damaged print): the version
// goes up by one, the code is signed anew with the active key, and the
// cluster learns the new code through the outbox. The cashier checks the
// holder's identity; reason says what was checked and why.
func (a *API) Reprint(ctx context.Context, p web.Principal, id [16]byte, reason string) (Reprinted, error) {
	if p.Role != web.RoleAdmin && p.Role != web.RoleCashier {
		return Reprinted{}, forbidden("role %q may not reprint tickets (needs admin or cashier)", p.Role)
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > maxReasonRunes {
		return Reprinted{}, invalid("bad_reason", `"reason" is required (1-%d characters): say why, and how the holder was identified`, maxReasonRunes)
	}
	var out Reprinted
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var t ticketState
		err := tx.QueryRow(ctx, `SELECT t.id, t.product_id, t.kind, t.status, t.entries,
				t.zones, t.valid_from, t.valid_until, t.slot_start, t.slot_end, t.holder_name, t.version, t.code, t.park_id
			FROM tickets t WHERE t.id = $1 FOR UPDATE`, id).
			Scan(&t.id, &t.product, &t.kind, &t.status, &t.entries,
				&t.zones, &t.validFrom, &t.validUntil, &t.slotStart, &t.slotEnd, &t.holder, &t.version, &t.code, &t.park)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("unknown_ticket", "no ticket %s", ticket.FormatID(id))
		}
		if err != nil {
			return err
		}
		switch t.status {
		case "active", "suspended":
		case "refund_pending":
			return problem(ErrTicketState, http.StatusConflict, "refund_under_way",
				"ticket %s has a refund under way; it cannot be reprinted", ticket.FormatID(id))
		default:
			return problem(ErrTicketState, http.StatusConflict, "ticket_not_reprintable",
				"ticket %s is %s; only active or suspended tickets can be reprinted", ticket.FormatID(id), t.status)
		}
		if t.version >= math.MaxUint32 {
			return problem(ErrTicketState, http.StatusConflict, "version_exhausted", "ticket %s cannot get a newer code", ticket.FormatID(id))
		}
		old, err := code.Parse(t.code)
		if err != nil {
			return fmt.Errorf("ticket %s: stored code does not parse: %w", ticket.FormatID(id), err)
		}
		claims := old.Claims()
		if claims.TicketID != t.id {
			return fmt.Errorf("ticket %s: stored code is for ticket %s", ticket.FormatID(id), ticket.FormatID(claims.TicketID))
		}
		signer, err := keys.Active(ctx, tx, a.cfg.KEK)
		if err != nil {
			return err
		}
		out.OldVersion = t.version
		t.version++
		claims.Version = uint32(t.version)
		if t.code, err = signer.Sign(claims); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET version = $2, code = $3, key_id = $4 WHERE id = $1`,
			id, t.version, t.code, int(signer.KeyID)); err != nil {
			return err
		}
		var userID *int64
		if p.UserID != 0 {
			userID = &p.UserID
		}
		// A cashier's reprint counts in their open shift, if any.
		shiftID, _, err := shift.Optional(ctx, tx, p.UserID, p.SalesPointID)
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO reprints (ticket_id, old_version, new_version, reason, user_id, created_at, shift_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, id, out.OldVersion, t.version, reason, userID, a.cfg.Clock.Now(), nullShift(shiftID)).
			Scan(&out.ReprintID); err != nil {
			return err
		}
		j := t.outboxTicket()
		if j.Credentials, err = credential.ForTicket(ctx, tx, id); err != nil {
			return err // a new version replaces the cluster's credential list: send it whole
		}
		if _, err := outbox.WriteIssue(ctx, tx, j, time.Time{}); err != nil {
			return err
		}
		out.TicketID, out.Version, out.Code = ticket.FormatID(id), t.version, t.code
		return audit.Record(ctx, tx, p, "ticket.reprint", "ticket", out.TicketID, map[string]any{
			"old_version": out.OldVersion, "version": t.version, "key_id": signer.KeyID, "reason": reason,
			"reprint_id": out.ReprintID,
		})
	})
	return out, err
}
