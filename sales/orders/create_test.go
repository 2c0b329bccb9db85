package orders

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestCreateWindowOrder(t *testing.T) {
	f := newFixture(t)
	o := f.create(tokCashier, body(line("day", 2), map[string]any{"product_id": "slot", "visit_date": tomorrow, "slot_id": f.slotID, "quantity": 1}))
	if o.Status != StatusPending || o.Channel != ChannelWindow || o.SalesPointID != "w1" || o.UserID != f.users["carl"] {
		t.Fatalf("order %+v", o)
	}
	if !numberRe.MatchString(o.Number) || !strings.HasPrefix(o.Number, "W20261122-") {
		t.Fatalf("number %q: want W20261122-NNNNNN", o.Number)
	}
	if o.TotalMinor != 2*12000+5000 || o.Currency != "CNY" || len(o.Lines) != 2 {
		t.Fatalf("total %d %s, %d lines", o.TotalMinor, o.Currency, len(o.Lines))
	}
	if o.ContactPhone != "+8613800138000" {
		t.Fatalf("phone %q not normalized", o.ContactPhone)
	}
	if want := f.clock.Now().Add(15 * 60e9); !o.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at %v, want %v", o.ExpiresAt, want)
	}
	if len(o.Tickets) != 0 {
		t.Fatalf("a pending order has tickets: %+v", o.Tickets)
	}
	// Its places are held: park and product counters and the slot.
	if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'slot' AND scope_id = $1`, fmt.Sprint(f.slotID)); n != 1 {
		t.Fatalf("slot used %d", n)
	}
	if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'park' AND scope_id = 'fun'`); n != 3 {
		t.Fatalf("park used %d", n)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'order.create' AND object_id = $1 AND user_id = $2`, o.Number, f.users["carl"]); n != 1 {
		t.Fatalf("%d audit rows", n)
	}
	if v := f.metric("admit_sales_orders_total", "channel", "window", "status", "pending"); v != 1 {
		t.Fatalf("orders_total{window,pending} = %v", v)
	}
	// The kiosk cashier sells on channel kiosk; a price override applies.
	k := f.create(tokCashier2, body(map[string]any{"product_id": "day", "visit_date": "2026-11-28", "quantity": 1}))
	if k.Channel != ChannelKiosk || !strings.HasPrefix(k.Number, "K") || k.TotalMinor != 15000 {
		t.Fatalf("kiosk order %+v", k)
	}
	// An admin sells on the shop by default; group tickets take a place per person.
	s := f.create(tokAdmin, body(line("grp", 2)))
	if s.Channel != ChannelShop || !strings.HasPrefix(s.Number, "S") || s.TotalMinor != 80000 {
		t.Fatalf("shop order %+v", s)
	}
	if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'product' AND scope_id = 'grp'`); n != 10 {
		t.Fatalf("group of 5 x2 holds %d places, want 10", n)
	}
}

