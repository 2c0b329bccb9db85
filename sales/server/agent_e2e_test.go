package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/validator/agent"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
)

// cutter is a link an agent's calls go through; cut, they fail as refused
// connections.
type cutter struct{ cut atomic.Bool }

func (c *cutter) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestKeyRotationReachesTheAgent: sales signs codes with the zone mask of
// the product's zones; an admin rotates the signing key (POST
// /v1/keys/rotate); the new key set reaches the cluster through the outbox
// and a gate agent from the cluster. Then a code signed by the new key
// admits online and offline, one signed by the retired key still admits
// offline, and a code for another zone is refused offline.
func TestKeyRotationReachesTheAgent(t *testing.T) {
	p := newPark(t)
	s := startSales(t, p, pgtest.NewDSN(t))
	admin := adminLogin(t, s)
	const parkID = "sunny"
	must(t, 201, "POST", s.base+"/v1/parks", admin, catalog.ParkInput{ID: parkID, Name: "Sunny", TimeZone: "Asia/Shanghai", Currency: "CNY"}, nil)
	for _, z := range []string{"main", "coaster"} {
		must(t, 201, "POST", s.base+"/v1/parks/"+parkID+"/zones", admin, catalog.ZoneInput{ID: z, Name: z}, nil)
	}
	var zl struct{ Zones []catalog.Zone }
	must(t, 200, "GET", s.base+"/v1/parks/"+parkID+"/zones", admin, nil, &zl)
	bits := map[string]int{}
	for _, z := range zl.Zones {
		if z.Bit == nil {
			t.Fatalf("zone %s has no bit", z.ID)
		}
		bits[z.ID] = int(*z.Bit)
	}
	if bits["main"] != 0 || bits["coaster"] != 1 {
		t.Fatalf("zone bits %v: want main 0, coaster 1 (creation order)", bits)
	}
	for id, zones := range map[string][]string{"adult": {"main"}, "ride": {"coaster"}} {
		prod := catalog.NewProductInput()
		prod.ID, prod.ParkID, prod.Name, prod.Kind, prod.Zones, prod.PriceMinor = id, parkID, id, "single", zones, 1000
		must(t, 201, "POST", s.base+"/v1/products", admin, prod, nil)
	}
	must(t, 201, "POST", s.base+"/v1/sales-points", admin, catalog.SalesPointInput{ID: "w1", ParkID: parkID, Name: "W1", Kind: "window"}, nil)
	must(t, 201, "POST", s.base+"/v1/users", admin, auth.NewUser{Username: "cash", Role: "cashier", Password: "the-cashiers-long-password", SalesPointID: "w1"}, nil)
	var login auth.LoginResult
	must(t, 200, "POST", s.base+"/v1/login", "", map[string]string{"username": "cash", "password": "the-cashiers-long-password"}, &login)
	cashier := login.Token
	must(t, 201, "POST", s.base+"/v1/shifts", cashier, map[string]int64{"opening_float_minor": 0}, nil)

	cluster, err := gateapi.NewClient(gateapi.Config{URLs: strings.Split(p.ClusterURLs(), ","), AdminToken: clusterAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		zs, err := cluster.Zones(t.Context())
		if err != nil || len(zs) < 2 {
			return fmt.Errorf("zones %+v, %v", zs, err)
		}
		return nil
	}, "zones relayed to the cluster")
	g, err := cluster.AddGate(t.Context(), gateapi.GateJSON{ID: "north-1", Zone: "main", Direction: "in"})
	if err != nil {
		t.Fatal(err)
	}

	// sell sells one ticket of product and waits until the cluster has it.
	sell := func(product string) string {
		t.Helper()
		var o orders.Order
		must(t, 201, "POST", s.base+"/v1/orders", cashier, orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: product,
			VisitDate: time.Now().In(mustLoc(t, "Asia/Shanghai")).Format(time.DateOnly), Quantity: 1}}}, &o)
		total := o.TotalMinor
		var paid orders.PayResult
		must(t, 200, "POST", s.base+"/v1/orders/"+o.Number+"/pay", cashier, orders.PayRequest{Method: "cash", AmountMinor: &total}, &paid)
		tk := paid.Order.Tickets[0]
		clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			_, err := cluster.Ticket(t.Context(), tk.ID)
			return err
		}, "ticket %s on the cluster", tk.ID)
		return tk.Code
	}
	keyOf := func(c string) uint8 {
		parsed, err := code.Parse(c)
		if err != nil {
			t.Fatal(err)
		}
		return parsed.KeyID()
	}
	old := sell("adult")
	ride := sell("ride")
	if c, _ := code.Parse(ride); c.Claims().ZoneMask != 1<<bits["coaster"] {
		t.Fatalf("a coaster ticket's code has zone mask %b, want %b", c.Claims().ZoneMask, 1<<bits["coaster"])
	}

	link := &cutter{}
	cfg := agent.DefaultConfig()
	cfg.ClusterURLs, cfg.Gate, cfg.GateToken, cfg.DataDir = strings.Split(p.ClusterURLs(), ","), "north-1", g.Token, t.TempDir()
	cfg.ZoneBit, cfg.Transport, cfg.Probe = bits["main"], link, 20*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(tlog{t}, nil))
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitOnline := func() {
		t.Helper()
		clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if n, _ := a.Backlog(); !a.Online() || n > 0 {
				return fmt.Errorf("online %v, backlog %d", a.Online(), n)
			}
			return nil
		}, "agent online, backlog uploaded")
	}
	waitOnline()

	// The rotation: admins only, no parameters.
	must(t, http.StatusForbidden, "POST", s.base+"/v1/keys/rotate", cashier, nil, nil)
	must(t, http.StatusBadRequest, "POST", s.base+"/v1/keys/rotate", admin, map[string]int{"key_id": 9}, nil)
	var rot keys.RotateResult
	must(t, 200, "POST", s.base+"/v1/keys/rotate", admin, nil, &rot)
	if rot.KeyID != 2 || len(rot.Retired) != 1 || rot.Retired[0] != 1 || len(rot.Sent) != 2 {
		t.Fatalf("rotation: %+v; want key 2 active, key 1 retired, both verifying", rot)
	}
	fresh, fresh2 := sell("adult"), sell("adult") // accepted by the cluster: it holds key 2 now
	if keyOf(fresh) != 2 || keyOf(old) != 1 {
		t.Fatalf("codes signed with keys %d and %d, want 2 after the rotation and 1 before", keyOf(fresh), keyOf(old))
	}
	if err := a.RefreshKeys(t.Context()); err != nil {
		t.Fatal(err)
	}
	scan := func(c, id string) gateapi.ScanResponse {
		t.Helper()
		r, err := a.Scan(t.Context(), gateapi.ScanRequest{Code: c, ScanID: id})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := scan(fresh, "n1:1"); r.Result != gateapi.ResultAdmit || r.Offline {
		t.Fatalf("new key, online: %+v", r)
	}
	link.cut.Store(true)
	for _, c := range []struct {
		what, code, result, reason string
	}{
		{"new key, offline", fresh2, gateapi.ResultAdmit, ""},
		{"retired key, unexpired code, offline", old, gateapi.ResultAdmit, ""},
		{"a coaster ticket at the main gate, offline", ride, gateapi.ResultDeny, gateapi.ReasonWrongZone},
	} {
		if r := scan(c.code, "n1:"+c.what); r.Result != c.result || r.Reason != c.reason || !r.Offline {
			t.Fatalf("%s: %+v; want %s %s offline", c.what, r, c.result, c.reason)
		}
	}
	link.cut.Store(false)
	waitOnline()
}
