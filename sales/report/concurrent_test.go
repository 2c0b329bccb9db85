package report_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/web"
)

// TestConcurrentOnlineSales: a distributor's system sells from many
// connections at once, orders of several products whose summary rows
// overlap; no sale fails (no deadlock on the summary rows) and the revenue
// equals the raw rows.
func TestConcurrentOnlineSales(t *testing.T) {
	w := newWorld(t)
	var keyID int64
	if err := w.pool.QueryRow(w.ctx, `INSERT INTO api_keys (distributor_id, prefix, key_hash) VALUES (1, 'k', 'h') RETURNING id`).Scan(&keyID); err != nil {
		t.Fatal(err)
	}
	key := web.Principal{APIKeyID: keyID, DistributorID: 1, Role: web.RoleDistributor}
	const workers, each = 8, 6
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				lines := []orders.LineRequest{{ProductID: "day", VisitDate: "2026-11-16", Quantity: 1}, {ProductID: "kid", VisitDate: "2026-11-16", Quantity: 2}}
				if (g+i)%2 == 1 {
					lines[0], lines[1] = lines[1], lines[0]
				}
				o, _, err := w.orders.Create(w.ctx, key, "", orders.CreateRequest{ExternalRef: fmt.Sprintf("c-%d-%d", g, i),
					ContactName: "Guide", ContactPhone: "13800138000", Lines: lines})
				if err != nil {
					t.Error(err)
					return
				}
				res, err := w.orders.Pay(w.ctx, key, o.Number, orders.PayRequest{Method: payment.MethodProvider, Provider: w.prov.Name()})
				if err == nil {
					_, err = w.orders.ApplyWebhook(w.ctx, w.prov.Name(), payment.Event{ProviderRef: res.ProviderRef,
						Status: payment.StatusSucceeded, AmountMinor: o.TotalMinor}, "test")
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	tb := parseJSON(t, w.report(report.Revenue, report.Params{Park: "wk", From: "2026-11-16", GroupBy: []string{"product"}}))
	want := map[string]int64{"day": workers * each * 10000, "kid": workers * each * 2 * 4500}
	if len(tb.rows) != 2 {
		t.Fatalf("rows %v", tb.rows)
	}
	for _, r := range tb.rows {
		if got := tb.num(t, r, "gross_minor"); got != want[tb.text(t, r, "product")] {
			t.Errorf("%s: gross %d, want %d", tb.text(t, r, "product"), got, want[tb.text(t, r, "product")])
		}
	}
}
