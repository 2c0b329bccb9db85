package lookup_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/lookup"
	"github.com/admitpark/admit/validator/ticket"
)

const idNumber = "11010119900301006X" // a valid resident ID (check digit X)

func ids(list lookup.List) map[string]lookup.Ticket {
	m := map[string]lookup.Ticket{}
	for _, t := range list.Tickets {
		m[t.ID] = t
	}
	return m
}

func TestLookupByOrderPhoneAndIDNumber(t *testing.T) {
	f := newFix(t)
	a := f.sell(0, "13800138000", holder{"张三丰", idNumber}, holder{"John Smith", ""})
	b := f.sell(0, "13800138000", holder{"李四", "110101199001011234"})
	c := f.sell(0, "13900000000", holder{"张三丰", idNumber})
	entry := time.Date(2026, 11, 22, 9, 12, 3, 0, time.UTC)
	f.exec(`UPDATE tickets SET first_entry_at = $2, first_entry_gate = 'north-1' WHERE id = $1`, a.tickets[0], entry)
	f.exec(`UPDATE tickets SET status = 'refunded' WHERE id = $1`, b.tickets[0])

	var list lookup.List
	if st, raw, _ := f.get("cashier", "/v1/tickets?order="+a.number, &list); st != http.StatusOK || len(list.Tickets) != 2 {
		t.Fatalf("by order: %d %s", st, raw)
	}
	m := ids(list)
	used, unused := m[a.tickets[0]], m[a.tickets[1]]
	if used.Status != "used" || used.FirstEntryGate != "north-1" || used.FirstEntryAt == nil || !used.FirstEntryAt.Equal(entry) ||
		used.Holder != "张**" || used.HolderIDMasked != "1101**********006X" || used.Code != "" || used.OrderNumber != a.number ||
		used.ProductName != "Day ticket" || used.Currency != "CNY" || used.PriceMinor != 10000 {
		t.Fatalf("used ticket: %+v", used)
	}
	if unused.Status != "unused" || unused.Holder != "J*** S****" || unused.TicketStatus != "active" {
		t.Fatalf("unused ticket: %+v", unused)
	}

	// Phone: as typed at the window, with spaces and dashes.
	if st, raw, _ := f.get("cashier", "/v1/tickets?phone="+url.QueryEscape("138 0013-8000"), &list); st != http.StatusOK || len(list.Tickets) != 3 {
		t.Fatalf("by phone: %d %s", st, raw)
	}
	if got := ids(list)[b.tickets[0]]; got.Status != "refunded" {
		t.Fatalf("refunded ticket: %+v", got)
	}

	// ID number: lower-case x and spaces find the same holder, in both orders.
	if st, raw, _ := f.get("cashier", "/v1/tickets?id_number="+url.QueryEscape(" 110101 19900301006x "), &list); st != http.StatusOK || len(list.Tickets) != 2 {
		t.Fatalf("by ID number: %d %s", st, raw)
	}
	m = ids(list)
	if _, ok := m[a.tickets[0]]; !ok {
		t.Fatalf("by ID number: %+v", list)
	}
	if _, ok := m[c.tickets[0]]; !ok {
		t.Fatalf("by ID number: %+v", list)
	}
	if st, _, _ := f.get("cashier", "/v1/tickets?id_number=999999999999999999", &list); st != http.StatusOK || len(list.Tickets) != 0 {
		t.Fatalf("unknown ID number: %d %+v", st, list)
	}

	// One ticket, by UUID or hex: with its code for a cashier, without for a gate operator.
	id, _ := ticket.ParseID(a.tickets[0])
	uuid := a.tickets[0][:8] + "-" + a.tickets[0][8:12] + "-" + a.tickets[0][12:16] + "-" + a.tickets[0][16:20] + "-" + a.tickets[0][20:]
	var one lookup.Ticket
	if st, raw, h := f.get("cashier", "/v1/tickets/"+uuid, &one); st != http.StatusOK || one.ID != ticket.FormatID(id) ||
		one.Code != a.codes[0] || one.Status != "used" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("one ticket: %d %s", st, raw)
	}
	var seen lookup.Ticket
	if st, _, _ := f.get("gate", "/v1/tickets/"+a.tickets[0], &seen); st != http.StatusOK || seen.Code != "" || seen.Status != "used" {
		t.Fatalf("gate operator: %d %+v", st, seen)
	}

	for _, c := range []struct {
		path string
		want int
	}{
		{"/v1/tickets", http.StatusBadRequest},
		{"/v1/tickets?order=" + a.number + "&phone=13800138000", http.StatusBadRequest},
		{"/v1/tickets?name=x", http.StatusBadRequest},
		{"/v1/tickets?order=a&order=b", http.StatusBadRequest},
		{"/v1/tickets?phone=12ab", http.StatusBadRequest},
		{"/v1/tickets/not-a-ticket", http.StatusBadRequest},
		{"/v1/tickets/00000000000000000000000000000000", http.StatusNotFound},
	} {
		if st, raw, _ := f.get("cashier", c.path, nil); st != c.want {
			t.Errorf("GET %s: %d %s, want %d", c.path, st, raw, c.want)
		}
	}
	if st, _, _ := f.get("", "/v1/tickets?order="+a.number, nil); st != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", st)
	}
}

