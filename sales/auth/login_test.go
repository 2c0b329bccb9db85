package auth

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/web"
)

const goodPassword = "correct horse battery"

func TestLockoutAfterThreeWrongPasswordsInARow(t *testing.T) {
	f := newFixture(t)
	u := f.user("anna", web.RoleFinance, goodPassword)
	const addr = "198.51.100.7:4242"

	// Two wrong, then right: the count resets.
	for range 2 {
		_, err := f.api.Login(f.ctx, "anna", "wrong password!", addr)
		wantProblem(t, err, ErrBadCredentials, http.StatusUnauthorized, "bad_credentials")
	}
	if _, err := f.api.Login(f.ctx, "anna", goodPassword, addr); err != nil {
		t.Fatalf("right password after two wrong: %v", err)
	}
	for range 2 {
		_, err := f.api.Login(f.ctx, "anna", "wrong password!", addr)
		wantProblem(t, err, ErrBadCredentials, http.StatusUnauthorized, "bad_credentials")
	}
	// The third wrong one in a row locks.
	_, err := f.api.Login(f.ctx, "anna", "wrong password!", addr)
	p := wantProblem(t, err, ErrLocked, http.StatusLocked, "account_locked")
	until := f.clock.Now().Add(15 * time.Minute).UTC().Format(time.RFC3339)
	if !strings.Contains(p.Msg, until) {
		t.Fatalf("lock message %q does not say until %s", p.Msg, until)
	}

	// While locked even the right password is refused, saying until when.
	f.clock.Advance(14*time.Minute + 59*time.Second)
	_, err = f.api.Login(f.ctx, "anna", goodPassword, addr)
	p = wantProblem(t, err, ErrLocked, http.StatusLocked, "account_locked")
	if !strings.Contains(p.Msg, until) {
		t.Fatalf("lock message %q does not say until %s", p.Msg, until)
	}
	if n := f.auditCount("auth.login_locked", strconv.FormatInt(u.ID, 10)); n != 1 {
		t.Fatalf("auth.login_locked audit rows: %d, want 1", n)
	}
	if n := f.auditCount("auth.lockout", strconv.FormatInt(u.ID, 10)); n != 1 {
		t.Fatalf("auth.lockout audit rows: %d, want 1", n)
	}

	// Fifteen minutes after the lock, the right password works again.
	f.clock.Advance(time.Second)
	res, err := f.api.Login(f.ctx, "anna", goodPassword, addr)
	if err != nil {
		t.Fatalf("right password after the lock ran out: %v", err)
	}
	if res.User.FailedLogins != 0 || res.User.Locked || !res.User.LockedUntil.IsZero() {
		t.Fatalf("after a good login: %+v", res.User)
	}
}

func TestLockRunsOutThenCountStartsAfresh(t *testing.T) {
	f := newFixture(t)
	f.user("bert", web.RoleFinance, goodPassword)
	for range 3 {
		f.api.Login(f.ctx, "bert", "wrong password!", "a")
	}
	f.clock.Advance(16 * time.Minute)
	// One wrong password after the lock ran out is one failure, not a fourth.
	_, err := f.api.Login(f.ctx, "bert", "wrong password!", "a")
	wantProblem(t, err, ErrBadCredentials, http.StatusUnauthorized, "bad_credentials")
	var failures int
	f.pool.QueryRow(f.ctx, `SELECT failed_logins FROM users WHERE username = 'bert'`).Scan(&failures)
	if failures != 1 {
		t.Fatalf("failed_logins = %d, want 1", failures)
	}
}

func TestAdminUnlock(t *testing.T) {
	f := newFixture(t)
	u := f.user("carl", web.RoleGateOperator, goodPassword)
	for range 3 {
		f.api.Login(f.ctx, "carl", "wrong password!", "a")
	}
	_, err := f.api.Login(f.ctx, "carl", goodPassword, "a")
	wantProblem(t, err, ErrLocked, http.StatusLocked, "account_locked")

	cashier := web.Principal{UserID: u.ID, Role: web.RoleCashier}
	_, err = f.api.Unlock(f.ctx, cashier, u.ID)
	wantProblem(t, err, web.ErrForbidden, http.StatusForbidden, "forbidden")

	got, err := f.api.Unlock(f.ctx, f.admin, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Locked || got.FailedLogins != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("after unlock: %+v", got)
	}
	if _, err := f.api.Login(f.ctx, "carl", goodPassword, "a"); err != nil {
		t.Fatalf("login after unlock: %v", err)
	}
	if n := f.auditCount("user.unlock", strconv.FormatInt(u.ID, 10)); n != 1 {
		t.Fatalf("user.unlock audit rows: %d", n)
	}
	_, err = f.api.Unlock(f.ctx, f.admin, 999999)
	wantProblem(t, err, ErrNotFound, http.StatusNotFound, "unknown_user")
}

