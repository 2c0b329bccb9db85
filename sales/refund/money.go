package refund

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/member"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
)

// sendMoney asks the payment provider to return a completed refund's
// money; refundID "refund-<id>" makes a repeated call refund once. On
// failure the refund stays refunded with completed_at NULL and is retried
// after the backoff (attempts, next_attempt_at).
func (a *API) sendMoney(ctx context.Context, p web.Principal, id int64, now time.Time) error {
	var amount int64
	var method, name string
	var ref *string
	err := a.cfg.Pool.QueryRow(ctx, `SELECT r.amount_minor, pay.method, pay.provider, pay.provider_ref
		FROM refunds r CROSS JOIN LATERAL (`+paymentSQL("r.order_id")+`) pay
		WHERE r.id = $1 AND r.status = 'refunded' AND r.completed_at IS NULL`, id).Scan(&amount, &method, &name, &ref)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // sent already, or nothing to send
	}
	if err != nil {
		return fmt.Errorf("refund %d: load payment: %w", id, err)
	}
	if method == payment.MethodStoredValue {
		return a.refundToCard(ctx, p, id, amount, now)
	}
	if method != "provider" {
		return nil
	}
	var callErr error
	if prov := a.cfg.Providers[name]; prov == nil {
		callErr = fmt.Errorf("payment provider %q is not configured", name)
	} else if ref == nil || *ref == "" {
		callErr = errors.New("the payment has no provider reference")
	} else {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.RevokeTimeout)
		callErr = prov.Refund(cctx, *ref, amount, fmt.Sprintf("refund-%d", id))
		cancel()
	}
	return pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var attempts int
		err := tx.QueryRow(ctx, `SELECT attempts FROM refunds WHERE id = $1 AND status = 'refunded' AND completed_at IS NULL FOR UPDATE`, id).Scan(&attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if callErr == nil {
			if _, err := tx.Exec(ctx, `UPDATE refunds SET completed_at = $2, next_attempt_at = NULL WHERE id = $1`, id, now); err != nil {
				return err
			}
			return audit.Record(ctx, tx, p, "refund.money_sent", "refund", fmt.Sprint(id), map[string]any{
				"provider": name, "amount_minor": amount, "refund_id": fmt.Sprintf("refund-%d", id),
			})
		}
		attempts++
		next := now.Add(a.cfg.backoff(attempts))
		a.cfg.Log.Warn("refund: the provider did not refund; retrying later", "refund", id, "provider", name,
			"attempts", attempts, "next", next, "err", callErr)
		if _, err := tx.Exec(ctx, `UPDATE refunds SET attempts = $2, next_attempt_at = $3 WHERE id = $1`, id, attempts, next); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "refund.money_failed", "refund", fmt.Sprint(id), map[string]any{
			"provider": name, "amount_minor": amount, "error": callErr.Error(), "attempts": attempts, "next_attempt_at": next,
		})
	})
}

