package datechange

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/member"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/sales/web/webtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// tokens is a test Authenticator (it stands in for sales/auth).
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
	tomorrow   = "2026-11-23"
	later      = "2026-11-25"
)

var testKEK = func() *keys.KEK {
	k, err := keys.NewKEK([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}()

type fixture struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	srv  *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: t.Context(), pool: pgtest.NewDB(t)}
	f.exec(`INSERT INTO parks (id, name, time_zone, currency) VALUES ('fun', 'Fun Park', 'Asia/Shanghai', 'CNY')`)
	f.exec(`INSERT INTO sales_points (id, park_id, name, kind) VALUES ('w1', 'fun', 'Window 1', 'window')`)
	var admin, cashier int64
	if err := f.pool.QueryRow(f.ctx, `INSERT INTO users (username, role, password_hash) VALUES ('alice', 'admin', 'x') RETURNING id`).Scan(&admin); err != nil {
		t.Fatal(err)
	}
	if err := f.pool.QueryRow(f.ctx, `INSERT INTO users (username, role, password_hash, sales_point_id) VALUES ('carl', 'cashier', 'x', 'w1') RETURNING id`).Scan(&cashier); err != nil {
		t.Fatal(err)
	}
	f.exec(`INSERT INTO shifts (park_id, sales_point_id, user_id, status, currency, opening_float_minor, opened_at)
		VALUES ('fun', 'w1', $1, 'open', 'CNY', 0, now())`, cashier) // window money needs an open shift
	f.exec(`INSERT INTO products (id, park_id, name, kind, entries, valid_days, price_minor, daily_quota, has_slots, date_change_allowed) VALUES
		('dc',    'fun', 'Changeable day', 'single', 0, 1, 10000, 20,   false, true),
		('fixed', 'fun', 'Fixed day',      'single', 0, 1, 10000, NULL, false, false),
		('show',  'fun', 'Show',           'single', 0, 1,  5000, NULL, true,  true)`)
	f.exec(`INSERT INTO price_overrides (product_id, visit_date, price_minor) VALUES ('dc', $1, 13000), ('dc', '2026-11-26', 8000)`, later)
	f.exec(`INSERT INTO time_slots (product_id, starts, ends, capacity) VALUES ('show', '10:00', '11:00', 1), ('show', '14:00', '15:00', 1)`)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := fixedClock{time.Date(2026, 11, 22, 10, 0, 0, 0, loc)}
	secret := []byte("datechange-test-holder-secret-0123456789")
	ocfg := orders.DefaultConfig()
	ocfg.Pool, ocfg.Clock, ocfg.Log, ocfg.HolderIDSecret, ocfg.KEK, ocfg.CardPay = f.pool, clock, log, secret, testKEK, member.PayOrder
	ordersAPI, err := orders.NewAPI(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	mcfg := member.DefaultConfig()
	mcfg.Pool, mcfg.Clock, mcfg.Log, mcfg.HolderIDSecret, mcfg.KEK = f.pool, clock, log, secret, testKEK
	memberAPI, err := member.NewAPI(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Pool, cfg.Clock, cfg.Log, cfg.KEK = f.pool, clock, log, testKEK
	api, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tk := tokens{
		tokAdmin:   {UserID: admin, Username: "alice", Role: web.RoleAdmin},
		tokCashier: {UserID: cashier, Username: "carl", Role: web.RoleCashier, SalesPointID: "w1"},
	}
	mux := http.NewServeMux()
	ordersAPI.Routes(mux, tk)
	memberAPI.Routes(mux, tk)
	api.Routes(mux, tk)
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
	body   []byte
}

func (f *fixture) send(method, path, token string, body any) reply {
	r := webtest.Send(f.ctx, f.srv.Client(), f.srv.URL, method, path, token, body, nil)
	return reply{status: r.Status, body: r.Body}
}

func (f *fixture) must(method, path, token string, body any, status int, v any) {
	f.t.Helper()
	r := f.send(method, path, token, body)
	if r.status != status {
		f.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) wantProblem(method, path, token string, body any, status int, code string) web.ProblemBody {
	f.t.Helper()
	r := f.send(method, path, token, body)
	var p web.ProblemBody
	_ = json.Unmarshal(r.body, &p)
	if r.status != status || p.Code != code {
		f.t.Fatalf("%s %s: %d %s, want %d %s", method, path, r.status, r.body, status, code)
	}
	return p
}

// sell sells and pays (cash) one ticket of product on day.
func (f *fixture) sell(product, day string, slot int64) orders.Ticket {
	f.t.Helper()
	line := map[string]any{"product_id": product, "visit_date": day, "quantity": 1}
	if slot != 0 {
		line["slot_id"] = slot
	}
	var o orders.Order
	f.must("POST", "/v1/orders", tokCashier, map[string]any{"lines": []any{line}}, http.StatusCreated, &o)
	var res orders.PayResult
	f.must("POST", fmt.Sprintf("/v1/orders/%d/pay", o.ID), tokCashier, map[string]any{"method": "cash", "amount_minor": o.TotalMinor}, http.StatusOK, &res)
	return res.Order.Tickets[0]
}

func (f *fixture) used(product, day string) int64 {
	f.t.Helper()
	var n int64
	err := f.pool.QueryRow(f.ctx, `SELECT coalesce((SELECT used FROM quota_usage WHERE scope = 'product' AND scope_id = $1 AND visit_date = $2), 0)`, product, day).Scan(&n)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}