func TestCreateRefusals(t *testing.T) {
	f := newFixture(t)
	slot := func(id int64) map[string]any {
		return map[string]any{"product_id": "slot", "visit_date": tomorrow, "slot_id": id, "quantity": 1}
	}
	var otherSlot int64
	f.exec(`INSERT INTO products (id, park_id, name, kind, has_slots, price_minor) VALUES ('slot2', 'fun', 'Other show', 'single', true, 100)`)
	if err := f.pool.QueryRow(f.ctx, `INSERT INTO time_slots (product_id, starts, ends, capacity) VALUES ('slot2', '09:00', '10:00', 5) RETURNING id`).Scan(&otherSlot); err != nil {
		t.Fatal(err)
	}
	dated := func(p, day string) map[string]any {
		return map[string]any{"product_id": p, "visit_date": day, "quantity": 1}
	}
	tests := []struct {
		name   string
		token  string
		body   any
		status int
		code   string
	}{
		{"sales stopped", tokCashier, body(line("stopped", 1)), 409, "sales_stopped"},
		{"inactive", tokCashier, body(line("old", 1)), 409, "product_inactive"},
		{"unknown product", tokCashier, body(line("nope", 1)), 404, "unknown_product"},
		{"past date", tokCashier, body(dated("day", "2026-11-21")), 400, "visit_date_past"},
		{"today is fine but 91 days is not", tokCashier, body(dated("day", "2027-02-21")), 400, "visit_date_too_far"},
		{"bad date", tokCashier, body(dated("day", "23/11/2026")), 400, "bad_visit_date"},
		{"slot required", tokCashier, body(line("slot", 1)), 400, "slot_required"},
		{"slot not allowed", tokCashier, body(map[string]any{"product_id": "day", "visit_date": tomorrow, "slot_id": f.slotID, "quantity": 1}), 400, "slot_not_allowed"},
		{"slot of another product", tokCashier, body(slot(otherSlot)), 400, "slot_mismatch"},
		{"unknown slot", tokCashier, body(slot(999999)), 404, "unknown_slot"},
		{"over max per order", tokCashier, body(line("grp", 5)), 400, "too_many"},
		{"over max across lines", tokCashier, body(line("grp", 3), line("grp", 2)), 400, "too_many"},
		{"zero quantity", tokCashier, body(line("day", 0)), 400, "bad_quantity"},
		{"no lines", tokCashier, body(), 400, "bad_lines"},
		{"mixed parks", tokAdmin, body(line("day", 1), line("faraway", 1)), 400, "mixed_parks"},
		{"cashier of another park", tokCashier, body(line("faraway", 1)), 403, "wrong_park"},
		{"shop needs a phone", tokAdmin, map[string]any{"contact_name": "Li", "lines": []any{line("day", 1)}}, 400, "bad_contact"},
		{"bad phone", tokCashier, map[string]any{"contact_phone": "call me", "lines": []any{line("day", 1)}}, 400, "bad_contact"},
		{"external ref is for distributors", tokCashier, map[string]any{"external_ref": "x1", "lines": []any{line("day", 1)}}, 400, "bad_external_ref"},
		{"cashier cannot pick another channel", tokCashier, map[string]any{"channel": "shop", "lines": []any{line("day", 1)}}, 400, "bad_channel"},
		{"holders on a non-real-name product", tokCashier, body(map[string]any{"product_id": "day", "visit_date": tomorrow, "quantity": 1,
			"holders": []any{map[string]any{"name": "Li", "id_number": "11010519491231002X"}}}), 400, "holders_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			f.wantProblem(f.call("POST", "/v1/orders", tt.token, tt.body), tt.status, tt.code)
		})
	}
	f.t = t
	// The slot of today that is over: 09:00-10:00 of slot2 at 10:00.
	today := map[string]any{"product_id": "slot2", "visit_date": "2026-11-22", "slot_id": otherSlot, "quantity": 1}
	f.wantProblem(f.call("POST", "/v1/orders", tokCashier, body(today)), 409, "slot_over")
	// Today is a valid visit date, and so is the 90th day.
	f.create(tokCashier, body(map[string]any{"product_id": "day", "visit_date": "2026-11-22", "quantity": 1}))
	f.create(tokCashier, body(map[string]any{"product_id": "day", "visit_date": "2027-02-20", "quantity": 1}))
	// Strict JSON, roles, authentication.
	if r := f.call("POST", "/v1/orders", tokCashier, `{"lines": [], "surprise": 1}`); r.status != 400 {
		t.Fatalf("unknown field: %d %s", r.status, r.body)
	}
	if r := f.call("POST", "/v1/orders", tokFinance, body(line("day", 1))); r.status != 403 {
		t.Fatalf("finance may not sell: %d", r.status)
	}
	if r := f.call("POST", "/v1/orders", "", body(line("day", 1))); r.status != 401 {
		t.Fatalf("anonymous: %d", r.status)
	}
	if n := f.count(`SELECT count(*) FROM orders`); n != 2 {
		t.Fatalf("%d orders after refusals, want 2", n)
	}
	if n := f.count(`SELECT coalesce(sum(used), 0) FROM quota_usage WHERE scope = 'product' AND scope_id <> 'day'`); n != 0 {
		t.Fatalf("refused orders hold %d places", n)
	}
}

func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t)
	h := http.Header{IdempotencyHeader: {"buy-42"}}
	b := body(line("day", 2))
	first := f.send("POST", "/v1/orders", tokDistA, b, h)
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	again := f.send("POST", "/v1/orders", tokDistA, b, h)
	if again.status != http.StatusOK || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", again.status, again.body)
	}
	if o1, o2 := first.order(t), again.order(t); o1.ID != o2.ID || o1.Number != o2.Number {
		t.Fatalf("replay made another order: %s and %s", o1.Number, o2.Number)
	}
	p := f.wantProblem(f.send("POST", "/v1/orders", tokDistA, body(line("day", 3)), h), http.StatusConflict, "idempotency_conflict")
	if !strings.Contains(p.Error, first.order(t).Number) {
		t.Fatalf("conflict does not name the order: %s", p.Error)
	}
	// The key is per caller: distributor B's "buy-42" is its own.
	if r := f.send("POST", "/v1/orders", tokDistB, b, h); r.status != http.StatusCreated {
		t.Fatalf("B with the same key: %d %s", r.status, r.body)
	}
	if n := f.count(`SELECT count(*) FROM orders`); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
	if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'product' AND scope_id = 'day'`); n != 4 {
		t.Fatalf("day used %d, want 4 (2 per order)", n)
	}
	if n := f.count(`SELECT count(*) FROM orders WHERE idempotency_scope LIKE 'key:%' AND idempotency_key = 'buy-42'`); n != 2 {
		t.Fatalf("%d orders keyed by API key scope, want 2", n)
	}
	f.wantProblem(f.send("POST", "/v1/orders", tokDistA, b, http.Header{IdempotencyHeader: {"has space"}}), 400, "bad_idempotency_key")
}

// TestIdempotencyKeyConcurrent: the same request with the same key sent
// many times at once makes one order, and every reply names it.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	f := newFixture(t)
	h := http.Header{IdempotencyHeader: {"racing"}}
	var wg sync.WaitGroup
	replies := make([]reply, 20)
	for i := range replies {
		wg.Go(func() { replies[i] = f.send("POST", "/v1/orders", tokCashier, body(line("day", 1)), h) })
	}
	wg.Wait()
	created, number := 0, ""
	for _, r := range replies {
		if r.status != http.StatusCreated && r.status != http.StatusOK {
			t.Fatalf("reply %d %s", r.status, r.body)
		}
		if r.status == http.StatusCreated {
			created++
		}
		o := r.order(t)
		if number != "" && o.Number != number {
			t.Fatalf("two orders: %s and %s", number, o.Number)
		}
		number = o.Number
	}
	if created != 1 || f.count(`SELECT count(*) FROM orders`) != 1 {
		t.Fatalf("%d created", created)
	}
}