// PayOut records that a cashier paid a refund's money out at the window
// (cash, card or wallet payments, when the refund completed while nobody
// was at the window). The refund's user_id becomes the cashier, so it
// counts on that cashier's shift.
func (a *API) PayOut(ctx context.Context, p web.Principal, id int64) (Refund, error) {
	if (p.Role != web.RoleCashier && p.Role != web.RoleAdmin) || p.UserID == 0 {
		return Refund{}, forbidden("role %q may not pay out refunds (needs cashier or admin)", p.Role)
	}
	now := a.cfg.Clock.Now()
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var status string
		var completed *time.Time
		var amount int64
		var orderID int64
		err := tx.QueryRow(ctx, `SELECT status, completed_at, amount_minor, order_id FROM refunds WHERE id = $1 FOR UPDATE`, id).
			Scan(&status, &completed, &amount, &orderID)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("unknown_refund", "no refund %d", id)
		}
		if err != nil {
			return err
		}
		if status != StatusRefunded || completed != nil {
			return problem(ErrConflict, http.StatusConflict, "nothing_to_pay_out",
				"refund %d is %s%s: nothing to pay out", id, status, map[bool]string{true: " and paid", false: ""}[completed != nil])
		}
		var method string
		err = tx.QueryRow(ctx, `SELECT method FROM (`+paymentSQL("$1")+`) pay`, orderID).Scan(&method)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if method == "provider" {
			return problem(ErrConflict, http.StatusConflict, "provider_refund",
				"refund %d goes back through the payment provider, not at the window", id)
		}
		shiftID, paying, err := payoutShift(ctx, tx, p)
		if err != nil {
			return err
		}
		if !paying {
			return problem(shift.ErrNoOpenShift, http.StatusConflict, "no_open_shift",
				"you have no open shift: open one at POST /v1/shifts before paying out at a window")
		}
		if _, err := tx.Exec(ctx, `UPDATE refunds SET completed_at = $2, user_id = $3, shift_id = $4 WHERE id = $1`,
			id, now, p.UserID, nullShift(shiftID)); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "refund.payout", "refund", fmt.Sprint(id), map[string]any{
			"amount_minor": amount, "method": method, "sales_point": p.SalesPointID, "shift_id": shiftID,
		})
	})
	if err != nil {
		return Refund{}, err
	}
	return a.Get(ctx, p, id)
}

// payoutShift decides where money paid out at the window by p lands: the
// cashier's open shift (locked FOR SHARE until commit, see package shift).
// A cashier without one may pay out only while shifts are not required;
// an admin pays out in their shift if they have one, else outside shifts.
func payoutShift(ctx context.Context, tx pgx.Tx, p web.Principal) (id int64, paying bool, err error) {
	id, found, err := shift.Optional(ctx, tx, p.UserID, p.SalesPointID)
	if err != nil || found || p.Role != web.RoleCashier {
		return id, err == nil, err
	}
	required, err := shift.Required(ctx, tx)
	return 0, err == nil && !required, err
}

func nullShift(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// refundToCard pays a refund of an order paid from a member card back
// into that card (or the card that replaced it), completing the refund in
// the same transaction. A card that was refunded meanwhile takes nothing:
// the refund stays to be paid out at a window (PayOut).
func (a *API) refundToCard(ctx context.Context, p web.Principal, id, amount int64, now time.Time) error {
	return pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var orderID int64
		err := tx.QueryRow(ctx, `SELECT order_id FROM refunds WHERE id = $1 AND status = 'refunded' AND completed_at IS NULL FOR UPDATE`, id).Scan(&orderID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		var cardID int64
		var number, status string
		err = tx.QueryRow(ctx, `WITH RECURSIVE chain AS (
				SELECT c.id, c.number, c.status, c.replaced_by, 0 AS depth FROM cards c
				WHERE c.id = (SELECT card_id FROM card_ledger WHERE order_id = $1 AND kind = 'payment' ORDER BY id LIMIT 1)
				UNION ALL
				SELECT c.id, c.number, c.status, c.replaced_by, chain.depth + 1 FROM cards c JOIN chain ON c.id = chain.replaced_by
				WHERE chain.depth < 100)
			SELECT id, number, status FROM chain ORDER BY depth DESC LIMIT 1`, orderID).Scan(&cardID, &number, &status)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && status != "active" && status != "lost") {
			a.cfg.Log.Warn("refund: the order's card cannot take the money back; pay it out at a window", "refund", id, "card", number, "status", status)
			return nil
		}
		if err != nil {
			return err
		}
		if err := member.CreditCard(ctx, tx, p, cardID, "refund", amount, orderID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE refunds SET completed_at = $2, next_attempt_at = NULL WHERE id = $1`, id, now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "refund.money_to_card", "refund", fmt.Sprint(id), map[string]any{
			"card": number, "amount_minor": amount, "order_id": orderID,
		})
	})
}
