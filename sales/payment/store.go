package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is a pgx.Tx (normally: payments change with their order) or a pool.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Methods, as stored in payments.method. Card and wallet are taken at a
// window on the window's own terminal (see window.go).
const (
	MethodCash     = "cash"
	MethodCard     = "card"
	MethodWallet   = "wallet"
	MethodProvider = "provider"
)

// Payment statuses besides StatusSucceeded and StatusFailed.
const (
	StatusPending           = "pending"
	StatusRefunded          = "refunded"
	StatusPartiallyRefunded = "partially_refunded"
)

// Payment is one payments row.
type Payment struct {
	ID            int64     `json:"id"`
	OrderID       int64     `json:"order_id"`
	Method        string    `json:"method"`
	Provider      string    `json:"provider,omitempty"`
	ProviderRef   string    `json:"provider_ref,omitempty"`
	Reference     string    `json:"reference,omitempty"` // card, wallet: the terminal's reference
	AmountMinor   int64     `json:"amount_minor"`
	Currency      string    `json:"currency"`
	Status        string    `json:"status"`
	RefundedMinor int64     `json:"refunded_minor"`
	UserID        int64     `json:"user_id,omitempty"`
	SalesPointID  string    `json:"sales_point_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	ConfirmedAt   time.Time `json:"confirmed_at,omitzero"`
}

const paymentCols = `id, order_id, method, provider, coalesce(provider_ref, ''), coalesce(terminal_ref, ''), amount_minor,
	currency, status, refunded_minor, coalesce(user_id, 0), coalesce(sales_point_id, ''), created_at,
	coalesce(confirmed_at, 'epoch'::timestamptz)`

func scanPayment(row pgx.Row) (Payment, error) {
	var p Payment
	err := row.Scan(&p.ID, &p.OrderID, &p.Method, &p.Provider, &p.ProviderRef, &p.Reference, &p.AmountMinor, &p.Currency, &p.Status,
		&p.RefundedMinor, &p.UserID, &p.SalesPointID, &p.CreatedAt, &p.ConfirmedAt)
	if p.ConfirmedAt.Unix() == 0 {
		p.ConfirmedAt = time.Time{}
	}
	return p, err
}

func nullable[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// Pending is an online payment the provider has started.
type Pending struct {
	OrderID      int64
	Provider     string
	ProviderRef  string
	AmountMinor  int64
	Currency     string
	UserID       int64  // who started it, if a user
	SalesPointID string // where, if at a sales point
	At           time.Time
}

// RecordPending records a started provider payment (status pending).
func RecordPending(ctx context.Context, db DB, p Pending) (Payment, error) {
	if p.Provider == "" || p.ProviderRef == "" {
		return Payment{}, errors.New("payment: pending payment needs a provider and a provider ref")
	}
	return scanPayment(db.QueryRow(ctx, `INSERT INTO payments
		(order_id, method, provider, provider_ref, amount_minor, currency, status, user_id, sales_point_id, created_at)
		VALUES ($1, 'provider', $2, $3, $4, $5, 'pending', $6, $7, $8) RETURNING `+paymentCols,
		p.OrderID, p.Provider, p.ProviderRef, p.AmountMinor, p.Currency, nullable(p.UserID), nullable(p.SalesPointID), p.At))
}

// Find returns the payment a provider knows as ref, without locking it;
// ErrUnknown if there is none.
func Find(ctx context.Context, db DB, provider, ref string) (Payment, error) {
	p, err := scanPayment(db.QueryRow(ctx, `SELECT `+paymentCols+` FROM payments WHERE provider = $1 AND provider_ref = $2`, provider, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, fmt.Errorf("%w: %s payment %q", ErrUnknown, provider, ref)
	}
	return p, err
}

// Get returns payment id; ErrUnknown if there is none.
func Get(ctx context.Context, db DB, id int64) (Payment, error) {
	p, err := scanPayment(db.QueryRow(ctx, `SELECT `+paymentCols+` FROM payments WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, fmt.Errorf("%w: payment %d", ErrUnknown, id)
	}
	return p, err
}

// Lock returns payment id locked FOR UPDATE in tx. Lock the order first:
// the order row is always locked before its payments.
func Lock(ctx context.Context, tx DB, id int64) (Payment, error) {
	p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentCols+` FROM payments WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, fmt.Errorf("%w: payment %d", ErrUnknown, id)
	}
	return p, err
}

// Apply records a verified event on a locked payment and reports whether it
// changed anything: a replayed event changes nothing. A success moves a
// pending or failed payment to succeeded with the amount the provider
// reports (money was taken, so it must be accounted for); a failure moves
// only a pending one to failed (a late failure never undoes a success).
func Apply(ctx context.Context, tx DB, p Payment, ev Event, at time.Time) (Payment, bool, error) {
	switch {
	case ev.Status == StatusSucceeded && (p.Status == StatusPending || p.Status == StatusFailed):
		np, err := scanPayment(tx.QueryRow(ctx, `UPDATE payments SET status = 'succeeded', amount_minor = $2, confirmed_at = $3
			WHERE id = $1 RETURNING `+paymentCols, p.ID, ev.AmountMinor, at))
		return np, err == nil, err
	case ev.Status == StatusFailed && p.Status == StatusPending:
		np, err := scanPayment(tx.QueryRow(ctx, `UPDATE payments SET status = 'failed', confirmed_at = $2
			WHERE id = $1 RETURNING `+paymentCols, p.ID, at))
		return np, err == nil, err
	case ev.Status != StatusSucceeded && ev.Status != StatusFailed:
		return p, false, fmt.Errorf("payment: unknown event status %q", ev.Status)
	}
	return p, false, nil
}

// MarkRefunded adds amount to what was refunded of payment id and sets its
// status to refunded or partially_refunded.
func MarkRefunded(ctx context.Context, tx DB, id, amount int64) (Payment, error) {
	p, err := scanPayment(tx.QueryRow(ctx, `UPDATE payments SET refunded_minor = refunded_minor + $2,
			status = CASE WHEN refunded_minor + $2 >= amount_minor THEN 'refunded' ELSE 'partially_refunded' END
		WHERE id = $1 AND status IN ('succeeded', 'partially_refunded') AND refunded_minor + $2 <= amount_minor
		RETURNING `+paymentCols, id, amount))
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, fmt.Errorf("payment %d: nothing left to refund of %d", id, amount)
	}
	return p, err
}

// ForOrder lists an order's payments, oldest first.
func ForOrder(ctx context.Context, db DB, orderID int64) ([]Payment, error) {
	rows, err := db.Query(ctx, `SELECT `+paymentCols+` FROM payments WHERE order_id = $1 ORDER BY id`, orderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Payment{}
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
