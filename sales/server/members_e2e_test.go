package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/datechange"
	"github.com/admitpark/admit/sales/member"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/validator/gateapi"
)

// adminToken logs the first admin in and changes the one-time password.
func adminToken(t *testing.T, s *sales) string {
	t.Helper()
	once, login := firstLogin(t, s)
	const pw = "the-admins-long-password"
	must(t, 200, "POST", s.base+"/v1/me/password", login.Token, map[string]string{"old_password": once, "new_password": pw}, nil)
	must(t, 200, "POST", s.base+"/v1/login", "", map[string]string{"username": "admin", "password": pw}, &login)
	return login.Token
}

// waitVersion waits until every node of the park has version of ticket id
// (0: any version) and returns its status there.
func waitVersion(t *testing.T, p *park, id string, version uint64, status string) time.Duration {
	t.Helper()
	start := time.Now()
	clustertest.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		for i := range 3 {
			v, found, err := clusterTicket(p.url(i), id)
			if err != nil {
				return err
			}
			if !found || v.Ticket.Version < version || (status != "" && v.Ticket.Status != status) {
				return fmt.Errorf("node %d: found %v, version %d, status %q", i, found, v.Ticket.Version, v.Ticket.Status)
			}
		}
		return nil
	}, "ticket %s at version %d (%s) on every node", id, version, status)
	return time.Since(start)
}

