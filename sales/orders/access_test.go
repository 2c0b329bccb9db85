package orders

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/admitpark/admit/validator/gateapi"
)

// TestDistributorSeesOnlyItsOwnOrders: another distributor's order is "not
// found", by id and by number; staff see every order.
func TestDistributorSeesOnlyItsOwnOrders(t *testing.T) {
	f := newFixture(t)
	b := body(line("day", 1))
	b["external_ref"] = "ota-1001"
	mine := f.create(tokDistA, b)
	if mine.Channel != ChannelDistributor || mine.DistributorID != f.dists["a"] || mine.ExternalRef != "ota-1001" ||
		!strings.HasPrefix(mine.Number, "D") || mine.UserID != 0 {
		t.Fatalf("distributor order %+v", mine)
	}
	for _, ref := range []string{fmt.Sprint(mine.ID), mine.Number} {
		if got := f.must("GET", "/v1/orders/"+ref, tokDistA, nil, http.StatusOK).order(t); got.ID != mine.ID {
			t.Fatalf("A got order %d", got.ID)
		}
		// The distributor's own user account shares its orders.
		f.must("GET", "/v1/orders/"+ref, tokDistAU, nil, http.StatusOK)
		// Exactly what a missing order gets: nothing tells it exists.
		other := f.wantProblem(f.call("GET", "/v1/orders/"+ref, tokDistB, nil), http.StatusNotFound, "unknown_order")
		if want := fmt.Sprintf("no order %q", ref); other.Error != want {
			t.Fatalf("the refusal says %q, want %q", other.Error, want)
		}
		for _, tok := range []string{tokAdmin, tokCashier, tokFinance} {
			f.must("GET", "/v1/orders/"+ref, tok, nil, http.StatusOK)
		}
	}
	// B's own orders are B's; A cannot see them either.
	theirs := f.create(tokDistB, body(line("day", 1)))
	f.wantProblem(f.call("GET", "/v1/orders/"+theirs.Number, tokDistA, nil), http.StatusNotFound, "unknown_order")
	// The external ref is unique per distributor, not across them.
	p := f.wantProblem(f.call("POST", "/v1/orders", tokDistA, b), http.StatusConflict, "duplicate_external_ref")
	if !strings.Contains(p.Error, mine.Number) {
		t.Fatalf("duplicate ref does not name the order: %s", p.Error)
	}
	f.create(tokDistB, b)
	// Distributors do not list orders; staff do, by phone and visit date.
	if r := f.call("GET", "/v1/orders?phone=13800138000", tokDistA, nil); r.status != http.StatusForbidden {
		t.Fatalf("distributor list: %d", r.status)
	}
	var list ListReply
	f.must("GET", "/v1/orders?phone=%2B86%20138-0013-8000&date="+tomorrow, tokCashier, nil, http.StatusOK).decode(t, &list)
	if len(list.Orders) != 3 {
		t.Fatalf("list by phone and date: %d orders", len(list.Orders))
	}
	f.must("GET", "/v1/orders?date=2026-12-01", tokFinance, nil, http.StatusOK).decode(t, &list)
	if len(list.Orders) != 0 {
		t.Fatalf("list by another date: %d", len(list.Orders))
	}
	f.wantProblem(f.call("GET", "/v1/orders", tokCashier, nil), 400, "missing_filter")
	f.wantProblem(f.call("GET", "/v1/orders?date=tomorrow", tokCashier, nil), 400, "bad_date")
	if r := f.call("GET", "/v1/orders?name=li", tokCashier, nil); r.status != 400 {
		t.Fatalf("unknown parameter: %d", r.status)
	}
	f.wantProblem(f.call("GET", "/v1/orders/not-an-order", tokCashier, nil), 400, "bad_order_ref")
}

// A valid 18-character resident ID (check character X) and another.
const (
	idA = "11010519491231002X"
	idB = "110101199003078515"
)

