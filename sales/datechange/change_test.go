package datechange

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/member"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/ticket"
)

func path(id string) string { return "/v1/tickets/" + id + "/change-date" }

func TestChangeDateMovesPlacesChargesAndReissues(t *testing.T) {
	f := newFixture(t)
	tk := f.sell("dc", tomorrow, 0)
	if f.used("dc", tomorrow) != 1 {
		t.Fatal("the sale took no place")
	}
	// Dearer day: 30.00 more, in cash, exactly.
	f.wantProblem("POST", path(tk.ID), tokCashier, map[string]any{"visit_date": later}, http.StatusPaymentRequired, "settle_required")
	f.wantProblem("POST", path(tk.ID), tokCashier, map[string]any{"visit_date": later, "settle": map[string]any{"method": "cash", "amount_minor": 2000}},
		http.StatusBadRequest, "amount_mismatch")
	var res Result
	f.must("POST", path(tk.ID), tokCashier, map[string]any{"visit_date": later, "settle": map[string]any{"method": "cash", "amount_minor": 3000}}, http.StatusOK, &res)
	if res.DifferenceMinor != 3000 || res.OldVisitDate != tomorrow || res.VisitDate != later || res.Version != 2 || res.Code == tk.Code || res.Number != tk.Number {
		t.Fatalf("result %+v", res)
	}
	if f.used("dc", tomorrow) != 0 || f.used("dc", later) != 1 {
		t.Fatalf("places: %d on %s, %d on %s", f.used("dc", tomorrow), tomorrow, f.used("dc", later), later)
	}
	// The cluster gets the new version, with a code signed for the new day
	// and the same typed number.
	var payload []byte
	if err := f.pool.QueryRow(f.ctx, `SELECT payload FROM outbox WHERE kind = 'issue' ORDER BY seq DESC LIMIT 1`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var tj outbox.Ticket
	if err := json.Unmarshal(payload, &tj); err != nil {
		t.Fatal(err)
	}
	if tj.Version != 2 || tj.Code != res.Code || !tj.ValidFrom.Equal(res.ValidFrom) || len(tj.Credentials) != 1 || tj.Credentials[0].Value != tk.Number {
		t.Fatalf("issue row %s", payload)
	}
	c, err := code.Parse(res.Code)
	if err != nil || c.TicketVersion() != 2 || !c.Claims().ValidFrom.Equal(res.ValidFrom) {
		t.Fatalf("new code: %v %+v", err, c.Claims())
	}
	if err := tj.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM payments WHERE method = 'cash' AND amount_minor = 3000`); n != 1 {
		t.Fatalf("%d difference payments", n)
	}
	if n := f.count(`SELECT count(*) FROM date_changes WHERE new_visit_date = $1 AND old_price_minor = 10000 AND new_price_minor = 13000`, later); n != 1 {
		t.Fatalf("%d date_changes rows", n)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'ticket.change_date' AND object_id = $1`, tk.ID); n != 1 {
		t.Fatalf("%d audit rows", n)
	}
	// The order line follows (a refund gives back the new day's place).
	if n := f.count(`SELECT count(*) FROM order_lines WHERE visit_date = $1 AND unit_price_minor = 13000`, later); n != 1 {
		t.Fatalf("order line not moved")
	}
	// Cheaper day, paid back into a member card.
	var m member.Member
	f.must("POST", "/v1/members", tokCashier, map[string]any{"name": "Wang Wu", "phone": "13100131000"}, http.StatusCreated, &m)
	f.must("POST", fmt.Sprintf("/v1/members/%d/cards", m.ID), tokCashier, map[string]any{"number": "DC000001"}, http.StatusCreated, nil)
	f.must("POST", path(tk.ID), tokCashier, map[string]any{"visit_date": "2026-11-26", "settle": map[string]any{"method": "stored_value", "card": "DC000001"}}, http.StatusOK, &res)
	if res.DifferenceMinor != -5000 || res.BalanceMinor == nil || *res.BalanceMinor != 5000 || res.Version != 3 {
		t.Fatalf("result %+v", res)
	}
}

