package member

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

func TestOpenRechargePayStatementPoints(t *testing.T) {
	f := newFixture(t)
	m, c := f.memberWithCard("Han Meimei", "13800138000", "04:a2:2b:91")
	if c.Number != "04A22B91" || c.Status != CardActive || c.ParkID != "fun" || c.Currency != "CNY" || c.MemberID != m.ID {
		t.Fatalf("card %+v", c)
	}
	f.wantProblem("POST", fmt.Sprintf("/v1/members/%d/cards", m.ID), tokCashier, map[string]any{"number": "04a22b91"}, http.StatusConflict, "card_exists")
	f.wantProblem("POST", "/v1/members", tokCashier, map[string]any{"name": "Someone", "phone": "138 0013 8000"}, http.StatusConflict, "member_exists")

	mv := f.recharge(c.Number, 30000)
	if mv.Card.BalanceMinor != 30000 || mv.Line.Kind != "recharge" || mv.Line.Method != "cash" || mv.Line.SalesPointID != "w1" {
		t.Fatalf("recharge: %+v", mv)
	}
	f.wantProblem("POST", "/v1/cards/04A22B91/recharge", tokCashier, map[string]any{"amount_minor": 100, "method": "card"}, http.StatusBadRequest, "bad_reference")
	f.wantProblem("POST", "/v1/cards/04A22B91/recharge", tokFinance, map[string]any{"amount_minor": 100, "method": "cash"}, http.StatusForbidden, "")
	f.wantProblem("POST", "/v1/cards/04A22B91/recharge", tokFar, map[string]any{"amount_minor": 100, "method": "cash"}, http.StatusForbidden, "wrong_park")

	// An order of 120.00 paid from the balance: vip earns 2 points per 1.00.
	o := f.order(map[string]any{"product_id": "day", "visit_date": tomorrow, "quantity": 1})
	res := f.payCard(o, "04a22b91", 0)
	if res.Order.Status != "paid" || len(res.Order.Tickets) != 1 || res.Card.MoneyMinor != 12000 || res.Card.PointsEarned != 240 || res.Card.BalanceMinor != 18000 {
		t.Fatalf("pay: %+v card %+v", res.Order.Status, res.Card)
	}
	if len(res.Order.Payments) != 1 || res.Order.Payments[0].Method != "stored_value" || res.Order.Payments[0].AmountMinor != 12000 {
		t.Fatalf("payments %+v", res.Order.Payments)
	}
	// Points pay part of the next one: 240 points are 2.40.
	o2 := f.order(map[string]any{"product_id": "day", "visit_date": tomorrow, "quantity": 1})
	res = f.payCard(o2, c.Number, 240)
	if res.Card.PointsMinor != 240 || res.Card.MoneyMinor != 11760 || res.Card.BalanceMinor != 6240 {
		t.Fatalf("pay with points: %+v", res.Card)
	}
	// More than the balance: refused, nothing taken, the order still pending.
	o3 := f.order(map[string]any{"product_id": "day", "visit_date": tomorrow, "quantity": 1})
	f.wantProblem("POST", fmt.Sprintf("/v1/orders/%d/pay", o3.ID), tokCashier, map[string]any{"method": "stored_value", "card": c.Number}, http.StatusConflict, "insufficient_balance")
	if n := f.count(`SELECT count(*) FROM payments WHERE order_id = $1`, o3.ID); n != 0 {
		t.Fatalf("%d payments for the refused order", n)
	}
	s := f.statementSums(c.Number)
	if len(s.Lines) != 3 || s.Lines[1].Order != o.Number || s.Lines[2].Kind != "payment" {
		t.Fatalf("statement %+v", s.Lines)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE object_type = 'card' AND object_id = '04A22B91'`); n < 4 {
		t.Fatalf("%d audit rows for the card", n)
	}
	// The member's history: the orders paid from the card and their
	// tickets, and the gates' events of those tickets.
	tid, err := ticket.ParseID(res.Order.Tickets[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	f.exec(`INSERT INTO entry_events (cursor_index, cursor_pos, seq, scan_id, ticket_id, gate, zone, direction, persons, result, at)
		VALUES (1, 0, 1, 's1', $1, 'north-1', 'main', 'in', 1, 'admit', now())`, tid)
	var h History
	f.must("GET", fmt.Sprintf("/v1/members/%d/history", m.ID), tokFinance, nil, http.StatusOK, &h)
	if len(h.Orders) != 2 || len(h.Tickets) != 2 || len(h.Entries) != 1 || h.Entries[0].Gate != "north-1" {
		t.Fatalf("history %+v", h)
	}
}

func TestConsumeIsIdempotentPerRequest(t *testing.T) {
	f := newFixture(t)
	_, c := f.memberWithCard("Li Lei", "13900139000", "C0001")
	f.recharge(c.Number, 1000)
	var first, again ConsumeReply
	body := map[string]any{"amount_minor": 300, "request_id": "till-7/0001", "reference": "noodles"}
	f.must("POST", "/v1/cards/C0001/consume", tokCashier, body, http.StatusOK, &first)
	f.must("POST", "/v1/cards/C0001/consume", tokCashier, body, http.StatusOK, &again)
	if first.Card.BalanceMinor != 700 || !again.Replayed || again.Card.BalanceMinor != 700 || again.Line.ID != first.Line.ID {
		t.Fatalf("first %+v again %+v", first, again)
	}
	f.wantProblem("POST", "/v1/cards/C0001/consume", tokCashier, map[string]any{"amount_minor": 300}, http.StatusBadRequest, "bad_request_id")
	f.statementSums(c.Number)
}

// Many payments race for one balance: exactly the affordable ones succeed,
// the balance ends at zero and the statement sums.
func TestRacingConsumersNeverOverdraw(t *testing.T) {
	f := newFixture(t)
	_, c := f.memberWithCard("Race", "13700137000", "RACE0001")
	f.recharge(c.Number, 500) // five payments of 100
	// n payers queue behind a lock on the card row (one connection each of
	// the API's 16), then all go at once.
	const n, affordable = 14, 5
	gate, err := pgxpool.NewWithConfig(f.ctx, f.pool.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	var ok, refused atomic.Int64
	pgtest.RaceBehindLock(t, f.ctx, gate, `SELECT count(*) FROM (SELECT 1 FROM cards WHERE number = $1 FOR UPDATE) l`, []any{c.Number}, n, func(i int) {
		r := f.send("POST", "/v1/cards/RACE0001/consume", tokCashier,
			map[string]any{"amount_minor": 100, "request_id": fmt.Sprintf("race-%d", i)}, "")
		switch r.status {
		case http.StatusOK:
			ok.Add(1)
		case http.StatusConflict:
			refused.Add(1)
		default:
			t.Errorf("consume %d: %d %s", i, r.status, r.body)
		}
	})
	if ok.Load() != affordable || refused.Load() != n-affordable {
		t.Fatalf("%d succeeded, %d refused; want %d and %d", ok.Load(), refused.Load(), affordable, n-affordable)
	}
	s := f.statementSums(c.Number)
	if s.Card.BalanceMinor != 0 || len(s.Lines) != affordable+1 {
		t.Fatalf("balance %d after %d lines", s.Card.BalanceMinor, len(s.Lines))
	}
	// Many more payers without the gate: they queue on the pool and the row.
	f.recharge(c.Number, 1000)
	const many = 60
	ok.Store(0)
	var wg sync.WaitGroup
	for i := range many {
		wg.Go(func() {
			r := f.send("POST", "/v1/cards/RACE0001/consume", tokCashier,
				map[string]any{"amount_minor": 100, "request_id": fmt.Sprintf("many-%d", i)}, "")
			if r.status == http.StatusOK {
				ok.Add(1)
			} else if r.status != http.StatusConflict {
				t.Errorf("consume %d: %d %s", i, r.status, r.body)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 {
		t.Fatalf("%d of %d payers of 100 got through a balance of 1000", ok.Load(), many)
	}
	if s := f.statementSums(c.Number); s.Card.BalanceMinor != 0 {
		t.Fatalf("balance %d", s.Card.BalanceMinor)
	}
}

// Order payments race too: each order either is paid from the card or
// stays pending; the card never goes below zero.
func TestRacingOrderPayments(t *testing.T) {
	f := newFixture(t)
	_, c := f.memberWithCard("Orders", "13600136000", "RACE0002")
	f.recharge(c.Number, 36000) // three day passes
	const n = 8
	os := make([]int64, n)
	for i := range os {
		os[i] = f.order(map[string]any{"product_id": "day", "visit_date": tomorrow, "quantity": 1}).ID
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := f.send("POST", fmt.Sprintf("/v1/orders/%d/pay", os[i]), tokCashier, map[string]any{"method": "stored_value", "card": c.Number}, "")
			if r.status == http.StatusOK {
				ok.Add(1)
			} else if r.status != http.StatusConflict {
				t.Errorf("pay %d: %d %s", i, r.status, r.body)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 3 {
		t.Fatalf("%d orders paid, want 3", ok.Load())
	}
	if paid := f.count(`SELECT count(*) FROM orders WHERE status = 'paid'`); paid != 3 {
		t.Fatalf("%d orders paid in the database", paid)
	}
	if s := f.statementSums(c.Number); s.Card.BalanceMinor != 0 {
		t.Fatalf("balance %d", s.Card.BalanceMinor)
	}
}

// outboxTicket returns the newest issue row of a ticket.
func (f *fixture) outboxTicket(id string) (outbox.Ticket, int64) {
	f.t.Helper()
	tid, err := ticket.ParseID(id)
	if err != nil {
		f.t.Fatal(err)
	}
	var payload []byte
	var seq int64
	if err := f.pool.QueryRow(f.ctx, `SELECT seq, payload FROM outbox WHERE kind = 'issue' AND ticket_id = $1 ORDER BY seq DESC LIMIT 1`, tid).Scan(&seq, &payload); err != nil {
		f.t.Fatal(err)
	}
	var tj outbox.Ticket
	if err := json.Unmarshal(payload, &tj); err != nil {
		f.t.Fatal(err)
	}
	return tj, seq
}

func credentialOf(tj outbox.Ticket, kind string) string {
	for _, c := range tj.Credentials {
		if c.Kind == kind {
			return c.Value
		}
	}
	return ""
}

// A pass is bound to a card; the loss suspends it, the replacement moves
// it (and the balance and points) to the new card.
func TestLossAndReplacementOfAPassCard(t *testing.T) {
	f := newFixture(t)
	m, c := f.memberWithCard("Pass Holder", "13500135000", "PASS0001")
	f.recharge(c.Number, 5000)
	o := f.order(map[string]any{"product_id": "annual", "visit_date": tomorrow, "quantity": 1, "card": "pass0001"})
	var res orders.PayResult
	f.must("POST", fmt.Sprintf("/v1/orders/%d/pay", o.ID), tokCashier, map[string]any{"method": "cash", "amount_minor": o.TotalMinor}, http.StatusOK, &res)
	pass := res.Order.Tickets[0]
	if pass.Card != "PASS0001" || len(pass.Number) != 12 {
		t.Fatalf("pass %+v", pass)
	}
	if _, ok := gateapi.NormalizeTicketNumber(pass.Number); !ok {
		t.Fatalf("ticket number %s has a wrong check digit", pass.Number)
	}
	tj, _ := f.outboxTicket(pass.ID)
	if credentialOf(tj, "card") != "PASS0001" || credentialOf(tj, "ticket_number") != pass.Number {
		t.Fatalf("issue row credentials %+v", tj.Credentials)
	}
	// One valid pass per card.
	f.wantProblem("POST", "/v1/orders", tokCashier, map[string]any{"lines": []any{map[string]any{"product_id": "annual", "visit_date": tomorrow, "quantity": 1, "card": "PASS0001"}}},
		http.StatusConflict, "card_has_pass")

	var lost LostResult
	f.must("POST", "/v1/cards/PASS0001/lost", tokCashier, nil, http.StatusOK, &lost)
	if lost.Card.Status != CardLost || len(lost.Suspended) != 1 || lost.Suspended[0] != pass.ID {
		t.Fatalf("lost %+v", lost)
	}
	var change []byte
	if err := f.pool.QueryRow(f.ctx, `SELECT payload FROM outbox WHERE kind = 'update' ORDER BY seq DESC LIMIT 1`).Scan(&change); err != nil {
		t.Fatal(err)
	}
	if c, err := outbox.DecodeChange(change); err != nil || c.Op != gateapi.OpSuspend || c.Version != 2 {
		t.Fatalf("update row %s: %v", change, err)
	}
	f.wantProblem("POST", "/v1/cards/PASS0001/recharge", tokCashier, map[string]any{"amount_minor": 100, "method": "cash"}, http.StatusConflict, "card_not_active")
	f.wantProblem("POST", "/v1/cards/PASS0001/consume", tokCashier, map[string]any{"amount_minor": 100, "request_id": "x"}, http.StatusConflict, "card_not_active")

	var rep ReplaceResult
	f.must("POST", "/v1/cards/PASS0001/replace", tokCashier, map[string]any{"new_number": "PASS0002"}, http.StatusOK, &rep)
	if rep.Old.Status != CardReplaced || rep.Old.ReplacedBy != "PASS0002" || rep.Old.BalanceMinor != 0 ||
		rep.New.BalanceMinor != 5000 || rep.New.MemberID != m.ID || rep.New.ExpiresOn != "2027-11-22" || len(rep.Rebound) != 1 {
		t.Fatalf("replace %+v", rep)
	}
	tj, _ = f.outboxTicket(pass.ID)
	if tj.Version != 3 || tj.Status != "active" || credentialOf(tj, "card") != "PASS0002" || credentialOf(tj, "ticket_number") != pass.Number {
		t.Fatalf("new version %d %s credentials %+v", tj.Version, tj.Status, tj.Credentials)
	}
	if err := tj.Validate(); err != nil {
		t.Fatal(err)
	}
	f.statementSums("PASS0001")
	f.statementSums("PASS0002")
	// The pass blocks a refund of its card; a card without one is refunded
	// by its category's rule.
	f.wantProblem("POST", "/v1/cards/PASS0002/refund", tokCashier, map[string]any{"method": "cash"}, http.StatusConflict, "card_has_pass")
	f.exec(`UPDATE member_categories SET refund_fee_percent = 10 WHERE id = 'vip'`)
	_, c3 := f.memberWithCard("Refund Me", "13400134000", "REF00001")
	f.recharge(c3.Number, 2000)
	var rr RefundResult
	f.must("POST", "/v1/cards/REF00001/refund", tokCashier, map[string]any{"method": "cash"}, http.StatusOK, &rr)
	if rr.PaidMinor != 1800 || rr.FeeMinor != 200 || rr.Card.Status != CardRefunded || rr.Card.BalanceMinor != 0 {
		t.Fatalf("refund %+v", rr)
	}
	f.statementSums("REF00001")
	// The window's money is in the cashier's shift: recharges taken, the
	// refunded balance paid out (ticket sales paid in cash as usual).
	var sh shift.Shift
	f.must("GET", "/v1/shifts/current", tokCashier, nil, http.StatusOK, &sh)
	var cash shift.MethodLine
	for _, l := range sh.Report.Methods {
		if l.Method == "cash" {
			cash = l
		}
	}
	if cash.TakenMinor != 5000+2000+o.TotalMinor || cash.RefundsPaidOutMinor != 1800 {
		t.Fatalf("shift cash line %+v", cash)
	}
}

// Every ticket gets a typed number; a real-name ticket carries the gate's
// hash of its holder's ID number, and the park's cluster gets the key
// (a configure row) before the first such ticket.
func TestRealNameTicketCarriesIDCardHash(t *testing.T) {
	f := newFixture(t)
	o := f.order(map[string]any{"product_id": "rn", "visit_date": tomorrow, "quantity": 1,
		"holders": []any{map[string]any{"name": "Zhang San", "id_number": "11010519491231002x"}}})
	var res orders.PayResult
	f.must("POST", fmt.Sprintf("/v1/orders/%d/pay", o.ID), tokCashier, map[string]any{"method": "cash", "amount_minor": o.TotalMinor}, http.StatusOK, &res)
	tk := res.Order.Tickets[0]
	tj, issueSeq := f.outboxTicket(tk.ID)
	key := credentialGateKey()
	if got, want := credentialOf(tj, "id_card"), gateapi.IDCardHash(key, "11010519491231002X"); got != want {
		t.Fatalf("id_card credential %q, want %q", got, want)
	}
	if credentialOf(tj, "ticket_number") != tk.Number {
		t.Fatalf("credentials %+v", tj.Credentials)
	}
	var cfgSeq int64
	var payload []byte
	if err := f.pool.QueryRow(f.ctx, `SELECT seq, payload FROM outbox WHERE kind = 'configure' AND park_id = 'fun' AND payload ? 'id_card_key'`).Scan(&cfgSeq, &payload); err != nil {
		t.Fatal(err)
	}
	c, err := outbox.DecodeConfigure(payload)
	if err != nil || cfgSeq > issueSeq || c.IDCardKey == "" {
		t.Fatalf("configure row %d (issue %d) %s: %v", cfgSeq, issueSeq, payload, err)
	}
	// A second real-name ticket does not send the key again.
	o2 := f.order(map[string]any{"product_id": "rn", "visit_date": tomorrow, "quantity": 1,
		"holders": []any{map[string]any{"name": "Li Si", "id_number": "110105194912310038"}}})
	f.must("POST", fmt.Sprintf("/v1/orders/%d/pay", o2.ID), tokCashier, map[string]any{"method": "cash", "amount_minor": o2.TotalMinor}, http.StatusOK, nil)
	if n := f.count(`SELECT count(*) FROM outbox WHERE kind = 'configure' AND payload ? 'id_card_key'`); n != 1 {
		t.Fatalf("%d configure rows with the key", n)
	}
}

// A card lost between the order and its payment: the pass is issued
// suspended; the replacement resumes it on the new card.
func TestPassPaidAfterItsCardWasLost(t *testing.T) {
	f := newFixture(t)
	f.memberWithCard("Late Payer", "13300133000", "LATE0001")
	o := f.order(map[string]any{"product_id": "annual", "visit_date": tomorrow, "quantity": 1, "card": "LATE0001"})
	f.wantProblem("POST", "/v1/orders", tokCashier, map[string]any{"lines": []any{map[string]any{"product_id": "annual", "visit_date": tomorrow, "quantity": 1, "card": "LATE0001"}}},
		http.StatusConflict, "card_has_pass")
	f.must("POST", "/v1/cards/LATE0001/lost", tokCashier, nil, http.StatusOK, nil)
	var res orders.PayResult
	f.must("POST", fmt.Sprintf("/v1/orders/%d/pay", o.ID), tokCashier, map[string]any{"method": "cash", "amount_minor": o.TotalMinor}, http.StatusOK, &res)
	if st := res.Order.Tickets[0].Status; st != "suspended" {
		t.Fatalf("pass issued %s", st)
	}
	tj, _ := f.outboxTicket(res.Order.Tickets[0].ID)
	if tj.Status != "suspended" || credentialOf(tj, "card") != "LATE0001" {
		t.Fatalf("issue row %+v", tj)
	}
	var rep ReplaceResult
	f.must("POST", "/v1/cards/LATE0001/replace", tokCashier, map[string]any{"new_number": "LATE0002"}, http.StatusOK, &rep)
	tj, _ = f.outboxTicket(res.Order.Tickets[0].ID)
	if len(rep.Rebound) != 1 || tj.Status != "active" || credentialOf(tj, "card") != "LATE0002" {
		t.Fatalf("after replacement %+v, row %+v", rep, tj)
	}
}

func TestRenewExpiryCategoriesAndRoles(t *testing.T) {
	f := newFixture(t)
	m, c := f.memberWithCard("Renew Me", "13200132000", "RNW00001")
	// A recharge with a request id is done once, however often it is sent.
	body := map[string]any{"amount_minor": 1000, "method": "cash", "request_id": "w1-click-1"}
	var first, again Movement
	f.must("POST", "/v1/cards/RNW00001/recharge", tokCashier, body, http.StatusOK, &first)
	f.must("POST", "/v1/cards/RNW00001/recharge", tokCashier, body, http.StatusOK, &again)
	if !again.Replayed || again.Card.BalanceMinor != 1000 || again.Line.ID != first.Line.ID {
		t.Fatalf("recharge replay %+v", again)
	}
	f.wantProblem("POST", "/v1/cards/RNW00001/recharge", tokCashier, map[string]any{"amount_minor": 2000, "method": "cash", "request_id": "w1-click-1"},
		http.StatusConflict, "request_id_reused")
	// Expired yesterday (park time): no payment until renewed.
	f.exec(`UPDATE cards SET expires_on = '2026-11-21' WHERE number = 'RNW00001'`)
	f.wantProblem("POST", "/v1/cards/RNW00001/consume", tokCashier, map[string]any{"amount_minor": 100, "request_id": "r1"}, http.StatusConflict, "card_expired")
	f.wantProblem("POST", "/v1/cards/RNW00001/renew", tokCashier, map[string]any{"expires_on": "2026-11-20"}, http.StatusBadRequest, "bad_date")
	var renewed Card
	f.must("POST", "/v1/cards/RNW00001/renew", tokCashier, map[string]any{"expires_on": "2027-11-21"}, http.StatusOK, &renewed)
	if renewed.ExpiresOn != "2027-11-21" {
		t.Fatalf("renewed %+v", renewed)
	}
	f.must("POST", "/v1/cards/RNW00001/consume", tokCashier, map[string]any{"amount_minor": 100, "request_id": "r1"}, http.StatusOK, nil)
	// Holder details change; the audit log keeps before and after.
	var edited Member
	f.must("PATCH", fmt.Sprintf("/v1/members/%d", m.ID), tokCashier, map[string]any{"name": "Renewed Name", "photo_ref": "photos/42.jpg"}, http.StatusOK, &edited)
	if edited.Name != "Renewed Name" || edited.Phone != "13200132000" || edited.PhotoRef != "photos/42.jpg" || len(edited.Cards) != 1 {
		t.Fatalf("edited %+v", edited)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'member.update' AND details->'before'->>'name' = 'Renew Me'`); n != 1 {
		t.Fatalf("%d member.update audit rows", n)
	}
	// Categories: admins set the points rule; others may not.
	f.must("PUT", "/v1/member-categories/gold", tokAdmin, map[string]any{"id": "gold", "name": "Gold", "points_per_unit": 5,
		"unit_minor": 100, "point_value_minor": 2, "refund_fee_percent": 0}, http.StatusOK, nil)
	f.wantProblem("PUT", "/v1/member-categories/gold", tokCashier, map[string]any{"id": "gold"}, http.StatusForbidden, "")
	f.must("PATCH", fmt.Sprintf("/v1/members/%d", m.ID), tokAdmin, map[string]any{"category": "gold"}, http.StatusOK, nil)
	var d ConsumeReply
	f.must("POST", "/v1/cards/RNW00001/consume", tokCashier, map[string]any{"amount_minor": 200, "request_id": "r2"}, http.StatusOK, &d)
	if d.Paid.PointsEarned != 10 {
		t.Fatalf("gold earns 5 per 1.00: %+v", d.Paid)
	}
	// Finance reads, does not move money; a cashier of another park neither.
	f.must("GET", "/v1/cards/RNW00001/statement", tokFinance, nil, http.StatusOK, nil)
	f.wantProblem("POST", "/v1/cards/RNW00001/consume", tokFinance, map[string]any{"amount_minor": 1, "request_id": "x"}, http.StatusForbidden, "")
	f.wantProblem("POST", "/v1/cards/RNW00001/consume", tokFar, map[string]any{"amount_minor": 1, "request_id": "x"}, http.StatusForbidden, "wrong_park")
	f.wantProblem("POST", "/v1/members", tokFinance, map[string]any{"name": "X"}, http.StatusForbidden, "")
	f.wantProblem("GET", "/v1/cards/NOPE", tokCashier, nil, http.StatusNotFound, "unknown_card")
	f.wantProblem("GET", "/v1/cards/x", tokCashier, nil, http.StatusBadRequest, "bad_card_number")
	_ = c
}

// Orders racing to bind one card: one gets it, the others are refused.
func TestOneCardOnePassUnderRace(t *testing.T) {
	f := newFixture(t)
	f.memberWithCard("Race Pass", "13100131001", "RP000001")
	const n = 8
	var created, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := f.send("POST", "/v1/orders", tokCashier, map[string]any{"lines": []any{
				map[string]any{"product_id": "annual", "visit_date": tomorrow, "quantity": 1, "card": "RP000001"}}}, "")
			switch r.status {
			case http.StatusCreated:
				created.Add(1)
			case http.StatusConflict:
				refused.Add(1)
			default:
				t.Errorf("order %d: %d %s", i, r.status, r.body)
			}
		})
	}
	wg.Wait()
	if created.Load() != 1 || refused.Load() != n-1 {
		t.Fatalf("%d orders bound the card, %d refused", created.Load(), refused.Load())
	}
}
