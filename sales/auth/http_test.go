package auth

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/pgtest"
)

type client struct {
	t    *testing.T
	base string
}

// do sends method path with body (nil: none) and token, and decodes the
// JSON reply into a map.
func (c client) do(method, path, token string, body any) (int, map[string]any, http.Header) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, resp.Header
}

func (c client) want(status int, method, path, token string, body any) map[string]any {
	c.t.Helper()
	got, out, _ := c.do(method, path, token, body)
	if got != status {
		c.t.Fatalf("%s %s: %d %v, want %d", method, path, got, out, status)
	}
	return out
}

func newServer(t *testing.T, burst int) (client, *API, *fakeClock) {
	pool := pgtest.NewDB(t)
	clock := &fakeClock{t: time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)}
	cfg := testConfig(pool, clock)
	cfg.LoginBurst = burst
	a, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes(mux, a)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return client{t: t, base: srv.URL}, a, clock
}

func TestHTTPFlow(t *testing.T) {
	c, a, clock := newServer(t, 100)
	init, err := a.Init(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	// Anonymous: 401 everywhere but login.
	c.want(http.StatusUnauthorized, "GET", "/v1/users", "", nil)
	c.want(http.StatusUnauthorized, "GET", "/v1/me", "", nil)
	c.want(http.StatusUnauthorized, "GET", "/v1/users", "st_nonsense", nil)

	// First admin logs in with the one-time password and must change it.
	out := c.want(http.StatusOK, "POST", "/v1/login", "", map[string]string{"username": "admin", "password": init.Password})
	admin := out["token"].(string)
	if out["must_change_password"] != true || out["user"].(map[string]any)["username"] != "admin" || out["expires_at"] == nil {
		t.Fatalf("login reply %v", out)
	}
	out = c.want(http.StatusForbidden, "GET", "/v1/users", admin, nil)
	if !strings.Contains(out["error"].(string), "/v1/me/password") {
		t.Fatalf("must-change reply %v", out)
	}
	c.want(http.StatusOK, "GET", "/v1/me", admin, nil)
	c.want(http.StatusBadRequest, "POST", "/v1/me/password", admin, map[string]string{"old_password": init.Password, "new_password": "short"})
	c.want(http.StatusBadRequest, "POST", "/v1/me/password", admin, `{"old_password": "x", "new_password": "long enough pw", "extra": 1}`)
	c.want(http.StatusOK, "POST", "/v1/me/password", admin, map[string]string{"old_password": init.Password, "new_password": "the admin's own password"})
	c.want(http.StatusOK, "GET", "/v1/users", admin, nil)

	// Admin makes a park window and a cashier.
	if _, err := a.pool.Exec(t.Context(), `INSERT INTO parks (id, name, time_zone) VALUES ('p1', 'Park', 'UTC');
		INSERT INTO sales_points (id, park_id, name, kind) VALUES ('w1', 'p1', 'W1', 'window')`); err != nil {
		t.Fatal(err)
	}
	out = c.want(http.StatusCreated, "POST", "/v1/users", admin, map[string]any{
		"username": "cash1", "role": "cashier", "sales_point_id": "w1", "password": goodPassword})
	cashierID := int64(out["user"].(map[string]any)["id"].(float64))
	if _, ok := out["one_time_password"]; ok {
		t.Fatalf("one-time password with a given password: %v", out)
	}
	out = c.want(http.StatusBadRequest, "POST", "/v1/users", admin, map[string]any{"username": "x y", "role": "cashier"})
	if out["code"] != "bad_username" {
		t.Fatalf("bad username reply %v", out)
	}
	c.want(http.StatusConflict, "POST", "/v1/users", admin, map[string]any{
		"username": "cash1", "role": "finance", "password": goodPassword})

	// The cashier may not manage users: 403.
	out = c.want(http.StatusOK, "POST", "/v1/login", "", map[string]string{"username": "cash1", "password": goodPassword})
	cashier := out["token"].(string)
	c.want(http.StatusForbidden, "POST", "/v1/users", cashier, map[string]any{"username": "evil", "role": "admin"})
	c.want(http.StatusForbidden, "GET", "/v1/users", cashier, nil)
	me := c.want(http.StatusOK, "GET", "/v1/me", cashier, nil)
	if me["principal"].(map[string]any)["sales_point_id"] != "w1" || me["user"].(map[string]any)["role"] != "cashier" {
		t.Fatalf("me %v", me)
	}

	// Three wrong passwords block this source for this username (401 each,
	// then 429 with Retry-After even for the right password); admin unlocks.
	for i := range 3 {
		status, out, _ := c.do("POST", "/v1/login", "", map[string]string{"username": "cash1", "password": "wrong password"})
		if status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %v", i, status, out)
		}
	}
	status, out, h := c.do("POST", "/v1/login", "", map[string]string{"username": "cash1", "password": goodPassword})
	if status != http.StatusTooManyRequests || out["code"] != "too_many_attempts" || h.Get("Retry-After") != "900" {
		t.Fatalf("blocked reply %d %v %v", status, out, h)
	}
	id := strconv.FormatInt(cashierID, 10)
	c.want(http.StatusOK, "POST", "/v1/users/"+id+"/unlock", admin, nil)
	c.want(http.StatusOK, "POST", "/v1/login", "", map[string]string{"username": "cash1", "password": goodPassword})
	c.want(http.StatusBadRequest, "POST", "/v1/users/abc/unlock", admin, nil)
	c.want(http.StatusNotFound, "POST", "/v1/users/999/unlock", admin, nil)

	// Reset password: a one-time password; disable/enable.
	out = c.want(http.StatusOK, "POST", "/v1/users/"+id+"/reset-password", admin, nil)
	if otp, _ := out["one_time_password"].(string); len(otp) < MinPasswordLength {
		t.Fatalf("reset reply %v", out)
	}
	c.want(http.StatusUnauthorized, "GET", "/v1/me", cashier, nil) // reset ended the session
	out = c.want(http.StatusOK, "POST", "/v1/users/"+id+"/disable", admin, nil)
	if out["user"].(map[string]any)["disabled"] != true {
		t.Fatalf("disable reply %v", out)
	}
	c.want(http.StatusOK, "POST", "/v1/users/"+id+"/enable", admin, nil)
	c.want(http.StatusOK, "POST", "/v1/users/"+id+"/logout-all", admin, nil)

	// Distributors and API keys.
	out = c.want(http.StatusCreated, "POST", "/v1/distributors", admin, map[string]string{"name": "Ctrip"})
	did := strconv.FormatInt(int64(out["distributor"].(map[string]any)["id"].(float64)), 10)
	out = c.want(http.StatusOK, "GET", "/v1/distributors", admin, nil)
	if len(out["distributors"].([]any)) != 1 {
		t.Fatalf("distributors %v", out)
	}
	out = c.want(http.StatusCreated, "POST", "/v1/distributors/"+did+"/api-keys", admin, nil)
	key := out["key"].(string)
	kid := strconv.FormatInt(int64(out["api_key"].(map[string]any)["id"].(float64)), 10)
	out = c.want(http.StatusOK, "GET", "/v1/distributors/"+did+"/api-keys", admin, nil)
	if b, _ := json.Marshal(out); strings.Contains(string(b), key) {
		t.Fatal("the key is listed")
	}
	me = c.want(http.StatusOK, "GET", "/v1/me", key, nil)
	if p := me["principal"].(map[string]any); p["role"] != "distributor" || p["api_key_id"] == nil || me["user"] != nil {
		t.Fatalf("me with a key %v", me)
	}
	c.want(http.StatusForbidden, "GET", "/v1/users", key, nil)
	c.want(http.StatusOK, "DELETE", "/v1/api-keys/"+kid, admin, nil)
	out = c.want(http.StatusUnauthorized, "GET", "/v1/me", key, nil)
	if !strings.Contains(out["error"].(string), "revoked") {
		t.Fatalf("revoked key reply %v", out)
	}

	// Logout ends the session; the session expires after 12 h anyway.
	c.want(http.StatusOK, "POST", "/v1/logout", admin, nil)
	c.want(http.StatusUnauthorized, "GET", "/v1/me", admin, nil)
	out = c.want(http.StatusOK, "POST", "/v1/login", "", map[string]string{"username": "admin", "password": "the admin's own password"})
	admin = out["token"].(string)
	clock.Advance(12 * time.Hour)
	out = c.want(http.StatusUnauthorized, "GET", "/v1/users", admin, nil)
	if !strings.Contains(out["error"].(string), "session expired") {
		t.Fatalf("expired reply %v", out)
	}

	// Bad login bodies.
	c.want(http.StatusBadRequest, "POST", "/v1/login", "", `{"username": "admin"}`)
	c.want(http.StatusBadRequest, "POST", "/v1/login", "", `{"username": "admin", "password": "x", "otp": 1}`)
	c.want(http.StatusBadRequest, "POST", "/v1/login", "", ``)
	c.want(http.StatusRequestEntityTooLarge, "POST", "/v1/login", "", `{"username": "`+strings.Repeat("a", 20000)+`"}`)
}

func TestHTTPLoginRateLimit(t *testing.T) {
	c, _, clock := newServer(t, 3)
	// A new username each time: the rate limit is per address, whatever
	// the username (the per-username throttle has its own tests).
	n := 0
	next := func() map[string]string {
		n++
		return map[string]string{"username": "nobody" + strconv.Itoa(n), "password": "whatever it is"}
	}
	for range 3 {
		c.want(http.StatusUnauthorized, "POST", "/v1/login", "", next())
	}
	body := next()
	status, out, h := c.do("POST", "/v1/login", "", body)
	if status != http.StatusTooManyRequests || out["code"] != "too_many_requests" || h.Get("Retry-After") != "2" {
		t.Fatalf("fourth login: %d %v Retry-After %q", status, out, h.Get("Retry-After"))
	}
	clock.Advance(2 * time.Second) // 30 a minute: one every 2 s
	c.want(http.StatusUnauthorized, "POST", "/v1/login", "", next())
	c.want(http.StatusTooManyRequests, "POST", "/v1/login", "", next())
}
