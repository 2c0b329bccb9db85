package report_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/shift"
)

// TestShiftSettings: parks that run no shifts turn the requirement off;
// a shift open past the limit is overdue in the shift, the shifts report
// and the gauge.
func TestShiftSettings(t *testing.T) {
	w := newWorld(t)
	c := w.who["c1"]
	sell := func() error {
		o, _, err := w.orders.Create(w.ctx, c, "", orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "kid", VisitDate: "2026-11-16", Quantity: 1}}})
		if err != nil {
			return err
		}
		_, err = w.orders.Pay(w.ctx, c, o.Number, orders.PayRequest{Method: payment.MethodCash, AmountMinor: &o.TotalMinor})
		return err
	}
	if err := sell(); !isProblem(err, "no_open_shift") {
		t.Fatalf("a window sale without a shift: %v", err)
	}
	if err := shift.WriteSettings(w.ctx, w.pool, shift.Settings{Required: false, MaxOpenMinutes: 60}); err != nil {
		t.Fatal(err)
	}
	if err := sell(); err != nil {
		t.Fatalf("shifts not required, a window sale: %v", err)
	}
	if err := shift.WriteSettings(w.ctx, w.pool, shift.Settings{Required: true, MaxOpenMinutes: 0}); err == nil {
		t.Fatal("max_open_minutes 0 was accepted")
	}
	s, err := w.shifts.Open(w.ctx, c, shift.OpenRequest{OpeningFloatMinor: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.shifts.Open(w.ctx, c, shift.OpenRequest{}); !isProblem(err, "shift_already_open") {
		t.Fatalf("a second open shift: %v", err)
	}
	if _, err := w.shifts.Open(w.ctx, w.who["fin"], shift.OpenRequest{}); err == nil {
		t.Fatal("finance opened a shift")
	}
	gauge := func() string {
		t.Helper()
		n, err := testutil.GatherAndCount(w.reg, "admit_sales_shifts_overdue")
		if err != nil || n != 1 {
			t.Fatalf("gauge: %d %v", n, err)
		}
		mfs, _ := w.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "admit_sales_shifts_overdue" {
				return mf.GetMetric()[0].GetGauge().String()
			}
		}
		return ""
	}
	if g := gauge(); !strings.Contains(g, "value:0") {
		t.Errorf("overdue gauge %s, want 0", g)
	}
	w.clock.Add(61 * time.Minute)
	got, err := w.shifts.Get(w.ctx, c, s.ID)
	if err != nil || !got.Overdue {
		t.Fatalf("an hour and a minute open, limit an hour: overdue %v %v", got.Overdue, err)
	}
	if g := gauge(); !strings.Contains(g, "value:1") {
		t.Errorf("overdue gauge %s, want 1", g)
	}
	tb := parseCSV(t, w.report(report.Shifts, report.Params{Park: "wk", From: "2026-11-16", Format: report.FormatCSV}))
	if len(tb.rows) != 1 || tb.text(t, tb.rows[0], "overdue") != "yes" || tb.text(t, tb.rows[0], "status") != "open" {
		t.Errorf("shifts report %v", tb.rows)
	}
}
