package catalog

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/quota"
)

func TestProductCreateAndUpdate(t *testing.T) {
	f := newFixture(t)
	f.setup()
	p := f.product("adult", map[string]any{"zones": []string{"main"}, "daily_quota": 300})
	if p.Currency != "CNY" || !p.Refundable || !p.Active || p.ValidDays != 1 || p.MaxPerOrder != 50 ||
		len(p.Zones) != 1 || p.DailyQuota == nil || *p.DailyQuota != 300 || p.SalesStopped {
		t.Fatalf("product with defaults = %+v", p)
	}
	every := f.product("pass", map[string]any{"kind": "period", "valid_days": 365})
	if every.Zones == nil || len(every.Zones) != 0 {
		t.Fatalf("zones = %#v, want empty (every zone)", every.Zones)
	}

	// PUT changes what it names, keeps the rest.
	var up Product
	f.must("PUT", "/v1/products/adult", map[string]any{"price_minor": 12000, "zones": []string{"main", "aqua"},
		"refund_fee_percent": 10}, http.StatusOK).decode(t, &up)
	if up.PriceMinor != 12000 || len(up.Zones) != 2 || up.RefundFeePercent != 10 || up.DailyQuota == nil || up.Name != "adult" {
		t.Fatalf("after PUT: %+v", up)
	}
	f.wantProblem(f.call("PUT", "/v1/products/adult", tokAdmin, map[string]any{"park_id": "lake"}), http.StatusBadRequest, "park_immutable")
	f.wantProblem(f.call("PUT", "/v1/products/adult", tokAdmin, map[string]any{"id": "kid"}), http.StatusBadRequest, "id_immutable")
	f.wantProblem(f.call("PUT", "/v1/products/nope", tokAdmin, map[string]any{"name": "x"}), http.StatusNotFound, "product_not_found")
	f.wantProblem(f.call("PUT", "/v1/products/adult", tokAdmin, map[string]any{"sales_stopped": true}), http.StatusBadRequest, "bad_json")
	f.wantProblem(f.call("POST", "/v1/products", tokAdmin, map[string]any{"id": "adult", "park_id": "sea", "name": "A",
		"kind": "single", "price_minor": 1}), http.StatusConflict, "product_exists")

	got, err := GetProduct(f.ctx, f.pool, "adult")
	if err != nil || got.PriceMinor != 12000 {
		t.Fatalf("GetProduct = %+v, %v", got, err)
	}
	if _, err := GetProduct(f.ctx, f.pool, "nope"); !errors.Is(err, ErrNotFound) || !isProblem(err, http.StatusNotFound, "product_not_found") {
		t.Fatalf("GetProduct(nope) = %v, want ErrNotFound", err)
	}

	var list struct{ Products []Product }
	f.must("PUT", "/v1/products/pass", map[string]any{"active": false}, http.StatusOK)
	f.must("GET", "/v1/products?park=sea&active=true", nil, http.StatusOK).decode(t, &list)
	if len(list.Products) != 1 || list.Products[0].ID != "adult" {
		t.Fatalf("active products = %+v", list.Products)
	}
	f.must("GET", "/v1/products?park=sea", nil, http.StatusOK).decode(t, &list)
	if len(list.Products) != 2 {
		t.Fatalf("products = %+v", list.Products)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE object_type = 'product'`); n != 4 {
		t.Errorf("%d product audit entries, want 4 (2 creates, 2 updates)", n)
	}
}

func TestProductValidation(t *testing.T) {
	f := newFixture(t)
	f.setup()
	f.must("POST", "/v1/parks", map[string]any{"id": "lake", "name": "Lake", "time_zone": "Asia/Shanghai"}, http.StatusCreated)
	f.must("POST", "/v1/parks/lake/zones", map[string]any{"id": "shore", "name": "Shore"}, http.StatusCreated)
	for _, c := range []struct {
		extra map[string]any
		code  string
		says  string
	}{
		{map[string]any{"zones": []string{"main", "shore"}}, "unknown_zone", `zone "shore"`},
		{map[string]any{"zones": []string{"main", "main"}}, "bad_zones", "twice"},
		{map[string]any{"price_minor": -1}, "bad_price", "negative"},
		{map[string]any{"currency": "CN"}, "bad_currency", "3 capital letters"},
		{map[string]any{"currency": "USD"}, "currency_mismatch", "CNY"},
		{map[string]any{"kind": "season"}, "bad_kind", "season"},
		{map[string]any{"kind": "multi"}, "bad_entries", "entries"},
		{map[string]any{"kind": "group", "entries": 0}, "bad_entries", "persons"},
		{map[string]any{"entries": 3}, "bad_entries", "only to multi and group"},
		{map[string]any{"valid_days": 0}, "bad_valid_days", "valid_days"},
		{map[string]any{"max_per_order": 0}, "bad_max_per_order", "max_per_order"},
		{map[string]any{"daily_quota": -5}, "bad_daily_quota", "daily_quota"},
		{map[string]any{"refund_fee_percent": 101}, "bad_refund_fee_percent", "100"},
		{map[string]any{"refund_fee_minor": -1}, "bad_price", "refund_fee_minor"},
		{map[string]any{"park_id": "nowhere"}, "unknown_park", "nowhere"},
		{map[string]any{"id": "Adult!"}, "bad_id", "id"},
	} {
		p := f.wantProblem(f.call("POST", "/v1/products", tokAdmin, merged(map[string]any{"id": "x", "park_id": "sea", "name": "X",
			"kind": "single", "price_minor": 100}, c.extra)), http.StatusBadRequest, c.code)
		if !strings.Contains(p.Error, c.says) {
			t.Errorf("%v: message %q does not say %q", c.extra, p.Error, c.says)
		}
	}
	if n := f.count(`SELECT count(*) FROM products`); n != 0 {
		t.Fatalf("%d products made from bad input", n)
	}
	g := f.product("family", map[string]any{"kind": "group", "entries": 4})
	if g.Entries != 4 {
		t.Fatalf("group = %+v", g)
	}
	// A park's currency cannot change under its products.
	f.wantProblem(f.call("PUT", "/v1/parks/sea", tokAdmin, map[string]any{"currency": "USD"}), http.StatusConflict, "currency_in_use")
	f.must("PUT", "/v1/parks/lake", map[string]any{"currency": "USD"}, http.StatusOK)
}

func merged(base, extra map[string]any) map[string]any {
	for k, v := range extra {
		base[k] = v
	}
	return base
}

func TestPricesPerDate(t *testing.T) {
	f := newFixture(t)
	f.setup()
	f.product("adult", nil)
	may1 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

	f.must("PUT", "/v1/products/adult/prices/2026-05-01", map[string]any{"price_minor": 15000}, http.StatusOK)
	for _, c := range []struct {
		date time.Time
		want int64
	}{
		{may1, 15000},
		// Only the date counts, whatever the location.
		{time.Date(2026, 5, 1, 23, 30, 0, 0, time.FixedZone("x", -10*3600)), 15000},
		{may1.AddDate(0, 0, 1), 10000},
	} {
		got, err := PriceFor(f.ctx, f.pool, "adult", c.date)
		if err != nil || got != c.want {
			t.Errorf("PriceFor(%s) = %d, %v; want %d", c.date, got, err, c.want)
		}
	}
	f.must("PUT", "/v1/products/adult/prices/2026-05-01", map[string]any{"price_minor": 0}, http.StatusOK) // free day
	if got, _ := PriceFor(f.ctx, f.pool, "adult", may1); got != 0 {
		t.Errorf("price after change = %d, want 0", got)
	}
	f.wantProblem(f.call("PUT", "/v1/products/adult/prices/2026-05-01", tokAdmin, map[string]any{"price_minor": -100}), http.StatusBadRequest, "bad_price")
	f.wantProblem(f.call("PUT", "/v1/products/adult/prices/2026-05-01", tokAdmin, map[string]any{}), http.StatusBadRequest, "bad_price")
	f.wantProblem(f.call("PUT", "/v1/products/adult/prices/May-1", tokAdmin, map[string]any{"price_minor": 1}), http.StatusBadRequest, "bad_date")
	f.wantProblem(f.call("PUT", "/v1/products/nope/prices/2026-05-01", tokAdmin, map[string]any{"price_minor": 1}), http.StatusNotFound, "product_not_found")

	var prices struct {
		Overrides []PriceOverride
		BasePrice int64 `json:"base_price_minor"`
	}
	f.must("GET", "/v1/products/adult/prices?from=2026-04-01&to=2026-05-31", nil, http.StatusOK).decode(t, &prices)
	if len(prices.Overrides) != 1 || prices.Overrides[0].Date != "2026-05-01" || prices.BasePrice != 10000 {
		t.Fatalf("prices = %+v", prices)
	}

	f.must("DELETE", "/v1/products/adult/prices/2026-05-01", nil, http.StatusOK)
	if got, _ := PriceFor(f.ctx, f.pool, "adult", may1); got != 10000 {
		t.Errorf("price after delete = %d, want the base 10000", got)
	}
	f.wantProblem(f.call("DELETE", "/v1/products/adult/prices/2026-05-01", tokAdmin, nil), http.StatusNotFound, "price_not_found")
	if _, err := PriceFor(f.ctx, f.pool, "nope", may1); !errors.Is(err, ErrNotFound) {
		t.Errorf("PriceFor(nope) = %v, want ErrNotFound", err)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action IN ('price.set', 'price.delete')`); n != 3 {
		t.Errorf("%d price audit entries, want 3", n)
	}
}

