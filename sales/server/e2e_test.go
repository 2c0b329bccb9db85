package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/lookup"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/server"
	"github.com/admitpark/admit/validator/gateapi"
)

// sales is one run of the sales service; close stops it once.
type sales struct {
	srv    *server.Server
	base   string
	closed bool
}

func (s *sales) close(t *testing.T) {
	t.Helper()
	if s.closed {
		return
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Close(ctx); err != nil {
		t.Errorf("closing sales: %v", err)
	}
}

// startSales starts the sales service on dsn against the park's cluster,
// with the outbox relay and the entry feed in-process.
func startSales(t *testing.T, p *park, dsn string) *sales {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := server.DefaultConfig()
	cfg.DSN, cfg.HTTPAddr, cfg.Migrate = dsn, "127.0.0.1:0", true
	cfg.ClusterURLs, cfg.ClusterToken = p.ClusterURLs(), clusterAdminToken
	cfg.Sync = true
	cfg.HolderSecret = bytes.Repeat([]byte("s"), 32)
	cfg.KEK = testKEK
	cfg.TestPaymentSecret = bytes.Repeat([]byte("p"), 32)
	cfg.Registerer, cfg.Gatherer = reg, reg
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	} else {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &sales{srv: srv, base: "http://" + srv.Addr()}
	t.Cleanup(func() { s.close(t) })
	return s
}

// tlog writes the service's warnings to the test log.
type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// clusterTicket is what a node answers for GET /v1/tickets/{id}: the
// ticket, or found false when it does not have it (404).
func clusterTicket(base, id string) (gateapi.TicketView, bool, error) {
	var v gateapi.TicketView
	status, raw, err := do(http.MethodGet, base+gateapi.PathTickets+id, clusterAdminToken, nil, &v)
	switch {
	case err != nil && status != http.StatusNotFound:
		return v, false, err
	case status == http.StatusNotFound:
		return v, false, nil
	case status != http.StatusOK:
		return v, false, fmt.Errorf("%d %s", status, raw)
	}
	return v, true, nil
}

// TestParkEndToEnd drives the whole park over HTTP, as its users would: a
// real 3-node gate cluster, PostgreSQL, and the sales service with its
// outbox relay and entry feed.
func TestParkEndToEnd(t *testing.T) {
	p := newPark(t)
	node := p.url(0)
	dsn := pgtest.NewDSN(t)
	s := startSales(t, p, dsn)

	// 1. The admin's first login, the park, its catalog and a cashier.
	once, login := firstLogin(t, s)
	if !login.MustChangePassword {
		t.Error("the one-time password does not ask for a change")
	}
	if status, raw, _ := do("GET", s.base+"/v1/parks", login.Token, nil, nil); status != http.StatusForbidden {
		t.Errorf("with the one-time password unchanged: GET /v1/parks %d %s, want 403", status, raw)
	}
	const adminPassword = "the-admins-long-password"
	must(t, 200, "POST", s.base+"/v1/me/password", login.Token,
		map[string]string{"old_password": once, "new_password": adminPassword}, nil)
	must(t, 200, "POST", s.base+"/v1/login", "", map[string]string{"username": "admin", "password": adminPassword}, &login)
	admin := login.Token

	const parkID, tz = "sunny", "Asia/Shanghai"
	must(t, 201, "POST", s.base+"/v1/parks", admin, catalog.ParkInput{ID: parkID, Name: "Sunny Park", TimeZone: tz, Currency: "CNY"}, nil)
	must(t, 201, "POST", s.base+"/v1/parks/"+parkID+"/zones", admin, catalog.ZoneInput{ID: "main", Name: "Main gate area"}, nil)
	prod := catalog.NewProductInput()
	prod.ID, prod.ParkID, prod.Name, prod.Kind = "adult", parkID, "Adult day ticket", "single"
	prod.PriceMinor, prod.RefundUntilHours, prod.RefundFeeMinor = 12000, -24, 500
	must(t, 201, "POST", s.base+"/v1/products", admin, prod, nil)
	must(t, 201, "POST", s.base+"/v1/sales-points", admin,
		catalog.SalesPointInput{ID: "window-1", ParkID: parkID, Name: "Window 1", Kind: "window"}, nil)
	const cashierPassword = "the-cashiers-long-password"
	must(t, 201, "POST", s.base+"/v1/users", admin, auth.NewUser{Username: "cashier1", Role: "cashier",
		Password: cashierPassword, SalesPointID: "window-1"}, nil)
	must(t, 200, "POST", s.base+"/v1/login", "", map[string]string{"username": "cashier1", "password": cashierPassword}, &login)
	cashier := login.Token
	must(t, 201, "POST", s.base+"/v1/shifts", cashier, map[string]int64{"opening_float_minor": 0}, nil)

	// The zone reaches the cluster through the outbox; then a gate is
	// registered there, as `admit gate add` does at the park.
	clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		var zl struct{ Zones []gateapi.ZoneJSON }
		status, raw, err := do("GET", node+gateapi.PathZones, clusterAdminToken, nil, &zl)
		if err != nil || status != 200 {
			return fmt.Errorf("%d %s %v", status, raw, err)
		}
		for _, z := range zl.Zones {
			if z.ID == "main" {
				return nil
			}
		}
		return fmt.Errorf("zones %+v", zl.Zones)
	}, "zone main relayed to the cluster")
	var park gateapi.ParkJSON
	must(t, 200, "GET", node+gateapi.PathPark, clusterAdminToken, nil, &park)
	if park.TimeZone != "Asia/Shanghai" { // relayed before the zone, in outbox order
		t.Fatalf("the cluster's park time zone is %q, want Asia/Shanghai (its park days)", park.TimeZone)
	}
	var g gateapi.GateJSON
	must(t, 201, "POST", node+gateapi.PathGates, clusterAdminToken, gateapi.GateJSON{ID: "north-1", Zone: "main"}, &g)
	gateToken := g.Token

	scans := map[string]string{} // scan_id -> the result seen at the gate
	nscan := 0
	scan := func(code, wantResult, wantReason string) gateapi.ScanResponse {
		t.Helper()
		nscan++
		id := fmt.Sprintf("north-1:%06d", nscan)
		var res gateapi.ScanResponse
		must(t, 200, "POST", p.url(nscan%3)+gateapi.PathScan, gateToken,
			gateapi.ScanRequest{Code: code, Gate: "north-1", ScanID: id, Direction: "in"}, &res)
		scans[id] = res.Result + "/" + res.Reason
		if res.Result != wantResult || res.Reason != wantReason {
			t.Fatalf("scan %s: %+v, want %s %s", id, res, wantResult, wantReason)
		}
		return res
	}

	// 2. Sale to gate: three tickets for today (the park's date), cash.
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(loc).Format(time.DateOnly)
	var o orders.Order
	must(t, 201, "POST", s.base+"/v1/orders", cashier, orders.CreateRequest{
		Lines: []orders.LineRequest{{ProductID: "adult", VisitDate: today, Quantity: 3}},
	}, &o)
	total := o.TotalMinor
	var paid orders.PayResult
	payAt := time.Now()
	must(t, 200, "POST", s.base+"/v1/orders/"+o.Number+"/pay", cashier, orders.PayRequest{Method: "cash", AmountMinor: &total}, &paid)
	paidAt := time.Now()
	if len(paid.Order.Tickets) != 3 {
		t.Fatalf("paid order has %d tickets, want 3: %+v", len(paid.Order.Tickets), paid.Order)
	}
	tk := paid.Order.Tickets
	seen := make([]time.Duration, len(tk)) // from the pay reply; 0: not yet
	clustertest.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		missing := 0
		for i := range tk {
			if seen[i] != 0 {
				continue
			}
			_, found, err := clusterTicket(node, tk[i].ID)
			if err != nil {
				return err
			}
			if found {
				seen[i] = time.Since(paidAt)
			} else {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d tickets not yet on the cluster", missing, len(tk))
		}
		return nil
	}, "the sold tickets on the cluster")
	t.Logf("sale to admissible: tickets readable on node 0 %v after the pay reply (which took %v)",
		seen, paidAt.Sub(payAt).Round(time.Microsecond))

	res := scan(tk[0].Code, "admit", "")
	if res.TicketID != tk[0].ID {
		t.Errorf("admitted ticket %s, want %s", res.TicketID, tk[0].ID)
	}
	res = scan(tk[0].Code, "deny", "already_used")
	if res.FirstEntryGate != "north-1" || res.FirstEntryAt == "" {
		t.Errorf("already_used without when and where: %+v", res)
	}

	// 3. Refunds: the used ticket is refused with when and where; the
	// unused one is refunded less the fee and revoked at the gate.
	var rb refund.RefundsBody
	must(t, 409, "POST", s.base+"/v1/tickets/"+tk[0].ID+"/refund", cashier, refund.ReasonBody{Reason: "changed plans"}, &rb)
	if rb.Code != "already_used" || len(rb.Refunds) != 1 || rb.Refunds[0].UsedAt == nil || rb.Refunds[0].UsedGate != "north-1" {
		t.Errorf("refund of the used ticket: %+v, want already_used at north-1 with a time", rb)
	}
	rb = refund.RefundsBody{}
	must(t, 200, "POST", s.base+"/v1/tickets/"+tk[1].ID+"/refund", cashier, refund.ReasonBody{Reason: "changed plans"}, &rb)
	if len(rb.Refunds) != 1 || rb.Refunds[0].Status != "refunded" || rb.Refunds[0].FeeMinor != 500 ||
		rb.Refunds[0].AmountMinor != tk[1].PriceMinor-500 {
		t.Errorf("refund of the unused ticket: %+v, want refunded, fee 500, amount %d", rb, tk[1].PriceMinor-500)
	}
	scan(tk[1].Code, "deny", "revoked")

	// 4. Reprint: the new code admits once the cluster has the new
	// version; the old one answers replaced.
	var rp refund.Reprinted
	reprintAt := time.Now()
	must(t, 200, "POST", s.base+"/v1/tickets/"+tk[2].ID+"/reprint", cashier, refund.ReasonBody{Reason: "torn"}, &rp)
	if rp.Code == "" || rp.Code == tk[2].Code || rp.Version <= tk[2].Version {
		t.Fatalf("reprint: %+v (old version %d)", rp, tk[2].Version)
	}
	clustertest.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		v, found, err := clusterTicket(node, tk[2].ID)
		if err != nil {
			return err
		}
		if !found || v.Ticket.Version != uint64(rp.Version) {
			return fmt.Errorf("found %v, version %d", found, v.Ticket.Version)
		}
		return nil
	}, "version %d of ticket %s on the cluster", rp.Version, tk[2].ID)
	t.Logf("reprint to new version on the cluster: %v", time.Since(reprintAt))
	scan(tk[2].Code, "deny", "replaced")
	scan(rp.Code, "admit", "")

	// 5. The entry feed brings the entries back to sales. Ticket 1's
	// first entry is already there from the refused refund (the refund
	// records the cluster's when and where); ticket 3's comes only from
	// the feed.
	firstEntry := func(id string) lookup.Ticket {
		t.Helper()
		var lt lookup.Ticket
		clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			status, raw, err := do("GET", s.base+"/v1/tickets/"+id, admin, nil, &lt)
			if err != nil || status != 200 {
				return fmt.Errorf("%d %s %v", status, raw, err)
			}
			if lt.FirstEntryAt == nil || lt.FirstEntryGate != "north-1" {
				return fmt.Errorf("first entry %v at %q", lt.FirstEntryAt, lt.FirstEntryGate)
			}
			return nil
		}, "the first entry of ticket %s in the sales look-up", id)
		return lt
	}
	lt1 := firstEntry(tk[0].ID)
	lt3 := firstEntry(tk[2].ID)
	waitEvents(t, s, scans)
	for _, lt := range []lookup.Ticket{lt1, lt3} {
		var n int
		var at time.Time
		if err := s.srv.Pool.QueryRow(t.Context(),
			`SELECT count(*), max(at) FROM entry_events WHERE ticket_id = $1::uuid AND result = 'admit'`, lt.ID).Scan(&n, &at); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("ticket %s has %d admitted entry events, want 1", lt.ID, n)
		}
		if !at.Equal(*lt.FirstEntryAt) {
			t.Errorf("ticket %s: first entry %v in the look-up, admitted at %v in entry_events", lt.ID, *lt.FirstEntryAt, at)
		}
	}
	if lt3.Version != rp.Version || lt3.Code != rp.Code {
		t.Errorf("reprinted ticket in sales: version %d, code current %v; want version %d", lt3.Version, lt3.Code == rp.Code, rp.Version)
	}
	var lt2 lookup.Ticket
	must(t, 200, "GET", s.base+"/v1/tickets/"+tk[1].ID, admin, nil, &lt2)
	if lt2.Status != "refunded" {
		t.Errorf("refunded ticket looks %q in sales", lt2.Status)
	}

	// 6. Sales down, gates up: the gates go on deciding; the feed catches
	// up, exactly once, when sales comes back.
	s.close(t)
	scan(rp.Code, "deny", "already_used")
	scan(tk[0].Code, "deny", "already_used")
	s = startSales(t, p, dsn)
	waitEvents(t, s, scans)
}

// waitEvents waits until entry_events holds exactly one row for every scan
// made (and no others), with the result seen at the gate.
func waitEvents(t *testing.T, s *sales, scans map[string]string) {
	t.Helper()
	clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		rows, err := s.srv.Pool.Query(t.Context(),
			`SELECT scan_id, count(*), min(result || '/' || reason) FROM entry_events GROUP BY scan_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var id, res string
			var n int
			if err := rows.Scan(&id, &n, &res); err != nil {
				return err
			}
			if n != 1 {
				t.Fatalf("scan %s is in entry_events %d times, want once", id, n)
			}
			got[id] = res
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for id, want := range scans {
			if got[id] == "" {
				return fmt.Errorf("scan %s not yet in entry_events (%d of %d)", id, len(got), len(scans))
			}
			if got[id] != want {
				t.Fatalf("entry_events has scan %s as %s, the gate said %s", id, got[id], want)
			}
		}
		if len(got) != len(scans) {
			t.Fatalf("entry_events has %d scans, the gate saw %d: %v", len(got), len(scans), got)
		}
		return nil
	}, "every scan in entry_events exactly once")
}
