package orders

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// TestCashSaleIssuesTickets: cash at a window pays the order and issues its
// tickets, with signed codes and one outbox row each, in the transaction
// that marks the order paid.
func TestCashSaleIssuesTickets(t *testing.T) {
	f := newFixture(t)
	o := f.create(tokCashier, body(line("multi", 2),
		map[string]any{"product_id": "slot", "visit_date": tomorrow, "slot_id": f.slotID, "quantity": 1},
		line("grp", 1)))
	pay := fmt.Sprintf("/v1/orders/%d/pay", o.ID)
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "cash", "amount_minor": o.TotalMinor - 1}), 400, "amount_mismatch")
	f.wantProblem(f.call("POST", pay, tokAdmin, map[string]any{"method": "cash", "amount_minor": o.TotalMinor}), 403, "cashier_only")
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "cash"}), 400, "bad_payment")
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "cheque", "amount_minor": 1}), 400, "bad_payment")
	if n := f.count(`SELECT count(*) FROM payments`); n != 0 {
		t.Fatalf("refused payments left %d rows", n)
	}

	paid := f.payCash(o)
	if len(paid.Tickets) != 4 || paid.PaidAt.IsZero() {
		t.Fatalf("%d tickets, paid at %v", len(paid.Tickets), paid.PaidAt)
	}
	if len(paid.Payments) != 1 || paid.Payments[0].Method != "cash" || paid.Payments[0].Status != "succeeded" ||
		paid.Payments[0].UserID != f.users["carl"] || paid.Payments[0].SalesPointID != "w1" || paid.Payments[0].AmountMinor != o.TotalMinor {
		t.Fatalf("payments %+v", paid.Payments)
	}
	ks, err := keys.KeySet(f.ctx, f.pool)
	if err != nil {
		t.Fatal(err)
	}
	visit := time.Date(2026, 11, 23, 0, 0, 0, 0, f.loc)
	byID := map[string]Ticket{}
	for _, tk := range paid.Tickets {
		byID[tk.ID] = tk
		c, err := code.Parse(tk.Code)
		if err != nil {
			t.Fatalf("ticket %s: code does not parse: %v", tk.ID, err)
		}
		if got := ticket.FormatID(c.TicketID()); got != tk.ID || c.TicketVersion() != 1 || tk.Version != 1 {
			t.Fatalf("code names ticket %s v%d, ticket is %s v%d", got, c.TicketVersion(), tk.ID, tk.Version)
		}
		if err := ks.Verify(c); err != nil {
			t.Fatalf("ticket %s: %v", tk.ID, err)
		}
		cl := c.Claims()
		kind, _ := ticket.ParseKind(tk.Kind)
		// Zone bits: main 0, aqua 1; no zones: mask 0 (every zone).
		mask := map[string]uint32{"multi": 0b11, "slot": 0b10}[tk.ProductID]
		if cl.Kind != uint8(kind) || int(cl.Entries) != tk.Entries || cl.ZoneMask != mask {
			t.Fatalf("claims %+v for %+v: want zone mask %b", cl, tk, mask)
		}
		days := map[string]int{"multi": 2, "slot": 1, "grp": 1}[tk.ProductID]
		// The code states one window: validity narrowed to the slot.
		codeFrom, codeUntil := visit, visit.AddDate(0, 0, days)
		if tk.ProductID == "slot" {
			codeFrom, codeUntil = visit.Add(10*time.Hour), visit.Add(12*time.Hour)
		}
		if !cl.ValidFrom.Equal(codeFrom) || !cl.ValidUntil.Equal(codeUntil) ||
			!tk.ValidFrom.Equal(visit) || !tk.ValidUntil.Equal(visit.AddDate(0, 0, days)) {
			t.Fatalf("%s valid %v-%v (code %v-%v), want from %v for %d days", tk.ProductID, tk.ValidFrom, tk.ValidUntil, cl.ValidFrom, cl.ValidUntil, visit, days)
		}
		switch tk.ProductID {
		case "slot":
			if !tk.SlotStart.Equal(visit.Add(10*time.Hour)) || !tk.SlotEnd.Equal(visit.Add(12*time.Hour)) {
				t.Fatalf("slot %v-%v", tk.SlotStart, tk.SlotEnd)
			}
		case "grp":
			if tk.Entries != 5 || tk.Kind != "group" {
				t.Fatalf("group ticket %+v", tk)
			}
		case "multi":
			if tk.Entries != 3 {
				t.Fatalf("multi ticket %+v", tk)
			}
		}
		if tk.Status != "active" {
			t.Fatalf("status %s", tk.Status)
		}
	}
	if len(byID) != 4 {
		t.Fatal("ticket ids repeat")
	}

	// One outbox row per ticket, holding what the cluster's issue API takes.
	rows, err := f.pool.Query(f.ctx, `SELECT ticket_id, version, kind, payload, xmin::text FROM outbox WHERE kind = 'issue' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var xmins []string
	n := 0
	for rows.Next() {
		var (
			id      pgtype.UUID
			version int64
			kind    string
			payload []byte
			xmin    string
		)
		if err := rows.Scan(&id, &version, &kind, &payload, &xmin); err != nil {
			t.Fatal(err)
		}
		n++
		xmins = append(xmins, xmin)
		var j gateapi.TicketJSON
		if err := json.Unmarshal(payload, &j); err != nil {
			t.Fatalf("payload %s: %v", payload, err)
		}
		tk, ok := byID[j.ID]
		if !ok || j.ID != ticket.FormatID(id.Bytes) || kind != "issue" || version != 1 || j.Version != 1 {
			t.Fatalf("outbox row %s v%d %s for %s", ticket.FormatID(id.Bytes), version, kind, j.ID)
		}
		gt, err := j.Ticket()
		if err != nil {
			t.Fatalf("the cluster would refuse %s: %v", payload, err)
		}
		if j.Code != tk.Code || j.Status != "active" || j.Product != tk.ProductID || gt.ValidFrom != visit.UnixMilli() {
			t.Fatalf("payload %s does not match ticket %+v", payload, tk)
		}
		if tk.ProductID == "multi" && !slices.Equal(j.Zones, []string{"main", "aqua"}) {
			t.Fatalf("zones %v", j.Zones)
		}
		if tk.ProductID == "slot" && gt.SlotStart != visit.Add(10*time.Hour).UnixMilli() {
			t.Fatalf("slot start %d", gt.SlotStart)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("%d outbox rows, want 4", n)
	}
	// Same transaction: the paid order, its payment, tickets and outbox
	// rows carry the same xmin.
	var orderX, payX string
	if err := f.pool.QueryRow(f.ctx, `SELECT o.xmin::text, p.xmin::text FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id = $1`, o.ID).Scan(&orderX, &payX); err != nil {
		t.Fatal(err)
	}
	if k := f.count(`SELECT count(*) FROM tickets WHERE order_id = $1 AND xmin::text = $2`, o.ID, orderX); k != 4 || payX != orderX {
		t.Fatalf("%d tickets in the order's transaction %s (payment %s)", k, orderX, payX)
	}
	for _, x := range xmins {
		if x != orderX {
			t.Fatalf("outbox row written in transaction %s, the order was paid in %s", x, orderX)
		}
	}
	for _, action := range []string{"payment.cash", "order.paid", "tickets.issue"} {
		if k := f.count(`SELECT count(*) FROM audit_log WHERE action = $1 AND xmin::text = $2`, action, orderX); k != 1 {
			t.Fatalf("%d %s audit rows in the paying transaction", k, action)
		}
	}
	if v := f.metric("admit_sales_orders_total", "channel", "window", "status", "paid"); v != 1 {
		t.Fatalf("paid metric %v", v)
	}
	if v := f.metric("admit_sales_tickets_issued_total"); v != 4 {
		t.Fatalf("tickets metric %v", v)
	}
	// Paid once only.
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "cash", "amount_minor": o.TotalMinor}), http.StatusConflict, "order_not_pending")
	// Looked up by number, the order shows its tickets.
	if got := f.must("GET", "/v1/orders/"+o.Number, tokFinance, nil, http.StatusOK).order(t); len(got.Tickets) != 4 || got.Status != StatusPaid {
		t.Fatalf("GET: %s with %d tickets", got.Status, len(got.Tickets))
	}
}
