package member

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

	"github.com/admitpark/admit/sales/credential"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/sales/web/webtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// tokens is a test Authenticator: fixed bearer tokens name the callers
// (it stands in for sales/auth, not for the database).
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
	tokAdmin   = "admin"
	tokCashier = "cashier"
	tokFinance = "finance"
	tokFar     = "far-cashier" // a cashier of another park
)

var testSecret = []byte("member-test-holder-secret-0123456789abcdef")

var testKEK = func() *keys.KEK {
	k, err := keys.NewKEK([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}()

const tomorrow = "2026-11-23"

type fixture struct {
	t      *testing.T
	ctx    context.Context
	pool   *pgxpool.Pool
	clock  *fakeClock
	api    *API
	orders *orders.API
	srv    *httptest.Server
	users  map[string]int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: t.Context(), pool: pgtest.NewDB(t), clock: &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, loc)},
		users: map[string]int64{}}
	f.exec(`INSERT INTO parks (id, name, time_zone, currency) VALUES ('fun', 'Fun Park', 'Asia/Shanghai', 'CNY'), ('far', 'Far Park', 'UTC', 'CNY')`)
	f.exec(`INSERT INTO zones (park_id, id, name) VALUES ('fun', 'main', 'Main')`)
	f.exec(`INSERT INTO sales_points (id, park_id, name, kind) VALUES ('w1', 'fun', 'Window 1', 'window'), ('w9', 'far', 'Far window', 'window')`)
	for _, u := range []struct{ name, role, point string }{
		{"alice", "admin", ""}, {"carl", "cashier", "w1"}, {"fred", "finance", ""}, {"fay", "cashier", "w9"},
	} {
		var id int64
		if err := f.pool.QueryRow(f.ctx, `INSERT INTO users (username, role, password_hash, sales_point_id)
			VALUES ($1, $2, 'x', nullif($3, '')) RETURNING id`, u.name, u.role, u.point).Scan(&id); err != nil {
			t.Fatal(err)
		}
		f.users[u.name] = id
	}
	// The cashiers are on shift: window money needs one (package shift).
	f.exec(`INSERT INTO shifts (park_id, sales_point_id, user_id, status, currency, opening_float_minor, opened_at)
		VALUES ('fun', 'w1', $1, 'open', 'CNY', 0, now()), ('far', 'w9', $2, 'open', 'CNY', 0, now())`, f.users["carl"], f.users["fay"])
	f.exec(`INSERT INTO products (id, park_id, name, kind, entries, valid_days, real_name, price_minor, daily_quota) VALUES
		('day',    'fun', 'Day pass',      'day_pass', 0, 1,   false, 12000, NULL),
		('annual', 'fun', 'Annual pass',   'multi',    3, 365, false, 50000, NULL),
		('rn',     'fun', 'Real-name day', 'single',   0, 1,   true,  15000, NULL)`)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ocfg := orders.DefaultConfig()
	ocfg.Pool, ocfg.Clock, ocfg.Log, ocfg.HolderIDSecret, ocfg.KEK, ocfg.CardPay = f.pool, f.clock, log, testSecret, testKEK, PayOrder
	if f.orders, err = orders.NewAPI(ocfg); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Pool, cfg.Clock, cfg.Log, cfg.HolderIDSecret, cfg.KEK = f.pool, f.clock, log, testSecret, testKEK
	cfg.MaxImportRows = 50
	if f.api, err = NewAPI(cfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	tk := tokens{
		tokAdmin:   {UserID: f.users["alice"], Username: "alice", Role: web.RoleAdmin},
		tokCashier: {UserID: f.users["carl"], Username: "carl", Role: web.RoleCashier, SalesPointID: "w1"},
		tokFinance: {UserID: f.users["fred"], Username: "fred", Role: web.RoleFinance},
		tokFar:     {UserID: f.users["fay"], Username: "fay", Role: web.RoleCashier, SalesPointID: "w9"},
	}
	f.orders.Routes(mux, tk)
	f.api.Routes(mux, tk)
	scfg := shift.DefaultConfig()
	scfg.Pool, scfg.Clock, scfg.Log = f.pool, f.clock, log
	shifts, err := shift.NewAPI(scfg)
	if err != nil {
		t.Fatal(err)
	}
	shifts.Routes(mux, tk)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	pgtest.Exec(f.t, f.ctx, f.pool, sql, args...)
}

