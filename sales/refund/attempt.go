package refund

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/quota"
	"github.com/admitpark/admit/sales/revenue"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// systemPrincipal is the actor of the Retrier's changes in the audit log.
var systemPrincipal = web.Principal{Username: "refund-retrier", Role: "system"}

// paymentSQL selects the payment an order's refunds go back through: the
// one that settled it (orders.paid_payment_id). A second payment of the
// same order (a duplicate, refunded as such) or a short one (refund_due)
// never settled it and is never used; an order settled on account has
// none. order is the SQL for the order id ("$1", "r.order_id").
func paymentSQL(order string) string {
	return `SELECT id, method, provider, provider_ref, amount_minor, refunded_minor FROM payments
	WHERE id = (SELECT paid_payment_id FROM orders WHERE id = ` + order + `)
	  AND status IN ('succeeded', 'partially_refunded', 'refunded')`
}

// moneyShort says why the order's settling payment cannot pay amount back
// on top of what it has refunded and what its other open refunds
// (pending_revoke, not counting refund exclude) will take; "" when it can.
// It is checked before the cluster is asked to revoke, so a ticket is never
// revoked for a refund whose money cannot move.
func moneyShort(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, orderID, amount, exclude int64) (string, error) {
	var payID, paid, refunded, open int64
	var method string
	var provider string
	var ref *string
	err := db.QueryRow(ctx, paymentSQL("$1"), orderID).Scan(&payID, &method, &provider, &ref, &paid, &refunded)
	if errors.Is(err, pgx.ErrNoRows) {
		var settled *int64
		if err := db.QueryRow(ctx, `SELECT paid_payment_id FROM orders WHERE id = $1`, orderID).Scan(&settled); err != nil {
			return "", err
		}
		if settled != nil { // it names a payment no longer succeeded (failed, or gone)
			return fmt.Sprintf("the payment %d that settled the order cannot be refunded", *settled), nil
		}
		return "", nil // settled on account: nothing to send
	}
	if err != nil {
		return "", err
	}
	if err := db.QueryRow(ctx, `SELECT coalesce(sum(amount_minor), 0) FROM refunds
		WHERE order_id = $1 AND status = 'pending_revoke' AND id <> $2`, orderID, exclude).Scan(&open); err != nil {
		return "", err
	}
	if refunded+open+amount > paid {
		return fmt.Sprintf("payment %d took %d; %d is refunded and %d is on its way back, so %d more would exceed it",
			payID, paid, refunded, open, amount), nil
	}
	return "", nil
}

// clustersDown marks, within one batch of attempts, the clusters that gave
// no answer, by the park of their clusters file entry ("" the default
// cluster): later attempts on the same cluster do not call it.
type clustersDown map[string]bool

// attempt asks the ticket's park's cluster to revoke a pending refund's
// ticket and applies the answer. present says the caller is the person who
// asked for the refund (at a window when a cashier, so cash can be paid out
// at once). When down marks that cluster (an earlier call of the same batch
// got no answer), it is not called and the attempt counts as failed, so a
// batch does not wait a timeout per ticket; a cluster that gives no answer
// is marked in down. Other parks' clusters are still called.
func (a *API) attempt(ctx context.Context, p web.Principal, id int64, now time.Time, present bool, down clustersDown) (err error) {
	var status, park string
	var tid [16]byte
	var version int64
	err = a.cfg.Pool.QueryRow(ctx, `SELECT r.status, r.ticket_id, t.version, t.park_id
		FROM refunds r JOIN tickets t ON t.id = r.ticket_id WHERE r.id = $1`, id).Scan(&status, &tid, &version, &park)
	if err != nil {
		return fmt.Errorf("load refund %d: %w", id, err)
	}
	if status != StatusPendingRevoke {
		return nil // finished by someone else
	}
	revoker, cluster := a.cfg.revoker(park)
	next := uint64(version) + 1
	var orderID, amount int64
	if err := a.cfg.Pool.QueryRow(ctx, `SELECT order_id, amount_minor FROM refunds WHERE id = $1`, id).Scan(&orderID, &amount); err != nil {
		return fmt.Errorf("load refund %d: %w", id, err)
	}
	if why, err := moneyShort(ctx, a.cfg.Pool, orderID, amount, id); err != nil {
		return fmt.Errorf("refund %d: check the payment: %w", id, err)
	} else if why != "" {
		// Money cannot go back: do not let the cluster revoke the ticket.
		a.outcomes.WithLabelValues("money_short").Inc()
		return a.refuseMoney(ctx, p, id, why, now)
	}
	if down[cluster] {
		return a.pending(ctx, id, now, "cluster unavailable (an earlier call in the batch got no answer)", "", next)
	}
	rctx, cancel := context.WithTimeout(ctx, a.cfg.RevokeTimeout)
	res, err := revoker.Revoke(rctx, tid, next)
	cancel()
	if err != nil {
		a.outcomes.WithLabelValues("no_answer").Inc()
		a.cfg.Log.Warn("refund: the cluster gave no answer; refund stays pending", "refund", id,
			"ticket", ticket.FormatID(tid), "park", park, "err", err)
		if errors.Is(err, ErrClusterUnavailable) && down != nil {
			down[cluster] = true
		}
		return a.pending(ctx, id, now, "cluster: "+err.Error(), "", next)
	}
	a.outcomes.WithLabelValues(res.Outcome).Inc()
	switch res.Outcome {
	case gateapi.OutcomeRevoked:
		send, err := a.complete(ctx, p, id, next, now, present)
		if err != nil || !send {
			return err
		}
		return a.sendMoney(ctx, p, id, now)
	case gateapi.OutcomeAlreadyUsed:
		return a.refuse(ctx, p, id, res, now)
	case gateapi.OutcomeUnknown, gateapi.OutcomeStale:
		return a.pending(ctx, id, now, "cluster answered "+res.Outcome, res.Outcome, next)
	}
	return fmt.Errorf("refund %d: unexpected cluster outcome %q", id, res.Outcome)
}