func TestQRPNG(t *testing.T) {
	f := newFix(t)
	s := f.sell(0, "", holder{"A", ""})
	for _, c := range []struct {
		query string
		size  int
	}{{"", 256}, {"?size=128", 128}, {"?size=512", 512}, {"?size=1024", 1024}} {
		st, raw, h := f.get("cashier", "/v1/tickets/"+s.tickets[0]+"/qr.png"+c.query, nil)
		if st != http.StatusOK || h.Get("Content-Type") != "image/png" {
			t.Fatalf("qr%s: %d %s", c.query, st, raw)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("qr%s: not a PNG: %v", c.query, err)
		}
		if b := img.Bounds(); b.Dx() != c.size || b.Dy() != c.size {
			t.Fatalf("qr%s: %v, want %dx%d", c.query, b, c.size, c.size)
		}
	}
	for _, c := range []struct {
		token, query string
		want         int
	}{
		{"cashier", "?size=127", http.StatusBadRequest},
		{"cashier", "?size=1025", http.StatusBadRequest},
		{"cashier", "?size=big", http.StatusBadRequest},
		{"gate", "", http.StatusForbidden},
		{"dist1", "", http.StatusNotFound}, // not its order
	} {
		if st, raw, _ := f.get(c.token, "/v1/tickets/"+s.tickets[0]+"/qr.png"+c.query, nil); st != c.want {
			t.Errorf("%s qr%s: %d %s, want %d", c.token, c.query, st, raw, c.want)
		}
	}
}

func TestKeysAreAnonymous(t *testing.T) {
	f := newFix(t)
	var body lookup.KeysBody
	st, raw, _ := f.get("", "/v1/keys", &body)
	if st != http.StatusOK || len(body.Keys) != 1 || !body.Keys[0].Active || len(body.Keys[0].PublicKey) != 32 {
		t.Fatalf("keys: %d %s", st, raw)
	}
	var generic map[string][]map[string]any
	json.Unmarshal(raw, &generic)
	for k := range generic["keys"][0] {
		if k == "private_key" {
			t.Fatal("private key published")
		}
	}
}

func TestDistributorsSeeOnlyTheirOrders(t *testing.T) {
	f := newFix(t)
	own := f.sell(1, "13800138000", holder{"A", idNumber})
	other := f.sell(2, "13800138000", holder{"B", idNumber})
	window := f.sell(0, "13800138000", holder{"C", idNumber})

	var one lookup.Ticket
	if st, _, _ := f.get("dist1", "/v1/tickets/"+own.tickets[0], &one); st != http.StatusOK || one.Code != own.codes[0] {
		t.Fatalf("own ticket: %d %+v", st, one)
	}
	for _, id := range []string{other.tickets[0], window.tickets[0]} {
		if st, _, _ := f.get("dist1", "/v1/tickets/"+id, nil); st != http.StatusNotFound {
			t.Fatalf("someone else's ticket: %d", st)
		}
	}
	for _, q := range []string{"phone=13800138000", "id_number=" + idNumber} {
		var list lookup.List
		if st, _, _ := f.get("dist1", "/v1/tickets?"+q, &list); st != http.StatusOK || len(list.Tickets) != 1 || list.Tickets[0].ID != own.tickets[0] {
			t.Fatalf("dist1 ?%s: %d %+v", q, st, list)
		}
		if st, _, _ := f.get("admin", "/v1/tickets?"+q, &list); st != http.StatusOK || len(list.Tickets) != 3 {
			t.Fatalf("admin ?%s: %d %+v", q, st, list)
		}
	}
	var list lookup.List
	if st, _, _ := f.get("dist1", "/v1/tickets?order="+other.number, &list); st != http.StatusOK || len(list.Tickets) != 0 {
		t.Fatalf("other's order: %d %+v", st, list)
	}
}

func TestHashAndMasks(t *testing.T) {
	if !bytes.Equal(lookup.HashIDNumber(secret, " 11010119900301006x"), lookup.HashIDNumber(secret, "110101-19900301006X")) {
		t.Fatal("normalization differs")
	}
	if len(lookup.HashIDNumber(secret, idNumber)) != 32 {
		t.Fatal("hash length")
	}
	for in, want := range map[string]string{"张三丰": "张**", "李": "*", "John Smith": "J*** S****", "": ""} {
		if got := lookup.MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := lookup.NormalizePhone(" +86 (138) 0013-8000 "); got != "+8613800138000" {
		t.Fatalf("NormalizePhone: %q", got)
	}
}
