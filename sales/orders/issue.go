package orders

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/credential"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/revenue"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/ticket"
)

// markPaid marks a locked pending order paid and issues its tickets in the
// same transaction; it returns how many tickets it issued.
func (a *API) markPaid(ctx context.Context, tx DB, p web.Principal, o orderRow, paymentID int64, now time.Time) (int, error) {
	var paidBy *int64 // the payment refunds go back through; none when settled on account
	if paymentID != 0 {
		paidBy = &paymentID
	}
	tag, err := tx.Exec(ctx, `UPDATE orders SET status = 'paid', paid_at = $2, paid_payment_id = $3
		WHERE id = $1 AND status = 'pending'`, o.ID, now, paidBy)
	if err != nil {
		return 0, err
	}
	if tag.RowsAffected() != 1 {
		return 0, fmt.Errorf("order %s is no longer pending", o.Number)
	}
	if err := revenue.Sale(ctx, tx, o.ID, now); err != nil {
		return 0, fmt.Errorf("order %s: revenue: %w", o.Number, err)
	}
	if err := audit.Record(ctx, tx, p, "order.paid", "order", o.Number,
		map[string]any{"order_id": o.ID, "payment_id": paymentID, "total_minor": o.TotalMinor, "currency": o.Currency}); err != nil {
		return 0, err
	}
	return a.issueTickets(ctx, tx, p, o, now)
}

type issueLine struct {
	id, slotID   int64
	productID    string
	day          time.Time
	quantity     int
	unitPrice    int64
	kind         string
	entries      int
	zones        []string
	validDays    int
	starts, ends pgtype.Time
	cardID       int64
	cardNumber   string
	cardStatus   string
	zoneMask     int64 // the product's zones as bits (catalog.Zone.Bit); 0: every zone
}

