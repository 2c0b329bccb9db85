package report_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/validator/ticket"
)

// week simulates seven park days: three cashiers on two windows (c2 on an
// evening shift past midnight), random cash sales of several products,
// refunds with fees paid out at the window, reprints, voided orders, a
// distributor's online orders and a refund of one, and entry and exit
// scans. It returns the shifts it closed.
func (w *world) week(rng *rand.Rand) []shift.Shift {
	w.t.Helper()
	ctx, t := w.ctx, w.t
	products := []string{"day", "kid", "fam"}
	var closed []shift.Shift
	seq := 0
	entry := func(tid, zone, dir string, persons int, at time.Time) {
		seq++
		w.exec(`INSERT INTO entry_events (cursor_index, cursor_pos, seq, scan_id, ticket_id, gate, zone, direction, persons, result, at)
			VALUES ($1, 0, $1, $2, $3, 'g1', $4, $5, $6, 'admit', $7)`, seq, fmt.Sprint("s", seq), tid, zone, dir, persons, at)
	}
	for day := range 7 {
		start := time.Date(2026, 11, 16+day, 0, 0, 0, 0, w.loc)
		visit := start.Format(time.DateOnly)
		type plan struct {
			cashier    string
			open, stop time.Duration // since the day's midnight
		}
		for i, pl := range []plan{{"c1", 9 * time.Hour, 14 * time.Hour}, {"c3", 10 * time.Hour, 17 * time.Hour}, {"c2", 18 * time.Hour, 25*time.Hour + 30*time.Minute}} {
			p := w.who[pl.cashier]
			w.clock.Set(start.Add(pl.open))
			float := int64(20000 + 5000*i)
			sh, err := w.shifts.Open(ctx, p, shift.OpenRequest{OpeningFloatMinor: float})
			if err != nil {
				t.Fatalf("day %d %s: open: %v", day, pl.cashier, err)
			}
			step := (pl.stop - pl.open) / 11 // the last sales of the evening shift come after midnight
			for range 10 {
				w.clock.Add(step + time.Duration(rng.IntN(300))*time.Second)
				visit := w.clock.Now().In(w.loc).Format(time.DateOnly) // the park's today
				var lines []orders.LineRequest
				for _, prod := range products {
					if rng.IntN(2) == 0 || len(lines) == 0 && prod == "fam" {
						lines = append(lines, orders.LineRequest{ProductID: prod, VisitDate: visit, Quantity: 1 + rng.IntN(3)})
					}
				}
				o, _, err := w.orders.Create(ctx, p, "", orders.CreateRequest{Lines: lines})
				if err != nil {
					t.Fatalf("day %d %s: order: %v", day, pl.cashier, err)
				}
				switch r := rng.IntN(10); {
				case r == 0: // voided at the window
					if _, err := w.orders.Cancel(ctx, p, o.Number); err != nil {
						t.Fatal(err)
					}
					continue
				}
				paid, err := w.orders.Pay(ctx, p, o.Number, orders.PayRequest{Method: payment.MethodCash, AmountMinor: &o.TotalMinor})
				if err != nil {
					t.Fatalf("day %d %s: pay: %v", day, pl.cashier, err)
				}
				tk := paid.Order.Tickets[rng.IntN(len(paid.Order.Tickets))]
				switch rng.IntN(6) {
				case 0: // refunded at the window, paid out now
					if _, err := w.refunds.Request(ctx, p, refund.Request{OrderNumber: o.Number, TicketIDs: []string{tk.ID}, Reason: "changed plans"}); err != nil {
						t.Fatalf("refund: %v", err)
					}
				case 1:
					id, _ := ticket.ParseID(tk.ID)
					if _, err := w.refunds.Reprint(ctx, p, id, "damaged"); err != nil {
						t.Fatalf("reprint: %v", err)
					}
				case 2, 3: // enters, and sometimes leaves and rides
					persons := max(1, tk.Entries)
					at := start.Add(pl.open + time.Duration(rng.IntN(3))*time.Hour)
					entry(tk.ID, "main", "in", persons, at)
					if rng.IntN(2) == 0 {
						entry(tk.ID, "ride", "in", persons, at.Add(30*time.Minute))
						entry(tk.ID, "main", "out", persons, at.Add(2*time.Hour))
					}
				}
			}
			w.clock.Set(start.Add(pl.stop))
			cur, err := w.shifts.Get(ctx, p, sh.ID)
			if err != nil {
				t.Fatal(err)
			}
			counted := map[string]int64{}
			for _, m := range cur.Report.Methods {
				counted[m.Method] = m.ExpectedMinor
			}
			if day == 3 && pl.cashier == "c3" {
				counted["cash"] += 1000 // 10.00 too much in the drawer
			}
			done, err := w.shifts.Close(ctx, p, sh.ID, shift.CloseRequest{Counted: counted, Note: "end of shift"})
			if err != nil {
				t.Fatalf("close: %v", err)
			}
			closed = append(closed, done)
		}
		// The distributor's orders of the day, paid online; one refunded.
		w.clock.Set(start.Add(20 * time.Hour))
		d := w.who["dist"]
		for k := range 2 {
			o, _, err := w.orders.Create(ctx, d, "", orders.CreateRequest{ExternalRef: fmt.Sprintf("ota-%d-%d", day, k), ContactName: "Guide Li", ContactPhone: "13800138000",
				Lines: []orders.LineRequest{{ProductID: "fam", VisitDate: visit, Quantity: 1 + rng.IntN(2)}, {ProductID: "day", VisitDate: visit, Quantity: 2}}})
			if err != nil {
				t.Fatalf("distributor order: %v", err)
			}
			res, err := w.orders.Pay(ctx, d, o.Number, orders.PayRequest{Method: payment.MethodProvider, Provider: w.prov.Name()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.orders.ApplyWebhook(ctx, w.prov.Name(), payment.Event{ProviderRef: res.ProviderRef, Status: payment.StatusSucceeded, AmountMinor: o.TotalMinor}, "test"); err != nil {
				t.Fatal(err)
			}
			if k == 1 && day%2 == 0 {
				if _, err := w.refunds.Request(ctx, d, refund.Request{OrderNumber: o.Number, Reason: "group cancelled"}); err != nil {
					t.Fatalf("distributor refund: %v", err)
				}
			}
		}
	}
	return closed
}

// sums are totals computed straight from the raw rows.
type sums struct{ gross, refunds, fees, sold, refunded int64 }

// rawRevenue sums the raw rows by key(day, cashier, product, method).
func (w *world) rawRevenue(key func(day, cashier, product, method, salesPoint, channel string) string) map[string]*sums {
	w.t.Helper()
	out := map[string]*sums{}
	get := func(k string) *sums {
		if out[k] == nil {
			out[k] = &sums{}
		}
		return out[k]
	}
	rows, err := w.pool.Query(w.ctx, `SELECT o.paid_at, coalesce(u.username, ''), l.product_id, coalesce(p.method, 'account'),
			coalesce(o.sales_point_id, ''), o.channel, l.quantity, l.unit_price_minor
		FROM orders o JOIN order_lines l ON l.order_id = o.id LEFT JOIN payments p ON p.id = o.paid_payment_id
		LEFT JOIN users u ON u.id = p.user_id WHERE o.paid_at IS NOT NULL`)
	if err != nil {
		w.t.Fatal(err)
	}
	for rows.Next() {
		var at time.Time
		var cashier, product, method, sp, channel string
		var qty, unit int64
		if err := rows.Scan(&at, &cashier, &product, &method, &sp, &channel, &qty, &unit); err != nil {
			w.t.Fatal(err)
		}
		s := get(key(at.In(w.loc).Format(time.DateOnly), cashier, product, method, sp, channel))
		s.gross += qty * unit
		s.sold += qty
	}
	rows.Close()
	rows, err = w.pool.Query(w.ctx, `SELECT f.refunded_at, coalesce(u.username, ''), t.product_id, coalesce(p.method, 'account'),
			coalesce(o.sales_point_id, ''), o.channel, f.amount_minor, f.fee_minor
		FROM refunds f JOIN tickets t ON t.id = f.ticket_id JOIN orders o ON o.id = f.order_id
		LEFT JOIN payments p ON p.id = o.paid_payment_id LEFT JOIN users u ON u.id = p.user_id WHERE f.status = 'refunded'`)
	if err != nil {
		w.t.Fatal(err)
	}
	for rows.Next() {
		var at time.Time
		var cashier, product, method, sp, channel string
		var amount, fee int64
		if err := rows.Scan(&at, &cashier, &product, &method, &sp, &channel, &amount, &fee); err != nil {
			w.t.Fatal(err)
		}
		s := get(key(at.In(w.loc).Format(time.DateOnly), cashier, product, method, sp, channel))
		s.refunds += amount
		s.fees += fee
		s.refunded++
	}
	rows.Close()
	return out
}

func TestSimulatedWeek(t *testing.T) {
	w := newWorld(t)
	closed := w.week(rand.New(rand.NewPCG(14, 2026)))
	q := report.Params{Park: "wk", From: "2026-11-16", To: "2026-11-23"}

	// Revenue per day and cashier, product, method, sales point, channel,
	// against the raw rows.
	raw := w.rawRevenue(func(day, cashier, product, method, sp, channel string) string {
		return strings.Join([]string{day, cashier, product, method, sp, channel}, "|")
	})
	var all sums
	for _, s := range raw {
		all.gross += s.gross
		all.refunds += s.refunds
		all.fees += s.fees
		all.sold += s.sold
		all.refunded += s.refunded
	}
	if all.refunds == 0 || all.fees == 0 || all.gross == 0 {
		t.Fatalf("the week made no refunds with fees: %+v", all)
	}
	fine := q
	fine.GroupBy = []string{"cashier", "product", "method", "sales_point", "channel"}
	tb := parseJSON(t, w.report(report.Revenue, fine))
	seen := 0
	for _, row := range tb.rows {
		k := strings.Join([]string{tb.text(t, row, "day"), tb.text(t, row, "cashier"), tb.text(t, row, "product"),
			tb.text(t, row, "method"), tb.text(t, row, "sales_point"), tb.text(t, row, "channel")}, "|")
		s := raw[k]
		if s == nil {
			t.Fatalf("revenue row %v has no raw rows", row)
		}
		got := sums{tb.num(t, row, "gross_minor"), tb.num(t, row, "refunds_minor"), tb.num(t, row, "refund_fees_minor"),
			tb.num(t, row, "tickets_sold"), tb.num(t, row, "tickets_refunded")}
		if got != *s {
			t.Errorf("revenue %s: report %+v, raw rows %+v", k, got, *s)
		}
		if net := tb.num(t, row, "net_minor"); net != s.gross-s.refunds {
			t.Errorf("revenue %s: net %d, want %d", k, net, s.gross-s.refunds)
		}
		seen++
	}
	if seen != len(raw) {
		t.Errorf("revenue has %d rows, the raw rows %d groups", seen, len(raw))
	}
	// Every grouping and period sums to the same totals.
	check := func(label string, tb table) {
		t.Helper()
		tot := sums{tb.num(t, tb.totals, "gross_minor"), tb.num(t, tb.totals, "refunds_minor"), tb.num(t, tb.totals, "refund_fees_minor"),
			tb.num(t, tb.totals, "tickets_sold"), tb.num(t, tb.totals, "tickets_refunded")}
		if tot != all {
			t.Errorf("%s: totals %+v, raw rows %+v", label, tot, all)
		}
		var rows sums
		for _, r := range tb.rows {
			rows.gross += tb.num(t, r, "gross_minor")
			rows.refunds += tb.num(t, r, "refunds_minor")
			rows.fees += tb.num(t, r, "refund_fees_minor")
			rows.sold += tb.num(t, r, "tickets_sold")
			rows.refunded += tb.num(t, r, "tickets_refunded")
		}
		if rows != all {
			t.Errorf("%s: rows sum to %+v, want %+v", label, rows, all)
		}
	}
	for _, period := range []string{"day", "month", "year"} {
		for _, dim := range append([]string{""}, report.Dimensions...) {
			qq := q
			qq.Period = period
			if dim != "" {
				qq.GroupBy = []string{dim}
			}
			check(period+" by "+dim, parseJSON(t, w.report(report.Revenue, qq)))
		}
	}
	// Days are the park's: the evening shift's sales after midnight count
	// on the next park day, which is still in the week for six of seven.
	byDay := parseJSON(t, w.report(report.Revenue, q))
	if len(byDay.rows) != 8 {
		t.Errorf("revenue has %d days, want 8 (the last evening shift ends past midnight)", len(byDay.rows))
	}

	// Sold against entered, from the tickets and entry_events.
	se := parseJSON(t, w.report(report.SoldEntered, q))
	type sek struct{ sold, persons, entered, refunded, unused int64 }
	want := map[string]*sek{}
	rows, err := w.pool.Query(w.ctx, `SELECT t.visit_date::text, t.product_id, t.status, t.kind, t.entries,
			EXISTS (SELECT 1 FROM entry_events e WHERE e.ticket_id = t.id AND e.direction = 'in' AND e.result = 'admit')
		FROM tickets t WHERE t.park_id = 'wk'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var date, product, status, kind string
		var entries int64
		var entered bool
		if err := rows.Scan(&date, &product, &status, &kind, &entries, &entered); err != nil {
			t.Fatal(err)
		}
		k := date + "|" + product
		if want[k] == nil {
			want[k] = &sek{}
		}
		s := want[k]
		s.sold++
		s.persons += map[bool]int64{true: entries, false: 1}[kind == "group"]
		switch {
		case entered:
			s.entered++
		case status == "refunded":
			s.refunded++
		default:
			s.unused++
		}
	}
	rows.Close()
	if len(se.rows) != len(want) {
		t.Errorf("sold-entered has %d rows, want %d", len(se.rows), len(want))
	}
	for _, r := range se.rows {
		k := se.text(t, r, "visit_date") + "|" + se.text(t, r, "product")
		got := sek{se.num(t, r, "tickets_sold"), se.num(t, r, "persons_sold"), se.num(t, r, "tickets_entered"),
			se.num(t, r, "tickets_refunded"), se.num(t, r, "tickets_unused")}
		if want[k] == nil || got != *want[k] {
			t.Errorf("sold-entered %s: report %+v, raw rows %v", k, got, want[k])
		}
		if got.sold != got.entered+got.refunded+got.unused {
			t.Errorf("sold-entered %s: sold %d != entered + refunded + unused", k, got.sold)
		}
	}

	// Flow on the fourth day, hour by hour in the park's time.
	fq := report.Params{Park: "wk", From: "2026-11-19"}
	fl := parseJSON(t, w.report(report.Flow, fq))
	type fk struct{ in, pin, out, pout int64 }
	wantFlow := map[string]*fk{}
	rows, err = w.pool.Query(w.ctx, `SELECT at, zone, direction, persons FROM entry_events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var at time.Time
		var zone, dir string
		var persons int64
		if err := rows.Scan(&at, &zone, &dir, &persons); err != nil {
			t.Fatal(err)
		}
		local := at.In(w.loc)
		if local.Format(time.DateOnly) != "2026-11-19" {
			continue
		}
		k := local.Format("2006-01-02 15") + ":00|" + zone
		if wantFlow[k] == nil {
			wantFlow[k] = &fk{}
		}
		if dir == "in" {
			wantFlow[k].in++
			wantFlow[k].pin += persons
		} else {
			wantFlow[k].out++
			wantFlow[k].pout += persons
		}
	}
	rows.Close()
	if len(fl.rows) != len(wantFlow) || len(fl.rows) == 0 {
		t.Errorf("flow has %d rows, want %d", len(fl.rows), len(wantFlow))
	}
	for _, r := range fl.rows {
		k := fl.text(t, r, "hour") + "|" + fl.text(t, r, "zone")
		got := fk{fl.num(t, r, "entries"), fl.num(t, r, "persons_in"), fl.num(t, r, "exits"), fl.num(t, r, "persons_out")}
		if wantFlow[k] == nil || got != *wantFlow[k] {
			t.Errorf("flow %s: report %+v, raw %v", k, got, wantFlow[k])
		}
	}

	// Group settlement: the distributor's orders of the week.
	gs := parseJSON(t, w.report(report.GroupSettlement, q))
	var g struct{ orders, tickets, persons, gross, refunded, refunds, fees int64 }
	if err := w.pool.QueryRow(w.ctx, `SELECT count(*), sum(o.total_minor),
			(SELECT count(*) FROM tickets t JOIN orders o2 ON o2.id = t.order_id WHERE o2.distributor_id = 1),
			(SELECT sum(CASE WHEN t.kind = 'group' THEN t.entries ELSE 1 END) FROM tickets t JOIN orders o2 ON o2.id = t.order_id WHERE o2.distributor_id = 1),
			(SELECT count(*) FROM refunds f JOIN orders o2 ON o2.id = f.order_id WHERE o2.distributor_id = 1 AND f.status = 'refunded'),
			(SELECT coalesce(sum(f.amount_minor), 0) FROM refunds f JOIN orders o2 ON o2.id = f.order_id WHERE o2.distributor_id = 1 AND f.status = 'refunded'),
			(SELECT coalesce(sum(f.fee_minor), 0) FROM refunds f JOIN orders o2 ON o2.id = f.order_id WHERE o2.distributor_id = 1 AND f.status = 'refunded')
		FROM orders o WHERE o.distributor_id = 1 AND o.paid_at IS NOT NULL`).Scan(&g.orders, &g.gross, &g.tickets, &g.persons, &g.refunded, &g.refunds, &g.fees); err != nil {
		t.Fatal(err)
	}
	if len(gs.rows) != 1 || gs.text(t, gs.rows[0], "distributor") != "ota-one" {
		t.Fatalf("group settlement rows %v", gs.rows)
	}
	r := gs.rows[0]
	got := struct{ orders, tickets, persons, gross, refunded, refunds, fees int64 }{gs.num(t, r, "orders"), gs.num(t, r, "tickets"),
		gs.num(t, r, "persons"), gs.num(t, r, "gross_minor"), gs.num(t, r, "tickets_refunded"), gs.num(t, r, "refunds_minor"), gs.num(t, r, "refund_fees_minor")}
	if got != g || g.orders != 14 || g.refunded == 0 {
		t.Errorf("group settlement: report %+v, raw rows %+v", got, g)
	}

	// Shifts: each closed shift's expected cash, from the cashier's
	// payments and payouts between its open and close (not from shift_id).
	sh := parseJSON(t, w.report(report.Shifts, q))
	if len(sh.rows) != len(closed) {
		t.Fatalf("shifts report has %d rows, want %d", len(sh.rows), len(closed))
	}
	var diffs []int64
	for i, s := range closed {
		var taken, paidOut, sold, voided, reprinted int64
		if err := w.pool.QueryRow(w.ctx, `SELECT
				(SELECT coalesce(sum(amount_minor), 0) FROM payments WHERE user_id = $1 AND method = 'cash' AND created_at >= $2 AND created_at <= $3),
				(SELECT coalesce(sum(f.amount_minor), 0) FROM refunds f WHERE f.user_id = $1 AND f.completed_at >= $2 AND f.completed_at <= $3),
				(SELECT count(*) FROM tickets t JOIN payments p ON p.order_id = t.order_id WHERE p.user_id = $1 AND p.created_at >= $2 AND p.created_at <= $3),
				(SELECT count(*) FROM orders WHERE user_id = $1 AND status = 'cancelled' AND created_at >= $2 AND created_at <= $3),
				(SELECT count(*) FROM reprints WHERE user_id = $1 AND created_at >= $2 AND created_at <= $3)`,
			s.UserID, s.OpenedAt, *s.ClosedAt).Scan(&taken, &paidOut, &sold, &voided, &reprinted); err != nil {
			t.Fatal(err)
		}
		rep := s.Report
		if want := s.OpeningFloatMinor + taken - paidOut; rep.ExpectedMinor != want || rep.Methods[0].ExpectedMinor != want {
			t.Errorf("shift %d: expected %d, raw rows say %d", s.ID, rep.ExpectedMinor, want)
		}
		if rep.TicketsSold != sold || rep.OrdersVoided != voided || rep.TicketsReprinted != reprinted {
			t.Errorf("shift %d: sold/voided/reprinted %d/%d/%d, raw rows %d/%d/%d", s.ID, rep.TicketsSold, rep.OrdersVoided, rep.TicketsReprinted, sold, voided, reprinted)
		}
		row := sh.rows[i]
		if sh.num(t, row, "expected_minor") != rep.ExpectedMinor || sh.num(t, row, "difference_minor") != *rep.DifferenceMinor {
			t.Errorf("shifts report row %v disagrees with shift %d", row, s.ID)
		}
		diffs = append(diffs, *rep.DifferenceMinor)
	}
	slices.Sort(diffs)
	if diffs[0] != 0 || diffs[len(diffs)-1] != 1000 || slices.Index(diffs, 1000) != len(diffs)-1 {
		t.Errorf("differences %v: want one shift 10.00 over, every other even", diffs)
	}
	if sh.num(t, sh.totals, "difference_minor") != 1000 {
		t.Errorf("shifts total difference %d, want 1000", sh.num(t, sh.totals, "difference_minor"))
	}

	// Every report reads back the same from CSV and XLSX as from JSON.
	for _, c := range []struct {
		name string
		q    report.Params
	}{{report.Revenue, fine}, {report.SoldEntered, q}, {report.Flow, fq}, {report.GroupSettlement, q}, {report.Shifts, q}} {
		j := parseJSON(t, w.report(c.name, c.q))
		for _, format := range []string{report.FormatCSV, report.FormatXLSX} {
			qq := c.q
			qq.Format = format
			b := w.report(c.name, qq)
			var got table
			if format == report.FormatCSV {
				got = parseCSV(t, b)
			} else {
				got = parseXLSX(t, b)
			}
			if fmt.Sprint(got) != fmt.Sprint(j) {
				t.Errorf("%s as %s differs from JSON:\n%v\n%v", c.name, format, got, j)
			}
		}
	}
}

// TestShiftDifference: a drawer 10.00 short shows exactly -10.00, per
// method and in total, and the shift is confirmed by finance only.
func TestShiftDifference(t *testing.T) {
	w := newWorld(t)
	c := w.who["c1"]
	sh, err := w.shifts.Open(w.ctx, c, shift.OpenRequest{OpeningFloatMinor: 50000})
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := w.orders.Create(w.ctx, c, "", orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "day", VisitDate: "2026-11-16", Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.orders.Pay(w.ctx, c, o.Number, orders.PayRequest{Method: payment.MethodCash, AmountMinor: &o.TotalMinor}); err != nil {
		t.Fatal(err)
	}
	// One ticket back: 100.00 - (5.00 + 10.00) = 85.00 paid out.
	view, err := w.orders.Get(w.ctx, c, o.Number)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.refunds.Request(w.ctx, c, refund.Request{OrderNumber: o.Number, TicketIDs: []string{view.Tickets[0].ID}}); err != nil {
		t.Fatal(err)
	}
	expected := int64(50000 + 20000 - 8500)
	closed, err := w.shifts.Close(w.ctx, c, sh.ID, shift.CloseRequest{Counted: map[string]int64{"cash": expected - 1000}})
	if err != nil {
		t.Fatal(err)
	}
	r := closed.Report
	if r.ExpectedMinor != expected || *r.CountedMinor != expected-1000 || *r.DifferenceMinor != -1000 ||
		*r.Methods[0].DifferenceMinor != -1000 || r.TicketsSold != 2 || r.TicketsRefunded != 1 || r.RefundFeesMinor != 1500 {
		t.Fatalf("shift report %+v", r)
	}
	if _, err := w.shifts.Confirm(w.ctx, c, sh.ID, shift.ConfirmRequest{}); err == nil {
		t.Fatal("a cashier confirmed a shift")
	}
	conf, err := w.shifts.Confirm(w.ctx, w.who["fin"], sh.ID, shift.ConfirmRequest{Note: "short 10.00, noted"})
	if err != nil || conf.Status != shift.StatusConfirmed || *conf.Report.DifferenceMinor != -1000 {
		t.Fatalf("confirm: %+v %v", conf, err)
	}
	// Closed: the next sale at the window is refused until a new shift.
	o2, _, err := w.orders.Create(w.ctx, w.who["c2"], "", orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "day", VisitDate: "2026-11-16", Quantity: 1}}})
	if err == nil || !isProblem(err, "no_open_shift") {
		t.Fatalf("a window order without a shift: %+v %v", o2, err)
	}
}

