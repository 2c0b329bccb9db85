package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/admitpark/admit/sales/console"
	"github.com/admitpark/admit/sales/demo"
)

// htmlClient is a browser-like HTTP client: cookies, English, no
// automatic redirects (the test follows them to see where they go).
type htmlClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newHTMLClient(t *testing.T, base string) *htmlClient {
	jar, _ := cookiejar.New(nil)
	return &htmlClient{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (h *htmlClient) do(method, path string, form url.Values) (int, string, string) {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, h.base+path, body)
	req.Header.Set("Accept-Language", "en")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (h *htmlClient) loginForm() url.Values {
	h.t.Helper()
	_, _, page := h.do("GET", "/login", nil)
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		h.t.Fatalf("no CSRF token on the login page")
	}
	return url.Values{"csrf": {m[1]}}
}

// TestConsoleSessions: the lockout after wrong passwords and the expiry of
// a session are told in words, and the cookie is what the issue asks.
func TestConsoleSessions(t *testing.T) {
	p := startPark(t)

	resp, err := http.Get(p.base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q", csp)
	}

	h := newHTMLClient(t, p.base)
	form := h.loginForm()
	form.Set("username", demo.Cashier)
	form.Set("password", "not-the-password")
	var status int
	var page string
	for range 5 {
		if status, _, page = h.do("POST", "/login", form); status == http.StatusTooManyRequests {
			break
		}
		if status != http.StatusUnauthorized || !strings.Contains(page, "Wrong username or password.") {
			t.Fatalf("wrong password: %d %s", status, page)
		}
		form.Set("csrf", csrfRe.FindStringSubmatch(page)[1]) // each rendering of the form has its token
	}
	if status != http.StatusTooManyRequests || !strings.Contains(page, "Too many") {
		t.Fatalf("after wrong passwords: %d, want 429 with a lockout message: %s", status, page)
	}

	// A login from another client: the cookie, then an expired session.
	h = newHTMLClient(t, p.base)
	form = h.loginForm()
	form.Set("username", "finance")
	form.Set("password", financePassword)
	req, _ := http.NewRequest("POST", p.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	u, _ := url.Parse(p.base)
	for _, c := range h.c.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	resp, err = h.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "admit_session" {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure {
		t.Fatalf("login: %d, session cookie %+v (want HttpOnly, SameSite=Strict, not Secure over plain HTTP)", resp.StatusCode, session)
	}
	if status, _, _ := h.do("GET", "/finance", nil); status != http.StatusOK {
		t.Fatalf("finance after login: %d", status)
	}
	if _, err := p.srv.Pool.Exec(t.Context(), `UPDATE sessions SET expires_at = now() - interval '1 minute'
		WHERE user_id = (SELECT id FROM users WHERE username = 'finance')`); err != nil {
		t.Fatal(err)
	}
	status, loc, _ := h.do("GET", "/finance", nil)
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") || !strings.Contains(loc, "m=expired") {
		t.Fatalf("expired session: %d to %q", status, loc)
	}
	if _, _, page := h.do("GET", loc, nil); !strings.Contains(page, "Your session expired") {
		t.Errorf("login page after expiry says nothing of it: %s", page)
	}
	// GET /v1/ops/summary, the gate view's data, for a gate operator's
	// token; finance may not.
	for user, want := range map[string]int{"gates": http.StatusOK, "finance": http.StatusForbidden} {
		pw := map[string]string{"gates": gatesPassword, "finance": financePassword}[user]
		var login struct{ Token string }
		if err := postJSON(p.base+"/v1/login", "", map[string]string{"username": user, "password": pw}, &login); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", p.base+"/v1/ops/summary", nil)
		req.Header.Set("Authorization", "Bearer "+login.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var sum console.Summary
		json.NewDecoder(resp.Body).Decode(&sum)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: GET /v1/ops/summary %d, want %d", user, resp.StatusCode, want)
		}
		if want == http.StatusOK && (sum.ParkID != demo.Park || len(sum.Zones) != 2 || sum.Cluster.Leader == "" || len(sum.Gates) != 3) {
			t.Errorf("ops summary %+v", sum)
		}
	}
	// The API's JSON 404 stays for /v1 paths; the console's pages are HTML.
	if status, _, body := h.do("GET", "/v1/nothing-here", nil); status != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("GET /v1/nothing-here: %d %s", status, body)
	}
}
