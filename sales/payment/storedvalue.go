package payment

import (
	"context"
	"time"
)

// MethodStoredValue: paid from a member card's balance and points (package
// member keeps the card's statement line, linked by order).
const MethodStoredValue = "stored_value"

// StoredValue is an order paid from a member card.
type StoredValue struct {
	OrderID      int64
	AmountMinor  int64 // the order total: balance and redeemed points together
	Currency     string
	UserID       int64  // who took it, if a user
	SalesPointID string // where, if at a sales point
	ShiftID      int64  // the cashier's shift (0: none): its tickets sold, not its drawer money
	At           time.Time
}

// RecordStoredValue records a succeeded stored-value payment.
func RecordStoredValue(ctx context.Context, db DB, s StoredValue) (Payment, error) {
	return scanPayment(db.QueryRow(ctx, `INSERT INTO payments
		(order_id, method, amount_minor, currency, status, user_id, sales_point_id, created_at, confirmed_at, shift_id)
		VALUES ($1, 'stored_value', $2, $3, 'succeeded', $4, $5, $6, $6, $7) RETURNING `+paymentCols,
		s.OrderID, s.AmountMinor, s.Currency, nullable(s.UserID), nullable(s.SalesPointID), s.At, nullable(s.ShiftID)))
}