func TestUnknownUserLooksLikeWrongPasswordButIsAuditedApart(t *testing.T) {
	f := newFixture(t)
	u := f.user("dora", web.RoleFinance, goodPassword)
	_, errUnknown := f.api.Login(f.ctx, "nobody", goodPassword, "203.0.113.9:1")
	_, errWrong := f.api.Login(f.ctx, "dora", "wrong password!", "203.0.113.9:2")
	wantProblem(t, errUnknown, ErrBadCredentials, http.StatusUnauthorized, "bad_credentials")
	wantProblem(t, errWrong, ErrBadCredentials, http.StatusUnauthorized, "bad_credentials")
	if errUnknown.Error() != errWrong.Error() {
		t.Fatalf("unknown user %q and wrong password %q differ", errUnknown, errWrong)
	}

	// Names that cannot be users (a NUL byte, too long) are unknown users too.
	for _, name := range []string{"no\x00body", strings.Repeat("x", 5000)} {
		_, err := f.api.Login(f.ctx, name, goodPassword, "x")
		wantProblem(t, err, ErrBadCredentials, http.StatusUnauthorized, "bad_credentials")
	}

	var addr, details string
	var userID *int64
	err := f.pool.QueryRow(f.ctx, `SELECT remote_addr, details::text, user_id FROM audit_log
		WHERE action = 'auth.login_unknown_user' ORDER BY id LIMIT 1`).Scan(&addr, &details, &userID)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "203.0.113.9:1" || !strings.Contains(details, `"nobody"`) || userID != nil {
		t.Fatalf("unknown-user audit: %s %s %v", addr, details, userID)
	}
	var objectID string
	err = f.pool.QueryRow(f.ctx, `SELECT remote_addr, details::text, object_id FROM audit_log
		WHERE action = 'auth.login_failed'`).Scan(&addr, &details, &objectID)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "203.0.113.9:2" || objectID != strconv.FormatInt(u.ID, 10) || !strings.Contains(details, `"failures": 1`) {
		t.Fatalf("login_failed audit: %s %s %s", addr, details, objectID)
	}
}

func TestLoginSuccessAuditedAndUsernameCaseInsensitive(t *testing.T) {
	f := newFixture(t)
	u := f.user("emil", web.RoleFinance, goodPassword)
	res, err := f.api.Login(f.ctx, "  Emil ", goodPassword, "192.0.2.44:80")
	if err != nil {
		t.Fatal(err)
	}
	if res.User.ID != u.ID || !strings.HasPrefix(res.Token, "st_") || res.MustChangePassword {
		t.Fatalf("login result: %+v", res)
	}
	var userID int64
	var addr string
	if err := f.pool.QueryRow(f.ctx, `SELECT user_id, remote_addr FROM audit_log WHERE action = 'auth.login'`).
		Scan(&userID, &addr); err != nil {
		t.Fatal(err)
	}
	if userID != u.ID || addr != "192.0.2.44:80" {
		t.Fatalf("auth.login audit: user %d addr %s", userID, addr)
	}
}