func TestSlots(t *testing.T) {
	f := newFixture(t)
	f.setup()
	f.product("show", map[string]any{"has_slots": true})
	f.product("adult", nil)

	var s Slot
	f.must("POST", "/v1/products/show/slots", map[string]any{"start": "10:00", "end": "11:30", "capacity": 50}, http.StatusCreated).decode(t, &s)
	f.must("POST", "/v1/products/show/slots", map[string]any{"start": "14:00", "end": "15:00", "capacity": 80}, http.StatusCreated)
	got, err := GetSlot(f.ctx, f.pool, s.ID)
	if err != nil || got != s || got.Start != "10:00" || got.End != "11:30" {
		t.Fatalf("GetSlot = %+v, %v; want %+v", got, err, s)
	}
	if _, err := GetSlot(f.ctx, f.pool, s.ID+100); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSlot(unknown) = %v, want ErrNotFound", err)
	}
	park, _ := GetPark(f.ctx, f.pool, "sea")
	start, end := s.Window(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), park.Location())
	if want := "2026-05-01T10:00:00+08:00"; start.Format(time.RFC3339) != want || end.Sub(start) != 90*time.Minute {
		t.Errorf("window %s-%s, want from %s for 90m", start, end, want)
	}

	p := f.wantProblem(f.call("POST", "/v1/products/show/slots", tokAdmin, map[string]any{"start": "12:00", "end": "11:00", "capacity": 5}),
		http.StatusBadRequest, "bad_slot")
	if !strings.Contains(p.Error, "after") {
		t.Errorf("message %q", p.Error)
	}
	f.wantProblem(f.call("POST", "/v1/products/show/slots", tokAdmin, map[string]any{"start": "12:00", "end": "12:00", "capacity": 5}), http.StatusBadRequest, "bad_slot")
	f.wantProblem(f.call("POST", "/v1/products/show/slots", tokAdmin, map[string]any{"start": "25:00", "end": "26:00", "capacity": 5}), http.StatusBadRequest, "bad_time")
	f.wantProblem(f.call("POST", "/v1/products/show/slots", tokAdmin, map[string]any{"start": "12:00", "end": "13:00", "capacity": -1}), http.StatusBadRequest, "bad_capacity")
	f.wantProblem(f.call("POST", "/v1/products/show/slots", tokAdmin, map[string]any{"start": "10:00", "end": "10:30", "capacity": 5}), http.StatusConflict, "slot_exists")
	f.wantProblem(f.call("POST", "/v1/products/adult/slots", tokAdmin, map[string]any{"start": "10:00", "end": "11:00", "capacity": 5}), http.StatusBadRequest, "no_slots")
	f.wantProblem(f.call("POST", "/v1/products/nope/slots", tokAdmin, map[string]any{"start": "10:00", "end": "11:00", "capacity": 5}), http.StatusNotFound, "product_not_found")

	var list struct{ Slots []Slot }
	f.must("GET", "/v1/products/show/slots", nil, http.StatusOK).decode(t, &list)
	if len(list.Slots) != 2 || list.Slots[0].Start != "10:00" || list.Slots[1].Capacity != 80 {
		t.Fatalf("slots = %+v", list.Slots)
	}
}

