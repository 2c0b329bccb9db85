package report_test

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"

	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/salesclient"
	"github.com/admitpark/admit/sales/shift"
)

// TestClientReport: what `admit sales report` calls streams the same CSV
// as the API writes, and a refusal comes back with its status.
func TestClientReport(t *testing.T) {
	w := newWorld(t)
	srv := w.serve()
	c1 := w.who["c1"]
	if _, err := w.shifts.Open(w.ctx, c1, shift.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	o, _, err := w.orders.Create(w.ctx, c1, "", orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "fam", VisitDate: "2026-11-16", Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.orders.Pay(w.ctx, c1, o.Number, orders.PayRequest{Method: payment.MethodCash, AmountMinor: &o.TotalMinor}); err != nil {
		t.Fatal(err)
	}
	c, err := salesclient.New(salesclient.DefaultConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"park": {"wk"}, "from": {"2026-11-16"}, "format": {"csv"}, "group_by": {"product"}}
	var got bytes.Buffer
	if err := c.WithToken("fin").Report(w.ctx, report.Revenue, q, &got); err != nil {
		t.Fatal(err)
	}
	want := w.report(report.Revenue, report.Params{Park: "wk", From: "2026-11-16", Format: "csv", GroupBy: []string{"product"}})
	if !bytes.Equal(got.Bytes(), want) || !bytes.Contains(want, []byte("2026-11-16,fam,2,0,60000,0,0,60000")) {
		t.Fatalf("client got:\n%s\nwant:\n%s", got.Bytes(), want)
	}
	err = c.WithToken("c1").Report(w.ctx, report.Revenue, q, &got)
	if salesclient.StatusOf(err) != http.StatusForbidden {
		t.Fatalf("a cashier's report: %v", err)
	}
}
