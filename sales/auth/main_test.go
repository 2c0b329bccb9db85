package auth

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

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

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	api   *API
	clock *fakeClock
	pool  *pgxpool.Pool
	admin web.Principal
}

func testConfig(pool *pgxpool.Pool, clock web.Clock) Config {
	cfg := DefaultConfig()
	cfg.Pool = pool
	cfg.Clock = clock
	cfg.Log = slog.New(slog.DiscardHandler)
	cfg.Argon2 = TestArgon2
	return cfg
}

// newFixture gives a fresh database, an API on a fake clock, and an admin
// (made by Init, password changed) to act as.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := pgtest.NewDB(t)
	clock := &fakeClock{t: time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)}
	a, err := NewAPI(testConfig(pool, clock))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: context.Background(), api: a, clock: clock, pool: pool}
	res, err := a.Init(f.ctx)
	if err != nil || !res.Created {
		t.Fatalf("Init: %+v, %v", res, err)
	}
	var id int64
	if err := pool.QueryRow(f.ctx, `SELECT id FROM users WHERE username = 'admin'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	f.admin = web.Principal{UserID: id, Username: "admin", Role: web.RoleAdmin, RemoteAddr: "192.0.2.1:5000"}
	return f
}

// salesPoint makes park "p1" and window "w1" for cashiers.
func (f *fixture) salesPoint() string {
	f.t.Helper()
	_, err := f.pool.Exec(f.ctx, `INSERT INTO parks (id, name, time_zone) VALUES ('p1', 'Park', 'Asia/Shanghai')
		ON CONFLICT DO NOTHING;
		INSERT INTO sales_points (id, park_id, name, kind) VALUES ('w1', 'p1', 'Window 1', 'window')
		ON CONFLICT DO NOTHING`)
	if err != nil {
		f.t.Fatal(err)
	}
	return "w1"
}

// user creates a user with a known password (no change required).
func (f *fixture) user(name, role, password string) User {
	f.t.Helper()
	n := NewUser{Username: name, Role: role, Password: password}
	switch role {
	case web.RoleCashier:
		n.SalesPointID = f.salesPoint()
	case web.RoleDistributor:
		d, err := f.api.CreateDistributor(f.ctx, f.admin, "dist-for-"+name)
		if err != nil {
			f.t.Fatal(err)
		}
		n.DistributorID = d.ID
	}
	u, oneTime, err := f.api.CreateUser(f.ctx, f.admin, n)
	if err != nil {
		f.t.Fatalf("CreateUser %s: %v", name, err)
	}
	if oneTime != "" {
		f.t.Fatalf("CreateUser with a password returned a one-time password")
	}
	return u
}

// auditCount counts audit rows with action (and objectID unless "").
func (f *fixture) auditCount(action, objectID string) int {
	f.t.Helper()
	var n int
	err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND ($2 = '' OR object_id = $2)`,
		action, objectID).Scan(&n)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// wantProblem checks err is a *web.Problem with status and code, and Is sentinel.
func wantProblem(t *testing.T, err error, sentinel error, status int, code string) *web.Problem {
	t.Helper()
	if err == nil {
		t.Fatalf("want %v (%d %s), got no error", sentinel, status, code)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("want errors.Is(err, %v); got %v", sentinel, err)
	}
	var p *web.Problem
	if !errors.As(err, &p) {
		t.Fatalf("want a *web.Problem, got %T %v", err, err)
	}
	if p.Status != status || p.Code != code {
		t.Fatalf("want %d %s, got %d %s: %s", status, code, p.Status, p.Code, p.Msg)
	}
	return p
}
