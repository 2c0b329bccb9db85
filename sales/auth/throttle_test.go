package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/sales/web"
)

// TestWrongPasswordsFromOneSourceDoNotLockOutAnother is the probe's
// lockout: three wrong passwords from anywhere used to lock the account
// (the only admin's included) for everyone. Now they block only that
// source, for that username, for 15 minutes; the right password from
// another source still logs in.
func TestWrongPasswordsFromOneSourceDoNotLockOutAnother(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	cfg := testConfig(f.pool, f.clock)
	cfg.Registerer = reg
	a, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.api = a
	u := f.user("anna", web.RoleAdmin, goodPassword)
	const attacker, staff = "198.51.100.7:4242", "192.0.2.10:5555"

	for i := range 3 {
		_, err := a.Login(f.ctx, "anna", "wrong password!", attacker)
		wantProblem(t, err, ErrBadCredentials, http.StatusUnauthorized, "bad_credentials")
		if i < 2 && lockouts(t, reg) != 0 {
			t.Fatalf("lockout counted after %d wrong passwords", i+1)
		}
	}
	// The attacker's source is blocked for 15 minutes, even with the right
	// password (another port of the same address is the same source).
	_, err = a.Login(f.ctx, "anna", goodPassword, "198.51.100.7:9999")
	p := wantProblem(t, err, ErrThrottled, http.StatusTooManyRequests, "too_many_attempts")
	if p.RetryAfter != 15*time.Minute || !strings.Contains(p.Msg, "900 s") {
		t.Fatalf("block %v %q, want 15 minutes", p.RetryAfter, p.Msg)
	}
	// Staff elsewhere log in as ever.
	if _, err := a.Login(f.ctx, "anna", goodPassword, staff); err != nil {
		t.Fatalf("right password from another source: %v", err)
	}
	if got := lockouts(t, reg); got != 1 {
		t.Fatalf("admit_sales_login_lockouts_total = %v, want 1", got)
	}
	id := strconv.FormatInt(u.ID, 10)
	if n := f.auditCount("auth.lockout", id); n != 1 {
		t.Fatalf("auth.lockout audit rows %d, want 1", n)
	}
	if n := f.auditCount("auth.login_throttled", ""); n != 1 {
		t.Fatalf("auth.login_throttled audit rows %d, want 1", n)
	}

	// After 15 minutes the attacker's source may try again; its next wrong
	// password blocks it for twice as long.
	f.clock.Advance(15 * time.Minute)
	_, err = a.Login(f.ctx, "anna", "wrong password!", attacker)
	wantProblem(t, err, ErrBadCredentials, http.StatusUnauthorized, "bad_credentials")
	_, err = a.Login(f.ctx, "anna", goodPassword, attacker)
	if p := wantProblem(t, err, ErrThrottled, http.StatusTooManyRequests, "too_many_attempts"); p.RetryAfter != 30*time.Minute {
		t.Fatalf("second block %v, want 30m", p.RetryAfter)
	}
	if _, err := a.Login(f.ctx, "anna", goodPassword, staff); err != nil {
		t.Fatalf("right password from another source during the second block: %v", err)
	}

	// An admin's unlock (or `admit sales admin unlock`) lifts the block.
	if _, cleared, err := a.OperatorUnlock(f.ctx, "Anna", "root@server"); err != nil || cleared != 1 {
		t.Fatalf("OperatorUnlock: %d sources, %v", cleared, err)
	}
	if _, err := a.Login(f.ctx, "anna", goodPassword, attacker); err != nil {
		t.Fatalf("after the unlock: %v", err)
	}
	if n := f.auditCount("user.unlock", id); n != 1 {
		t.Fatalf("user.unlock audit rows %d", n)
	}
	if _, _, err := a.OperatorUnlock(f.ctx, "nobody", "root"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OperatorUnlock of an unknown user: %v", err)
	}
}

// TestRightPasswordClearsItsSourceAndCountsAreForgotten: two wrong then a
// right one start the count afresh; a count left alone for ForgetAfter is
// forgotten.
func TestRightPasswordClearsItsSourceAndCountsAreForgotten(t *testing.T) {
	f := newFixture(t)
	f.user("bert", web.RoleFinance, goodPassword)
	const src = "203.0.113.5:1"
	wrong := func() {
		t.Helper()
		_, err := f.api.Login(f.ctx, "bert", "wrong password!", src)
		wantProblem(t, err, ErrBadCredentials, http.StatusUnauthorized, "bad_credentials")
	}
	wrong()
	wrong()
	if _, err := f.api.Login(f.ctx, "bert", goodPassword, src); err != nil {
		t.Fatal(err)
	}
	wrong()
	wrong()
	f.clock.Advance(f.api.cfg.ForgetAfter)
	wrong() // a first failure again, not a third
	if _, err := f.api.Login(f.ctx, "bert", goodPassword, src); err != nil {
		t.Fatalf("blocked although the old failures were forgotten: %v", err)
	}
	if n, err := f.api.PurgeThrottle(f.ctx); err != nil || n != 0 {
		t.Fatalf("PurgeThrottle: %d %v (the login cleared the row)", n, err)
	}
}

