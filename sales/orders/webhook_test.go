package orders

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/payment"
)

// startOnline starts a test-provider payment for o as token.
func (f *fixture) startOnline(o Order, token string) PayResult {
	f.t.Helper()
	var res PayResult
	f.must("POST", fmt.Sprintf("/v1/orders/%d/pay", o.ID), token, map[string]any{"method": "provider", "provider": "test"},
		http.StatusOK).decode(f.t, &res)
	if res.ProviderRef == "" || !strings.HasSuffix(res.PayURL, res.ProviderRef) || res.Order.Status != StatusPending {
		f.t.Fatalf("started %+v", res)
	}
	return res
}

// webhook posts a signed (or, with sig set, a forged) callback.
func (f *fixture) webhook(ref, status string, amount int64, sig string) reply {
	h, b := f.prov.Webhook(ref, status, amount)
	if sig != "" {
		h.Set(payment.SignatureHeader, sig)
	}
	return f.send("POST", "/v1/payments/webhook/test", "", b, h)
}

func TestProviderWebhookPays(t *testing.T) {
	f := newFixture(t)
	o := f.create(tokDistA, body(line("day", 2)))
	res := f.startOnline(o, tokDistA)
	if len(res.Order.Payments) != 1 || res.Order.Payments[0].Status != "pending" || res.Order.Payments[0].ProviderRef != res.ProviderRef {
		t.Fatalf("payments %+v", res.Order.Payments)
	}

	// Forged or tampered callbacks change nothing.
	forged := strings.Repeat("ab", 32)
	f.wantProblem(f.webhook(res.ProviderRef, "succeeded", o.TotalMinor, forged), http.StatusUnauthorized, "bad_signature")
	f.wantProblem(f.webhook(res.ProviderRef, "succeeded", o.TotalMinor, "nonsense"), http.StatusUnauthorized, "bad_signature")
	h, b := f.prov.Webhook(res.ProviderRef, "succeeded", o.TotalMinor)
	tampered := []byte(strings.Replace(string(b), fmt.Sprint(o.TotalMinor), "1", 1))
	f.wantProblem(f.send("POST", "/v1/payments/webhook/test", "", tampered, h), http.StatusUnauthorized, "bad_signature")
	f.wantProblem(f.send("POST", "/v1/payments/webhook/other", "", b, h), http.StatusNotFound, "unknown_provider")
	if got := f.must("GET", "/v1/orders/"+o.Number, tokDistA, nil, http.StatusOK).order(t); got.Status != StatusPending || len(got.Tickets) != 0 {
		t.Fatalf("after forged webhooks: %s, %d tickets", got.Status, len(got.Tickets))
	}
	if n := f.count(`SELECT count(*) FROM tickets`) + f.count(`SELECT count(*) FROM payments WHERE status <> 'pending'`); n != 0 {
		t.Fatalf("forged webhooks left %d rows", n)
	}
	// A signed callback for a payment never started here.
	f.wantProblem(f.webhook("test_nope", "succeeded", 1, ""), http.StatusNotFound, "unknown_payment")

	// The real one pays the order and issues its tickets.
	var wr WebhookResult
	r := f.webhook(res.ProviderRef, "succeeded", o.TotalMinor, "")
	if r.status != http.StatusOK {
		t.Fatalf("webhook: %d %s", r.status, r.body)
	}
	r.decode(t, reset(&wr))
	if wr.Outcome != OutcomePaid || wr.Order != o.Number {
		t.Fatalf("webhook result %+v", wr)
	}
	got := f.must("GET", "/v1/orders/"+o.Number, tokDistA, nil, http.StatusOK).order(t)
	if got.Status != StatusPaid || len(got.Tickets) != 2 || got.Payments[0].Status != "succeeded" {
		t.Fatalf("after webhook: %s, %d tickets, payments %+v", got.Status, len(got.Tickets), got.Payments)
	}
	// A replay (providers retry) changes nothing.
	for range 3 {
		r := f.webhook(res.ProviderRef, "succeeded", o.TotalMinor, "")
		r.decode(t, reset(&wr))
		if r.status != http.StatusOK || wr.Outcome != OutcomeDuplicate {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
	}
	// So does a late "failed" for the succeeded payment.
	f.webhook(res.ProviderRef, "failed", o.TotalMinor, "").decode(t, reset(&wr))
	if wr.Outcome != OutcomeDuplicate || wr.Status != "succeeded" {
		t.Fatalf("late failure: %+v", wr)
	}
	if n := f.count(`SELECT count(*) FROM tickets WHERE order_id = $1`, o.ID); n != 2 {
		t.Fatalf("%d tickets after replays", n)
	}
	if n := f.count(`SELECT count(*) FROM outbox WHERE kind = 'issue'`); n != 2 {
		t.Fatalf("%d outbox rows after replays", n)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action IN ('payment.succeeded', 'order.paid', 'tickets.issue')`); n != 3 {
		t.Fatalf("%d audit rows", n)
	}
	if v := f.metric("admit_sales_orders_total", "channel", "distributor", "status", "paid"); v != 1 {
		t.Fatalf("paid metric %v", v)
	}
}

func TestProviderWebhookFailedThenRetry(t *testing.T) {
	f := newFixture(t)
	o := f.create(tokCashier, body(line("day", 1)))
	first := f.startOnline(o, tokCashier)
	var wr WebhookResult
	f.webhook(first.ProviderRef, "failed", o.TotalMinor, "").decode(t, reset(&wr))
	if wr.Outcome != OutcomeFailed {
		t.Fatalf("failed webhook: %+v", wr)
	}
	second := f.startOnline(o, tokCashier)
	f.webhook(second.ProviderRef, "succeeded", o.TotalMinor, "").decode(t, reset(&wr))
	if wr.Outcome != OutcomePaid {
		t.Fatalf("second payment: %+v", wr)
	}
	got := f.must("GET", "/v1/orders/"+o.Number, tokCashier, nil, http.StatusOK).order(t)
	if got.Status != StatusPaid || len(got.Payments) != 2 || got.Payments[0].Status != "failed" || got.Payments[1].Status != "succeeded" {
		t.Fatalf("order %s payments %+v", got.Status, got.Payments)
	}
	// Paying online again is refused; the money of the first attempt that
	// succeeds after all goes back.
	f.wantProblem(f.call("POST", fmt.Sprintf("/v1/orders/%d/pay", o.ID), tokCashier, map[string]any{"method": "provider", "provider": "test"}),
		http.StatusConflict, "order_not_pending")
	f.webhook(first.ProviderRef, "succeeded", o.TotalMinor, "").decode(t, reset(&wr))
	if wr.Outcome != OutcomeRefunded || !strings.Contains(wr.Message, "is paid") {
		t.Fatalf("double payment: %+v", wr)
	}
	if n := f.count(`SELECT count(*) FROM tickets WHERE order_id = $1`, o.ID); n != 1 {
		t.Fatalf("%d tickets", n)
	}
}

// TestLateProviderPayment: money that arrives after the order expired is
// recorded and refunded, never turned into tickets; while the provider
// cannot refund, the payment stays marked and the sweeper retries.
func TestLateProviderPayment(t *testing.T) {
	f := newFixture(t)
	o := f.create(tokAdmin, body(line("one", 1)))
	res := f.startOnline(o, tokAdmin)
	f.clock.Add(20 * time.Minute)
	f.prov.FailRefunds(true)

	var wr WebhookResult
	r := f.webhook(res.ProviderRef, "succeeded", o.TotalMinor, "")
	r.decode(t, reset(&wr))
	if r.status != http.StatusOK || wr.Outcome != OutcomeRefundDue || !wr.RefundDue || !strings.Contains(wr.Message, "expired") {
		t.Fatalf("late payment: %d %s", r.status, r.body)
	}
	got := f.must("GET", "/v1/orders/"+o.Number, tokAdmin, nil, http.StatusOK).order(t)
	if got.Status != StatusExpired || len(got.Tickets) != 0 || got.Payments[0].Status != "succeeded" || !got.Payments[0].RefundDue {
		t.Fatalf("order %s, tickets %d, payments %+v", got.Status, len(got.Tickets), got.Payments)
	}
	if n := f.count(`SELECT used FROM quota_usage WHERE scope = 'product' AND scope_id = 'one'`); n != 0 {
		t.Fatalf("expired order holds %d", n)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'payment.refund_due'`); n != 1 {
		t.Fatalf("%d refund_due audit rows", n)
	}
	// A replay says it is still due.
	f.webhook(res.ProviderRef, "succeeded", o.TotalMinor, "").decode(t, reset(&wr))
	if wr.Outcome != OutcomeDuplicate || !wr.RefundDue {
		t.Fatalf("replay %+v", wr)
	}
	// The provider is still down: nothing refunded, still due.
	if n, err := f.api.RefundLatePayments(f.ctx); n != 0 || err == nil {
		t.Fatalf("RefundLatePayments while down: %d, %v", n, err)
	}
	f.prov.FailRefunds(false)
	if n, err := f.api.RefundLatePayments(f.ctx); n != 1 || err != nil {
		t.Fatalf("RefundLatePayments: %d, %v", n, err)
	}
	if n, err := f.api.RefundLatePayments(f.ctx); n != 0 || err != nil {
		t.Fatalf("RefundLatePayments again: %d, %v", n, err)
	}
	refunds := f.prov.Refunds()
	if len(refunds) != 1 || refunds[0].AmountMinor != o.TotalMinor || refunds[0].ProviderRef != res.ProviderRef {
		t.Fatalf("provider refunds %+v", refunds)
	}
	got = f.must("GET", "/v1/orders/"+o.Number, tokAdmin, nil, http.StatusOK).order(t)
	if p := got.Payments[0]; p.Status != "refunded" || p.RefundedMinor != o.TotalMinor || p.RefundDue {
		t.Fatalf("payment after refund %+v", p)
	}

	// With the provider up, a late payment is refunded at once.
	o2 := f.create(tokAdmin, body(line("one", 1)))
	res2 := f.startOnline(o2, tokAdmin)
	f.clock.Add(20 * time.Minute)
	if n, err := f.api.ExpireDue(f.ctx, f.clock.Now()); n != 1 || err != nil {
		t.Fatalf("ExpireDue %d, %v", n, err)
	}
	f.webhook(res2.ProviderRef, "succeeded", o2.TotalMinor, "").decode(t, reset(&wr))
	if wr.Outcome != OutcomeRefunded || wr.RefundDue || wr.Status != "refunded" {
		t.Fatalf("late payment, provider up: %+v", wr)
	}
	if len(f.prov.Refunds()) != 2 {
		t.Fatalf("refunds %+v", f.prov.Refunds())
	}
}

func TestProviderPaymentRefusals(t *testing.T) {
	f := newFixture(t)
	o := f.create(tokCashier, body(line("day", 1)))
	pay := fmt.Sprintf("/v1/orders/%d/pay", o.ID)
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "provider", "provider": "acme"}), 400, "unknown_provider")
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "provider"}), 400, "bad_payment")
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "provider", "provider": "test", "amount_minor": 5}), 400, "bad_payment")
	// A distributor cannot pay (or see) another's order.
	f.wantProblem(f.call("POST", pay, tokDistA, map[string]any{"method": "provider", "provider": "test"}), 404, "unknown_order")
	f.clock.Add(time.Hour)
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "provider", "provider": "test"}), 409, "order_expired")
	if n := f.count(`SELECT count(*) FROM payments`); n != 0 {
		t.Fatalf("%d payments", n)
	}
}

