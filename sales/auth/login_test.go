package auth

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/web"
)

const goodPassword = "correct horse battery"

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