// pending records a failed attempt: attempts+1, next_attempt_at after the
// backoff. outcome "unknown" also writes the outbox 'revoke' row (once per
// version); "stale" bumps the ticket's version so the next revoke is newer.
func (a *API) pending(ctx context.Context, id int64, now time.Time, why, outcome string, version uint64) error {
	return pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var attempts int
		var tid [16]byte
		var park string
		err := tx.QueryRow(ctx, `SELECT r.attempts, r.ticket_id, t.park_id FROM refunds r JOIN tickets t ON t.id = r.ticket_id
			WHERE r.id = $1 AND r.status = 'pending_revoke' FOR UPDATE OF r`, id).
			Scan(&attempts, &tid, &park)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		attempts++
		next := now.Add(a.cfg.backoff(attempts))
		if _, err := tx.Exec(ctx, `UPDATE refunds SET attempts = $2, next_attempt_at = $3 WHERE id = $1`, id, attempts, next); err != nil {
			return err
		}
		switch outcome {
		case gateapi.OutcomeUnknown:
			if _, err := outbox.WriteRevoke(ctx, tx, park, tid, outbox.Change{Version: version}); err != nil {
				return err
			}
		case gateapi.OutcomeStale:
			if _, err := tx.Exec(ctx, `UPDATE tickets SET version = version + 1 WHERE id = $1 AND status = 'refund_pending'`, tid); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, systemPrincipal, "refund.pending", "refund", fmt.Sprint(id), map[string]any{
			"ticket": ticket.FormatID(tid), "why": why, "attempts": attempts, "next_attempt_at": next,
		})
	})
}

