package quota_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/quota"
	"github.com/admitpark/admit/sales/web"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

var day = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

// fixture inserts the minimal rows quota needs: a park, products, slots
// and orders (quota_holds references orders).
type fixture struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	n    int // orders made
	mu   sync.Mutex
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, ctx: t.Context(), pool: pgtest.NewDB(t)}
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// park adds a park with the given daily capacity (nil: none).
func (f *fixture) park(id string, capacity *int) {
	f.t.Helper()
	f.exec(`INSERT INTO parks (id, name, time_zone, daily_capacity) VALUES ($1, $1, 'Asia/Shanghai', $2)`, id, capacity)
}

func (f *fixture) product(park, id string, dailyQuota *int) {
	f.t.Helper()
	f.exec(`INSERT INTO products (id, park_id, name, kind, price_minor, daily_quota) VALUES ($1, $2, $1, 'single', 1000, $3)`,
		id, park, dailyQuota)
}

func (f *fixture) slot(product string, start string, capacity int) int64 {
	f.t.Helper()
	var id int64
	err := f.pool.QueryRow(f.ctx, `INSERT INTO time_slots (product_id, starts, ends, capacity)
		VALUES ($1, $2::time, $2::time + interval '1 hour', $3) RETURNING id`, product, start, capacity).Scan(&id)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// order inserts a pending order in db (a transaction or the pool).
func (f *fixture) order(db quota.DB, park string) (int64, error) {
	f.mu.Lock()
	f.n++
	number := fmt.Sprintf("T-%06d", f.n)
	f.mu.Unlock()
	var id int64
	err := db.QueryRow(f.ctx, `INSERT INTO orders (number, park_id, channel, status, currency, total_minor)
		VALUES ($1, $2, 'window', 'pending', 'CNY', 0) RETURNING id`, number, park).Scan(&id)
	return id, err
}

// take runs quota.Take for a new order in its own transaction, committed
// when Take succeeds; it returns the order id.
func (f *fixture) take(r quota.Request) (int64, error) {
	var orderID int64
	err := pgx.BeginFunc(f.ctx, f.pool, func(tx pgx.Tx) error {
		var err error
		if orderID, err = f.order(tx, r.ParkID); err != nil {
			return err
		}
		return quota.Take(f.ctx, tx, orderID, r)
	})
	return orderID, err
}

func (f *fixture) mustTake(r quota.Request) int64 {
	f.t.Helper()
	id, err := f.take(r)
	if err != nil {
		f.t.Fatalf("take %+v: %v", r, err)
	}
	return id
}

func (f *fixture) used(scope, id string, d time.Time) int {
	f.t.Helper()
	var n int
	err := f.pool.QueryRow(f.ctx, `SELECT coalesce((SELECT used FROM quota_usage WHERE scope = $1 AND scope_id = $2 AND visit_date = $3::date), 0)`,
		scope, id, d.Format(time.DateOnly)).Scan(&n)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) held(orderID int64) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT coalesce(sum(quantity), 0) FROM quota_holds WHERE order_id = $1`, orderID).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) release(orderID int64) {
	f.t.Helper()
	if err := pgx.BeginFunc(f.ctx, f.pool, func(tx pgx.Tx) error { return quota.Release(f.ctx, tx, orderID) }); err != nil {
		f.t.Fatal(err)
	}
}

func ptr(n int) *int { return &n }

// wantExhausted checks err is ErrExhausted and a 409 quota_exhausted
// problem whose message contains each of words.
func wantExhausted(t *testing.T, err error, words ...string) {
	t.Helper()
	if !errors.Is(err, quota.ErrExhausted) {
		t.Fatalf("err = %v, want ErrExhausted", err)
	}
	var p *web.Problem
	if !errors.As(err, &p) || p.Status != http.StatusConflict || p.Code != "quota_exhausted" {
		t.Fatalf("err = %#v, want a 409 quota_exhausted problem", err)
	}
	for _, w := range words {
		if !strings.Contains(p.Msg, w) {
			t.Errorf("message %q does not name %q", p.Msg, w)
		}
	}
}

func TestConcurrentBuyersNeverOversellASlot(t *testing.T) {
	f := newFixture(t)
	f.park("p1", nil)
	f.product("p1", "tour", nil)
	slot := f.slot("tour", "10:00", 50)
	r := quota.Request{ParkID: "p1", ProductID: "tour", SlotID: slot, VisitDate: day, Quantity: 1}

	const buyers = 200
	errs := make([]error, buyers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range buyers {
		wg.Go(func() {
			<-start
			_, errs[i] = f.take(r)
		})
	}
	close(start)
	wg.Wait()

	ok, exhausted := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, quota.ErrExhausted):
			exhausted++
			wantExhausted(t, err, fmt.Sprintf("slot %d", slot), day.Format(time.DateOnly))
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 50 || exhausted != 150 {
		t.Fatalf("%d took a place and %d were refused; want 50 and 150", ok, exhausted)
	}
	if got := f.used(quota.ScopeSlot, fmt.Sprint(slot), day); got != 50 {
		t.Errorf("slot used = %d, want 50", got)
	}
	if got := f.used(quota.ScopeProduct, "tour", day); got != 50 {
		t.Errorf("product used = %d, want 50 (refused orders roll back every scope)", got)
	}
	if got := f.used(quota.ScopePark, "p1", day); got != 50 {
		t.Errorf("park used = %d, want 50", got)
	}
	var holds int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(DISTINCT order_id) FROM quota_holds`).Scan(&holds); err != nil {
		t.Fatal(err)
	}
	if holds != 50 {
		t.Errorf("%d orders hold places, want 50", holds)
	}
}

