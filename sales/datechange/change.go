package datechange

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/credential"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/member"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/quota"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/ticket"
)

// held is the ticket as it stands before the change.
type held struct {
	orderID, lineID, slotID int64
	orderNumber, currency   string
	park, product, kind     string
	status, number          string
	entries                 int
	day                     time.Time
	validUntil              time.Time
	price, version          int64
	firstAt                 *time.Time
	firstGate               *string
	lineQty                 int
}

// Change moves ticket ref to r's date and slot.
func (a *API) Change(ctx context.Context, p web.Principal, ref string, r Request) (Result, error) {
	id, err := ticket.ParseID(ref)
	if err != nil {
		return Result{}, bad("bad_ticket_id", "%q is not a ticket id (32 hex digits or a UUID)", ref)
	}
	newDay, err := time.Parse(time.DateOnly, r.VisitDate)
	if err != nil {
		return Result{}, bad("bad_visit_date", `"visit_date" must be a date like 2026-11-22, not %q`, r.VisitDate)
	}
	if r.SlotID < 0 {
		return Result{}, bad("unknown_slot", "no time slot %d", r.SlotID)
	}
	if len(r.Reason) > 500 {
		return Result{}, bad("bad_reason", `"reason" is at most 500 bytes`)
	}
	if s := r.Settle; s != nil {
		switch s.Method {
		case payment.MethodCash:
			if s.Card != "" {
				return Result{}, bad("bad_settle", `cash takes no "card"`)
			}
			if p.Role != web.RoleCashier || p.SalesPointID == "" {
				return Result{}, web.Problemf(http.StatusForbidden, "cashier_only", "cash is handled by a cashier at a window, not by role %s", p.Role)
			}
		case payment.MethodStoredValue:
			if s.Card == "" || s.AmountMinor != nil {
				return Result{}, bad("bad_settle", `stored_value takes "card" and no "amount_minor"`)
			}
		default:
			return Result{}, bad("bad_settle", `"settle.method" must be cash or stored_value, not %q`, s.Method)
		}
	}
	now := a.cfg.Clock.Now()
	var res Result
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		res, err = a.change(ctx, tx, p, id, newDay, r, now)
		return err
	})
	return res, err
}

