package console_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/console"
	"github.com/admitpark/admit/sales/demo"
	"github.com/admitpark/admit/sales/web"
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
	form.Set("username", "nobody") // counted as any name is, so it says nothing of who exists
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
	// A real-name product sold by slot, through the box office form: the
	// holders, one a line, and the slot reach the order.
	admin := web.Principal{Role: web.RoleAdmin, Username: "admin"}
	if err := p.srv.Pool.QueryRow(t.Context(), `SELECT id FROM users WHERE username = 'admin'`).Scan(&admin.UserID); err != nil {
		t.Fatal(err)
	}
	var slot catalog.Slot
	err = pgx.BeginFunc(t.Context(), p.srv.Pool, func(tx pgx.Tx) error {
		in := catalog.NewProductInput()
		in.ID, in.ParkID, in.Name, in.Kind, in.PriceMinor, in.HasSlots, in.RealName = "vip-tour", demo.Park, "VIP tour", "single", 30000, true, true
		if _, err := catalog.CreateProduct(t.Context(), tx, admin, in); err != nil {
			return err
		}
		slot, err = catalog.CreateSlot(t.Context(), tx, admin, "vip-tour", catalog.SlotInput{Start: "14:00", End: "15:00", Capacity: 20})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	parkLoc, _ := time.LoadLocation(demo.TimeZone)
	tomorrow := time.Now().In(parkLoc).AddDate(0, 0, 1).Format(time.DateOnly)
	cash := newHTMLClient(t, p.base)
	form = cash.loginForm()
	form.Set("username", demo.Cashier)
	form.Set("password", demo.CashierPassword)
	if status, _, _ := cash.do("POST", "/login", form); status != http.StatusSeeOther {
		t.Fatalf("cashier login: %d", status)
	}
	_, _, box := cash.do("GET", "/box", nil)
	token := csrfRe.FindStringSubmatch(box)[1]
	if status, _, page := cash.do("POST", "/box/shift/open", url.Values{"csrf": {token}, "float": {"100"}}); status != http.StatusOK || !strings.Contains(page, "Shift") {
		t.Fatalf("open shift: %d", status)
	}
	sell := url.Values{"csrf": {token}, "product": {"vip-tour"}, "visit_date": {tomorrow}, "quantity": {"2"},
		"slot": {fmt.Sprint(slot.ID)}, "holders": {"张三，110101199003071233\nLi Si, 110101199003072113"}, "tendered": {"1000"}}
	for i, c := range []struct {
		qty  string
		want int
		text string
	}{{"3", http.StatusBadRequest, "one holder"}, {"2", http.StatusOK, "Sold: order"}} {
		sell.Set("quantity", c.qty)
		status, _, page := cash.do("POST", "/box/sell", sell)
		if status != c.want || !strings.Contains(page, c.text) {
			t.Fatalf("real-name sale %d: %d, want %d with %q: %s", i, status, c.want, c.text, page)
		}
	}
	var holders, slotted int
	if err := p.srv.Pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE holder_name <> ''), count(*) FILTER (WHERE slot_start IS NOT NULL)
		FROM tickets WHERE product_id = 'vip-tour'`).Scan(&holders, &slotted); err != nil || holders != 2 || slotted != 2 {
		t.Errorf("vip-tour tickets: %d with holders, %d with a slot, %v; want 2 and 2", holders, slotted, err)
	}

	// The API's JSON 404 stays for /v1 paths; the console's pages are HTML.
	if status, _, body := h.do("GET", "/v1/nothing-here", nil); status != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("GET /v1/nothing-here: %d %s", status, body)
	}
}
