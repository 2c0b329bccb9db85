package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/web"
)

// Webhook outcomes.
const (
	OutcomePaid      = "paid"       // the order is paid and its tickets issued
	OutcomeFailed    = "failed"     // the payment failed; the order may be paid again
	OutcomeRefundDue = "refund_due" // money arrived for an order that cannot take it; it goes back
	OutcomeRefunded  = "refunded"   // ... and the provider has already refunded it
	OutcomeDuplicate = "duplicate"  // a replay: nothing changed
)

// WebhookResult answers a provider's callback.
type WebhookResult struct {
	Outcome   string `json:"outcome"`
	Order     string `json:"order"`
	PaymentID int64  `json:"payment_id"`
	Status    string `json:"payment_status"`
	RefundDue bool   `json:"refund_due,omitempty"`
	Message   string `json:"message,omitempty"`
}

// ApplyWebhook applies a verified provider event. A success pays the order
// and issues its tickets in one transaction; a success the order cannot
// take (expired, cancelled, already paid, wrong amount) is recorded and
// marked for refund, and the refund is tried at once (the Sweeper retries
// it). A replayed event changes nothing.
func (a *API) ApplyWebhook(ctx context.Context, provider string, ev payment.Event, remoteAddr string) (WebhookResult, error) {
	pay, err := payment.Find(ctx, a.cfg.Pool, provider, ev.ProviderRef)
	if errors.Is(err, payment.ErrUnknown) {
		return WebhookResult{}, web.Problemf(http.StatusNotFound, "unknown_payment", "no %s payment %q was started here", provider, ev.ProviderRef)
	}
	if err != nil {
		return WebhookResult{}, err
	}
	now := a.now()
	sys := system(remoteAddr)
	var (
		res     WebhookResult
		o       orderRow
		issued  int
		expired bool
	)
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		// The order row first, then its payment: the lock order everywhere.
		if o, err = findOrder(ctx, tx, itoa(pay.OrderID), true); err != nil {
			return err
		}
		if pay, err = payment.Lock(ctx, tx, pay.ID); err != nil {
			return err
		}
		np, changed, err := payment.Apply(ctx, tx, pay, ev, now)
		if err != nil {
			return err
		}
		res = WebhookResult{Order: o.Number, PaymentID: np.ID, Status: np.Status}
		if !changed {
			res.Outcome = OutcomeDuplicate
			res.RefundDue, err = refundDue(ctx, tx, np.ID)
			return err
		}
		if err := audit.Record(ctx, tx, sys, "payment."+np.Status, "payment", itoa(np.ID), map[string]any{
			"order_id": o.ID, "order": o.Number, "provider": provider, "provider_ref": ev.ProviderRef, "amount_minor": ev.AmountMinor}); err != nil {
			return err
		}
		if np.Status == payment.StatusFailed {
			res.Outcome = OutcomeFailed
			return nil
		}
		var why string
		switch {
		case o.Status != StatusPending:
			why = "order " + o.Number + " is " + o.Status
		case !now.Before(o.ExpiresAt):
			if expired, err = endUnpaid(ctx, tx, sys, o, StatusExpired, "hold ran out before the payment arrived"); err != nil {
				return err
			}
			why = "order " + o.Number + " expired before the payment arrived"
		case ev.AmountMinor != o.TotalMinor:
			why = fmt.Sprintf("paid %d, but order %s costs %d", ev.AmountMinor, o.Number, o.TotalMinor)
		}
		if why == "" {
			res.Outcome = OutcomePaid
			issued, err = a.markPaid(ctx, tx, sys, o, np.ID, now)
			return err
		}
		res.Outcome, res.RefundDue, res.Message = OutcomeRefundDue, true, why+"; the payment is recorded and will be refunded"
		return markRefundDue(ctx, tx, sys, np, why, now)
	})
	if err != nil {
		return WebhookResult{}, err
	}
	if expired {
		a.m.orders.WithLabelValues(o.Channel, StatusExpired).Inc()
	}
	if res.Outcome == OutcomePaid {
		a.m.orders.WithLabelValues(o.Channel, StatusPaid).Inc()
		a.m.tickets.Add(float64(issued))
	}
	if res.Outcome == OutcomeRefundDue {
		if err := a.refundLate(ctx, res.PaymentID); err != nil {
			a.cfg.Log.Warn("refund of a late payment failed; the sweeper retries it", "payment", res.PaymentID, "err", err)
		} else {
			res.Outcome, res.RefundDue, res.Status = OutcomeRefunded, false, payment.StatusRefunded
			res.Message = strings.Replace(res.Message, "will be refunded", "was refunded", 1)
		}
	}
	return res, nil
}

