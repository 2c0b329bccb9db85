package server_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/server"
	"github.com/admitpark/admit/sync"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// switchable is a cluster's front door that can be shut: while down it
// answers 503, as a cluster with no node that answers does (the client
// passes over every node and gives up).
type switchable struct {
	srv  *httptest.Server
	down atomic.Bool
}

func newSwitchable(t *testing.T, target string) *switchable {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	s := &switchable{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// TestClusterPerPark: two parks, each with its own cluster (clusters file),
// and the default cluster. Each park's tickets and configuration reach only
// its cluster; a refund revokes at the ticket's park's cluster; park A's
// rows flow while park B's cluster is down, and B's follow when it is back;
// the feed stores both clusters' events with their own cursors; an old row
// without a park goes to the default cluster.
func TestClusterPerPark(t *testing.T) {
	def := gatetest.New(t, gatetest.Options{Nodes: 1})
	ca := gatetest.New(t, gatetest.Options{Nodes: 1})
	cb := gatetest.New(t, gatetest.Options{Nodes: 1})
	bDoor := newSwitchable(t, cb.ServedURLs()[0])
	nodeOf := map[string]string{"": def.ServedURLs()[0], "a": ca.ServedURLs()[0], "b": cb.ServedURLs()[0]}

	reg := prometheus.NewRegistry()
	cfg := server.DefaultConfig()
	cfg.DSN, cfg.HTTPAddr, cfg.Migrate = pgtest.NewDSN(t), "127.0.0.1:0", true
	cfg.ClusterURLs, cfg.ClusterToken = def.ClusterURLs(), clusterAdminToken
	cfg.ParkClusters = map[string]server.ParkCluster{
		"a": {URLs: ca.ClusterURLs(), Token: clusterAdminToken},
		"b": {URLs: bDoor.srv.URL, Token: clusterAdminToken},
	}
	cfg.Sync = true
	cfg.HolderSecret = bytes.Repeat([]byte("s"), 32)
	cfg.KEK = testKEK
	cfg.TestPaymentSecret = bytes.Repeat([]byte("p"), 32)
	cfg.Registerer, cfg.Gatherer = reg, reg
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := server.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &sales{srv: srv, base: "http://" + srv.Addr()}
	t.Cleanup(func() { s.close(t) })
	pool := srv.Pool

	admin := adminLogin(t, s)
	cashier := map[string]string{}
	tz := map[string]string{"a": "Asia/Shanghai", "b": "Europe/Paris"}
	for _, id := range []string{"a", "b"} {
		must(t, 201, "POST", s.base+"/v1/parks", admin, catalog.ParkInput{ID: id, Name: "Park " + id, TimeZone: tz[id], Currency: "CNY"}, nil)
		must(t, 201, "POST", s.base+"/v1/parks/"+id+"/zones", admin, catalog.ZoneInput{ID: "zone-" + id, Name: "Main"}, nil)
		prod := catalog.NewProductInput()
		prod.ID, prod.ParkID, prod.Name, prod.Kind = "adult-"+id, id, "Adult day ticket", "single"
		prod.PriceMinor, prod.RefundUntilHours = 10000, -24
		must(t, 201, "POST", s.base+"/v1/products", admin, prod, nil)
		must(t, 201, "POST", s.base+"/v1/sales-points", admin,
			catalog.SalesPointInput{ID: "window-" + id, ParkID: id, Name: "Window", Kind: "window"}, nil)
		must(t, 201, "POST", s.base+"/v1/users", admin, auth.NewUser{Username: "cashier-" + id, Role: "cashier",
			Password: "the-cashiers-long-password", SalesPointID: "window-" + id}, nil)
		var login auth.LoginResult
		must(t, 200, "POST", s.base+"/v1/login", "", map[string]string{"username": "cashier-" + id, "password": "the-cashiers-long-password"}, &login)
		cashier[id] = login.Token
		must(t, 201, "POST", s.base+"/v1/shifts", login.Token, map[string]int64{"opening_float_minor": 0}, nil)
	}

	// Configuration: each park's zone and time zone reach its own cluster
	// only; the default cluster hears of neither.
	zones := func(cluster string) []string {
		t.Helper()
		var zl struct{ Zones []gateapi.ZoneJSON }
		must(t, 200, "GET", nodeOf[cluster]+gateapi.PathZones, clusterAdminToken, nil, &zl)
		var ids []string
		for _, z := range zl.Zones {
			ids = append(ids, z.ID)
		}
		return ids
	}
	clustertest.CheckFor(t, 15*time.Second, 10*time.Millisecond, func() error {
		if a, b := zones("a"), zones("b"); fmt.Sprint(a) != "[zone-a]" || fmt.Sprint(b) != "[zone-b]" {
			return fmt.Errorf("zones: cluster a %v, cluster b %v", a, b)
		}
		return nil
	}, "each park's zone on its own cluster")
	if z := zones(""); len(z) != 0 {
		t.Errorf("the default cluster has zones %v, want none", z)
	}
	for _, id := range []string{"a", "b"} {
		var pj gateapi.ParkJSON
		must(t, 200, "GET", nodeOf[id]+gateapi.PathPark, clusterAdminToken, nil, &pj)
		if pj.TimeZone != tz[id] {
			t.Errorf("cluster %s: park time zone %q, want %q", id, pj.TimeZone, tz[id])
		}
	}
	// The configure rows: each park's carries its id, time zone and the
	// signing keys (global: the same set for both).
	var keysA, keysB string
	if err := pool.QueryRow(t.Context(), `SELECT
		(SELECT payload->>'keys' FROM outbox WHERE kind = 'configure' AND park_id = 'a' AND payload ? 'keys' AND payload->>'park' = 'a' AND payload->>'time_zone' = 'Asia/Shanghai'),
		(SELECT payload->>'keys' FROM outbox WHERE kind = 'configure' AND park_id = 'b' AND payload ? 'keys' AND payload->>'park' = 'b' AND payload->>'time_zone' = 'Europe/Paris')`).
		Scan(&keysA, &keysB); err != nil {
		t.Fatalf("configure rows with park, time zone and keys: %v", err)
	}
	if keysA != keysB || !strings.Contains(keysA, `"public"`) {
		t.Errorf("keys sent to the clusters: a %s, b %s; want the same set", keysA, keysB)
	}

	sell := func(park string) orders.Ticket {
		t.Helper()
		loc, err := time.LoadLocation(tz[park])
		if err != nil {
			t.Fatal(err)
		}
		var o orders.Order
		must(t, 201, "POST", s.base+"/v1/orders", cashier[park], orders.CreateRequest{
			Lines: []orders.LineRequest{{ProductID: "adult-" + park, VisitDate: time.Now().In(loc).Format(time.DateOnly), Quantity: 1}},
		}, &o)
		var paid orders.PayResult
		total := o.TotalMinor
		must(t, 200, "POST", s.base+"/v1/orders/"+o.Number+"/pay", cashier[park], orders.PayRequest{Method: "cash", AmountMinor: &total}, &paid)
		if len(paid.Order.Tickets) != 1 {
			t.Fatalf("paid order: %+v", paid.Order)
		}
		return paid.Order.Tickets[0]
	}
	// where waits until the ticket is on cluster want (at version) and
	// checks that no other cluster has it.
	where := func(id, want string, version uint64) gateapi.TicketView {
		t.Helper()
		var v gateapi.TicketView
		clustertest.CheckFor(t, 15*time.Second, 10*time.Millisecond, func() error {
			var found bool
			var err error
			v, found, err = clusterTicket(nodeOf[want], id)
			if err != nil {
				return err
			}
			if !found || v.Ticket.Version < version {
				return fmt.Errorf("ticket %s not on cluster %q at version %d (found %v, %d)", id, want, version, found, v.Ticket.Version)
			}
			return nil
		}, "ticket %s on cluster %q", id, want)
		for other, node := range nodeOf {
			if other == want {
				continue
			}
			if _, found, err := clusterTicket(node, id); err != nil || found {
				t.Errorf("ticket %s of cluster %q is on cluster %q too (%v)", id, want, other, err)
			}
		}
		return v
	}

	// 1. A ticket of each park reaches its park's cluster only.
	ta, tb := sell("a"), sell("b")
	if v := where(ta.ID, "a", 1); v.Ticket.Park != "" && v.Ticket.Park != "a" {
		t.Errorf("ticket of park a carries park %q on the cluster", v.Ticket.Park)
	}
	where(tb.ID, "b", 1)
	var parkCol string
	if err := pool.QueryRow(t.Context(), `SELECT park_id FROM outbox WHERE kind = 'issue' AND ticket_id = $1::uuid`, tb.ID).Scan(&parkCol); err != nil || parkCol != "b" {
		t.Errorf("issue row of park b's ticket: park_id %q, %v", parkCol, err)
	}

	// 2. An old row (written before rows named their park: NULL park_id,
	// no park in the payload) goes to the default cluster.
	old := oldIssueRow(t)
	var oldSeq int64
	if err := pool.QueryRow(t.Context(), `INSERT INTO outbox (kind, ticket_id, version, payload) VALUES ('issue', $1::uuid, 1, $2) RETURNING seq`,
		old.ID, mustJSON(t, old)).Scan(&oldSeq); err != nil {
		t.Fatal(err)
	}
	where(old.ID, "", 1)

	// 3. A refund of park b's ticket revokes it on cluster b.
	var rb refund.RefundsBody
	must(t, 200, "POST", s.base+"/v1/tickets/"+tb.ID+"/refund", cashier["b"], refund.ReasonBody{Reason: "changed plans"}, &rb)
	if len(rb.Refunds) != 1 || rb.Refunds[0].Status != "refunded" {
		t.Fatalf("refund of park b's ticket: %+v", rb)
	}
	if v := where(tb.ID, "b", 2); v.Ticket.Status != "revoked" {
		t.Errorf("park b's refunded ticket on cluster b: status %q, want revoked", v.Ticket.Status)
	}

	// 4. Cluster b down: park a's sales still reach cluster a; park b's
	// wait in the outbox and follow when b is back.
	bDoor.down.Store(true)
	tb2 := sell("b")
	ta2 := sell("a")
	where(ta2.ID, "a", 1)
	if _, found, err := clusterTicket(nodeOf["b"], tb2.ID); err != nil || found {
		t.Fatalf("park b's ticket reached cluster b while it was down (%v)", err)
	}
	var waiting int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE park_id = 'b' AND sent_at IS NULL`).Scan(&waiting); err != nil || waiting == 0 {
		t.Fatalf("park b's unsent rows while its cluster is down: %d, %v", waiting, err)
	}
	bDoor.down.Store(false)
	where(tb2.ID, "b", 1)

	// 5. The feed brings both clusters' entries back, each with its own
	// cursor.
	scans := map[string]string{}
	for park, tk := range map[string]orders.Ticket{"a": ta2, "b": tb2} {
		var g gateapi.GateJSON
		must(t, 201, "POST", nodeOf[park]+gateapi.PathGates, clusterAdminToken, gateapi.GateJSON{ID: "gate-" + park, Zone: "zone-" + park}, &g)
		var res gateapi.ScanResponse
		scanID := "gate-" + park + ":1"
		must(t, 200, "POST", nodeOf[park]+gateapi.PathScan, g.Token,
			gateapi.ScanRequest{Code: tk.Code, Gate: "gate-" + park, ScanID: scanID, Direction: "in"}, &res)
		if res.Result != "admit" {
			t.Fatalf("scan of park %s's ticket on its cluster: %+v", park, res)
		}
		scans[scanID] = "admit/"
	}
	waitEvents(t, s, scans)
	for park := range map[string]bool{"a": true, "b": true} {
		var cluster, cursor string
		if err := pool.QueryRow(t.Context(), `SELECT e.cluster, s.value #>> '{}' FROM entry_events e, settings s
			WHERE e.scan_id = $1 AND s.key = $2`, "gate-"+park+":1", sync.FeedCursorKey+"."+park).Scan(&cluster, &cursor); err != nil {
			t.Fatalf("park %s: entry event and cursor: %v", park, err)
		}
		if cluster != park || cursor == "" {
			t.Errorf("park %s: event stored as of cluster %q, cursor %q", park, cluster, cursor)
		}
	}
	var defaultCursor *string
	if err := pool.QueryRow(t.Context(), `SELECT (SELECT value #>> '{}' FROM settings WHERE key = $1)`, sync.FeedCursorKey).Scan(&defaultCursor); err != nil {
		t.Fatal(err)
	}
	if defaultCursor != nil && *defaultCursor != "" {
		t.Errorf("the default cluster's cursor moved to %q with no entries there", *defaultCursor)
	}

	// Every relay and feed has its own series, labelled by park.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	parks := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "admit_sync_relay_active" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "park" && m.GetGauge().GetValue() == 1 {
					parks[l.GetValue()] = true
				}
			}
		}
	}
	if len(parks) != 3 || !parks[""] || !parks["a"] || !parks["b"] {
		t.Errorf("active relays by park label: %v, want the default, a and b", parks)
	}
}