func TestSessionExpiryAndStorage(t *testing.T) {
	f := newFixture(t)
	sp := f.salesPoint()
	u, _, err := f.api.CreateUser(f.ctx, f.admin, NewUser{Username: "fay", Role: web.RoleCashier, Password: goodPassword, SalesPointID: sp})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.api.Login(f.ctx, "fay", goodPassword, "10.1.1.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now().Add(12 * time.Hour); !res.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at %v, want %v", res.ExpiresAt, want)
	}
	// Only the SHA-256 of the token is stored.
	sum := sha256.Sum256([]byte(res.Token))
	var n int
	f.pool.QueryRow(f.ctx, `SELECT count(*) FROM sessions WHERE token_hash = $1 AND user_id = $2`, sum[:], u.ID).Scan(&n)
	if n != 1 {
		t.Fatalf("sessions with the token's SHA-256: %d", n)
	}
	wantTokenNotStored(t, f, res.Token) // nor the token itself, in any form, anywhere

	p, err := f.api.Authenticate(f.ctx, res.Token, "10.1.1.1:2")
	if err != nil {
		t.Fatal(err)
	}
	want := web.Principal{UserID: u.ID, Username: "fay", Role: web.RoleCashier, SalesPointID: sp, RemoteAddr: "10.1.1.1:2"}
	if p != want {
		t.Fatalf("principal %+v, want %+v", p, want)
	}

	f.clock.Advance(12*time.Hour - time.Second)
	if _, err := f.api.Authenticate(f.ctx, res.Token, "x"); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	_, err = f.api.Authenticate(f.ctx, res.Token, "x")
	if !errors.Is(err, web.ErrUnauthenticated) || !errors.Is(err, ErrSessionExpired) || !strings.Contains(err.Error(), "session expired") {
		t.Fatalf("expired session: %v", err)
	}
	// The next login drops the user's expired sessions.
	if _, err := f.api.Login(f.ctx, "fay", goodPassword, "x"); err != nil {
		t.Fatal(err)
	}
	f.pool.QueryRow(f.ctx, `SELECT count(*) FROM sessions WHERE user_id = $1`, u.ID).Scan(&n)
	if n != 1 {
		t.Fatalf("sessions after a new login: %d, want 1", n)
	}
}

func TestAuthenticateRefusesBadTokens(t *testing.T) {
	f := newFixture(t)
	for _, tok := range []string{"", "hello", "st_short", "st_" + strings.Repeat("A", 43), "ak_" + strings.Repeat("A", 43), "ak_!!"} {
		_, err := f.api.Authenticate(f.ctx, tok, "x")
		if !errors.Is(err, web.ErrUnauthenticated) || !errors.Is(err, ErrUnknownToken) {
			t.Errorf("token %q: %v", tok, err)
		}
	}
}

func TestLogoutAndLogoutAll(t *testing.T) {
	f := newFixture(t)
	u := f.user("gus", web.RoleFinance, goodPassword)
	s1, _ := f.api.Login(f.ctx, "gus", goodPassword, "x")
	s2, _ := f.api.Login(f.ctx, "gus", goodPassword, "x")
	s3, _ := f.api.Login(f.ctx, "gus", goodPassword, "x")
	p, err := f.api.Authenticate(f.ctx, s1.Token, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.api.Logout(f.ctx, p, s1.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := f.api.Authenticate(f.ctx, s1.Token, "x"); !errors.Is(err, web.ErrUnauthenticated) {
		t.Fatalf("after logout: %v", err)
	}
	if _, err := f.api.Authenticate(f.ctx, s2.Token, "x"); err != nil {
		t.Fatalf("another session after logout: %v", err)
	}
	if _, err := f.api.LogoutAll(f.ctx, web.Principal{UserID: 424242, Role: web.RoleCashier}, u.ID); !errors.Is(err, web.ErrForbidden) {
		t.Fatalf("cashier logs out someone else: %v", err)
	}
	n, err := f.api.LogoutAll(f.ctx, f.admin, u.ID)
	if err != nil || n != 2 {
		t.Fatalf("LogoutAll: %d, %v", n, err)
	}
	for _, s := range []LoginResult{s2, s3} {
		if _, err := f.api.Authenticate(f.ctx, s.Token, "x"); !errors.Is(err, web.ErrUnauthenticated) {
			t.Fatalf("after logout-all: %v", err)
		}
	}
	if f.auditCount("auth.logout", "") != 1 || f.auditCount("auth.logout_all", "") != 1 {
		t.Fatal("logout audit rows missing")
	}
}

func TestConcurrentWrongPasswordsLockOnce(t *testing.T) {
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
	var bad, locked int
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrBadCredentials):
			bad++
		case errors.Is(err, ErrLocked):
			locked++
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	if bad > 2 || f.auditCount("auth.lockout", "") != 1 {
		t.Fatalf("bad %d locked %d lockouts %d: want at most 2 plain failures and one lockout", bad, locked, f.auditCount("auth.lockout", ""))
	}
	_, err := f.api.Login(f.ctx, "hal", goodPassword, "x")
	wantProblem(t, err, ErrLocked, http.StatusLocked, "account_locked")
}