func (f *fixture) count(sql string, args ...any) int64 {
	f.t.Helper()
	return pgtest.Count(f.t, f.ctx, f.pool, sql, args...)
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

func (f *fixture) send(method, path, token string, body any, contentType string) reply {
	var h http.Header
	if contentType != "" {
		h = http.Header{"Content-Type": {contentType}}
	}
	r := webtest.Send(f.ctx, f.srv.Client(), f.srv.URL, method, path, token, body, h)
	return reply{status: r.Status, header: r.Header, body: r.Body}
}

// must sends a JSON request and wants status; v (if not nil) gets the reply.
func (f *fixture) must(method, path, token string, body any, status int, v any) reply {
	f.t.Helper()
	r := f.send(method, path, token, body, "")
	if r.status != status {
		f.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	if v != nil {
		r.decode(f.t, v)
	}
	return r
}

// wantProblem sends and wants a refusal with status and code.
func (f *fixture) wantProblem(method, path, token string, body any, status int, code string) web.ProblemBody {
	f.t.Helper()
	r := f.send(method, path, token, body, "")
	if r.status != status {
		f.t.Fatalf("%s %s: status %d, want %d (%s): %s", method, path, r.status, status, code, r.body)
	}
	var p web.ProblemBody
	r.decode(f.t, &p)
	if p.Code != code {
		f.t.Fatalf("%s %s: code %q, want %q: %s", method, path, p.Code, code, p.Error)
	}
	return p
}

// member makes a member and opens card number for them in park fun.
func (f *fixture) memberWithCard(name, phone, number string) (Member, Card) {
	f.t.Helper()
	var m Member
	f.must("POST", "/v1/members", tokCashier, map[string]any{"name": name, "phone": phone, "category": "vip"}, http.StatusCreated, &m)
	var c Card
	f.must("POST", fmt.Sprintf("/v1/members/%d/cards", m.ID), tokCashier, map[string]any{"number": number, "expires_on": "2027-11-22"}, http.StatusCreated, &c)
	return m, c
}

func (f *fixture) recharge(number string, amount int64) Movement {
	f.t.Helper()
	var mv Movement
	f.must("POST", "/v1/cards/"+number+"/recharge", tokCashier, map[string]any{"amount_minor": amount, "method": "cash"}, http.StatusOK, &mv)
	return mv
}

// order creates an order at the window.
func (f *fixture) order(lines ...map[string]any) orders.Order {
	f.t.Helper()
	var o orders.Order
	f.must("POST", "/v1/orders", tokCashier, map[string]any{"lines": lines}, http.StatusCreated, &o)
	return o
}

func (f *fixture) payCard(o orders.Order, card string, points int64) orders.PayResult {
	f.t.Helper()
	var res orders.PayResult
	f.must("POST", fmt.Sprintf("/v1/orders/%d/pay", o.ID), tokCashier,
		map[string]any{"method": "stored_value", "card": card, "redeem_points": points}, http.StatusOK, &res)
	return res
}

// statementSums checks that a card's statement adds up to its balance and
// points, line by line.
func (f *fixture) statementSums(number string) Statement {
	f.t.Helper()
	var s Statement
	f.must("GET", "/v1/cards/"+number+"/statement", tokFinance, nil, http.StatusOK, &s)
	var bal, pts int64
	for _, l := range s.Lines {
		bal += l.AmountMinor
		pts += l.Points
		if l.BalanceMinor != bal || l.PointsBalance != pts {
			f.t.Fatalf("statement of %s line %d: balance %d points %d after it, the sums say %d and %d", number, l.ID, l.BalanceMinor, l.PointsBalance, bal, pts)
		}
	}
	if bal != s.Card.BalanceMinor || pts != s.Card.Points {
		f.t.Fatalf("statement of %s sums to %d / %d points, the card holds %d / %d", number, bal, pts, s.Card.BalanceMinor, s.Card.Points)
	}
	return s
}

func credentialGateKey() []byte { return credential.GateIDKey(testSecret) }