func (a *API) change(ctx context.Context, tx pgx.Tx, p web.Principal, id [16]byte, newDay time.Time, r Request, now time.Time) (Result, error) {
	var h held
	// The order first, then its ticket: the lock order of refunds and payments.
	err := tx.QueryRow(ctx, `SELECT o.id, o.number, o.currency FROM orders o JOIN tickets t ON t.order_id = o.id
		WHERE t.id = $1 FOR UPDATE OF o`, id).Scan(&h.orderID, &h.orderNumber, &h.currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return Result{}, web.Problemf(http.StatusNotFound, "unknown_ticket", "no ticket %s", ticket.FormatID(id))
	}
	if err != nil {
		return Result{}, err
	}
	err = tx.QueryRow(ctx, `SELECT t.order_line_id, coalesce(l.slot_id, 0), l.quantity, t.park_id, t.product_id, t.kind, t.status,
			coalesce(t.number, ''), t.entries, t.visit_date, t.valid_until, t.price_minor, t.version, t.first_entry_at, t.first_entry_gate
		FROM tickets t JOIN order_lines l ON l.id = t.order_line_id WHERE t.id = $1 FOR UPDATE OF t`, id).
		Scan(&h.lineID, &h.slotID, &h.lineQty, &h.park, &h.product, &h.kind, &h.status, &h.number, &h.entries, &h.day,
			&h.validUntil, &h.price, &h.version, &h.firstAt, &h.firstGate)
	if err != nil {
		return Result{}, err
	}
	tid := ticket.FormatID(id)
	if p.Role == web.RoleCashier {
		sp, err := catalog.GetSalesPoint(ctx, tx, p.SalesPointID)
		if err != nil || !sp.Active || sp.ParkID != h.park {
			return Result{}, web.Problemf(http.StatusForbidden, "wrong_park", "your sales point cannot change tickets of park %s", h.park)
		}
	}
	if err := usedRefusal(ctx, tx, id, h); err != nil {
		return Result{}, err
	}
	switch {
	case h.status != "active":
		return Result{}, conflict("ticket_not_active", "ticket %s is %s: only an active ticket changes its date", tid, h.status)
	case !now.Before(h.validUntil):
		return Result{}, conflict("ticket_expired", "ticket %s expired at %s", tid, h.validUntil.UTC().Format(time.RFC3339))
	}
	pr, newPrice, err := catalog.GetProductPrice(ctx, tx, h.product, newDay)
	if err != nil {
		return Result{}, err
	}
	park, err := catalog.GetPark(ctx, tx, h.park)
	if err != nil {
		return Result{}, err
	}
	loc, err := time.LoadLocation(park.TimeZone)
	if err != nil {
		return Result{}, err
	}
	local := now.In(loc)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	switch {
	case !pr.DateChangeAllowed:
		return Result{}, conflict("date_change_not_allowed", "product %q does not allow date changes", pr.ID)
	case !pr.Active || pr.SalesStopped:
		return Result{}, conflict("sales_stopped", "product %q is not on sale now: no ticket moves to a new date", pr.ID)
	case newDay.Before(today):
		return Result{}, bad("visit_date_past", "visit date %s is in the past: it is %s in park %s", r.VisitDate, today.Format(time.DateOnly), h.park)
	case newDay.After(today.AddDate(0, 0, a.cfg.MaxDaysAhead)):
		return Result{}, bad("visit_date_too_far", "visit date %s is more than %d days ahead", r.VisitDate, a.cfg.MaxDaysAhead)
	case newDay.Equal(h.day) && r.SlotID == h.slotID:
		return Result{}, bad("same_date", "ticket %s is already for %s", tid, r.VisitDate)
	case pr.HasSlots && r.SlotID == 0:
		return Result{}, bad("slot_required", "product %q is sold by time slot: give \"slot_id\"", pr.ID)
	case !pr.HasSlots && r.SlotID != 0:
		return Result{}, bad("slot_not_allowed", "product %q has no time slots: leave \"slot_id\" out", pr.ID)
	}
	from := time.Date(newDay.Year(), newDay.Month(), newDay.Day(), 0, 0, 0, 0, loc).Truncate(time.Minute)
	until := time.Date(newDay.Year(), newDay.Month(), newDay.Day()+pr.ValidDays, 0, 0, 0, 0, loc).Truncate(time.Minute)
	var slotStart, slotEnd *time.Time
	if r.SlotID != 0 {
		slot, err := catalog.GetSlot(ctx, tx, r.SlotID)
		if errors.Is(err, catalog.ErrNotFound) || (err == nil && slot.ProductID != pr.ID) {
			return Result{}, bad("unknown_slot", "time slot %d is not one of product %q's", r.SlotID, pr.ID)
		}
		if err != nil {
			return Result{}, err
		}
		s, e := slot.Window(newDay, loc)
		if !now.Before(e) {
			return Result{}, conflict("slot_over", "time slot %d on %s is over", r.SlotID, r.VisitDate)
		}
		slotStart, slotEnd = &s, &e
	}
	places := 1
	if h.kind == "group" && h.entries > 0 {
		places = h.entries
	}
	if err := quota.Move(ctx, tx, h.orderID,
		quota.Request{ParkID: h.park, ProductID: h.product, SlotID: h.slotID, VisitDate: h.day, Quantity: places},
		quota.Request{ParkID: h.park, ProductID: h.product, SlotID: r.SlotID, VisitDate: newDay, Quantity: places}); err != nil {
		return Result{}, err
	}
	res := Result{TicketID: tid, Number: h.number, OldVisitDate: h.day.Format(time.DateOnly), VisitDate: r.VisitDate, SlotID: r.SlotID,
		OldVersion: h.version, OldPriceMinor: h.price, PriceMinor: newPrice, DifferenceMinor: newPrice - h.price, Currency: h.currency}
	if pr.Currency != h.currency {
		return Result{}, conflict("wrong_currency", "product %q is now priced in %s, the order was paid in %s", pr.ID, pr.Currency, h.currency)
	}
	cardID, shiftID, err := a.settle(ctx, tx, p, h, r.Settle, &res, now)
	if err != nil {
		return Result{}, err
	}
	// The order line follows its ticket, so that a refund later gives back
	// the new day's places.
	lineID := h.lineID
	if h.lineQty == 1 {
		_, err = tx.Exec(ctx, `UPDATE order_lines SET visit_date = $2, slot_id = $3, unit_price_minor = $4 WHERE id = $1`,
			h.lineID, newDay, nullable(r.SlotID), newPrice)
	} else {
		if _, err = tx.Exec(ctx, `UPDATE order_lines SET quantity = quantity - 1 WHERE id = $1`, h.lineID); err == nil {
			err = tx.QueryRow(ctx, `INSERT INTO order_lines (order_id, product_id, visit_date, slot_id, quantity, unit_price_minor, card_id)
				SELECT order_id, product_id, $2, $3, 1, $4, card_id FROM order_lines WHERE id = $1 RETURNING id`,
				h.lineID, newDay, nullable(r.SlotID), newPrice).Scan(&lineID)
		}
	}
	if err != nil {
		return Result{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET visit_date = $2, valid_from = $3, valid_until = $4, slot_start = $5, slot_end = $6,
		price_minor = $7, order_line_id = $8 WHERE id = $1`, id, newDay, from, until, slotStart, slotEnd, newPrice, lineID); err != nil {
		return Result{}, err
	}
	signer, err := keys.Active(ctx, tx, a.cfg.KEK)
	if err != nil {
		return Result{}, err
	}
	tj, err := credential.NewVersion(ctx, tx, signer, signer.KeyID, id)
	if err != nil {
		return Result{}, err
	}
	if _, err := outbox.WriteIssue(ctx, tx, tj, time.Time{}); err != nil {
		return Result{}, err
	}
	res.Version, res.Code = int64(tj.Version), tj.Code
	res.ValidFrom, res.ValidUntil = from, until
	if slotStart != nil {
		res.SlotStart, res.SlotEnd = *slotStart, *slotEnd
	}
	if err := tx.QueryRow(ctx, `INSERT INTO date_changes (ticket_id, old_visit_date, old_slot_id, new_visit_date, new_slot_id,
			old_price_minor, new_price_minor, method, card_id, old_version, new_version, user_id, sales_point_id, shift_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
		id, h.day, nullable(h.slotID), newDay, nullable(r.SlotID), h.price, newPrice, res.SettledBy, nullable(cardID),
		h.version, res.Version, nullable(p.UserID), nullable(p.SalesPointID), nullable(shiftID), now).Scan(&res.ChangeID); err != nil {
		return Result{}, err
	}
	return res, audit.Record(ctx, tx, p, "ticket.change_date", "ticket", tid, map[string]any{
		"order": h.orderNumber, "old_visit_date": res.OldVisitDate, "old_slot_id": h.slotID, "visit_date": r.VisitDate,
		"slot_id": r.SlotID, "old_price_minor": h.price, "price_minor": newPrice, "difference_minor": res.DifferenceMinor,
		"settled_by": res.SettledBy, "old_version": h.version, "version": res.Version, "reason": r.Reason, "change_id": res.ChangeID})
}

// usedRefusal refuses a ticket the gates have admitted, saying when and
// where: from the ticket's first entry (the entry feed) or an admit in
// entry_events.
func usedRefusal(ctx context.Context, tx pgx.Tx, id [16]byte, h held) error {
	at, gate := h.firstAt, h.firstGate
	if at == nil {
		var t time.Time
		var g string
		err := tx.QueryRow(ctx, `SELECT at, gate FROM entry_events WHERE ticket_id = $1 AND result = 'admit' ORDER BY at LIMIT 1`, id).Scan(&t, &g)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		at, gate = &t, &g
	}
	g := ""
	if gate != nil {
		g = *gate
	}
	return conflict("already_used", "ticket %s was used at %s at gate %s: a used ticket keeps its date",
		ticket.FormatID(id), at.UTC().Format(time.RFC3339), g)
}

// settle charges or pays back the difference; it returns the card used
// and the cashier's shift cash went through (0: none).
func (a *API) settle(ctx context.Context, tx pgx.Tx, p web.Principal, h held, s *Settle, res *Result, now time.Time) (card, shiftID int64, err error) {
	diff := res.DifferenceMinor
	if diff == 0 {
		if s != nil {
			return 0, 0, bad("nothing_to_settle", "the new date costs the same: leave \"settle\" out")
		}
		res.SettledBy = "none"
		return 0, 0, nil
	}
	if s == nil {
		if diff > 0 {
			return 0, 0, web.Problemf(http.StatusPaymentRequired, "settle_required", "the new date costs %d %s more: give \"settle\" (cash or stored_value)", diff, h.currency)
		}
		return 0, 0, bad("settle_required", "the new date costs %d %s less: give \"settle\" (cash or stored_value) to pay it back", -diff, h.currency)
	}
	res.SettledBy = s.Method
	switch {
	case s.Method == payment.MethodCash:
		// Cash goes through the cashier's drawer: their open shift.
		if shiftID, err = member.CashierShift(ctx, tx, p); err != nil {
			return 0, 0, err
		}
		if diff < 0 {
			if s.AmountMinor != nil {
				return 0, 0, bad("bad_settle", `money paid back in cash takes no "amount_minor"`)
			}
			return 0, shiftID, nil // paid out at the window: the change's row (in the shift) and audit entry record it
		}
		if s.AmountMinor == nil {
			return 0, 0, bad("bad_settle", `cash takes "amount_minor": the difference %d`, diff)
		}
		pay, err := payment.RecordCash(ctx, tx, payment.Window{OrderID: h.orderID, DueMinor: diff, AmountMinor: *s.AmountMinor,
			Currency: h.currency, UserID: p.UserID, SalesPointID: p.SalesPointID, ShiftID: shiftID, At: now})
		if err != nil {
			return 0, 0, err
		}
		return 0, shiftID, audit.Record(ctx, tx, p, "payment.cash", "payment", itoa(pay.ID),
			map[string]any{"order_id": h.orderID, "order": h.orderNumber, "amount_minor": diff, "for": "date_change", "shift_id": shiftID})
	case diff > 0:
		d, err := member.DebitCard(ctx, tx, p, member.Debit{Card: s.Card, Kind: "date_change", AmountMinor: diff,
			Currency: h.currency, ParkID: h.park, OrderID: h.orderID, Reference: res.TicketID}, now)
		if err != nil {
			return 0, 0, err
		}
		res.BalanceMinor = &d.BalanceMinor
		card, err = cardID(ctx, tx, d.CardNumber)
		return card, 0, err
	default:
		bal, err := member.CreditByNumber(ctx, tx, p, s.Card, h.park, h.currency, "date_change", -diff, h.orderID, now)
		if err != nil {
			return 0, 0, err
		}
		res.BalanceMinor = &bal
		n, err := member.NormalizeCard(s.Card)
		if err != nil {
			return 0, 0, err
		}
		card, err = cardID(ctx, tx, n)
		return card, 0, err
	}
}

func cardID(ctx context.Context, tx pgx.Tx, number string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM cards WHERE number = $1`, number).Scan(&id)
	return id, err
}

func nullable[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
