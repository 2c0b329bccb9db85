// Package revenue keeps the revenue summary rows (table revenue_daily)
// that the revenue report reads. A row sums the sales and refunds of one
// park day (the park's local date of the payment or of the refund) for one
// combination of the sale's dimensions: sales point, cashier who took the
// payment, product, channel, payment method, distributor, and a shard:
// orders without a user (online, distributors' keys) spread over 8 rows by
// order id, so concurrent online sales do not queue on one row; a user's
// orders (a cashier sells one at a time) keep shard 0, which keeps the
// month's rows few.
//
// Sale and Refund run in the transaction that marks the order paid or the
// refund refunded: a summary row changes exactly when the money facts do,
// and a rolled-back sale leaves no trace. A refund counts under the
// dimensions of the sale it refunds, on the day it was refunded.
package revenue

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// DB is a pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const conflict = ` ON CONFLICT (park_id, day, sales_point_id, user_id, product_id, channel, method, distributor_id, shard) DO UPDATE SET `

// Sale adds a paid order's lines (paid at `at`, through the payment the
// order names in paid_payment_id, if any). Its rows differ only by
// product and are written in product order, so two sales that share rows
// lock them in the same order and never deadlock.
func Sale(ctx context.Context, tx DB, orderID int64, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO revenue_daily AS r (park_id, day, sales_point_id, user_id, product_id, channel, method,
			distributor_id, shard, gross_minor, tickets_sold)
		SELECT o.park_id, ($2::timestamptz AT TIME ZONE pk.time_zone)::date, coalesce(o.sales_point_id, ''),
			coalesce(pay.user_id, 0), l.product_id, o.channel, coalesce(pay.method, 'account'),
			coalesce(o.distributor_id, 0), CASE WHEN o.user_id IS NULL THEN o.id % 8 ELSE 0 END, sum(l.quantity * l.unit_price_minor), sum(l.quantity)
		FROM orders o JOIN parks pk ON pk.id = o.park_id JOIN order_lines l ON l.order_id = o.id
		LEFT JOIN payments pay ON pay.id = o.paid_payment_id
		WHERE o.id = $1
		GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
		ORDER BY 5`+conflict+`
			gross_minor = r.gross_minor + excluded.gross_minor, tickets_sold = r.tickets_sold + excluded.tickets_sold`,
		orderID, at)
	return err
}

// Refund adds a refund that became refunded at `at`.
func Refund(ctx context.Context, tx DB, refundID int64, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO revenue_daily AS r (park_id, day, sales_point_id, user_id, product_id, channel, method,
			distributor_id, shard, refunds_minor, fees_minor, tickets_refunded)
		SELECT o.park_id, ($2::timestamptz AT TIME ZONE pk.time_zone)::date, coalesce(o.sales_point_id, ''),
			coalesce(pay.user_id, 0), t.product_id, o.channel, coalesce(pay.method, 'account'),
			coalesce(o.distributor_id, 0), CASE WHEN o.user_id IS NULL THEN o.id % 8 ELSE 0 END, f.amount_minor, f.fee_minor, 1
		FROM refunds f JOIN tickets t ON t.id = f.ticket_id JOIN orders o ON o.id = f.order_id
		JOIN parks pk ON pk.id = o.park_id LEFT JOIN payments pay ON pay.id = o.paid_payment_id
		WHERE f.id = $1`+conflict+`
			refunds_minor = r.refunds_minor + excluded.refunds_minor, fees_minor = r.fees_minor + excluded.fees_minor,
			tickets_refunded = r.tickets_refunded + excluded.tickets_refunded`,
		refundID, at)
	return err
}