func TestChangeDateRefusals(t *testing.T) {
	f := newFixture(t)
	fixed := f.sell("fixed", tomorrow, 0)
	f.wantProblem("POST", path(fixed.ID), tokCashier, map[string]any{"visit_date": later}, http.StatusConflict, "date_change_not_allowed")
	tk := f.sell("dc", tomorrow, 0)
	f.wantProblem("POST", path(tk.ID), tokCashier, map[string]any{"visit_date": "2026-11-21"}, http.StatusBadRequest, "visit_date_past")
	f.wantProblem("POST", path(tk.ID), tokCashier, map[string]any{"visit_date": tomorrow}, http.StatusBadRequest, "same_date")
	f.wantProblem("POST", path(tk.ID), tokCashier, map[string]any{"visit_date": "2026-11-24", "slot_id": 1}, http.StatusBadRequest, "slot_not_allowed")
	f.wantProblem("POST", path("nonsense"), tokCashier, map[string]any{"visit_date": later}, http.StatusBadRequest, "bad_ticket_id")
	// Used at a gate: refused, saying when and where.
	id, _ := ticket.ParseID(tk.ID)
	f.exec(`INSERT INTO entry_events (cursor_index, cursor_pos, seq, scan_id, ticket_id, gate, zone, direction, persons, result, at)
		VALUES (1, 0, 1, 's1', $1, 'east-1', 'main', 'in', 1, 'admit', '2026-11-23T09:15:00+08:00')`, id)
	p := f.wantProblem("POST", path(tk.ID), tokCashier, map[string]any{"visit_date": "2026-11-24"}, http.StatusConflict, "already_used")
	if want := "2026-11-23T01:15:00Z at gate east-1"; !strings.Contains(p.Error, want) {
		t.Fatalf("refusal %q does not say %q", p.Error, want)
	}
	if f.used("dc", "2026-11-24") != 0 || f.used("dc", tomorrow) != 1 {
		t.Fatal("a refused change moved places")
	}
}

// Tickets race to move into a slot with one place left: exactly one gets
// it, the others are refused and keep their slot.
func TestChangeDateQuotaRace(t *testing.T) {
	f := newFixture(t)
	var slots []int64
	rows, err := f.pool.Query(f.ctx, `SELECT id FROM time_slots WHERE product_id = 'show' ORDER BY starts`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		slots = append(slots, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// One ticket per day in the morning slot (capacity 1 a day); all race
	// for the afternoon slot of the day after tomorrow (capacity 1).
	const n = 6
	days := []string{"2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28"}
	ids := make([]string, n)
	for i := range n {
		ids[i] = f.sell("show", days[i], slots[0]).ID
	}
	f.exec(`INSERT INTO quota_usage (scope, scope_id, visit_date) VALUES ('slot', $1, '2026-11-24') ON CONFLICT DO NOTHING`, fmt.Sprint(slots[1]))
	gate, err := pgxpool.NewWithConfig(f.ctx, f.pool.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	var ok, refused atomic.Int64
	pgtest.RaceBehindLock(t, f.ctx, gate, `SELECT count(*) FROM (SELECT 1 FROM quota_usage WHERE scope = 'slot' AND scope_id = $1 AND visit_date = '2026-11-24' FOR UPDATE) l`,
		[]any{fmt.Sprint(slots[1])}, n, func(i int) {
			r := f.send("POST", path(ids[i]), tokCashier, map[string]any{"visit_date": "2026-11-24", "slot_id": slots[1]})
			switch r.status {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusConflict:
				refused.Add(1)
			default:
				t.Errorf("change %d: %d %s", i, r.status, r.body)
			}
		})
	if ok.Load() != 1 || refused.Load() != n-1 {
		t.Fatalf("%d moved, %d refused; want 1 and %d", ok.Load(), refused.Load(), n-1)
	}
	if u := f.count(`SELECT used FROM quota_usage WHERE scope = 'slot' AND scope_id = $1 AND visit_date = '2026-11-24'`, fmt.Sprint(slots[1])); u != 1 {
		t.Fatalf("afternoon slot used %d", u)
	}
	if u := f.count(`SELECT sum(used) FROM quota_usage WHERE scope = 'slot' AND scope_id = $1`, fmt.Sprint(slots[0])); u != n-1 {
		t.Fatalf("morning slots used %d, want %d", u, n-1)
	}
}
