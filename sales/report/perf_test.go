package report_test

import (
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/shift"
)

// benchOrders is how many orders the benchmarks load into one month
// ($ADMIT_REPORT_BENCH_ORDERS, default 1,000,000).
func benchOrders(b *testing.B) int {
	if v := os.Getenv("ADMIT_REPORT_BENCH_ORDERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("ADMIT_REPORT_BENCH_ORDERS=%q", v)
		}
		return n
	}
	return 1_000_000
}

// loadMonth writes n paid orders of November 2026 (one line, one cash
// payment each, three cashiers on two windows, three products), refunds
// 2 % of their tickets, and the revenue summary rows those sales and
// refunds make, all with generate_series (the foreign keys between orders
// and payments are checked by the ALTER at the end).
func (w *world) loadMonth(b *testing.B, n int) {
	b.Helper()
	t0 := time.Now()
	c1, c2, c3 := w.who["c1"].UserID, w.who["c2"].UserID, w.who["c3"].UserID
	var keyID int
	if err := w.pool.QueryRow(w.ctx, `SELECT id FROM signing_keys WHERE active`).Scan(&keyID); err != nil {
		b.Fatal(err)
	}
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{`ALTER TABLE orders DROP CONSTRAINT orders_paid_payment_id_fkey`, []any{}},
		{`INSERT INTO orders (id, number, park_id, channel, sales_point_id, user_id, status, currency, total_minor, created_at, paid_at, paid_payment_id)
		 SELECT g, 'B' || g, 'wk', 'window', CASE WHEN g % 3 = 2 THEN 'w2' ELSE 'w1' END,
			(ARRAY[$1, $2, $3]::bigint[])[g % 3 + 1], 'paid', 'USD', 10000,
			timestamptz '2026-11-01 00:00 America/New_York' + (g::double precision / $4) * interval '30 days',
			timestamptz '2026-11-01 00:00 America/New_York' + (g::double precision / $4) * interval '30 days', g
		 FROM generate_series(1, $4::int) g`, []any{c1, c2, c3, n}},
		{`INSERT INTO order_lines (id, order_id, product_id, visit_date, quantity, unit_price_minor)
		 SELECT g, g, (ARRAY['day', 'kid', 'fam'])[g % 3 + 1], date '2026-11-01' + (g % 30), 1, 10000 FROM generate_series(1, $1::int) g`, []any{n}},
		{`INSERT INTO payments (id, order_id, method, amount_minor, currency, status, user_id, sales_point_id, created_at, confirmed_at)
		 SELECT o.id, o.id, 'cash', 10000, 'USD', 'succeeded', o.user_id, o.sales_point_id, o.paid_at, o.paid_at
		 FROM orders o WHERE o.id <= $1`, []any{n}},
		{`ALTER TABLE orders ADD CONSTRAINT orders_paid_payment_id_fkey FOREIGN KEY (paid_payment_id) REFERENCES payments`, []any{}},
		{`SELECT setval('orders_id_seq', $1), setval('order_lines_id_seq', $1), setval('payments_id_seq', $1)`, []any{n}},
		{`INSERT INTO tickets (id, order_id, order_line_id, park_id, product_id, kind, visit_date, valid_from, valid_until, status, code, key_id, price_minor, issued_at)
		 SELECT gen_random_uuid(), g, g, 'wk', 'day', 'single', date '2026-11-01' + (g % 30), now(), now(), 'refunded', 'x', $2, 10000, now()
		 FROM generate_series(50, $1::int, 50) g`, []any{n, keyID}},
		{`INSERT INTO refunds (order_id, ticket_id, status, amount_minor, fee_minor, currency, created_at, completed_at, refunded_at)
		 SELECT t.order_id, t.id, 'refunded', 8500, 1500, 'USD', o.paid_at + interval '1 hour', o.paid_at + interval '1 hour', o.paid_at + interval '1 hour'
		 FROM tickets t JOIN orders o ON o.id = t.order_id WHERE t.code = 'x'`, []any{}},
		// What revenue.Sale and revenue.Refund would have added, sale by
		// sale (the same statements as migration 0007's backfill).
		{`INSERT INTO revenue_daily (park_id, day, sales_point_id, user_id, product_id, channel, method, distributor_id, shard, gross_minor, tickets_sold)
		 SELECT o.park_id, (o.paid_at AT TIME ZONE 'America/New_York')::date, o.sales_point_id, p.user_id, l.product_id, o.channel, p.method, 0, CASE WHEN o.user_id IS NULL THEN o.id % 8 ELSE 0 END,
			sum(l.quantity * l.unit_price_minor), sum(l.quantity)
		 FROM orders o JOIN order_lines l ON l.order_id = o.id JOIN payments p ON p.id = o.paid_payment_id WHERE o.id <= $1
		 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9`, []any{n}},
		{`INSERT INTO revenue_daily AS r (park_id, day, sales_point_id, user_id, product_id, channel, method, distributor_id, shard, refunds_minor, fees_minor, tickets_refunded)
		 SELECT o.park_id, (f.refunded_at AT TIME ZONE 'America/New_York')::date, o.sales_point_id, p.user_id, t.product_id, o.channel, p.method, 0, CASE WHEN o.user_id IS NULL THEN o.id % 8 ELSE 0 END,
			sum(f.amount_minor), sum(f.fee_minor), count(*)
		 FROM refunds f JOIN tickets t ON t.id = f.ticket_id JOIN orders o ON o.id = f.order_id JOIN payments p ON p.id = o.paid_payment_id
		 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
		 ON CONFLICT (park_id, day, sales_point_id, user_id, product_id, channel, method, distributor_id, shard) DO UPDATE SET
			refunds_minor = r.refunds_minor + excluded.refunds_minor, fees_minor = r.fees_minor + excluded.fees_minor,
			tickets_refunded = r.tickets_refunded + excluded.tickets_refunded`, []any{}},
		{`ANALYZE`, []any{}},
	} {
		if _, err := w.pool.Exec(w.ctx, st.sql, st.args...); err != nil {
			b.Fatalf("%s: %v", st.sql, err)
		}
	}
	var rows int
	_ = w.pool.QueryRow(w.ctx, `SELECT count(*) FROM revenue_daily`).Scan(&rows)
	b.Logf("loaded %d orders, %d refunds, %d summary rows in %v", n, n/50, rows, time.Since(t0).Round(time.Millisecond))
}

