package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/web"
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

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// tokens is a test Authenticator: fixed bearer tokens name the callers.
// It stands in for the auth package (the caller's identity), not for the
// database.
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
	tokAdmin   = "admin-token"
	tokFinance = "finance-token"
	tokCashier = "cashier-token"
	tokDist    = "distributor-token"
	tokGate    = "gate-token"
)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	pool  *pgxpool.Pool
	clock *fakeClock
	srv   http.Handler
	admin web.Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: t.Context(), pool: pgtest.NewDB(t),
		clock: &fakeClock{t: time.Date(2026, 4, 20, 9, 0, 0, 0, time.UTC)}}
	// Users for the audit log's user_id.
	ids := map[string]int64{}
	for _, u := range []struct{ name, role string }{
		{"alice", web.RoleAdmin}, {"fred", web.RoleFinance}, {"carl", web.RoleCashier}, {"gina", web.RoleGateOperator},
	} {
		var id int64
		if err := f.pool.QueryRow(f.ctx, `INSERT INTO users (username, role, password_hash) VALUES ($1, $2, 'x') RETURNING id`,
			u.name, u.role).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[u.name] = id
	}
	var distID int64
	if err := f.pool.QueryRow(f.ctx, `INSERT INTO distributors (name) VALUES ('ota') RETURNING id`).Scan(&distID); err != nil {
		t.Fatal(err)
	}
	f.admin = web.Principal{UserID: ids["alice"], Username: "alice", Role: web.RoleAdmin}
	authn := tokens{
		tokAdmin:   f.admin,
		tokFinance: {UserID: ids["fred"], Username: "fred", Role: web.RoleFinance},
		tokCashier: {UserID: ids["carl"], Username: "carl", Role: web.RoleCashier},
		tokDist:    {DistributorID: distID, Role: web.RoleDistributor},
		tokGate:    {UserID: ids["gina"], Username: "gina", Role: web.RoleGateOperator},
	}
	cfg := DefaultConfig()
	cfg.Pool, cfg.Clock = f.pool, f.clock
	cfg.Log = slog.New(slog.NewTextHandler(t.Output(), nil))
	api, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Routes(mux, authn)
	f.srv = mux
	return f
}

type reply struct {
	status int
	body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("reply %s: %v", r.body, err)
	}
}

// problem is the error reply's code and message.
func (r reply) problem(t *testing.T) web.ProblemBody {
	t.Helper()
	var p web.ProblemBody
	r.decode(t, &p)
	return p
}

// call sends a request as the caller with token ("" for none); body is
// JSON-encoded unless it is a string.
func (f *fixture) call(method, path, token string, body any) reply {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequestWithContext(f.ctx, method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return reply{status: rec.Code, body: rec.Body.Bytes()}
}

// must sends as admin and wants status.
func (f *fixture) must(method, path string, body any, status int) reply {
	f.t.Helper()
	r := f.call(method, path, tokAdmin, body)
	if r.status != status {
		f.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	return r
}

// wantProblem checks a refusal's status and code.
func (f *fixture) wantProblem(r reply, status int, code string) web.ProblemBody {
	f.t.Helper()
	if r.status != status {
		f.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	p := r.problem(f.t)
	if p.Code != code {
		f.t.Fatalf("code %q, want %q: %s", p.Code, code, p.Error)
	}
	return p
}

// tx runs fn in a committed transaction.
func (f *fixture) tx(fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(f.ctx, f.pool, fn)
}

func (f *fixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, sql, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// setup makes park "sea" (Asia/Shanghai, CNY) with zones main and aqua.
func (f *fixture) setup() {
	f.t.Helper()
	f.must("POST", "/v1/parks", map[string]any{"id": "sea", "name": "Sea World", "time_zone": "Asia/Shanghai",
		"daily_capacity": 1000, "capacity_warn": 800, "opens_at": "09:00", "closes_at": "18:00"}, http.StatusCreated)
	f.must("POST", "/v1/parks/sea/zones", map[string]any{"id": "main", "name": "Main", "cap": 500, "warn": 400}, http.StatusCreated)
	f.must("POST", "/v1/parks/sea/zones", map[string]any{"id": "aqua", "name": "Aquarium"}, http.StatusCreated)
}

// product makes a product in park sea; extra fields override the base.
func (f *fixture) product(id string, extra map[string]any) Product {
	f.t.Helper()
	body := map[string]any{"id": id, "park_id": "sea", "name": id, "kind": "single", "price_minor": 10000}
	for k, v := range extra {
		body[k] = v
	}
	var p Product
	f.must("POST", "/v1/products", body, http.StatusCreated).decode(f.t, &p)
	return p
}

func isProblem(err error, status int, code string) bool {
	var p *web.Problem
	return errors.As(err, &p) && p.Status == status && p.Code == code
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