func TestReleaseGivesPlacesBack(t *testing.T) {
	f := newFixture(t)
	f.park("p1", nil)
	f.product("p1", "tour", nil)
	slot := f.slot("tour", "10:00", 5)
	r := quota.Request{ParkID: "p1", ProductID: "tour", SlotID: slot, VisitDate: day, Quantity: 3}

	first := f.mustTake(r)
	_, err := f.take(r)
	wantExhausted(t, err, fmt.Sprintf("slot %d", slot), "2 left, 3 asked")

	f.release(first)
	if got := f.used(quota.ScopeSlot, fmt.Sprint(slot), day); got != 0 {
		t.Fatalf("slot used after release = %d, want 0", got)
	}
	if got := f.used(quota.ScopePark, "p1", day); got != 0 {
		t.Fatalf("park used after release = %d, want 0", got)
	}
	if got := f.held(first); got != 0 {
		t.Fatalf("released order still holds %d places", got)
	}
	f.release(first) // idempotent
	if got := f.used(quota.ScopeSlot, fmt.Sprint(slot), day); got != 0 {
		t.Fatalf("slot used after a second release = %d, want 0", got)
	}

	second := f.mustTake(r) // the places are there again
	if got := f.used(quota.ScopeSlot, fmt.Sprint(slot), day); got != 3 {
		t.Fatalf("slot used = %d, want 3", got)
	}
	if got := f.held(second); got != 9 { // 3 in each of park, product, slot
		t.Fatalf("order holds %d, want 9", got)
	}
}

func TestReleaseOneGivesBackOneTicket(t *testing.T) {
	f := newFixture(t)
	f.park("p1", ptr(100))
	f.product("p1", "tour", ptr(10))
	slot := f.slot("tour", "10:00", 4)
	r := quota.Request{ParkID: "p1", ProductID: "tour", SlotID: slot, VisitDate: day, Quantity: 4}
	order := f.mustTake(r)
	_, err := f.take(quota.Request{ParkID: "p1", ProductID: "tour", SlotID: slot, VisitDate: day, Quantity: 1})
	wantExhausted(t, err, fmt.Sprintf("slot %d", slot))

	one := r
	one.Quantity = 1
	if err := pgx.BeginFunc(f.ctx, f.pool, func(tx pgx.Tx) error { return quota.ReleaseOne(f.ctx, tx, order, one) }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ scope, id string }{{quota.ScopePark, "p1"}, {quota.ScopeProduct, "tour"}, {quota.ScopeSlot, fmt.Sprint(slot)}} {
		if got := f.used(c.scope, c.id, day); got != 3 {
			t.Errorf("%s used = %d after one refund, want 3", c.scope, got)
		}
	}
	if got := f.held(order); got != 9 {
		t.Errorf("order holds %d after one refund, want 9", got)
	}
	f.mustTake(quota.Request{ParkID: "p1", ProductID: "tour", SlotID: slot, VisitDate: day, Quantity: 1})

	// Release after a partial refund gives back only what is still held.
	f.release(order)
	if got := f.used(quota.ScopeSlot, fmt.Sprint(slot), day); got != 1 {
		t.Errorf("slot used = %d, want 1 (the other order's place)", got)
	}
	// ReleaseOne of an order that holds nothing changes nothing.
	if err := pgx.BeginFunc(f.ctx, f.pool, func(tx pgx.Tx) error { return quota.ReleaseOne(f.ctx, tx, order, one) }); err != nil {
		t.Fatal(err)
	}
	if got := f.used(quota.ScopeSlot, fmt.Sprint(slot), day); got != 1 {
		t.Errorf("slot used = %d after ReleaseOne of a released order, want 1", got)
	}
}

