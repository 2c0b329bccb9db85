package shift

import (
	"context"
	"slices"
	"time"
)

// Handover methods: money that passes through the cashier's drawer or
// terminal and is counted at close. Provider payments are online.
var handover = []string{"cash", "card", "wallet"}

// MethodLine is one payment method of a shift report.
type MethodLine struct {
	Method              string `json:"method"`
	Payments            int64  `json:"payments"`
	TakenMinor          int64  `json:"taken_minor"`            // payments taken
	RefundsPaidOutMinor int64  `json:"refunds_paid_out_minor"` // refunds paid out at the window
	FloatMinor          int64  `json:"float_minor"`            // the opening float (cash)
	ExpectedMinor       int64  `json:"expected_minor"`         // float + taken - paid out
	CountedMinor        *int64 `json:"counted_minor,omitempty"`
	DifferenceMinor     *int64 `json:"difference_minor,omitempty"` // counted - expected
}

// Report is a shift report (交班应交款明细): what the cashier owes per
// method and what else happened in the shift.
type Report struct {
	Currency         string       `json:"currency"`
	Methods          []MethodLine `json:"methods"`
	ExpectedMinor    int64        `json:"expected_minor"`
	CountedMinor     *int64       `json:"counted_minor,omitempty"`
	DifferenceMinor  *int64       `json:"difference_minor,omitempty"`
	TicketsSold      int64        `json:"tickets_sold"`
	TicketsRefunded  int64        `json:"tickets_refunded"`
	RefundFeesMinor  int64        `json:"refund_fees_minor"`
	TicketsReprinted int64        `json:"tickets_reprinted"`
	OrdersVoided     int64        `json:"orders_voided"`
	ComputedAt       time.Time    `json:"computed_at"`
}

// compute sums the rows that name shift id. counted, when not nil, fills
// the counted and difference fields.
func compute(ctx context.Context, db DB, id int64, currency string, float int64, counted map[string]int64, now time.Time) (Report, error) {
	r := Report{Currency: currency, ComputedAt: now}
	lines := map[string]*MethodLine{"cash": {Method: "cash", FloatMinor: float}}
	line := func(m string) *MethodLine {
		if lines[m] == nil {
			lines[m] = &MethodLine{Method: m}
		}
		return lines[m]
	}
	rows, err := db.Query(ctx, `SELECT method, count(*), coalesce(sum(amount_minor), 0) FROM payments
		WHERE shift_id = $1 AND status IN ('succeeded', 'partially_refunded', 'refunded') GROUP BY method`, id)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var m string
		var n, sum int64
		if err := rows.Scan(&m, &n, &sum); err != nil {
			rows.Close()
			return r, err
		}
		if !slices.Contains(handover, m) {
			continue // online money never passes the drawer
		}
		l := line(m)
		l.Payments, l.TakenMinor = n, sum
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	rows, err = db.Query(ctx, `SELECT coalesce(pay.method, 'account'), count(*), coalesce(sum(f.amount_minor), 0),
			coalesce(sum(f.fee_minor), 0)
		FROM refunds f JOIN orders o ON o.id = f.order_id LEFT JOIN payments pay ON pay.id = o.paid_payment_id
		WHERE f.shift_id = $1 AND f.status = 'refunded' GROUP BY 1`, id)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var m string
		var n, sum, fees int64
		if err := rows.Scan(&m, &n, &sum, &fees); err != nil {
			rows.Close()
			return r, err
		}
		r.TicketsRefunded += n
		r.RefundFeesMinor += fees
		if slices.Contains(handover, m) {
			line(m).RefundsPaidOutMinor += sum
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	if err := addMemberMoney(ctx, db, id, line); err != nil {
		return r, err
	}
	err = db.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM tickets t JOIN orders o ON o.id = t.order_id JOIN payments p ON p.id = o.paid_payment_id
				WHERE p.shift_id = $1),
			(SELECT count(*) FROM reprints WHERE shift_id = $1),
			(SELECT count(*) FROM orders WHERE shift_id = $1 AND status = 'cancelled')`, id).
		Scan(&r.TicketsSold, &r.TicketsReprinted, &r.OrdersVoided)
	if err != nil {
		return r, err
	}
	for m := range counted {
		line(m)
	}
	var countedSum, diffSum int64
	for _, m := range handover {
		l := lines[m]
		if l == nil {
			continue
		}
		l.ExpectedMinor = l.FloatMinor + l.TakenMinor - l.RefundsPaidOutMinor
		r.ExpectedMinor += l.ExpectedMinor
		if counted != nil {
			c := counted[m]
			d := c - l.ExpectedMinor
			l.CountedMinor, l.DifferenceMinor = &c, &d
			countedSum += c
			diffSum += d
		}
		r.Methods = append(r.Methods, *l)
	}
	if counted != nil {
		r.CountedMinor, r.DifferenceMinor = &countedSum, &diffSum
	}
	return r, nil
}