var monthQuery = report.Params{Park: "wk", From: "2026-11-01", To: "2026-11-30", GroupBy: []string{"sales_point", "cashier", "product", "method"}}

// BenchmarkRevenueMonth: the revenue report of a month of benchOrders
// orders, by day, sales point, cashier, product and method, as JSON. It
// also times, once, the same sums taken from the raw rows (orders, lines,
// payments, refunds): what the summary rows save.
//
//	go test -run '^$' -bench BenchmarkRevenueMonth -benchtime 5x ./sales/report/
func BenchmarkRevenueMonth(b *testing.B) {
	w := newWorld(b)
	w.loadMonth(b, benchOrders(b))
	t0 := time.Now()
	var n int
	if err := w.pool.QueryRow(w.ctx, `SELECT count(*) FROM (
		SELECT (o.paid_at AT TIME ZONE 'America/New_York')::date, o.sales_point_id, p.user_id, l.product_id, p.method,
			sum(l.quantity * l.unit_price_minor), sum(l.quantity)
		FROM orders o JOIN order_lines l ON l.order_id = o.id JOIN payments p ON p.id = o.paid_payment_id
		WHERE o.park_id = 'wk' AND o.paid_at >= timestamptz '2026-11-01 00:00 America/New_York'
		  AND o.paid_at < timestamptz '2026-12-01 00:00 America/New_York'
		GROUP BY 1, 2, 3, 4, 5) x`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	b.Logf("the same month summed from the raw rows (sales only, no refunds): %d groups in %v", n, time.Since(t0).Round(time.Millisecond))
	for b.Loop() {
		if err := w.reports.Write(w.ctx, w.who["fin"], report.Revenue, monthQuery, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSellingWhileReporting measures the latency of a window sale
// (create and pay an order, two transactions) by three cashiers at once,
// first alone, then while finance runs the month's revenue report in a
// loop, over a month of benchOrders orders. It reports both p99s.
//
//	go test -run '^$' -bench BenchmarkSellingWhileReporting -benchtime 1x ./sales/report/
func BenchmarkSellingWhileReporting(b *testing.B) {
	w := newWorld(b)
	w.loadMonth(b, benchOrders(b))
	w.clock.Set(time.Date(2026, 11, 16, 9, 0, 0, 0, w.loc))
	cashiers := []string{"c1", "c2", "c3"}
	for _, c := range cashiers {
		if _, err := w.shifts.Open(w.ctx, w.who[c], shift.OpenRequest{}); err != nil {
			b.Fatal(err)
		}
	}
	const perCashier = 300
	sell := func() []time.Duration {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		for _, c := range cashiers {
			p := w.who[c]
			wg.Go(func() {
				for range perCashier {
					t0 := time.Now()
					o, _, err := w.orders.Create(w.ctx, p, "", orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "day", VisitDate: "2026-11-16", Quantity: 1}}})
					if err == nil {
						_, err = w.orders.Pay(w.ctx, p, o.Number, orders.PayRequest{Method: payment.MethodCash, AmountMinor: &o.TotalMinor})
					}
					if err != nil {
						b.Error(err)
						return
					}
					d := time.Since(t0)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(lat)
		return lat
	}
	pct := func(lat []time.Duration, q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	// busy runs f in a loop on its own goroutine until the returned stop
	// is called (which waits for it); it counts the rounds.
	busy := func(f func() error) (stop func() int) {
		done := make(chan struct{})
		var n int
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := f(); err != nil {
					b.Error(err)
					return
				}
				n++
			}
		})
		return func() int { close(done); wg.Wait(); return n }
	}
	for b.Loop() {
		alone := sell()
		stop := busy(func() error {
			return w.reports.Write(w.ctx, w.who["fin"], report.Revenue, monthQuery, io.Discard)
		})
		loaded := sell()
		reports := stop()
		// The control: a loop of the same CPU cost that reads nothing of
		// the sales (a series summed in PostgreSQL, then as much Go work),
		// to tell CPU sharing on a small box from any harm of the report.
		stop = busy(func() error {
			var x int64
			return w.pool.QueryRow(w.ctx, `SELECT sum(g) FROM generate_series(1, 20000) g`).Scan(&x)
		})
		control := sell()
		rounds := stop()
		b.Logf("%d sales alone: p50 %v p99 %v", len(alone), pct(alone, .5), pct(alone, .99))
		b.Logf("%d sales while %d month reports ran in a loop: p50 %v p99 %v (p99 ratio %.2f)", len(loaded), reports,
			pct(loaded, .5), pct(loaded, .99), float64(pct(loaded, .99))/float64(pct(alone, .99)))
		b.Logf("%d sales while %d rounds of a CPU-only query ran in a loop: p50 %v p99 %v (p99 ratio %.2f)", len(control), rounds,
			pct(control, .5), pct(control, .99), float64(pct(control, .99))/float64(pct(alone, .99)))
		b.ReportMetric(float64(pct(alone, .99).Microseconds())/1000, "p99-ms-alone")
		b.ReportMetric(float64(pct(loaded, .99).Microseconds())/1000, "p99-ms-reporting")
		b.ReportMetric(float64(pct(control, .99).Microseconds())/1000, "p99-ms-cpu-loop")
	}
}
