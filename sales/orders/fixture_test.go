package orders

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/sales/web/webtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// fakeClock is moved by hand; tests never sleep.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// tokens is a test Authenticator: fixed bearer tokens name the callers. It
// stands in for sales/auth (who calls), not for the database.
type tokens map[string]web.Principal

func (tk tokens) Authenticate(_ context.Context, token, remoteAddr string) (web.Principal, error) {
	p, ok := tk[token]
	if !ok {
		return web.Principal{}, web.ErrUnauthenticated
	}
	p.RemoteAddr = remoteAddr
	return p, nil
}

const (
	tokAdmin    = "admin"
	tokCashier  = "cashier"
	tokCashier2 = "cashier2"
	tokFinance  = "finance"
	tokDistA    = "dist-a" // distributor A by API key
	tokDistB    = "dist-b" // distributor B by API key
	tokDistAU   = "dist-a-user"
)

var testSecret = []byte("orders-test-holder-secret-0123456789abcdef")

// The park's zone and the fixture's "now": 10:00 in the park on
// 2026-11-22; tomorrow is the usual visit date.
const (
	parkTZ   = "Asia/Shanghai"
	tomorrow = "2026-11-23"
)

type fixture struct {
	t      *testing.T
	ctx    context.Context
	pool   *pgxpool.Pool
	clock  *fakeClock
	loc    *time.Location
	api    *API
	prov   *payment.TestProvider
	reg    *prometheus.Registry
	srv    *httptest.Server
	slotID int64 // product "slot": 10:00-12:00, capacity 50
	users  map[string]int64
	dists  map[string]int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	loc, err := time.LoadLocation(parkTZ)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: t.Context(), pool: pgtest.NewDB(t), loc: loc,
		clock: &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, loc)},
		users: map[string]int64{}, dists: map[string]int64{}, reg: prometheus.NewRegistry()}
	f.seed()
	if f.prov, err = payment.NewTestProvider([]byte("webhook-secret-0123456789")); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Pool, cfg.Clock, cfg.Registerer = f.pool, f.clock, f.reg
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.HolderIDSecret, cfg.KEK = testSecret, testKEK
	cfg.Providers = []payment.Provider{f.prov}
	if f.api, err = NewAPI(cfg); err != nil {
		t.Fatal(err)
	}
	var keyA, keyB int64
	for name, id := range map[string]*int64{"a": &keyA, "b": &keyB} {
		if err := f.pool.QueryRow(f.ctx, `INSERT INTO api_keys (distributor_id, prefix, key_hash) VALUES ($1, $2, $3) RETURNING id`,
			f.dists[name], "k"+name, []byte("hash-"+name)).Scan(id); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	f.api.Routes(mux, tokens{
		tokAdmin:    {UserID: f.users["alice"], Username: "alice", Role: web.RoleAdmin},
		tokCashier:  {UserID: f.users["carl"], Username: "carl", Role: web.RoleCashier, SalesPointID: "w1"},
		tokCashier2: {UserID: f.users["cora"], Username: "cora", Role: web.RoleCashier, SalesPointID: "k1"},
		tokFinance:  {UserID: f.users["fred"], Username: "fred", Role: web.RoleFinance},
		tokDistA:    {APIKeyID: keyA, DistributorID: f.dists["a"], Role: web.RoleDistributor},
		tokDistB:    {APIKeyID: keyB, DistributorID: f.dists["b"], Role: web.RoleDistributor},
		tokDistAU:   {UserID: f.users["dana"], Username: "dana", DistributorID: f.dists["a"], Role: web.RoleDistributor},
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// seed inserts the catalog and the people with plain SQL.
func (f *fixture) seed() {
	f.t.Helper()
	f.exec(`INSERT INTO parks (id, name, time_zone, currency) VALUES ('fun', 'Fun Park', $1, 'CNY'), ('far', 'Far Park', 'UTC', 'CNY')`, parkTZ)
	f.exec(`INSERT INTO zones (park_id, id, name, bit) VALUES ('fun', 'main', 'Main', 0), ('fun', 'aqua', 'Aquarium', 1)`)
	f.exec(`INSERT INTO sales_points (id, park_id, name, kind) VALUES ('w1', 'fun', 'Window 1', 'window'), ('k1', 'fun', 'Kiosk 1', 'kiosk')`)
	for _, d := range []string{"a", "b"} {
		var id int64
		if err := f.pool.QueryRow(f.ctx, `INSERT INTO distributors (name) VALUES ($1) RETURNING id`, "dist-"+d).Scan(&id); err != nil {
			f.t.Fatal(err)
		}
		f.dists[d] = id
	}
	for _, u := range []struct {
		name, role, point string
		dist              int64
	}{
		{"alice", "admin", "", 0}, {"carl", "cashier", "w1", 0}, {"cora", "cashier", "k1", 0},
		{"fred", "finance", "", 0}, {"dana", "distributor", "", f.dists["a"]},
	} {
		var id int64
		if err := f.pool.QueryRow(f.ctx, `INSERT INTO users (username, role, password_hash, sales_point_id, distributor_id)
			VALUES ($1, $2, 'x', nullif($3, ''), nullif($4, 0)) RETURNING id`, u.name, u.role, u.point, u.dist).Scan(&id); err != nil {
			f.t.Fatal(err)
		}
		f.users[u.name] = id
	}
	// The cashiers are on shift: window sales need one (package shift).
	f.exec(`INSERT INTO shifts (park_id, sales_point_id, user_id, status, currency, opening_float_minor, opened_at)
		VALUES ('fun', 'w1', $1, 'open', 'CNY', 0, now()), ('fun', 'k1', $2, 'open', 'CNY', 0, now())`, f.users["carl"], f.users["cora"])
	f.exec(`INSERT INTO products (id, park_id, name, kind, entries, zones, valid_days, has_slots, real_name, max_per_order, daily_quota, sales_stopped, active, price_minor) VALUES
		('day',     'fun', 'Day pass',      'day_pass', 0, '{}',          1, false, false, 10, NULL, false, true,  12000),
		('multi',   'fun', 'Three rides',   'multi',    3, '{main,aqua}', 2, false, false, 10, NULL, false, true,   9000),
		('slot',    'fun', 'Dolphin show',  'single',   0, '{aqua}',      1, true,  false, 60, NULL, false, true,   5000),
		('rn',      'fun', 'Real-name day', 'single',   0, '{}',          1, false, true,  5,  NULL, false, true,  15000),
		('grp',     'fun', 'Group of five', 'group',    5, '{}',          1, false, false, 4,  NULL, false, true,  40000),
		('one',     'fun', 'Last place',    'single',   0, '{}',          1, false, false, 5,  1,    false, true,   3000),
		('stopped', 'fun', 'Stopped',       'single',   0, '{}',          1, false, false, 5,  NULL, true,  true,   1000),
		('old',     'fun', 'Retired',       'single',   0, '{}',          1, false, false, 5,  NULL, false, false,  1000),
		('faraway', 'far', 'Elsewhere',     'single',   0, '{}',          1, false, false, 5,  NULL, false, true,   1000)`)
	if err := f.pool.QueryRow(f.ctx, `INSERT INTO time_slots (product_id, starts, ends, capacity) VALUES ('slot', '10:00', '12:00', 50) RETURNING id`).Scan(&f.slotID); err != nil {
		f.t.Fatal(err)
	}
	f.exec(`INSERT INTO time_slots (product_id, starts, ends, capacity) VALUES ('slot', '14:00', '16:00', 50)`)
	f.exec(`INSERT INTO price_overrides (product_id, visit_date, price_minor) VALUES ('day', '2026-11-28', 15000)`)
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	pgtest.Exec(f.t, f.ctx, f.pool, sql, args...)
}

func (f *fixture) count(sql string, args ...any) int {
	f.t.Helper()
	return int(pgtest.Count(f.t, f.ctx, f.pool, sql, args...))
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	webtest.Reply{Status: r.status, Body: r.body}.Decode(t, v)
}

func (r reply) order(t testing.TB) Order {
	t.Helper()
	var o Order
	r.decode(t, &o)
	return o
}

// send makes an HTTP request to the test server; body is JSON-encoded
// unless it is a string or []byte.
func (f *fixture) send(method, path, token string, body any, h http.Header) reply {
	r := webtest.Send(f.ctx, f.srv.Client(), f.srv.URL, method, path, token, body, h)
	return reply{status: r.Status, header: r.Header, body: r.Body}
}

func (f *fixture) call(method, path, token string, body any) reply {
	return f.send(method, path, token, body, nil)
}

// must wants status.
func (f *fixture) must(method, path, token string, body any, status int) reply {
	f.t.Helper()
	r := f.call(method, path, token, body)
	if r.status != status {
		f.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	return r
}

// wantProblem checks a refusal's status and code.
func (f *fixture) wantProblem(r reply, status int, code string) web.ProblemBody {
	f.t.Helper()
	if r.status != status {
		f.t.Fatalf("status %d, want %d (%s): %s", r.status, status, code, r.body)
	}
	var p web.ProblemBody
	r.decode(f.t, &p)
	if p.Code != code {
		f.t.Fatalf("code %q, want %q: %s", p.Code, code, p.Error)
	}
	return p
}

func line(product string, qty int) map[string]any {
	return map[string]any{"product_id": product, "visit_date": tomorrow, "quantity": qty}
}

func body(lines ...map[string]any) map[string]any {
	return map[string]any{"contact_name": "Li Lei", "contact_phone": "+86 138-0013-8000", "lines": lines}
}

// create makes an order as token and wants 201.
func (f *fixture) create(token string, b any) Order {
	f.t.Helper()
	return f.must("POST", "/v1/orders", token, b, http.StatusCreated).order(f.t)
}

// payCash pays o in cash at window w1 and wants it paid.
func (f *fixture) payCash(o Order) Order {
	f.t.Helper()
	var res PayResult
	f.must("POST", fmt.Sprintf("/v1/orders/%d/pay", o.ID), tokCashier,
		map[string]any{"method": "cash", "amount_minor": o.TotalMinor}, http.StatusOK).decode(f.t, &res)
	if res.Order.Status != StatusPaid {
		f.t.Fatalf("order %s is %s after cash", o.Number, res.Order.Status)
	}
	return res.Order
}

func (f *fixture) metric(name string, labels ...string) float64 {
	f.t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// testKEK seals the signing keys of these tests.
var testKEK = func() *keys.KEK {
	k, err := keys.NewKEK([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}()