// TestRealNameHolders: a real-name product needs a holder per ticket; the ID
// number is kept only as an HMAC and a mask, nowhere in plain.
func TestRealNameHolders(t *testing.T) {
	f := newFixture(t)
	rn := func(holders ...map[string]any) map[string]any {
		l := line("rn", len(holders))
		if len(holders) == 0 {
			l["quantity"] = 1
		}
		l["holders"] = holders
		return body(l)
	}
	h := func(name, id string) map[string]any { return map[string]any{"name": name, "id_number": id} }
	f.wantProblem(f.call("POST", "/v1/orders", tokCashier, rn()), 400, "holders_required")
	f.wantProblem(f.call("POST", "/v1/orders", tokCashier, rn(h("Li Lei", "110105194912310021"))), 400, "bad_holder") // wrong check digit
	f.wantProblem(f.call("POST", "/v1/orders", tokCashier, rn(h("", idA))), 400, "bad_holder")
	f.wantProblem(f.call("POST", "/v1/orders", tokCashier, rn(h("Li Lei", idA), h("Han Meimei", strings.ToLower(idA)))), 400, "duplicate_holder")

	o := f.create(tokCashier, rn(h("Li Lei", idA), h("Han Meimei", idB)))
	if len(o.Lines[0].Holders) != 2 || o.Lines[0].Holders[0].IDMasked != "1101**********002X" || o.Lines[0].Holders[1].Name != "Han Meimei" {
		t.Fatalf("pending holders %+v", o.Lines[0].Holders)
	}
	paid := f.payCash(o)
	masks := map[string]string{"Li Lei": "1101**********002X", "Han Meimei": "1101**********8515"}
	for _, tk := range paid.Tickets {
		if masks[tk.HolderName] != tk.HolderIDMasked {
			t.Fatalf("ticket holder %q %q", tk.HolderName, tk.HolderIDMasked)
		}
	}
	// The hash finds the holder's ticket.
	var name string
	if err := f.pool.QueryRow(f.ctx, `SELECT holder_name FROM tickets WHERE holder_id_hash = $1`, HashHolderID(testSecret, idB)).Scan(&name); err != nil || name != "Han Meimei" {
		t.Fatalf("look-up by ID hash: %q, %v", name, err)
	}
	// The plain ID numbers are nowhere in the database.
	for _, table := range []string{"orders", "order_lines", "tickets", "outbox", "audit_log", "order_holders", "payments"} {
		for _, id := range []string{idA, idB, "19491231", "19900307"} {
			if n := f.count(fmt.Sprintf(`SELECT count(*) FROM %s x WHERE x::text LIKE '%%' || $1 || '%%'`, table), id); n != 0 {
				t.Fatalf("%s holds %q in %d rows", table, id, n)
			}
		}
	}
	if n := f.count(`SELECT count(*) FROM order_holders`); n != 0 {
		t.Fatalf("%d holder rows left after issue", n)
	}
	// The outbox payload names the holder for the gate.
	var j gateapi.TicketJSON
	if err := f.pool.QueryRow(f.ctx, `SELECT payload FROM outbox WHERE kind = 'issue' ORDER BY seq LIMIT 1`).Scan(&j); err != nil || j.Holder != "Li Lei" {
		t.Fatalf("payload %+v, %v", j, err)
	}
}

func TestHolderID(t *testing.T) {
	for in, want := range map[string]string{
		idA: idA, "11010519491231002x": idA, "110105 19491231 002X": idA, "E12345678": "E12345678", "g-1234 56": "G123456",
	} {
		got, err := NormalizeHolderID(in)
		if err != nil || got != want {
			t.Errorf("NormalizeHolderID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "12345", "110105194912310021", "ID#12345", strings.Repeat("1", 33), "身份证123456"} {
		if got, err := NormalizeHolderID(in); err == nil {
			t.Errorf("NormalizeHolderID(%q) = %q, want an error", in, got)
		}
	}
	for in, want := range map[string]string{idB: "1101**********8515", "E12345678": "E1*****78", "ABCDEF": "A****F"} {
		if got := MaskHolderID(in); got != want {
			t.Errorf("MaskHolderID(%q) = %q, want %q", in, got, want)
		}
	}
	if a, b := HashHolderID(testSecret, idA), HashHolderID([]byte("another secret of thirty-two bytes"), idA); bytes.Equal(a, b) || len(a) != 32 {
		t.Error("the hash does not depend on the secret")
	}
}