// TestBackfillMatchesTheSales: the migration's backfill of the summary
// rows (for databases with sales before it) gives the same revenue as the
// rows the sales and refunds wrote themselves.
func TestBackfillMatchesTheSales(t *testing.T) {
	w := newWorld(t)
	w.week(rand.New(rand.NewPCG(7, 7)))
	q := report.Params{Park: "wk", From: "2026-11-16", To: "2026-11-23",
		GroupBy: []string{"sales_point", "cashier", "product", "channel", "method", "distributor"}}
	before := parseJSON(t, w.report(report.Revenue, q))
	names, err := filepath.Glob("../db/migrations/*_shifts_reports.sql")
	if err != nil || len(names) != 1 {
		t.Fatalf("the shifts and reports migration: %v %v", names, err)
	}
	sql, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	w.exec(`TRUNCATE revenue_daily`)
	n := 0
	for _, stmt := range strings.Split(string(sql), ";") {
		if strings.Contains(stmt, "INSERT INTO revenue_daily") {
			w.exec(stmt)
			n++
		}
	}
	if n != 2 {
		t.Fatalf("found %d backfill statements, want 2", n)
	}
	after := parseJSON(t, w.report(report.Revenue, q))
	if fmt.Sprint(before) != fmt.Sprint(after) || len(after.rows) == 0 {
		t.Errorf("backfill differs from the sales' own rows:\n%v\n%v", after, before)
	}
}