// firstLogin makes the first admin and logs in with its one-time
// password; it returns that password and the login.
func firstLogin(t *testing.T, s *sales) (string, auth.LoginResult) {
	t.Helper()
	acfg := auth.DefaultConfig()
	acfg.Pool = s.srv.Pool
	a, err := auth.NewAPI(acfg)
	if err != nil {
		t.Fatal(err)
	}
	ini, err := a.Init(t.Context())
	if err != nil || !ini.Created {
		t.Fatalf("auth init: %+v %v", ini, err)
	}
	var login auth.LoginResult
	must(t, 200, "POST", s.base+"/v1/login", "", map[string]string{"username": "admin", "password": ini.Password}, &login)
	return ini.Password, login
}

// adminLogin makes the first admin, sets its password and logs in.
func adminLogin(t *testing.T, s *sales) string {
	t.Helper()
	once, login := firstLogin(t, s)
	const pw = "the-admins-long-password"
	must(t, 200, "POST", s.base+"/v1/me/password", login.Token, map[string]string{"old_password": once, "new_password": pw}, nil)
	must(t, 200, "POST", s.base+"/v1/login", "", map[string]string{"username": "admin", "password": pw}, &login)
	return login.Token
}

// oldIssueRow is an issue payload as sales wrote it before tickets named
// their park.
func oldIssueRow(t *testing.T) gateapi.TicketJSON {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var id [16]byte
	rand.Read(id[:])
	from := time.Now().Truncate(time.Minute).Add(-time.Hour)
	until := from.Add(48 * time.Hour)
	c, err := code.Sign(key, code.Claims{TicketID: id, Version: 1, Kind: uint8(ticket.Single), ValidFrom: from, ValidUntil: until})
	if err != nil {
		t.Fatal(err)
	}
	return gateapi.TicketJSON{ID: ticket.FormatID(id), Version: 1, Product: "old", Kind: "single",
		ValidFrom: from, ValidUntil: until, Status: "active", Code: c}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoadClustersFile: the clusters file gives each park its URLs, token
// (from its token file) and CA; it refuses an inline token, unknown
// fields, and a park without URLs or token file.
func TestLoadClustersFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.token"), []byte("token-of-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(body string) string {
		t.Helper()
		p := filepath.Join(dir, "clusters.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m, err := server.LoadClustersFile(write(`{"parks": {"a": {"urls": "https://10.1.0.1:7101,https://10.1.0.2:7101", "token_file": "a.token"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if pc := m["a"]; len(m) != 1 || pc.URLs != "https://10.1.0.1:7101,https://10.1.0.2:7101" || pc.Token != "token-of-a" || pc.Transport != nil {
		t.Errorf("loaded %+v", m)
	}
	for name, c := range map[string]struct{ body, want string }{
		"inline token":       {`{"parks": {"a": {"urls": "https://10.1.0.1:7101", "token": "secret"}}}`, "inline token is refused"},
		"inline admin token": {`{"parks": {"a": {"urls": "https://10.1.0.1:7101", "token_file": "a.token", "admin_token": "secret"}}}`, "inline token is refused"},
		"unknown park field": {`{"parks": {"a": {"urls": "https://10.1.0.1:7101", "token_file": "a.token", "url": "x"}}}`, `unknown field "url"`},
		"unknown top field":  {`{"parks": {}, "default": {}}`, `unknown field "default"`},
		"no urls":            {`{"parks": {"a": {"token_file": "a.token"}}}`, "urls"},
		"no token file":      {`{"parks": {"a": {"urls": "https://10.1.0.1:7101"}}}`, "token_file is required"},
		"missing token file": {`{"parks": {"a": {"urls": "https://10.1.0.1:7101", "token_file": "nope"}}}`, "token_file"},
		"bad park id":        {`{"parks": {"A B": {"urls": "https://10.1.0.1:7101", "token_file": "a.token"}}}`, "not a park id"},
		"no parks":           {`{"parks": {}}`, "no parks"},
		"bad cacert":         {`{"parks": {"a": {"urls": "https://10.1.0.1:7101", "token_file": "a.token", "cacert": "nope.pem"}}}`, "cacert"},
	} {
		_, err := server.LoadClustersFile(write(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error repeats the inline token: %v", name, err)
		}
	}
}