// TestMembersAndCredentialsAtTheGate drives members, cards, passes, typed
// ticket numbers, ID cards and date changes through a real 3-node cluster
// and the sales service with its relay, as a park's staff would.
func TestMembersAndCredentialsAtTheGate(t *testing.T) {
	p := newPark(t)
	s := startSales(t, p, pgtest.NewDSN(t))
	admin := adminToken(t, s)

	const parkID = "sunny"
	must(t, 201, "POST", s.base+"/v1/parks", admin, catalog.ParkInput{ID: parkID, Name: "Sunny Park", TimeZone: "Asia/Shanghai", Currency: "CNY"}, nil)
	must(t, 201, "POST", s.base+"/v1/parks/"+parkID+"/zones", admin, catalog.ZoneInput{ID: "main", Name: "Main"}, nil)
	for _, pr := range []struct {
		id, kind             string
		entries, days        int
		realName, dateChange bool
		price                int64
	}{
		{"pass", "multi", 3, 365, false, false, 50000},
		{"rn", "single", 0, 1, true, false, 15000},
		{"day", "single", 0, 1, false, true, 12000},
	} {
		in := catalog.NewProductInput()
		in.ID, in.ParkID, in.Name, in.Kind, in.Entries, in.ValidDays = pr.id, parkID, pr.id, pr.kind, pr.entries, pr.days
		in.RealName, in.DateChangeAllowed, in.PriceMinor = pr.realName, pr.dateChange, pr.price
		must(t, 201, "POST", s.base+"/v1/products", admin, in, nil)
	}
	must(t, 201, "POST", s.base+"/v1/sales-points", admin, catalog.SalesPointInput{ID: "window-1", ParkID: parkID, Name: "Window 1", Kind: "window"}, nil)
	must(t, 201, "POST", s.base+"/v1/users", admin, auth.NewUser{Username: "cashier1", Role: "cashier", Password: "the-cashiers-long-password", SalesPointID: "window-1"}, nil)
	var login auth.LoginResult
	must(t, 200, "POST", s.base+"/v1/login", "", map[string]string{"username": "cashier1", "password": "the-cashiers-long-password"}, &login)
	cashier := login.Token
	must(t, 201, "POST", s.base+"/v1/shifts", cashier, map[string]int64{"opening_float_minor": 0}, nil)

	clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		var zl struct{ Zones []gateapi.ZoneJSON }
		status, raw, err := do("GET", p.url(0)+gateapi.PathZones, clusterAdminToken, nil, &zl)
		if err != nil || status != 200 || len(zl.Zones) == 0 {
			return fmt.Errorf("%d %s %v", status, raw, err)
		}
		return nil
	}, "zone main on the cluster")
	var g gateapi.GateJSON
	must(t, 201, "POST", p.url(0)+gateapi.PathGates, clusterAdminToken, gateapi.GateJSON{ID: "north-1", Zone: "main"}, &g)
	nscan := 0
	scan := func(node int, req gateapi.ScanRequest, wantResult, wantReason string) gateapi.ScanResponse {
		t.Helper()
		nscan++
		req.Gate, req.ScanID, req.Direction = "north-1", fmt.Sprintf("north-1:%06d", nscan), "in"
		var res gateapi.ScanResponse
		must(t, 200, "POST", p.url(node)+gateapi.PathScan, g.Token, req, &res)
		if res.Result != wantResult || res.Reason != wantReason {
			t.Fatalf("scan %s at node %d: %+v, want %s %s", req.ScanID, node, res, wantResult, wantReason)
		}
		return res
	}
	card := func(v string) gateapi.ScanRequest {
		return gateapi.ScanRequest{Credential: &gateapi.Credential{Kind: gateapi.CredentialCard, Value: v}}
	}
	today := time.Now().In(mustLoc(t, "Asia/Shanghai")).Format(time.DateOnly)
	// The park's cluster has the ID-card key from the park's creation: an
	// ID card without a ticket is unknown, not an error.
	scan(1, gateapi.ScanRequest{Credential: &gateapi.Credential{Kind: gateapi.CredentialIDCard, Value: "110105194912310038"}}, "deny", "unknown")

	// 1. A member, a card, a recharge; a pass bound to the card, bought
	// with the balance.
	var m member.Member
	must(t, 201, "POST", s.base+"/v1/members", cashier, map[string]any{"name": "Han Meimei", "phone": "13800138000", "category": "annual"}, &m)
	var c member.Card
	must(t, 201, "POST", fmt.Sprintf("%s/v1/members/%d/cards", s.base, m.ID), cashier, member.OpenRequest{Number: "04:a2:2b:91"}, &c)
	must(t, 200, "POST", s.base+"/v1/cards/"+c.Number+"/recharge", cashier, member.RechargeRequest{AmountMinor: 60000, Method: "cash"}, nil)
	var o orders.Order
	must(t, 201, "POST", s.base+"/v1/orders", cashier, orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "pass", VisitDate: today, Quantity: 1, Card: c.Number}}}, &o)
	var paid orders.PayResult
	must(t, 200, "POST", s.base+"/v1/orders/"+o.Number+"/pay", cashier, orders.PayRequest{Method: "stored_value", Card: c.Number}, &paid)
	if paid.Card == nil || paid.Card.BalanceMinor != 10000 || len(paid.Order.Tickets) != 1 {
		t.Fatalf("paid from the card: %+v", paid)
	}
	pass := paid.Order.Tickets[0]
	waitVersion(t, p, pass.ID, 1, "active")

	// 2. The card admits through any node, per the pass's rules (3 entries).
	if res := scan(0, card("04A22B91"), "admit", ""); res.TicketID != pass.ID || res.EntriesUsed != 1 {
		t.Fatalf("card scan: %+v", res)
	}

	// 3. Lost: every node denies the card as suspended.
	var lost member.LostResult
	must(t, 200, "POST", s.base+"/v1/cards/"+c.Number+"/lost", cashier, nil, &lost)
	took := waitVersion(t, p, pass.ID, 2, "suspended")
	t.Logf("loss reported to suspended on all 3 nodes: %v after the call returned", took)
	for node := range 3 {
		scan(node, card(c.Number), "deny", "suspended")
	}

	// 4. Replaced: the old card opens nothing, the new one admits with the
	// entries left (2 of 3), then the pass's rule denies.
	var rep member.ReplaceResult
	must(t, 200, "POST", s.base+"/v1/cards/"+c.Number+"/replace", cashier, member.ReplaceRequest{NewNumber: "04B3C4D5"}, &rep)
	if rep.New.BalanceMinor != 10000 || len(rep.Rebound) != 1 {
		t.Fatalf("replace: %+v", rep)
	}
	waitVersion(t, p, pass.ID, 3, "active")
	scan(1, card(c.Number), "deny", "unknown")
	scan(1, card("04B3C4D5"), "admit", "")
	if res := scan(2, card("04 b3 c4 d5"), "admit", ""); res.EntriesUsed != 3 {
		t.Fatalf("third entry: %+v", res)
	}
	scan(0, card("04B3C4D5"), "deny", "no_entries_left")

	// 5. A typed ticket number admits once; a wrong check digit is invalid input.
	must(t, 201, "POST", s.base+"/v1/orders", cashier, orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "day", VisitDate: today, Quantity: 2}}}, &o)
	total := o.TotalMinor
	must(t, 200, "POST", s.base+"/v1/orders/"+o.Number+"/pay", cashier, orders.PayRequest{Method: "cash", AmountMinor: &total}, &paid)
	day, moved := paid.Order.Tickets[0], paid.Order.Tickets[1]
	waitVersion(t, p, day.ID, 1, "active")
	number := func(v string) gateapi.ScanRequest {
		return gateapi.ScanRequest{Credential: &gateapi.Credential{Kind: gateapi.CredentialTicketNumber, Value: v}}
	}
	wrong := day.Number[:11] + string('0'+(day.Number[11]-'0'+1)%10)
	status, raw, err := do("POST", p.url(0)+gateapi.PathScan, g.Token, gateapi.ScanRequest{Gate: "north-1", ScanID: "north-1:typo",
		Credential: &gateapi.Credential{Kind: gateapi.CredentialTicketNumber, Value: wrong}}, nil)
	if err != nil || status != http.StatusBadRequest {
		t.Fatalf("a wrong check digit: %d %s %v, want 400", status, raw, err)
	}
	scan(1, number(day.Number[:4]+" "+day.Number[4:8]+" "+day.Number[8:]), "admit", "")
	scan(2, number(day.Number), "deny", "already_used")

	// 6. A real-name ticket: the holder's ID card admits once; an unknown
	// ID number is unknown.
	must(t, 201, "POST", s.base+"/v1/orders", cashier, orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "rn", VisitDate: today, Quantity: 1,
		Holders: []orders.HolderRequest{{Name: "Zhang San", IDNumber: "11010519491231002X"}}}}}, &o)
	total = o.TotalMinor
	must(t, 200, "POST", s.base+"/v1/orders/"+o.Number+"/pay", cashier, orders.PayRequest{Method: "cash", AmountMinor: &total}, &paid)
	rn := paid.Order.Tickets[0]
	waitVersion(t, p, rn.ID, 1, "active")
	idCard := func(v string) gateapi.ScanRequest {
		return gateapi.ScanRequest{Credential: &gateapi.Credential{Kind: gateapi.CredentialIDCard, Value: v}}
	}
	if res := scan(0, idCard("11010519491231002x"), "admit", ""); res.TicketID != rn.ID {
		t.Fatalf("ID card admitted %s, want %s", res.TicketID, rn.ID)
	}
	scan(1, idCard("11010519491231002X"), "deny", "already_used")
	scan(2, idCard("110105194912310038"), "deny", "unknown")

	// 7. A date change: the old code answers replaced once the cluster has
	// the new version.
	var dc datechange.Result
	tomorrow := time.Now().In(mustLoc(t, "Asia/Shanghai")).AddDate(0, 0, 1).Format(time.DateOnly)
	must(t, 200, "POST", s.base+"/v1/tickets/"+moved.ID+"/change-date", cashier, datechange.Request{VisitDate: tomorrow}, &dc)
	waitVersion(t, p, moved.ID, uint64(dc.Version), "active")
	scan(0, gateapi.ScanRequest{Code: moved.Code}, "deny", "replaced")
	scan(1, gateapi.ScanRequest{Code: dc.Code}, "deny", "not_yet_valid")
	scan(2, number(moved.Number), "deny", "not_yet_valid")

	// 8. A refund of a ticket paid from a card goes back into the card
	// (the one that replaced it, here).
	must(t, 200, "POST", s.base+"/v1/cards/04B3C4D5/recharge", cashier, member.RechargeRequest{AmountMinor: 20000, Method: "cash"}, nil)
	must(t, 201, "POST", s.base+"/v1/orders", cashier, orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "day", VisitDate: tomorrow, Quantity: 1}}}, &o)
	must(t, 200, "POST", s.base+"/v1/orders/"+o.Number+"/pay", cashier, orders.PayRequest{Method: "stored_value", Card: "04B3C4D5"}, &paid)
	if paid.Card.BalanceMinor != 18000 {
		t.Fatalf("balance %d after paying 12000 of 30000", paid.Card.BalanceMinor)
	}
	waitVersion(t, p, paid.Order.Tickets[0].ID, 1, "active")
	must(t, 200, "POST", s.base+"/v1/tickets/"+paid.Order.Tickets[0].ID+"/refund", cashier, refund.ReasonBody{Reason: "changed plans"}, nil)
	var back member.Card
	must(t, 200, "GET", s.base+"/v1/cards/04B3C4D5", cashier, nil, &back)
	if back.BalanceMinor != 30000 {
		t.Fatalf("card balance %d after the refund, want 30000", back.BalanceMinor)
	}
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
