package report_test

import (
	"testing"

	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/shift"
)

// TestCardAndWalletInTheShift: card and wallet payments taken on a
// window's terminals count in the cashier's shift per method; a wallet
// refund at the window is paid back on the wallet terminal, so it comes
// off the wallet's expected amount; the close compares each terminal's
// total with what the shift expects; the revenue report groups them by
// payment method.
func TestCardAndWalletInTheShift(t *testing.T) {
	w := newWorld(t)
	c := w.who["c1"]
	sh, err := w.shifts.Open(w.ctx, c, shift.OpenRequest{OpeningFloatMinor: 10000})
	if err != nil {
		t.Fatal(err)
	}
	sell := func(product string, qty int, method, ref string) orders.Order {
		t.Helper()
		o, _, err := w.orders.Create(w.ctx, c, "", orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: product, VisitDate: "2026-11-16", Quantity: qty}}})
		if err != nil {
			t.Fatal(err)
		}
		req := orders.PayRequest{Method: method, Reference: ref}
		if method == payment.MethodCash {
			req.AmountMinor = &o.TotalMinor
		}
		res, err := w.orders.Pay(w.ctx, c, o.Number, req)
		if err != nil || res.Order.Status != orders.StatusPaid {
			t.Fatalf("%s sale: %+v %v", method, res.Order, err)
		}
		return res.Order
	}
	sell("day", 2, payment.MethodCard, "RRN 631200000001")                // 200.00
	sell("kid", 1, payment.MethodCard, "RRN 631200000002")                // 45.00
	wallet := sell("day", 1, payment.MethodWallet, "2026111622001400001") // 100.00
	sell("kid", 1, payment.MethodCash, "")                                // 45.00

	// A card payment without its reference is refused and leaves nothing.
	o, _, err := w.orders.Create(w.ctx, c, "", orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "kid", VisitDate: "2026-11-16", Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.orders.Pay(w.ctx, c, o.Number, orders.PayRequest{Method: payment.MethodCard}); !isProblem(err, "reference_required") {
		t.Fatalf("card without a reference: %v", err)
	}
	if _, err := w.orders.Cancel(w.ctx, c, o.Number); err != nil {
		t.Fatal(err)
	}

	// The wallet sale's ticket back: 100.00 - (5.00 + 10.00) = 85.00, paid
	// out now on the wallet terminal, in this shift.
	rfs, err := w.refunds.Request(w.ctx, c, refund.Request{OrderNumber: wallet.Number, TicketIDs: []string{wallet.Tickets[0].ID}, Reason: "rain"})
	if err != nil || len(rfs) != 1 || rfs[0].Money != refund.MoneyPaid || rfs[0].PaymentMethod != payment.MethodWallet || rfs[0].AmountMinor != 8500 {
		t.Fatalf("wallet refund: %+v %v", rfs, err)
	}

	want := map[string]shift.MethodLine{
		"cash":   {Method: "cash", Payments: 1, TakenMinor: 4500, FloatMinor: 10000, ExpectedMinor: 14500},
		"card":   {Method: "card", Payments: 2, TakenMinor: 24500, ExpectedMinor: 24500},
		"wallet": {Method: "wallet", Payments: 1, TakenMinor: 10000, RefundsPaidOutMinor: 8500, ExpectedMinor: 1500},
	}
	cur, err := w.shifts.Get(w.ctx, c, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	check := func(label string, r shift.Report) {
		t.Helper()
		if len(r.Methods) != len(want) {
			t.Fatalf("%s: methods %+v", label, r.Methods)
		}
		for _, l := range r.Methods {
			got := l
			got.CountedMinor, got.DifferenceMinor = nil, nil
			if got != want[l.Method] {
				t.Errorf("%s: %s line %+v, want %+v", label, l.Method, got, want[l.Method])
			}
		}
		if r.ExpectedMinor != 14500+24500+1500 || r.TicketsSold != 5 || r.TicketsRefunded != 1 {
			t.Errorf("%s: expected %d, sold %d, refunded %d", label, r.ExpectedMinor, r.TicketsSold, r.TicketsRefunded)
		}
	}
	check("open shift", cur.Report)

	// The close: the drawer is right, the card terminal's total is 1.00
	// short (a slip keyed wrong), the wallet's right.
	closed, err := w.shifts.Close(w.ctx, c, sh.ID, shift.CloseRequest{Counted: map[string]int64{"cash": 14500, "card": 24400, "wallet": 1500}})
	if err != nil {
		t.Fatal(err)
	}
	check("closed shift", closed.Report)
	for _, l := range closed.Report.Methods {
		wantDiff := map[string]int64{"card": -100}[l.Method]
		if l.CountedMinor == nil || *l.DifferenceMinor != wantDiff {
			t.Errorf("close: %s counted %v difference %v, want difference %d", l.Method, l.CountedMinor, l.DifferenceMinor, wantDiff)
		}
	}
	if *closed.Report.DifferenceMinor != -100 {
		t.Errorf("close: difference %d, want -100", *closed.Report.DifferenceMinor)
	}

	// Revenue by payment method.
	tb := parseJSON(t, w.report(report.Revenue, report.Params{Park: "wk", From: "2026-11-16", To: "2026-11-16", GroupBy: []string{"method"}}))
	type money struct{ gross, refunds int64 }
	got := map[string]money{}
	for _, row := range tb.rows {
		got[tb.text(t, row, "method")] = money{tb.num(t, row, "gross_minor"), tb.num(t, row, "refunds_minor")}
	}
	wantRev := map[string]money{"cash": {4500, 0}, "card": {24500, 0}, "wallet": {10000, 8500}}
	if len(got) != len(wantRev) {
		t.Fatalf("revenue by method: %+v, want %+v", got, wantRev)
	}
	for m, v := range wantRev {
		if got[m] != v {
			t.Errorf("revenue %s: %+v, want %+v", m, got[m], v)
		}
	}
}