func TestParkCapacityAppliesAcrossProducts(t *testing.T) {
	f := newFixture(t)
	f.park("p1", ptr(10))
	f.product("p1", "adult", nil)
	f.product("p1", "child", nil)
	f.park("p2", ptr(10))
	f.product("p2", "other", nil)

	f.mustTake(quota.Request{ParkID: "p1", ProductID: "adult", VisitDate: day, Quantity: 6})
	_, err := f.take(quota.Request{ParkID: "p1", ProductID: "child", VisitDate: day, Quantity: 5})
	wantExhausted(t, err, "park p1", "4 left, 5 asked")
	if got := f.used(quota.ScopeProduct, "child", day); got != 0 {
		t.Errorf("child used = %d after a refused take, want 0", got)
	}
	f.mustTake(quota.Request{ParkID: "p1", ProductID: "child", VisitDate: day, Quantity: 4})

	// Other days and other parks are counted apart.
	f.mustTake(quota.Request{ParkID: "p1", ProductID: "child", VisitDate: day.AddDate(0, 0, 1), Quantity: 10})
	f.mustTake(quota.Request{ParkID: "p2", ProductID: "other", VisitDate: day, Quantity: 10})

	av, err := quota.Available(f.ctx, f.pool, quota.Request{ParkID: "p1", ProductID: "adult", VisitDate: day})
	if err != nil {
		t.Fatal(err)
	}
	if len(av) != 2 || av[0].Scope != quota.ScopePark || av[0].Used != 10 || av[0].Remaining == nil || *av[0].Remaining != 0 {
		t.Fatalf("park availability = %+v, want 10 used and 0 left", av)
	}
	if av[1].Scope != quota.ScopeProduct || av[1].Used != 6 || av[1].Capacity != nil || av[1].Remaining != nil {
		t.Fatalf("product availability = %+v, want 6 used and no limit", av[1])
	}
}

func TestProductQuota(t *testing.T) {
	f := newFixture(t)
	f.park("p1", nil)
	f.product("p1", "vip", ptr(2))
	f.product("p1", "closed", ptr(0))
	f.mustTake(quota.Request{ParkID: "p1", ProductID: "vip", VisitDate: day, Quantity: 2})
	_, err := f.take(quota.Request{ParkID: "p1", ProductID: "vip", VisitDate: day, Quantity: 1})
	wantExhausted(t, err, "product vip", "0 left, 1 asked")
	_, err = f.take(quota.Request{ParkID: "p1", ProductID: "closed", VisitDate: day, Quantity: 1})
	wantExhausted(t, err, "product closed")
	if got := f.used(quota.ScopePark, "p1", day); got != 2 {
		t.Errorf("park used = %d, want 2 (refusals roll back)", got)
	}
}

