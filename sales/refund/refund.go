package refund

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/ticket"
)

// Refund statuses (refunds.status).
const (
	StatusPendingRevoke = "pending_revoke"
	StatusRefunded      = "refunded"
	StatusRefused       = "refused"
)

// Money states of a refund (Refund.Money), derived from the row.
const (
	MoneyNotYet    = "not_yet"    // pending_revoke: nothing moves before the cluster revoked
	MoneyNone      = "none"       // refused: money untouched
	MoneyPaid      = "paid"       // gone back (completed_at)
	MoneyToPayOut  = "to_pay_out" // cash/card/wallet: a cashier must pay out (POST /v1/refunds/{id}/payout)
	MoneyProvider  = "provider"   // provider refund not yet accepted; retried
	maxReasonRunes = 500
)

// Request asks for a refund: the whole order (every active ticket) or the
// tickets named, which must belong to the order.
type Request struct {
	OrderNumber string   `json:"order_number"`
	TicketIDs   []string `json:"ticket_ids,omitempty"` // uuid or 32 hex; empty: the whole order
	Reason      string   `json:"reason" text:"multiline"`
}

// Refund is a refund as the API shows it.
type Refund struct {
	ID            int64      `json:"id"`
	OrderNumber   string     `json:"order_number"`
	TicketID      string     `json:"ticket_id"`
	Status        string     `json:"status"` // pending_revoke, refunded, refused
	Money         string     `json:"money"`  // not_yet, none, paid, to_pay_out, provider
	PaymentMethod string     `json:"payment_method,omitempty"`
	AmountMinor   int64      `json:"amount_minor"`
	FeeMinor      int64      `json:"fee_minor"`
	Currency      string     `json:"currency"`
	Reason        string     `json:"reason"`
	RefusedReason string     `json:"refused_reason,omitempty"`
	UsedAt        *time.Time `json:"used_at,omitempty"`
	UsedGate      string     `json:"used_gate,omitempty"`
	UserID        *int64     `json:"user_id,omitempty"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	CompletedAt   *time.Time `json:"completed_at,omitempty"`
}

// canRefund: admin and cashier refund any order, a distributor its own.
func canRefund(p web.Principal) error {
	switch p.Role {
	case web.RoleAdmin, web.RoleCashier:
		return nil
	case web.RoleDistributor:
		if p.DistributorID != 0 {
			return nil
		}
	}
	return forbidden("role %q may not refund (needs admin, cashier or distributor)", p.Role)
}

func (r *Request) validate(maxTickets int) ([][16]byte, error) {
	r.OrderNumber = strings.TrimSpace(r.OrderNumber)
	if r.OrderNumber == "" || len(r.OrderNumber) > 64 {
		return nil, invalid("bad_order_number", `"order_number" is required (1-64 characters)`)
	}
	r.Reason = strings.TrimSpace(r.Reason)
	if utf8.RuneCountInString(r.Reason) > maxReasonRunes {
		return nil, invalid("bad_reason", `"reason" is at most %d characters`, maxReasonRunes)
	}
	if len(r.TicketIDs) > maxTickets {
		return nil, invalid("too_many_tickets", `"ticket_ids" holds at most %d tickets`, maxTickets)
	}
	ids := make([][16]byte, 0, len(r.TicketIDs))
	for i, s := range r.TicketIDs {
		id, err := ticket.ParseID(strings.TrimSpace(s))
		if err != nil {
			return nil, invalid("bad_ticket_id", `"ticket_ids"[%d]: %q is not a ticket id (32 hex digits or a UUID)`, i, s)
		}
		if slices.Contains(ids, id) {
			return nil, invalid("bad_ticket_id", `"ticket_ids"[%d]: ticket %s is listed twice`, i, ticket.FormatID(id))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// orderRow is the order a refund is for.
type orderRow struct {
	id            int64
	status        string
	currency      string
	distributorID *int64
	loc           *time.Location
}

func lockOrder(ctx context.Context, tx pgx.Tx, p web.Principal, number string) (orderRow, error) {
	var o orderRow
	var tz string
	err := tx.QueryRow(ctx, `SELECT o.id, o.status, o.currency, o.distributor_id, pk.time_zone
		FROM orders o JOIN parks pk ON pk.id = o.park_id WHERE o.number = $1 FOR UPDATE OF o`, number).
		Scan(&o.id, &o.status, &o.currency, &o.distributorID, &tz)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !ownsOrder(p, o.distributorID)) {
		return o, notFound("unknown_order", "no order %q", number)
	}
	if err != nil {
		return o, err
	}
	if o.loc, err = time.LoadLocation(tz); err != nil {
		return o, fmt.Errorf("park time zone %q: %w", tz, err)
	}
	return o, nil
}

// ownsOrder: distributors see only their own orders.
func ownsOrder(p web.Principal, distributorID *int64) bool {
	return p.Role != web.RoleDistributor || (distributorID != nil && *distributorID == p.DistributorID)
}

// ticketRow is a ticket of the order with its product's refund policy.
type ticketRow struct {
	id        [16]byte
	status    string
	price     int64
	visitDate time.Time
	policy    Policy
}

func orderTickets(ctx context.Context, tx pgx.Tx, orderID int64) ([]ticketRow, error) {
	rows, err := tx.Query(ctx, `SELECT t.id, t.status, t.price_minor, t.visit_date,
			p.refundable, p.refund_until_hours, p.refund_fee_minor, p.refund_fee_percent
		FROM tickets t JOIN products p ON p.id = t.product_id
		WHERE t.order_id = $1 ORDER BY t.issued_at, t.id FOR UPDATE OF t`, orderID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ticketRow, error) {
		var t ticketRow
		err := row.Scan(&t.id, &t.status, &t.price, &t.visitDate,
			&t.policy.Refundable, &t.policy.UntilHours, &t.policy.FeeMinor, &t.policy.FeePercent)
		return t, err
	})
}

// select picks the tickets to refund and checks each may be refunded now.
func selectTickets(all []ticketRow, ids [][16]byte, number string, now time.Time, loc *time.Location) ([]ticketRow, error) {
	var out []ticketRow
	if len(ids) == 0 {
		for _, t := range all {
			if t.status == "active" {
				out = append(out, t)
			}
		}
		if len(out) == 0 {
			return nil, problem(ErrTicketState, http.StatusConflict, "nothing_to_refund",
				"order %s has no active ticket to refund", number)
		}
	}
	for _, id := range ids {
		i := slices.IndexFunc(all, func(t ticketRow) bool { return t.id == id })
		if i < 0 {
			return nil, notFound("ticket_not_in_order", "ticket %s is not in order %s", ticket.FormatID(id), number)
		}
		if err := refundableStatus(all[i].status, id); err != nil {
			return nil, err
		}
		out = append(out, all[i])
	}
	for _, t := range out {
		if err := t.policy.Check(now, t.visitDate, loc, "ticket "+ticket.FormatID(t.id)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func refundableStatus(status string, id [16]byte) error {
	switch status {
	case "active":
		return nil
	case "refund_pending":
		return problem(ErrTicketState, http.StatusConflict, "refund_under_way",
			"ticket %s already has a refund under way", ticket.FormatID(id))
	case "refunded":
		return problem(ErrTicketState, http.StatusConflict, "already_refunded", "ticket %s is already refunded", ticket.FormatID(id))
	}
	return problem(ErrTicketState, http.StatusConflict, "ticket_not_refundable",
		"ticket %s is %s; only active tickets can be refunded", ticket.FormatID(id), status)
}

// Request creates the refunds (pending_revoke, tickets refund_pending) in
// one transaction, then asks the cluster to revoke each ticket and applies
// its answer. It returns the refunds as they stand: refunded, refused, or
// still pending_revoke when the cluster could not answer (the Retrier
// finishes them).
func (a *API) Request(ctx context.Context, p web.Principal, req Request) ([]Refund, error) {
	if err := canRefund(p); err != nil {
		return nil, err
	}
	ids, err := req.validate(a.cfg.MaxTickets)
	if err != nil {
		return nil, err
	}
	now := a.cfg.Clock.Now()
	var created []int64
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		o, err := lockOrder(ctx, tx, p, req.OrderNumber)
		if err != nil {
			return err
		}
		if o.status != "paid" && o.status != "partially_refunded" {
			return problem(ErrConflict, http.StatusConflict, "order_not_paid",
				"order %s is %s; only paid orders can be refunded", req.OrderNumber, o.status)
		}
		all, err := orderTickets(ctx, tx, o.id)
		if err != nil {
			return err
		}
		picked, err := selectTickets(all, ids, req.OrderNumber, now, o.loc)
		if err != nil {
			return err
		}
		var total int64
		for _, t := range picked {
			total += t.price - t.policy.Fee(t.price)
		}
		// The money must be able to go back before any ticket is revoked.
		if why, err := moneyShort(ctx, tx, o.id, total, 0); err != nil {
			return err
		} else if why != "" {
			return problem(ErrConflict, http.StatusConflict, "payment_cannot_cover",
				"order %s cannot be refunded: %s", req.OrderNumber, why)
		}
		var userID *int64
		if p.UserID != 0 {
			userID = &p.UserID
		}
		for _, t := range picked {
			fee := t.policy.Fee(t.price)
			var id int64
			err := tx.QueryRow(ctx, `INSERT INTO refunds (order_id, ticket_id, status, amount_minor, fee_minor, currency,
					reason, user_id, attempts, next_attempt_at, created_at)
				VALUES ($1, $2, 'pending_revoke', $3, $4, $5, $6, $7, 0, $8, $9) RETURNING id`,
				o.id, t.id, t.price-fee, fee, o.currency, req.Reason, userID, now.Add(a.cfg.Lease), now).Scan(&id)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE tickets SET status = 'refund_pending' WHERE id = $1`, t.id); err != nil {
				return err
			}
			if err := audit.Record(ctx, tx, p, "refund.request", "refund", fmt.Sprint(id), map[string]any{
				"order": req.OrderNumber, "ticket": ticket.FormatID(t.id), "price_minor": t.price,
				"amount_minor": t.price - fee, "fee_minor": fee, "currency": o.currency, "reason": req.Reason,
			}); err != nil {
				return err
			}
			created = append(created, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The refunds exist now: finish them even if the caller goes away (the
	// Retrier would, after the lease).
	wctx := context.WithoutCancel(ctx)
	down := clustersDown{}
	for _, id := range created {
		if err := a.attempt(wctx, p, id, now, true, down); err != nil {
			a.cfg.Log.Error("refund attempt failed; the retrier will try again", "refund", id, "err", err)
		}
	}
	return a.list(ctx, `r.id = ANY($1)`, created)
}

// RequestTicket refunds one ticket, found by its id.
func (a *API) RequestTicket(ctx context.Context, p web.Principal, id [16]byte, reason string) ([]Refund, error) {
	var number string
	var distributorID *int64
	err := a.cfg.Pool.QueryRow(ctx, `SELECT o.number, o.distributor_id FROM tickets t JOIN orders o ON o.id = t.order_id
		WHERE t.id = $1`, id).Scan(&number, &distributorID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !ownsOrder(p, distributorID)) {
		// The same answer for another distributor's ticket: nothing leaks.
		return nil, notFound("unknown_ticket", "no ticket %s", ticket.FormatID(id))
	}
	if err != nil {
		return nil, err
	}
	return a.Request(ctx, p, Request{OrderNumber: number, TicketIDs: []string{ticket.FormatID(id)}, Reason: reason})
}
