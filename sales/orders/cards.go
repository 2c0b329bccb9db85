package orders

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/gateapi"
)

// Member cards as orders sees them: a line may bind its ticket to a card
// (a pass), and an order may be paid from a card's stored value through
// Config.CardPay (package member owns cards; it imports orders, so orders
// reaches it through the function it is given).

// CardPayment asks CardPay to take an order's total from a card.
type CardPayment struct {
	Card         string // as typed or read
	AmountMinor  int64  // the order total
	RedeemPoints int64  // points to redeem against it
	Currency     string
	ParkID       string
	OrderID      int64
	OrderNumber  string
	At           time.Time
}

// CardPaid is what CardPay took.
type CardPaid struct {
	Card         string `json:"card"`
	MoneyMinor   int64  `json:"money_minor"`  // from the balance
	PointsUsed   int64  `json:"points_used"`  // redeemed
	PointsMinor  int64  `json:"points_minor"` // what the points paid
	PointsEarned int64  `json:"points_earned"`
	BalanceMinor int64  `json:"balance_minor"` // after
}

// CardPayFunc takes a payment from a card in tx (refusals are problems).
type CardPayFunc func(ctx context.Context, tx pgx.Tx, p web.Principal, r CardPayment) (CardPaid, error)

// passCard checks the card a line binds its ticket to: active, of the
// park, not expired on the visit date, and opening no other valid ticket
// (a card opens one pass at a time, so a scan names one ticket).
func passCard(ctx context.Context, db DB, r LineRequest, park string, now time.Time) (int64, error) {
	if r.Quantity != 1 {
		return 0, bad("card_quantity", `a line bound to a card ("card") has quantity 1: one ticket per card`)
	}
	number := gateapi.NormalizeCardValue(r.Card)
	var (
		id            int64
		status, owner string
		expires       *time.Time
		other         *string
	)
	// The card row is locked until the order commits, so two orders racing
	// to bind one card queue: the second sees the first's pending line.
	// The check is a statement of its own, after the lock: its snapshot is
	// taken once the lock is held (a subquery of the locking statement
	// would see the snapshot from before the wait).
	err := db.QueryRow(ctx, `SELECT id, status, park_id, expires_on FROM cards WHERE number = $1 FOR UPDATE`, number).
		Scan(&id, &status, &owner, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, web.Problemf(http.StatusNotFound, "unknown_card", "no card %s", number)
	}
	if err != nil {
		return 0, err
	}
	if err := db.QueryRow(ctx, `SELECT coalesce(
			(SELECT 'ticket ' || t.id::text FROM tickets t WHERE t.card_id = $1 AND t.status IN ('active', 'suspended') AND t.valid_until > $2 LIMIT 1),
			(SELECT 'pending order ' || o.number FROM order_lines l JOIN orders o ON o.id = l.order_id
				WHERE l.card_id = $1 AND o.status = 'pending' LIMIT 1))`, id, now).Scan(&other); err != nil {
		return 0, err
	}
	switch {
	case owner != park:
		return 0, web.Problemf(http.StatusForbidden, "wrong_park", "card %s belongs to park %s, the product to park %s", number, owner, park)
	case status != "active":
		return 0, web.Problemf(http.StatusConflict, "card_not_active", "card %s is %s", number, status)
	case expires != nil && expires.Format(time.DateOnly) < r.VisitDate:
		return 0, web.Problemf(http.StatusConflict, "card_expired", "card %s expires on %s, before the visit date %s", number, expires.Format(time.DateOnly), r.VisitDate)
	case other != nil:
		return 0, web.Problemf(http.StatusConflict, "card_has_pass", "card %s is already bound to %s", number, *other)
	}
	return id, nil
}