// reset zeroes *v before a decode into it (omitted fields stay zero).
func reset[T any](v *T) *T {
	var zero T
	*v = zero
	return v
}

// TestSettlingPaymentIsRecorded: with two provider payments on one order,
// the order remembers the one that paid it (refunds go back through it),
// not the lowest id: the other is a duplicate or a short payment, refunded
// as such.
func TestSettlingPaymentIsRecorded(t *testing.T) {
	for _, first := range []string{"duplicate", "underpaid"} {
		t.Run(first, func(t *testing.T) {
			f := newFixture(t)
			o := f.create(tokDistA, body(line("day", 1)))
			p1 := f.startOnline(o, tokDistA)
			p2 := f.startOnline(o, tokDistA)
			var wr WebhookResult
			if first == "underpaid" {
				f.webhook(p1.ProviderRef, "succeeded", o.TotalMinor-1, "").decode(t, reset(&wr))
				if wr.Outcome != OutcomeRefunded {
					t.Fatalf("short payment: %+v", wr)
				}
			}
			f.webhook(p2.ProviderRef, "succeeded", o.TotalMinor, "").decode(t, reset(&wr))
			if wr.Outcome != OutcomePaid {
				t.Fatalf("second payment: %+v", wr)
			}
			if first == "duplicate" {
				f.webhook(p1.ProviderRef, "succeeded", o.TotalMinor, "").decode(t, reset(&wr))
				if wr.Outcome != OutcomeRefunded {
					t.Fatalf("duplicate payment: %+v", wr)
				}
			}
			if n := f.count(`SELECT count(*) FROM orders o JOIN payments p ON p.id = o.paid_payment_id
				WHERE o.id = $1 AND p.provider_ref = $2 AND p.status = 'succeeded'`, o.ID, p2.ProviderRef); n != 1 {
				t.Fatalf("paid_payment_id does not name the settling payment %s", p2.ProviderRef)
			}
		})
	}
}
