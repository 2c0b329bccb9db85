package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/web"
)

// TestConcurrentBuyersNeverOversell: 200 buyers at once for a slot with 50
// places; exactly 50 get an order (and then a ticket), the rest are told
// quota_exhausted.
func TestConcurrentBuyersNeverOversell(t *testing.T) {
	f := newFixture(t)
	const buyers = 200
	b := body(map[string]any{"product_id": "slot", "visit_date": tomorrow, "slot_id": f.slotID, "quantity": 1})
	replies := make([]reply, buyers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range replies {
		wg.Go(func() {
			<-start
			replies[i] = f.send("POST", "/v1/orders", tokCashier, b, http.Header{IdempotencyHeader: {fmt.Sprintf("buyer-%d", i)}})
		})
	}
	close(start)
	wg.Wait()
	var sold []Order
	refused := 0
	for _, r := range replies {
		switch r.status {
		case http.StatusCreated:
			sold = append(sold, r.order(t))
		case http.StatusConflict:
			var p web.ProblemBody
			r.decode(t, &p)
			if p.Code != "quota_exhausted" {
				t.Fatalf("refusal %s", r.body)
			}
			refused++
		default:
			t.Fatalf("reply %d %s", r.status, r.body)
		}
	}
	if len(sold) != 50 || refused != 150 {
		t.Fatalf("%d sold, %d refused; want 50 and 150", len(sold), refused)
	}
	for _, o := range sold {
		f.payCash(o)
	}
	if n := f.count(`SELECT count(*) FROM tickets WHERE product_id = 'slot'`); n != 50 {
		t.Fatalf("%d tickets, want 50", n)
	}
	if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'slot' AND scope_id = $1`, fmt.Sprint(f.slotID)); n != 50 {
		t.Fatalf("slot used %d", n)
	}
	if v := f.metric("admit_sales_quota_rejections_total"); v != 150 {
		t.Fatalf("quota rejections metric %v", v)
	}
	if v := f.metric("admit_sales_tickets_issued_total"); v != 50 {
		t.Fatalf("tickets metric %v", v)
	}
	// One more is refused, naming the limit.
	p := f.wantProblem(f.call("POST", "/v1/orders", tokCashier, b), http.StatusConflict, "quota_exhausted")
	if want := fmt.Sprintf("slot %d is sold out", f.slotID); !strings.Contains(p.Error, want) {
		t.Fatalf("refusal %q does not say %q", p.Error, want)
	}
}

// TestUnpaidOrderExpires: an unpaid order gives its place back when its
// hold runs out, and the next buyer gets it.
func TestUnpaidOrderExpires(t *testing.T) {
	f := newFixture(t)
	o := f.create(tokCashier, body(line("one", 1))) // product "one" has a daily quota of 1
	f.wantProblem(f.call("POST", "/v1/orders", tokCashier, body(line("one", 1))), http.StatusConflict, "quota_exhausted")

	f.clock.Add(14 * time.Minute)
	if n, err := f.api.ExpireDue(f.ctx, f.clock.Now()); err != nil || n != 0 {
		t.Fatalf("ExpireDue before the hold ran out: %d, %v", n, err)
	}
	f.clock.Add(time.Minute)
	if n, err := f.api.ExpireDue(f.ctx, f.clock.Now()); err != nil || n != 1 {
		t.Fatalf("ExpireDue: %d, %v; want 1", n, err)
	}
	if n, err := f.api.ExpireDue(f.ctx, f.clock.Now()); err != nil || n != 0 {
		t.Fatalf("ExpireDue again: %d, %v; want 0", n, err)
	}
	got := f.must("GET", "/v1/orders/"+o.Number, tokCashier, nil, http.StatusOK).order(t)
	if got.Status != StatusExpired || !got.ExpiresAt.IsZero() {
		t.Fatalf("order %s is %s (expires %v)", got.Number, got.Status, got.ExpiresAt)
	}
	if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'product' AND scope_id = 'one'`); n != 0 {
		t.Fatalf("expired order still holds %d", n)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'order.expire' AND object_id = $1`, o.Number); n != 1 {
		t.Fatalf("%d expire audit rows", n)
	}
	if v := f.metric("admit_sales_orders_total", "channel", "window", "status", "expired"); v != 1 {
		t.Fatalf("expired metric %v", v)
	}
	// The place is free again, and the expired order cannot be paid.
	next := f.create(tokCashier, body(line("one", 1)))
	f.wantProblem(f.call("POST", fmt.Sprintf("/v1/orders/%d/pay", o.ID), tokCashier,
		map[string]any{"method": "cash", "amount_minor": o.TotalMinor}), http.StatusConflict, "order_not_pending")
	f.payCash(next)
}

// TestPayAfterHoldRanOut: paying an order whose hold ran out, before the
// sweeper got to it, expires it and is refused.
func TestPayAfterHoldRanOut(t *testing.T) {
	f := newFixture(t)
	o := f.create(tokCashier, body(line("one", 1)))
	f.clock.Add(15 * time.Minute)
	f.wantProblem(f.call("POST", fmt.Sprintf("/v1/orders/%d/pay", o.ID), tokCashier,
		map[string]any{"method": "cash", "amount_minor": o.TotalMinor}), http.StatusConflict, "order_expired")
	if got := f.must("GET", "/v1/orders/"+o.Number, tokCashier, nil, http.StatusOK).order(t); got.Status != StatusExpired || len(got.Payments) != 0 {
		t.Fatalf("order %s payments %d", got.Status, len(got.Payments))
	}
	if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'product' AND scope_id = 'one'`); n != 0 {
		t.Fatalf("holds %d", n)
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t)
	o := f.create(tokDistA, body(line("one", 1)))
	f.wantProblem(f.call("POST", fmt.Sprintf("/v1/orders/%d/cancel", o.ID), tokDistB, nil), http.StatusNotFound, "unknown_order")
	got := f.must("POST", fmt.Sprintf("/v1/orders/%d/cancel", o.ID), tokDistA, nil, http.StatusOK).order(t)
	if got.Status != StatusCancelled {
		t.Fatalf("status %s", got.Status)
	}
	if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'product' AND scope_id = 'one'`); n != 0 {
		t.Fatalf("cancelled order holds %d", n)
	}
	f.wantProblem(f.call("POST", fmt.Sprintf("/v1/orders/%d/cancel", o.ID), tokAdmin, nil), http.StatusConflict, "order_not_pending")
	paid := f.payCash(f.create(tokCashier, body(line("one", 1))))
	f.wantProblem(f.call("POST", "/v1/orders/"+paid.Number+"/cancel", tokCashier, nil), http.StatusConflict, "order_not_pending")
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'order.cancel'`); n != 1 {
		t.Fatalf("%d cancel audit rows", n)
	}
}

// TestSweeperRun: the sweeper expires due orders on its own ticks, at the
// time the injected clock tells, and stops with its context.
func TestSweeperRun(t *testing.T) {
	f := newFixture(t)
	f.api.cfg.SweepEvery = 5 * time.Millisecond
	o := f.create(tokCashier, body(line("one", 1)))
	f.clock.Add(time.Hour)
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- f.api.Sweeper().Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for f.count(`SELECT count(*) FROM orders WHERE id = $1 AND status = 'expired'`, o.ID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not expire the order within 10s")
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}