// issueTickets writes the tickets of a paid order and, for each, an outbox
// issue row (outbox.WriteIssue, payload outbox.Ticket). One ticket per
// unit; a group product's ticket admits its persons (entries) on one code.
func (a *API) issueTickets(ctx context.Context, tx DB, p web.Principal, o orderRow, now time.Time) (int, error) {
	signer, err := keys.Active(ctx, tx, a.cfg.KEK)
	if err != nil {
		return 0, err
	}
	park, err := a.readPark(ctx, tx, o.ParkID)
	if err != nil {
		return 0, err
	}
	holders, err := loadHolders(ctx, tx, o.ID)
	if err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, `SELECT l.id, coalesce(l.slot_id, 0), l.product_id, l.visit_date, l.quantity, l.unit_price_minor,
			p.kind, p.entries, p.zones, p.valid_days, s.starts, s.ends, coalesce(l.card_id, 0), coalesce(c.number, ''), coalesce(c.status, ''),
			(SELECT CASE WHEN bool_or(z.bit IS NULL) THEN 0 ELSE coalesce(bit_or(1::bigint << z.bit), 0) END
				FROM zones z WHERE z.park_id = p.park_id AND z.id = ANY(p.zones))
		FROM order_lines l JOIN products p ON p.id = l.product_id LEFT JOIN time_slots s ON s.id = l.slot_id
			LEFT JOIN cards c ON c.id = l.card_id
		WHERE l.order_id = $1 ORDER BY l.id`, o.ID)
	if err != nil {
		return 0, err
	}
	var lines []issueLine
	for rows.Next() {
		var l issueLine
		if err := rows.Scan(&l.id, &l.slotID, &l.productID, &l.day, &l.quantity, &l.unitPrice,
			&l.kind, &l.entries, &l.zones, &l.validDays, &l.starts, &l.ends, &l.cardID, &l.cardNumber, &l.cardStatus,
			&l.zoneMask); err != nil {
			rows.Close()
			return 0, err
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var ids []string
	for _, l := range lines {
		if l.cardID != 0 && l.cardStatus != "active" && l.cardStatus != "lost" {
			return 0, web.Problemf(http.StatusConflict, "card_not_active",
				"order %s binds card %s, which is %s now: cancel the order and sell the pass on the card that replaced it", o.Number, l.cardNumber, l.cardStatus)
		}
		hs := holders[l.id]
		if len(hs) != 0 && len(hs) != l.quantity {
			return 0, fmt.Errorf("order %s line %d: %d holders for %d tickets", o.Number, l.id, len(hs), l.quantity)
		}
		for i := 0; i < l.quantity; i++ {
			var h holder
			if len(hs) > 0 {
				h = hs[i]
			}
			id, err := a.issueOne(ctx, tx, o, park, l, h, signer, now)
			if err != nil {
				return 0, fmt.Errorf("order %s line %d ticket %d: %w", o.Number, l.id, i+1, err)
			}
			ids = append(ids, id)
		}
	}
	if err := deleteHolders(ctx, tx, o.ID); err != nil {
		return 0, err
	}
	return len(ids), audit.Record(ctx, tx, p, "tickets.issue", "order", o.Number,
		map[string]any{"order_id": o.ID, "tickets": ids, "key_id": signer.KeyID})
}

// newTicketID is a random (version 4) UUID.
func newTicketID() ([16]byte, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return id, err
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id, nil
}

func (a *API) issueOne(ctx context.Context, tx DB, o orderRow, park parkInfo, l issueLine, h holder, signer *keys.Signer, now time.Time) (string, error) {
	kind, err := ticket.ParseKind(l.kind)
	if err != nil {
		return "", err
	}
	id, err := newTicketID()
	if err != nil {
		return "", err
	}
	y, m, d := l.day.Date()
	from := time.Date(y, m, d, 0, 0, 0, 0, park.Loc).Truncate(time.Minute)
	until := time.Date(y, m, d+l.validDays, 0, 0, 0, 0, park.Loc).Truncate(time.Minute)
	var slotStart, slotEnd time.Time
	if l.starts.Valid && l.ends.Valid {
		slotStart = clockOn(l.day, time.Duration(l.starts.Microseconds)*time.Microsecond, park.Loc)
		slotEnd = clockOn(l.day, time.Duration(l.ends.Microseconds)*time.Microsecond, park.Loc)
	}
	if l.entries < 0 || l.entries > 0xffff {
		return "", fmt.Errorf("product %s: entries %d out of range", l.productID, l.entries)
	}
	// The code carries what an offline gate checks: the zones as a mask
	// and one window, validity and slot together (the rules apply both to
	// every entry, so their intersection decides the same).
	codeFrom, codeUntil := codeWindow(from, until, slotStart, slotEnd)
	c, err := signer.Sign(code.Claims{TicketID: id, Version: 1, Kind: uint8(kind), Entries: uint16(l.entries),
		ValidFrom: codeFrom, ValidUntil: codeUntil, ZoneMask: uint32(l.zoneMask)})
	if err != nil {
		return "", err
	}
	status := ticket.Active.String()
	if l.cardStatus == "lost" { // lost between order and payment: the pass starts suspended
		status = ticket.Suspended.String()
	}
	tj := outbox.Ticket{
		ID: ticket.FormatID(id), Version: 1, Product: l.productID, Kind: kind.String(), Entries: uint16(l.entries),
		Zones: l.zones, ValidFrom: from, ValidUntil: until, SlotStart: slotStart, SlotEnd: slotEnd,
		Status: status, Code: c, Holder: h.Name, Park: o.ParkID,
	}
	if len(tj.Zones) == 0 {
		tj.Zones = nil
	}
	if h.IDCardHash != "" {
		// The cluster must hold the key before a ticket it hashes for.
		if err := credential.EnsureGateKey(ctx, tx, o.ParkID, a.gateKey); err != nil {
			return "", err
		}
	}
	uid := pgtype.UUID{Bytes: id, Valid: true}
	var number string
	for try := 0; ; try++ {
		if try == 8 {
			return "", errors.New("no free ticket number after 8 tries")
		}
		if number, err = credential.NewTicketNumber(); err != nil {
			return "", err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO tickets (id, order_id, order_line_id, park_id, product_id, kind, entries, zones,
				visit_date, valid_from, valid_until, slot_start, slot_end, holder_name, holder_id_hash, holder_id_masked,
				status, version, code, key_id, price_minor, issued_at, number, card_id, id_card_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $24, 1, $17, $18, $19, $20, $21, $22, $23)
			ON CONFLICT (park_id, number) WHERE number IS NOT NULL DO NOTHING`,
			uid, o.ID, l.id, o.ParkID, l.productID, l.kind, l.entries, l.zones, l.day, from, until,
			nullTime(slotStart), nullTime(slotEnd), h.Name, h.IDHash, h.IDMasked, c, int(signer.KeyID), l.unitPrice, now,
			number, nullable(l.cardID), nullable(h.IDCardHash), status)
		if err != nil {
			return "", err
		}
		if tag.RowsAffected() == 1 {
			break
		}
	}
	tj.Credentials = credential.Stored{Number: number, Card: l.cardNumber, CardStatus: l.cardStatus, IDCardHash: h.IDCardHash}.List()
	// WriteIssue refuses what the cluster would refuse (outbox.ErrInvalidTicket):
	// it must fail here, with the order's transaction, not in the relay.
	if _, err := outbox.WriteIssue(ctx, tx, tj, now); err != nil {
		return "", err
	}
	return tj.ID, nil
}

// codeWindow is the window a code states: [from, until) narrowed to the
// slot, on whole minutes (a start rounds up, an end down, so the code never
// admits more than the ticket).
func codeWindow(from, until, slotStart, slotEnd time.Time) (time.Time, time.Time) {
	if !slotStart.IsZero() && slotStart.After(from) {
		from = slotStart
	}
	if !slotEnd.IsZero() && slotEnd.Before(until) {
		until = slotEnd
	}
	if t := from.Truncate(time.Minute); !t.Equal(from) {
		from = t.Add(time.Minute)
	}
	until = until.Truncate(time.Minute)
	if until.Before(from) {
		until = from
	}
	return from, until
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
