package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/admitpark/admit/sales/web"
)

func TestInitIsIdempotent(t *testing.T) {
	f := newFixture(t) // ran Init once
	res, err := f.api.Init(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created || res.Password != "" || !strings.Contains(res.Message, "nothing to do") {
		t.Fatalf("second Init: %+v", res)
	}
	var n int
	f.pool.QueryRow(f.ctx, `SELECT count(*) FROM users WHERE role = 'admin'`).Scan(&n)
	if n != 1 || f.auditCount("user.init_admin", "") != 1 {
		t.Fatalf("admins %d, init audit rows %d", n, f.auditCount("user.init_admin", ""))
	}
}

func TestInitAdminMustChangeOneTimePassword(t *testing.T) {
	pool := newFixture(t).pool // a database with an admin from Init
	if _, err := pool.Exec(t.Context(), `DELETE FROM audit_log; DELETE FROM users`); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{}
	a, err := NewAPI(testConfig(pool, clock))
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(t.Context())
	if err != nil || !res.Created || res.Username != "admin" || len(res.Password) < MinPasswordLength {
		t.Fatalf("Init: %+v %v", res, err)
	}
	login, err := a.Login(t.Context(), "admin", res.Password, "x")
	if err != nil {
		t.Fatal(err)
	}
	if !login.MustChangePassword || !login.User.MustChangePassword {
		t.Fatalf("first admin must change the password: %+v", login)
	}
	// Only /v1/me, /v1/me/password and /v1/logout take the session for now.
	_, err = a.Authenticate(t.Context(), login.Token, "x")
	if !errors.Is(err, web.ErrForbidden) || !errors.Is(err, ErrMustChangePassword) {
		t.Fatalf("Authenticate with a one-time password: %v", err)
	}
	p, err := lenient{a}.Authenticate(t.Context(), login.Token, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ChangePassword(t.Context(), p, login.Token, res.Password, "short"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("short password: %v", err)
	}
	if _, err := a.ChangePassword(t.Context(), p, login.Token, res.Password, "a much better password"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(t.Context(), login.Token, "x"); err != nil {
		t.Fatalf("after changing the password: %v", err)
	}
	if _, err := a.Login(t.Context(), "admin", res.Password, "x"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("the one-time password still works: %v", err)
	}
}

func TestRoleChecks(t *testing.T) {
	f := newFixture(t)
	c := f.user("ida", web.RoleCashier, goodPassword)
	res, err := f.api.Login(f.ctx, "ida", goodPassword, "x")
	if err != nil {
		t.Fatal(err)
	}
	cashier, err := f.api.Authenticate(f.ctx, res.Token, "x")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.api.CreateUser(f.ctx, cashier, NewUser{Username: "evil", Role: web.RoleAdmin, Password: goodPassword})
	wantProblem(t, err, web.ErrForbidden, http.StatusForbidden, "forbidden")
	for name, err := range map[string]error{
		"list":      func() error { _, err := f.api.ListUsers(f.ctx, cashier); return err }(),
		"disable":   func() error { _, err := f.api.SetDisabled(f.ctx, cashier, f.admin.UserID, true); return err }(),
		"reset":     func() error { _, _, err := f.api.ResetPassword(f.ctx, cashier, f.admin.UserID); return err }(),
		"dist":      func() error { _, err := f.api.CreateDistributor(f.ctx, cashier, "x"); return err }(),
		"key":       func() error { _, _, err := f.api.CreateAPIKey(f.ctx, cashier, 1); return err }(),
		"revoke":    func() error { _, err := f.api.RevokeAPIKey(f.ctx, cashier, 1); return err }(),
		"anonymous": func() error { _, _, err := f.api.CreateUser(f.ctx, web.Principal{}, NewUser{}); return err }(),
		"api-key-rl": func() error {
			_, err := f.api.ListUsers(f.ctx, web.Principal{Role: web.RoleAdmin, APIKeyID: 1})
			return err
		}(),
	} {
		if !errors.Is(err, web.ErrForbidden) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A cashier may still change their own password.
	if _, err := f.api.ChangePassword(f.ctx, cashier, "", goodPassword, "another good password"); err != nil {
		t.Fatal(err)
	}
	if n := f.auditCount("user.change_password", strconv.FormatInt(c.ID, 10)); n != 1 {
		t.Fatalf("change_password audit rows: %d", n)
	}
}

func TestCreateUserValidatesAndAudits(t *testing.T) {
	f := newFixture(t)
	sp := f.salesPoint()
	d, err := f.api.CreateDistributor(f.ctx, f.admin, "Trip Co")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n    NewUser
		code string
	}{
		{NewUser{Username: "A", Role: web.RoleFinance}, "bad_username"},
		{NewUser{Username: "has space", Role: web.RoleFinance}, "bad_username"},
		{NewUser{Username: "jo", Role: "boss"}, "bad_role"},
		{NewUser{Username: "jo", Role: web.RoleCashier}, "sales_point_required"},
		{NewUser{Username: "jo", Role: web.RoleFinance, SalesPointID: sp}, "sales_point_not_allowed"},
		{NewUser{Username: "jo", Role: web.RoleDistributor}, "distributor_required"},
		{NewUser{Username: "jo", Role: web.RoleAdmin, DistributorID: d.ID}, "distributor_not_allowed"},
		{NewUser{Username: "jo", Role: web.RoleFinance, Password: "nine char"}, "password_too_short"},
		{NewUser{Username: "jo", Role: web.RoleFinance, DisplayName: "Jo\x00"}, "bad_display_name"},
		{NewUser{Username: "jo", Role: web.RoleCashier, SalesPointID: "w 1\x00"}, "bad_sales_point"},
	} {
		_, _, err := f.api.CreateUser(f.ctx, f.admin, c.n)
		wantProblem(t, err, nil, http.StatusBadRequest, c.code)
	}
	_, _, err = f.api.CreateUser(f.ctx, f.admin, NewUser{Username: "jo", Role: web.RoleCashier, SalesPointID: "nowhere"})
	wantProblem(t, err, ErrNotFound, http.StatusNotFound, "unknown_sales_point")
	_, _, err = f.api.CreateUser(f.ctx, f.admin, NewUser{Username: "jo", Role: web.RoleDistributor, DistributorID: 999})
	wantProblem(t, err, ErrNotFound, http.StatusNotFound, "unknown_distributor")

	u, oneTime, err := f.api.CreateUser(f.ctx, f.admin, NewUser{Username: "jo", DisplayName: " Jo ", Role: web.RoleDistributor, DistributorID: d.ID})
	if err != nil {
		t.Fatal(err)
	}
	if oneTime == "" || !u.MustChangePassword || u.DistributorID != d.ID || u.DisplayName != "Jo" {
		t.Fatalf("user %+v one-time %q", u, oneTime)
	}
	_, _, err = f.api.CreateUser(f.ctx, f.admin, NewUser{Username: "jo", Role: web.RoleFinance, Password: goodPassword})
	wantProblem(t, err, ErrConflict, http.StatusConflict, "username_taken")

	// The audit row: by the admin, from their address, about the new user.
	var byUser int64
	var addr, details string
	err = f.pool.QueryRow(f.ctx, `SELECT user_id, remote_addr, details::text FROM audit_log
		WHERE action = 'user.create' AND object_type = 'user' AND object_id = $1`, strconv.FormatInt(u.ID, 10)).
		Scan(&byUser, &addr, &details)
	if err != nil {
		t.Fatal(err)
	}
	if byUser != f.admin.UserID || addr != f.admin.RemoteAddr || !strings.Contains(details, `"role": "distributor"`) || strings.Contains(details, oneTime) {
		t.Fatalf("user.create audit: by %d from %s: %s", byUser, addr, details)
	}
	if f.auditCount("user.create", "") != 1 {
		t.Fatal("a refused create left an audit row")
	}
	// A distributor user's principal carries the distributor.
	login, err := f.api.Login(f.ctx, "jo", oneTime, "x")
	if err != nil {
		t.Fatal(err)
	}
	p, err := lenient{f.api}.Authenticate(f.ctx, login.Token, "x")
	if err != nil || p.DistributorID != d.ID || p.Role != web.RoleDistributor {
		t.Fatalf("distributor user principal %+v %v", p, err)
	}
}

func TestPasswordHashesAreArgon2idAndSalted(t *testing.T) {
	f := newFixture(t)
	a := f.user("kim", web.RoleFinance, goodPassword)
	b := f.user("lou", web.RoleFinance, goodPassword)
	var ha, hb string
	f.pool.QueryRow(f.ctx, `SELECT password_hash FROM users WHERE id = $1`, a.ID).Scan(&ha)
	f.pool.QueryRow(f.ctx, `SELECT password_hash FROM users WHERE id = $1`, b.ID).Scan(&hb)
	for _, h := range []string{ha, hb} {
		if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(h, goodPassword) {
			t.Fatalf("hash %q", h)
		}
		if _, _, _, err := parsePHC(h); err != nil {
			t.Fatal(err)
		}
	}
	if ha == hb {
		t.Fatal("two users with the same password have the same hash")
	}
}

func TestRehashOnLoginWithNewParameters(t *testing.T) {
	f := newFixture(t)
	f.user("max", web.RoleFinance, goodPassword)
	cfg := testConfig(f.pool, f.clock)
	cfg.Argon2.Time = 2
	a2, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Login(f.ctx, "max", goodPassword, "x"); err != nil {
		t.Fatal(err)
	}
	var h string
	f.pool.QueryRow(f.ctx, `SELECT password_hash FROM users WHERE username = 'max'`).Scan(&h)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=2,p=1$") {
		t.Fatalf("not rehashed: %s", h)
	}
	if _, err := f.api.Login(f.ctx, "max", goodPassword, "x"); err != nil {
		t.Fatalf("old parameters still verify the new hash: %v", err)
	}
}

func TestDisableEnable(t *testing.T) {
	f := newFixture(t)
	u := f.user("ned", web.RoleFinance, goodPassword)
	s, err := f.api.Login(f.ctx, "ned", goodPassword, "x")
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.api.SetDisabled(f.ctx, f.admin, u.ID, true)
	if err != nil || !got.Disabled {
		t.Fatalf("disable: %+v %v", got, err)
	}
	if _, err := f.api.Authenticate(f.ctx, s.Token, "x"); !errors.Is(err, web.ErrUnauthenticated) {
		t.Fatalf("a disabled user's session still works: %v", err)
	}
	_, err = f.api.Login(f.ctx, "ned", goodPassword, "x")
	wantProblem(t, err, ErrDisabled, http.StatusForbidden, "account_disabled")
	_, err = f.api.Login(f.ctx, "ned", "wrong password!", "x")
	wantProblem(t, err, ErrBadCredentials, http.StatusUnauthorized, "bad_credentials")

	_, err = f.api.SetDisabled(f.ctx, f.admin, f.admin.UserID, true)
	wantProblem(t, err, ErrConflict, http.StatusConflict, "cannot_disable_self")

	if _, err := f.api.SetDisabled(f.ctx, f.admin, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.api.Login(f.ctx, "ned", goodPassword, "x"); err != nil {
		t.Fatalf("login after enable: %v", err)
	}
	if f.auditCount("user.disable", "") != 1 || f.auditCount("user.enable", "") != 1 || f.auditCount("auth.login_disabled", "") != 1 {
		t.Fatal("disable/enable audit rows missing")
	}
}

func TestResetPassword(t *testing.T) {
	f := newFixture(t)
	u := f.user("ola", web.RoleFinance, goodPassword)
	s, _ := f.api.Login(f.ctx, "ola", goodPassword, "x")
	for range 3 {
		f.api.Login(f.ctx, "ola", "wrong password!", "x")
	}
	got, oneTime, err := f.api.ResetPassword(f.ctx, f.admin, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.MustChangePassword || got.Locked || oneTime == "" {
		t.Fatalf("after reset: %+v %q", got, oneTime)
	}
	if _, err := f.api.Authenticate(f.ctx, s.Token, "x"); !errors.Is(err, web.ErrUnauthenticated) {
		t.Fatalf("old session after reset: %v", err)
	}
	if _, err := f.api.Login(f.ctx, "ola", goodPassword, "x"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after reset: %v", err)
	}
	res, err := f.api.Login(f.ctx, "ola", oneTime, "x")
	if err != nil || !res.MustChangePassword {
		t.Fatalf("one-time login: %+v %v", res, err)
	}
	var details string
	f.pool.QueryRow(f.ctx, `SELECT details::text FROM audit_log WHERE action = 'user.reset_password'`).Scan(&details)
	if details == "" || strings.Contains(details, oneTime) {
		t.Fatalf("reset audit: %q", details)
	}
}

func TestListUsers(t *testing.T) {
	f := newFixture(t)
	f.user("quin", web.RoleGateOperator, goodPassword)
	us, err := f.api.ListUsers(f.ctx, f.admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 || us[0].Username != "admin" || us[1].Username != "quin" {
		t.Fatalf("users: %+v", us)
	}
}