// complete finishes a refund the cluster revoked at version, in one
// transaction. It reports whether a provider must now send the money.
func (a *API) complete(ctx context.Context, p web.Principal, id int64, version uint64, now time.Time, present bool) (bool, error) {
	send := false
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var orderID int64
		var tid [16]byte
		var amount int64
		var status string
		err := tx.QueryRow(ctx, `SELECT order_id, ticket_id, amount_minor, status FROM refunds WHERE id = $1 FOR UPDATE`, id).
			Scan(&orderID, &tid, &amount, &status)
		if err != nil {
			return err
		}
		if status != StatusPendingRevoke {
			return nil
		}
		var q quota.Request
		var slotID *int64
		var kind string
		var entries int
		err = tx.QueryRow(ctx, `UPDATE tickets t SET status = 'refunded', version = GREATEST(t.version, $2)
			FROM order_lines l WHERE t.id = $1 AND l.id = t.order_line_id
			RETURNING t.park_id, t.product_id, l.slot_id, l.visit_date, t.kind, t.entries`, tid, int64(version)).
			Scan(&q.ParkID, &q.ProductID, &slotID, &q.VisitDate, &kind, &entries)
		if err != nil {
			return fmt.Errorf("refund %d: ticket: %w", id, err)
		}
		if slotID != nil {
			q.SlotID = *slotID
		}
		q.Quantity = 1
		if kind == "group" && entries > 0 { // a group ticket holds a place per person
			q.Quantity = entries
		}
		if err := quota.ReleaseOne(ctx, tx, orderID, q); err != nil {
			return err
		}

		// Money: the order's payment owes amount back.
		var payID, paid, refunded int64
		var method, provider string
		var ref *string
		var completedAt *time.Time
		var nextAt *time.Time
		var shiftID int64
		err = tx.QueryRow(ctx, paymentSQL("$1")+` FOR UPDATE`, orderID).Scan(&payID, &method, &provider, &ref, &paid, &refunded)
		switch {
		case errors.Is(err, pgx.ErrNoRows): // settled on account: nothing to send
			completedAt = &now
		case err != nil:
			return err
		default:
			if refunded+amount > paid {
				return fmt.Errorf("refund %d: %d would exceed payment %d (%d paid, %d refunded already)", id, amount, payID, paid, refunded)
			}
			if _, err := tx.Exec(ctx, `UPDATE payments SET refunded_minor = refunded_minor + $2,
				status = CASE WHEN refunded_minor + $2 >= amount_minor THEN 'refunded' ELSE 'partially_refunded' END
				WHERE id = $1`, payID, amount); err != nil {
				return err
			}
			switch {
			case amount == 0:
				completedAt = &now
			case method == "provider", method == "stored_value":
				// sendMoney follows (to the provider, or into the member
				// card that paid: never drawer money); the Retrier after the lease.
				send = true
				lease := now.Add(a.cfg.Lease)
				nextAt = &lease
			case present && p.UserID != 0 && (p.Role == web.RoleCashier || p.Role == web.RoleAdmin):
				// The cashier pays out now (user_id is the asker), from
				// their open shift; a cashier without one while shifts
				// are required leaves it "to pay out" (POST .../payout).
				var paying bool
				if shiftID, paying, err = payoutShift(ctx, tx, p); err != nil {
					return err
				}
				if paying {
					completedAt = &now
				}
			}
			if method == "provider" && present && p.Role == web.RoleCashier {
				// Refunded at the window through the provider: it counts
				// in the cashier's shift, no money through the drawer.
				if shiftID, _, err = shift.Optional(ctx, tx, p.UserID, p.SalesPointID); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE refunds SET status = 'refunded', attempts = 0, next_attempt_at = $2,
			completed_at = $3, refunded_at = $4, shift_id = $5 WHERE id = $1`, id, nextAt, completedAt, now, nullShift(shiftID)); err != nil {
			return err
		}
		if err := revenue.Refund(ctx, tx, id, now); err != nil {
			return fmt.Errorf("refund %d: revenue: %w", id, err)
		}
		var left int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE order_id = $1 AND status <> 'refunded'`, orderID).Scan(&left); err != nil {
			return err
		}
		orderStatus := "partially_refunded"
		if left == 0 {
			orderStatus = "refunded"
		}
		if _, err := tx.Exec(ctx, `UPDATE orders SET status = $2 WHERE id = $1`, orderID, orderStatus); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "refund.complete", "refund", fmt.Sprint(id), map[string]any{
			"ticket": ticket.FormatID(tid), "version": version, "amount_minor": amount, "payment_method": method,
			"paid_out": completedAt != nil, "order_status": orderStatus,
		})
	})
	return send, err
}

// refuseMoney ends a refund whose money cannot go back (see moneyShort)
// before the cluster was asked: refused, ticket active again.
func (a *API) refuseMoney(ctx context.Context, p web.Principal, id int64, why string, now time.Time) error {
	a.cfg.Log.Error("refund: the payment cannot pay it back; refused without revoking the ticket", "refund", id, "why", why)
	return pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var tid [16]byte
		err := tx.QueryRow(ctx, `UPDATE refunds SET status = 'refused', refused_reason = 'payment_cannot_cover',
				completed_at = $2, next_attempt_at = NULL
			WHERE id = $1 AND status = 'pending_revoke' RETURNING ticket_id`, id, now).Scan(&tid)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET status = 'active' WHERE id = $1 AND status = 'refund_pending'`, tid); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "refund.refuse", "refund", fmt.Sprint(id), map[string]any{
			"ticket": ticket.FormatID(tid), "reason": "payment_cannot_cover", "why": why,
		})
	})
}

// refuse ends a refund the cluster refused because the ticket was used.
func (a *API) refuse(ctx context.Context, p web.Principal, id int64, res RevokeResult, now time.Time) error {
	var usedAt *time.Time
	if !res.FirstEntryAt.IsZero() {
		usedAt = &res.FirstEntryAt
	}
	var gateID *string
	if res.FirstEntryGate != "" {
		gateID = &res.FirstEntryGate
	}
	return pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var tid [16]byte
		err := tx.QueryRow(ctx, `UPDATE refunds SET status = 'refused', refused_reason = 'already_used',
				used_at = $2, used_gate = $3, completed_at = $4, next_attempt_at = NULL
			WHERE id = $1 AND status = 'pending_revoke' RETURNING ticket_id`, id, usedAt, gateID, now).Scan(&tid)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET status = 'active',
				first_entry_at = coalesce(first_entry_at, $2), first_entry_gate = coalesce(first_entry_gate, $3)
			WHERE id = $1 AND status = 'refund_pending'`, tid, usedAt, gateID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "refund.refuse", "refund", fmt.Sprint(id), map[string]any{
			"ticket": ticket.FormatID(tid), "reason": gateapi.OutcomeAlreadyUsed, "used_at": usedAt,
			"used_gate": res.FirstEntryGate, "zone": res.Zone,
		})
	})
}