// A payment due for refund is marked (payments.refund_due_since) until the
// provider has returned the money.
func markRefundDue(ctx context.Context, tx DB, p web.Principal, pay payment.Payment, why string, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE payments SET refund_due_since = coalesce(refund_due_since, $2), refund_due_reason = $3
		WHERE id = $1`, pay.ID, now, why); err != nil {
		return err
	}
	return audit.Record(ctx, tx, p, "payment.refund_due", "payment", itoa(pay.ID),
		map[string]any{"order_id": pay.OrderID, "reason": why, "amount_minor": pay.AmountMinor})
}

func refundDue(ctx context.Context, db DB, paymentID int64) (bool, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM payments WHERE id = $1 AND refund_due_since IS NOT NULL`, paymentID).Scan(&n)
	return n > 0, err
}

// refundLate refunds a payment marked due: the provider first (idempotent
// by refund id), then the payment row and the mark, in one transaction.
func (a *API) refundLate(ctx context.Context, paymentID int64) error {
	pay, err := payment.Get(ctx, a.cfg.Pool, paymentID)
	if err != nil {
		return err
	}
	left := pay.AmountMinor - pay.RefundedMinor
	if pay.Status == payment.StatusSucceeded && left > 0 {
		prov, ok := a.providers.Get(pay.Provider)
		if !ok {
			return fmt.Errorf("payment %d: provider %q is not configured", pay.ID, pay.Provider)
		}
		pctx, cancel := context.WithTimeout(ctx, a.cfg.ProviderTimeout)
		err := prov.Refund(pctx, pay.ProviderRef, left, "late-payment-"+itoa(pay.ID))
		cancel()
		if err != nil {
			return err
		}
	}
	return pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := findOrder(ctx, tx, itoa(pay.OrderID), true); err != nil {
			return err
		}
		cur, err := payment.Lock(ctx, tx, pay.ID)
		if err != nil {
			return err
		}
		if cur.Status == payment.StatusSucceeded && cur.AmountMinor > cur.RefundedMinor {
			if _, err := payment.MarkRefunded(ctx, tx, cur.ID, cur.AmountMinor-cur.RefundedMinor); err != nil {
				return err
			}
			if err := audit.Record(ctx, tx, system(""), "payment.refund", "payment", itoa(cur.ID),
				map[string]any{"order_id": cur.OrderID, "amount_minor": cur.AmountMinor - cur.RefundedMinor, "reason": "late or surplus payment"}); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE payments SET refund_due_since = NULL WHERE id = $1`, cur.ID)
		return err
	})
}

// RefundLatePayments retries the refunds of payments marked due (oldest
// first, at most 100 a call) and returns how many it refunded. The Sweeper
// calls it; a provider still unavailable leaves its payments for next time.
func (a *API) RefundLatePayments(ctx context.Context) (int, error) {
	rows, err := a.cfg.Pool.Query(ctx, `SELECT id FROM payments WHERE refund_due_since IS NOT NULL
		ORDER BY refund_due_since, id LIMIT 100`)
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	var (
		n    int
		errs []error
	)
	for _, id := range ids {
		if err := a.refundLate(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("payment %d: %w", id, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
