package orders

import (
	"fmt"
	"net/http"
	"testing"
)

// TestConcurrentMultiDayOrdersDoNotDeadlock: orders whose lines cover two
// visit days, half of them listing the days the other way round, placed
// at once, all succeed. Places are taken in one global order (each day's
// counters in date order, the park's first), so two orders never wait on
// each other's counters; taken line by line in request order they
// deadlocked, and PostgreSQL failed one of each pair (a 500).
func TestConcurrentMultiDayOrdersDoNotDeadlock(t *testing.T) {
	f := newFixture(t)
	const later = "2026-11-24"
	d1, d2 := line("day", 1), map[string]any{"product_id": "day", "visit_date": later, "quantity": 1}
	f.create(tokCashier, body(d1, d2)) // makes both days' counter rows

	buyers := int(f.pool.Config().MaxConns)
	replies := buyThroughGate(t, f, buyers, []string{tomorrow, later}, func(i int) reply {
		b := body(d1, d2)
		if i%2 == 1 {
			b = body(d2, d1)
		}
		return f.send("POST", "/v1/orders", tokCashier, b, http.Header{IdempotencyHeader: {fmt.Sprintf("buyer-%d", i)}})
	})
	failed := 0
	for i, r := range replies {
		if r.status != http.StatusCreated {
			failed++
			t.Errorf("buyer %d (days %s): %d %s", i, map[bool]string{false: "in order", true: "reversed"}[i%2 == 1], r.status, r.body)
		}
	}
	t.Logf("%d two-day orders at once, half with the days reversed: %d failed", buyers, failed)
	for _, day := range []string{tomorrow, later} {
		if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'park' AND scope_id = 'fun' AND visit_date = $1::date`, day); n != 1+buyers-failed {
			t.Errorf("park counter on %s: %d, want %d", day, n, 1+buyers-failed)
		}
	}
}
