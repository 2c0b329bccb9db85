package orders

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/web"
)

// TestConcurrentOrdersNeverOversellEachLimit: buyers POST orders at once
// against each kind of limit while it alone binds (the park's daily
// capacity across two products, a product's daily quota, a time slot's
// capacity); exactly the limit is sold and the rest are told
// quota_exhausted.
//
// As many buyers as the API's pool has connections are let loose together
// at the counters: a gate transaction (on a pool of its own) holds the
// day's quota counter rows locked until every buyer's order transaction is
// waiting on a lock, so each buyer has read whatever it reads before any
// of them updates a counter. Code that checked a limit on a count read
// before locking its row would sell to all of them.
func TestConcurrentOrdersNeverOversellEachLimit(t *testing.T) {
	const limit = 6
	cases := []struct {
		name  string
		setup string // SQL that makes the limit ($1) binding
		lines []map[string]any
		named func(f *fixture) string // how the refusal names the limit
	}{
		{name: "park", setup: `UPDATE parks SET daily_capacity = $1 WHERE id = 'fun'`,
			lines: []map[string]any{line("day", 1), line("multi", 1)},
			named: func(*fixture) string { return "park fun is sold out" }},
		{name: "product", setup: `UPDATE products SET daily_quota = $1 WHERE id = 'day'`,
			lines: []map[string]any{line("day", 1)},
			named: func(*fixture) string { return "product day is sold out" }},
		{name: "slot", setup: `UPDATE time_slots SET capacity = $1 WHERE product_id = 'slot'`,
			lines: []map[string]any{{"product_id": "slot", "visit_date": tomorrow, "quantity": 1}},
			named: func(f *fixture) string { return fmt.Sprintf("slot %d is sold out", f.slotID) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.exec(c.setup, limit)
			if c.name == "slot" {
				c.lines[0]["slot_id"] = f.slotID
			}
			f.create(tokCashier, body(c.lines[0])) // makes the day's counter rows; limit-1 places are left

			buyers := int(f.pool.Config().MaxConns) // each order transaction holds one connection
			replies := buyThroughGate(t, f, buyers, []string{tomorrow}, func(i int) reply {
				return f.send("POST", "/v1/orders", tokCashier, body(c.lines[i%len(c.lines)]),
					http.Header{IdempotencyHeader: {fmt.Sprintf("buyer-%d", i)}})
			})
			sold, refused := 0, 0
			for i, r := range replies {
				switch r.status {
				case http.StatusCreated:
					sold++
				case http.StatusConflict:
					var p web.ProblemBody
					r.decode(t, &p)
					if p.Code != "quota_exhausted" || !strings.Contains(p.Error, c.named(f)) {
						t.Errorf("buyer %d refused with %s, want quota_exhausted saying %q", i, r.body, c.named(f))
					}
					refused++
				default:
					t.Errorf("buyer %d: reply %d %s", i, r.status, r.body)
				}
			}
			t.Logf("%s limit %d: 1 sold before, %d of %d racing buyers got an order, %d refused", c.name, limit, sold, buyers, refused)
			if sold != limit-1 || refused != buyers-(limit-1) {
				t.Fatalf("%d racing buyers got an order and %d were refused; want %d and %d (limit %d, 1 sold before)",
					sold, refused, limit-1, buyers-(limit-1), limit)
			}
			if n := f.count(`SELECT coalesce(sum(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
				WHERE o.status = 'pending'`); n != limit {
				t.Errorf("pending orders hold %d tickets, want exactly the limit %d", n, limit)
			}
			if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'park' AND scope_id = 'fun'`); n != limit {
				t.Errorf("park counter %d, want %d", n, limit)
			}
			if v := f.metric("admit_sales_quota_rejections_total"); int(v) != refused {
				t.Errorf("quota rejections metric %v, want %d", v, refused)
			}
		})
	}
}

// buyThroughGate runs buy(i) for n buyers at once while a gate transaction
// holds every quota counter row of days locked; once each buyer is done or
// waiting on a lock it lets them all go, and returns the replies.
func buyThroughGate(t *testing.T, f *fixture, n int, days []string, buy func(i int) reply) []reply {
	t.Helper()
	own, err := pgxpool.NewWithConfig(f.ctx, f.pool.Config()) // the API's pool is the buyers'
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	replies := make([]reply, n)
	pgtest.RaceBehindLock(t, f.ctx, own, `SELECT count(*) FROM (SELECT 1 FROM quota_usage WHERE visit_date = ANY($1::date[])
		ORDER BY visit_date, array_position(ARRAY['park', 'product', 'slot'], scope), scope_id FOR UPDATE) l`, []any{days},
		n, func(i int) { replies[i] = buy(i) })
	return replies
}