func TestAvailable(t *testing.T) {
	f := newFixture(t)
	f.park("p1", ptr(100))
	f.product("p1", "tour", ptr(30))
	slot := f.slot("tour", "10:00", 20)
	r := quota.Request{ParkID: "p1", ProductID: "tour", SlotID: slot, VisitDate: day}

	av, err := quota.Available(f.ctx, f.pool, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		scope, id string
		capacity  int
		used      int
	}{{quota.ScopePark, "p1", 100, 0}, {quota.ScopeProduct, "tour", 30, 0}, {quota.ScopeSlot, fmt.Sprint(slot), 20, 0}}
	check := func(av []quota.Availability) {
		t.Helper()
		if len(av) != len(want) {
			t.Fatalf("got %d limits, want %d: %+v", len(av), len(want), av)
		}
		for i, w := range want {
			a := av[i]
			if a.Scope != w.scope || a.ID != w.id || a.Capacity == nil || *a.Capacity != w.capacity || a.Used != w.used ||
				a.Remaining == nil || *a.Remaining != w.capacity-w.used {
				t.Errorf("limit %d = %+v (capacity %v, remaining %v), want %+v", i, a, deref(a.Capacity), deref(a.Remaining), w)
			}
		}
	}
	check(av)

	r.Quantity = 7
	f.mustTake(r)
	want[0].used, want[1].used, want[2].used = 7, 7, 7
	av, err = quota.Available(f.ctx, f.pool, r)
	if err != nil {
		t.Fatal(err)
	}
	check(av)

	// Unknown product or a slot of another product: 404 problems.
	f.product("p1", "other", nil)
	for _, bad := range []quota.Request{
		{ParkID: "p1", ProductID: "nope", VisitDate: day},
		{ParkID: "p2", ProductID: "tour", VisitDate: day},
		{ParkID: "p1", ProductID: "other", SlotID: slot, VisitDate: day},
	} {
		_, err := quota.Available(f.ctx, f.pool, bad)
		var p *web.Problem
		if !errors.As(err, &p) || p.Status != http.StatusNotFound {
			t.Errorf("Available(%+v) = %v, want a 404 problem", bad, err)
		}
	}
}

func TestTakeRefusesBadQuantity(t *testing.T) {
	f := newFixture(t)
	f.park("p1", nil)
	f.product("p1", "tour", nil)
	for _, q := range []int{0, -1} {
		_, err := f.take(quota.Request{ParkID: "p1", ProductID: "tour", VisitDate: day, Quantity: q})
		var p *web.Problem
		if !errors.As(err, &p) || p.Status != http.StatusBadRequest {
			t.Errorf("quantity %d: err = %v, want a 400 problem", q, err)
		}
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// Orders whose lines cover two days, taken concurrently in opposite line
// orders, never deadlock: TakeAll locks counters in one global order.
func TestMultiDayOrdersDoNotDeadlock(t *testing.T) {
	f := newFixture(t)
	f.park("p1", ptr(1000))
	f.product("p1", "a", nil)
	f.product("p1", "b", nil)
	d1, d2 := day, day.AddDate(0, 0, 1)
	lines := [][]quota.Request{
		{{ParkID: "p1", ProductID: "a", VisitDate: d1, Quantity: 1}, {ParkID: "p1", ProductID: "b", VisitDate: d2, Quantity: 1}},
		{{ParkID: "p1", ProductID: "b", VisitDate: d2, Quantity: 1}, {ParkID: "p1", ProductID: "a", VisitDate: d1, Quantity: 1}},
	}
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			errs[i] = pgx.BeginFunc(f.ctx, f.pool, func(tx pgx.Tx) error {
				id, err := f.order(tx, "p1")
				if err != nil {
					return err
				}
				return quota.TakeAll(f.ctx, tx, id, lines[i%2])
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("take: %v", err)
		}
	}
	if got := f.used(quota.ScopePark, "p1", d1); got != 40 {
		t.Fatalf("park used on day 1 = %d, want 40", got)
	}
}

func TestSlotRequiredForSlotProducts(t *testing.T) {
	f := newFixture(t)
	f.park("p1", nil)
	f.product("p1", "tour", nil)
	f.exec(`UPDATE products SET has_slots = true WHERE id = 'tour'`)
	_, err := f.take(quota.Request{ParkID: "p1", ProductID: "tour", VisitDate: day, Quantity: 1})
	var p *web.Problem
	if !errors.As(err, &p) || p.Code != "slot_required" {
		t.Fatalf("take without a slot: %v, want slot_required", err)
	}
}