// TestUnknownUserAnswersLikeWrongPassword: an unknown username and a
// wrong password get identical answers at every step (status, body,
// Retry-After), over HTTP, and the same password-hash work.
func TestUnknownUserAnswersLikeWrongPassword(t *testing.T) {
	c, a, _ := newServer(t, 100)
	f := &fixture{t: t, ctx: t.Context(), api: a, pool: a.pool}
	if _, err := a.Init(f.ctx); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := a.pool.QueryRow(f.ctx, `SELECT id FROM users WHERE username = 'admin'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	f.admin = web.Principal{UserID: id, Username: "admin", Role: web.RoleAdmin}
	f.user("dora", web.RoleFinance, goodPassword)

	type answer struct {
		status     int
		body       string
		retryAfter string
	}
	try := func(username string) answer {
		t.Helper()
		before := a.verifies.Load()
		status, out, h := c.do("POST", "/v1/login", "", map[string]string{"username": username, "password": "wrong password!"})
		work := a.verifies.Load() - before
		if status == http.StatusUnauthorized && work != 1 {
			t.Fatalf("%s: %d password verifications, want 1", username, work)
		}
		if status == http.StatusTooManyRequests && work != 0 {
			t.Fatalf("%s: blocked, yet %d verifications", username, work)
		}
		return answer{status, out["error"].(string) + "|" + out["code"].(string), h.Get("Retry-After")}
	}
	for i := range 5 {
		known, unknown := try("dora"), try("nobody")
		if known != unknown {
			t.Fatalf("attempt %d: wrong password %+v, unknown user %+v", i+1, known, unknown)
		}
		want := http.StatusUnauthorized
		if i >= 3 {
			want = http.StatusTooManyRequests
		}
		if known.status != want {
			t.Fatalf("attempt %d: %d, want %d", i+1, known.status, want)
		}
	}
	// The audit log tells them apart.
	if f.auditCount("auth.login_unknown_user", "") != 3 || f.auditCount("auth.login_failed", "") != 3 {
		t.Fatalf("audit: %d unknown, %d failed", f.auditCount("auth.login_unknown_user", ""), f.auditCount("auth.login_failed", ""))
	}
}

// TestConcurrentWrongPasswordsBlockOnce: parallel wrong passwords from one
// source are all counted and block it once.
func TestConcurrentWrongPasswordsBlockOnce(t *testing.T) {
	f := newFixture(t)
	f.user("hal", web.RoleFinance, goodPassword)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = f.api.Login(f.ctx, "hal", "wrong password!", "x")
		})
	}
	wg.Wait()
	for _, err := range errs {
		if !errors.Is(err, ErrBadCredentials) && !errors.Is(err, ErrThrottled) {
			t.Fatalf("unexpected: %v", err)
		}
	}
	var failures int
	if err := f.pool.QueryRow(f.ctx, `SELECT coalesce(sum(failures), 0) FROM login_throttle WHERE username = 'hal'`).Scan(&failures); err != nil {
		t.Fatal(err)
	}
	if n := f.auditCount("auth.lockout", ""); n < 1 || failures+f.auditCount("auth.login_throttled", "") != 6 {
		t.Fatalf("lockouts %d, failures %d: every attempt counted or refused", n, failures)
	}
	_, err := f.api.Login(f.ctx, "hal", goodPassword, "x")
	wantProblem(t, err, ErrThrottled, http.StatusTooManyRequests, "too_many_attempts")
	if _, err := f.api.Login(f.ctx, "hal", goodPassword, "y"); err != nil {
		t.Fatalf("another source: %v", err)
	}
}

// TestChangePasswordEndsOtherSessions: changing the password ends every
// other session of the user; the one that changed it stays. A wrong old
// password counts toward the caller's source's throttle.
func TestChangePasswordEndsOtherSessions(t *testing.T) {
	f := newFixture(t)
	f.user("pia", web.RoleFinance, goodPassword)
	other, err := f.api.Login(f.ctx, "pia", goodPassword, "192.0.2.50:1") // e.g. a stolen session
	if err != nil {
		t.Fatal(err)
	}
	mine, err := f.api.Login(f.ctx, "pia", goodPassword, "192.0.2.60:1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.api.Authenticate(f.ctx, mine.Token, "192.0.2.60:1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.api.ChangePassword(f.ctx, p, mine.Token, goodPassword, goodPassword)
	wantProblem(t, err, ErrWeakPassword, http.StatusBadRequest, "password_unchanged")
	for range 2 {
		_, err := f.api.ChangePassword(f.ctx, p, mine.Token, "not my password", "a new good password")
		wantProblem(t, err, ErrBadCredentials, http.StatusForbidden, "wrong_old_password")
	}
	ended, err := f.api.ChangePassword(f.ctx, p, mine.Token, goodPassword, "a new good password")
	if err != nil || ended != 1 {
		t.Fatalf("ChangePassword: ended %d, %v", ended, err)
	}
	if _, err := f.api.Authenticate(f.ctx, other.Token, "192.0.2.50:1"); !errors.Is(err, web.ErrUnauthenticated) {
		t.Fatalf("the other session after the change: %v", err)
	}
	if _, err := f.api.Authenticate(f.ctx, mine.Token, "192.0.2.60:1"); err != nil {
		t.Fatalf("the changing session after the change: %v", err)
	}
	// Three wrong old passwords block the source for changes and logins.
	for range 3 {
		_, err := f.api.ChangePassword(f.ctx, p, mine.Token, "not my password", "another new password")
		wantProblem(t, err, ErrBadCredentials, http.StatusForbidden, "wrong_old_password")
	}
	_, err = f.api.ChangePassword(f.ctx, p, mine.Token, "a new good password", "another new password")
	wantProblem(t, err, ErrThrottled, http.StatusTooManyRequests, "too_many_attempts")
	if f.auditCount("user.change_password_failed", "") != 5 {
		t.Fatal("failed password changes not audited")
	}
	_, err = f.api.ChangePassword(f.ctx, web.Principal{APIKeyID: 1, Role: web.RoleDistributor}, "", goodPassword, "a new good password")
	wantProblem(t, err, web.ErrForbidden, http.StatusForbidden, "no_password")
}

// lockouts reads admit_sales_login_lockouts_total from reg.
func lockouts(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "admit_sales_login_lockouts_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("admit_sales_login_lockouts_total is not registered")
	return 0
}