func TestStopSalesAndAvailability(t *testing.T) {
	f := newFixture(t)
	f.setup() // park capacity 1000
	f.product("show", map[string]any{"has_slots": true, "daily_quota": 100})
	var s Slot
	f.must("POST", "/v1/products/show/slots", map[string]any{"start": "10:00", "end": "11:00", "capacity": 50}, http.StatusCreated).decode(t, &s)
	f.must("POST", "/v1/products/show/slots", map[string]any{"start": "14:00", "end": "15:00", "capacity": 20}, http.StatusCreated)
	f.must("PUT", "/v1/products/show/prices/2026-05-01", map[string]any{"price_minor": 8000}, http.StatusOK)

	// An order holds 10 places in slot s on May 1.
	err := f.tx(func(tx pgx.Tx) error {
		var orderID int64
		if err := tx.QueryRow(f.ctx, `INSERT INTO orders (number, park_id, channel, status, currency, total_minor)
			VALUES ('W1', 'sea', 'window', 'pending', 'CNY', 0) RETURNING id`).Scan(&orderID); err != nil {
			return err
		}
		return quota.Take(f.ctx, tx, orderID, quota.Request{ParkID: "sea", ProductID: "show", SlotID: s.ID,
			VisitDate: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), Quantity: 10})
	})
	if err != nil {
		t.Fatal(err)
	}

	var av Availability
	f.call("GET", fmt.Sprintf("/v1/availability?product=show&date=2026-05-01&slot=%d", s.ID), tokCashier, nil).decode(t, &av)
	if av.PriceMinor != 8000 || av.Currency != "CNY" || av.SalesStopped || !av.OnSale || av.Past ||
		av.Remaining == nil || *av.Remaining != 40 || len(av.Limits) != 3 {
		t.Fatalf("availability = %+v", av)
	}
	// Without a slot: each slot with its places.
	f.must("GET", "/v1/availability?product=show&date=2026-05-01", nil, http.StatusOK).decode(t, &av)
	if len(av.Slots) != 2 || *av.Slots[0].Remaining != 40 || *av.Slots[1].Remaining != 20 || *av.Remaining != 90 {
		t.Fatalf("availability by slot = %+v", av)
	}

	f.must("POST", "/v1/products/show/stop-sales", nil, http.StatusOK)
	f.must("POST", "/v1/products/show/stop-sales", nil, http.StatusOK) // already stopped: no change
	f.must("GET", "/v1/availability?product=show&date=2026-05-02", nil, http.StatusOK).decode(t, &av)
	if !av.SalesStopped || av.OnSale || av.PriceMinor != 10000 {
		t.Fatalf("availability after stop = %+v", av)
	}
	err = f.tx(func(tx pgx.Tx) error { _, err := LockProductForSale(f.ctx, tx, "show"); return err })
	if !errors.Is(err, ErrConflict) || !isProblem(err, http.StatusConflict, "sales_stopped") {
		t.Fatalf("LockProductForSale on a stopped product = %v", err)
	}
	f.must("POST", "/v1/products/show/resume-sales", nil, http.StatusOK)
	if err := f.tx(func(tx pgx.Tx) error { _, err := LockProductForSale(f.ctx, tx, "show"); return err }); err != nil {
		t.Fatalf("LockProductForSale after resume = %v", err)
	}
	for action, want := range map[string]int{"product.stop_sales": 1, "product.resume_sales": 1} {
		if n := f.count(`SELECT count(*) FROM audit_log WHERE action = $1`, action); n != want {
			t.Errorf("%d %s audit entries, want %d", n, action, want)
		}
	}

	// A past day (park time) is not on sale. The clock says 2026-04-20 09:00 UTC.
	f.must("GET", "/v1/availability?product=show&date=2026-04-19", nil, http.StatusOK).decode(t, &av)
	if !av.Past || av.OnSale {
		t.Fatalf("yesterday: %+v", av)
	}
	f.clock.Set(time.Date(2026, 4, 30, 16, 30, 0, 0, time.UTC)) // 00:30 on May 1 in Shanghai
	f.must("GET", "/v1/availability?product=show&date=2026-04-30", nil, http.StatusOK).decode(t, &av)
	if !av.Past {
		t.Fatalf("April 30 at 00:30 May 1 park time: %+v", av)
	}

	f.wantProblem(f.call("GET", "/v1/availability?product=show", tokAdmin, nil), http.StatusBadRequest, "bad_date")
	f.wantProblem(f.call("GET", "/v1/availability?date=2026-05-01", tokAdmin, nil), http.StatusBadRequest, "bad_product")
	f.wantProblem(f.call("GET", "/v1/availability?product=show&date=2026-05-01&slot=x", tokAdmin, nil), http.StatusBadRequest, "bad_slot")
	f.wantProblem(f.call("GET", "/v1/availability?product=nope&date=2026-05-01", tokAdmin, nil), http.StatusNotFound, "product_not_found")
	f.wantProblem(f.call("GET", "/v1/availability?product=show&date=2026-05-01&slot=99999", tokAdmin, nil), http.StatusNotFound, "unknown_slot")
	f.wantProblem(f.call("POST", "/v1/products/nope/stop-sales", tokAdmin, nil), http.StatusNotFound, "product_not_found")
}

// A stop of sales waits for orders already past LockProductForSale and is
// seen by every order after it.
func TestStopSalesWaitsForOrdersInFlight(t *testing.T) {
	f := newFixture(t)
	f.setup()
	f.product("adult", nil)

	order, err := f.pool.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer order.Rollback(f.ctx)
	if _, err := LockProductForSale(f.ctx, order, "adult"); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan error, 1)
	go func() {
		stopped <- f.tx(func(tx pgx.Tx) error { _, err := StopSales(f.ctx, tx, f.admin, "adult"); return err })
	}()
	// Wait (polling, with a deadline) until the stop is blocked on the lock.
	deadline := time.Now().Add(10 * time.Second)
	for f.count(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE products SET sales_stopped%'`) == 0 {
		select {
		case err := <-stopped:
			t.Fatalf("the stop finished (%v) while an order held the product", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the stop never waited for the order")
		}
		runtime.Gosched()
	}
	if err := order.Commit(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	err = f.tx(func(tx pgx.Tx) error { _, err := LockProductForSale(f.ctx, tx, "adult"); return err })
	if !isProblem(err, http.StatusConflict, "sales_stopped") {
		t.Fatalf("an order after the stop: %v, want sales_stopped", err)
	}
}
