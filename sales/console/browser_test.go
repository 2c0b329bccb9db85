package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/console"
	"github.com/admitpark/admit/sales/demo"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/server"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// park is the whole thing the console runs on in these tests: a real
// 3-node gate cluster, PostgreSQL with the demo park, and the sales
// service (with sync) serving the console.
type park struct {
	cluster *gatetest.Park
	srv     *server.Server
	base    string
	admin   string // the first admin's one-time password
}

const (
	financePassword = "the-finance-long-password"
	gatesPassword   = "the-gate-operators-long-password"
)

func startPark(t *testing.T) *park {
	t.Helper()
	g := gatetest.New(t, gatetest.Options{MaxBodyBytes: 64 << 10})
	dsn := pgtest.NewDSN(t)
	kek, err := keys.NewKEK(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := server.DefaultConfig()
	cfg.DSN, cfg.HTTPAddr, cfg.Migrate, cfg.Sync = dsn, "127.0.0.1:0", true, true
	cfg.ClusterURLs, cfg.ClusterToken, cfg.ClusterPark = g.ClusterURLs(), gatetest.AdminToken, demo.Park
	cfg.HolderSecret, cfg.KEK = bytes.Repeat([]byte("s"), 32), kek
	cfg.Registerer, cfg.Gatherer = reg, reg
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("closing sales: %v", err)
		}
	})
	// As `make run` sets it up: the first admin, the demo park, its
	// cashier; and a finance user.
	acfg := auth.DefaultConfig()
	acfg.Pool = srv.Pool
	a, err := auth.NewAPI(acfg)
	if err != nil {
		t.Fatal(err)
	}
	ini, err := a.Init(t.Context())
	if err != nil || !ini.Created {
		t.Fatalf("auth init: %+v %v", ini, err)
	}
	if _, err := demo.Setup(t.Context(), dsn); err != nil {
		t.Fatal(err)
	}
	var adminID int64
	if err := srv.Pool.QueryRow(t.Context(), `SELECT id FROM users WHERE username = 'admin'`).Scan(&adminID); err != nil {
		t.Fatal(err)
	}
	for _, u := range []auth.NewUser{{Username: "finance", Role: web.RoleFinance, Password: financePassword},
		{Username: "gates", Role: web.RoleGateOperator, Password: gatesPassword}} {
		if _, _, err := a.CreateUser(t.Context(), web.Principal{UserID: adminID, Role: web.RoleAdmin, Username: "admin"}, u); err != nil {
			t.Fatal(err)
		}
	}
	return &park{cluster: g, srv: srv, base: "http://" + srv.Addr(), admin: ini.Password}
}

// tab is one browser tab with its own cookies, and what its pages wrote
// to the console.
type tab struct {
	t       *testing.T
	ctx     context.Context
	base    string
	shots   string
	mu      gosync.Mutex
	console []chromedp.ConsoleMessage
	// allowed are the errors a step expects: "path status" of a page the
	// test opens to see it refused.
	allowed []string
}

// browser starts headless Chromium (Debian's chromium; make deps
// installs it) at 1366x768, the box office's screen.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is needed for the console's browser tests: `make deps` installs it (apt-get install chromium)")
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(path), chromedp.Headless, chromedp.DisableGPU,
		chromedp.NoSandbox, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.WindowSize(1366, 768),
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("lang", "en-US"))
	t.Cleanup(cancel)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func screenshotDir(t *testing.T) string {
	if d := os.Getenv("ADMIT_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// newTab opens a tab in a browser context of its own (its own cookies).
func newTab(t *testing.T, b context.Context, base, shots string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	tb := &tab{t: t, ctx: ctx, base: base, shots: shots}
	msgs := chromedp.Console(ctx)
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m, err := range msgs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m)
			tb.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancelT()
		cancel()
		wg.Wait()
		tb.checkConsole()
	})
	return tb
}

// checkConsole fails for any error or exception a page logged, but the
// refusals a step asked for.
func (tb *tab) checkConsole() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, m := range tb.console {
		if m.Type != chromedp.ConsoleError && !m.IsException() {
			continue
		}
		u, _ := url.Parse(m.URL)
		ok := false
		for _, a := range tb.allowed {
			path, status, _ := strings.Cut(a, " ")
			ok = ok || (u != nil && u.Path == path && strings.Contains(m.Text, "status of "+status))
		}
		if !ok {
			tb.t.Errorf("console %s at %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text)
		}
	}
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (tb *tab) eval(js string, out any) {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", js, err)
	}
	if err := json.Unmarshal(v, out); err != nil {
		tb.t.Fatalf("evaluate %s: %v (%s)", js, err, v)
	}
}

// waitFor polls a JS condition in the page.
func (tb *tab) waitFor(cond string, d time.Duration) {
	tb.t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(d))); err != nil {
		tb.t.Fatalf("waiting for %s: %v", cond, err)
	}
}

// key types keys into whatever has the focus, as a person would.
func (tb *tab) key(keys string) { tb.do(chromedp.KeyEvent(keys)) }

// navigateBy runs an action that loads a new page (a key that submits a
// form, a click) and waits for that page's load event.
func (tb *tab) navigateBy(action chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, action)); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *tab) shot(name string) {
	tb.t.Helper()
	b, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(tb.shots, name+".png"), b, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *tab) login(user, password string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base+"/login"), chromedp.WaitVisible(chromedp.ID("username")))
	tb.do(chromedp.SendKeys(chromedp.ID("username"), user), chromedp.SendKeys(chromedp.ID("password"), password))
	tb.navigateBy(chromedp.KeyEvent("\r"))
}

// fetch asks the page to fetch path with its session (as a click on a
// link does) and returns the status, type and body.
func (tb *tab) fetch(path string) (int, string, []byte) {
	tb.t.Helper()
	var res struct {
		Status int
		Type   string
		B64    string
	}
	tb.eval(fmt.Sprintf(`(async () => { const r = await fetch(%q); const b = new Uint8Array(await r.arrayBuffer());
		let s = ""; for (const x of b) s += String.fromCharCode(x);
		return {Status: r.status, Type: r.headers.get("content-type"), B64: btoa(s)}; })()`, path), &res)
	body, err := base64.StdEncoding.DecodeString(res.B64)
	if err != nil {
		tb.t.Fatal(err)
	}
	return res.Status, res.Type, body
}

// TestConsoleInABrowser works a cashier's day, a finance check, an
// admin's set-up and the gate view in headless Chromium against the real
// services.
func TestConsoleInABrowser(t *testing.T) {
	p := startPark(t)
	b := browser(t)
	shots := screenshotDir(t)
	ctx := t.Context()

	// The login page: Chinese unless the browser asks for English.
	cashier := newTab(t, b, p.base, shots)
	cashier.do(chromedp.Navigate(p.base + "/login"))
	if lang := cashier.text("h1"); lang == "" {
		t.Fatal("no login heading")
	}

	// 1. The cashier: log in, open a shift, two cash sales with change in
	// five keystrokes each ("1" the product, "200" the cash, Enter).
	cashier.login(demo.Cashier, demo.CashierPassword)
	cashier.waitFor(`document.activeElement && document.activeElement.id === "float"`, 5*time.Second)
	cashier.navigateBy(chromedp.KeyEvent("500\r"))
	if got := cashier.text("#shift"); !strings.Contains(got, "¥500.00") {
		t.Fatalf("shift panel after opening: %q", got)
	}
	var ticketIDs []string
	for sale := range 2 {
		cashier.waitFor(`document.activeElement && document.activeElement.name === "product"`, 5*time.Second)
		cashier.key("1")
		cashier.key("200")
		cashier.navigateBy(chromedp.KeyEvent("\r"))
		if got := cashier.text("#sale-change"); got != "¥20.00" {
			t.Fatalf("sale %d: change %q, want ¥20.00 (page: %s)", sale+1, got, cashier.text("main"))
		}
		var ids []string
		cashier.eval(`[...document.querySelectorAll("a[data-ticket]")].map(a => a.dataset.ticket)`, &ids)
		if len(ids) != 1 {
			t.Fatalf("sale %d: tickets %v", sale+1, ids)
		}
		ticketIDs = append(ticketIDs, ids[0])
	}
	cashier.shot("box-office")

	// 2. Print: the 80 mm PDF of the last sale holds a QR that decodes to
	// the ticket's code.
	var href string
	cashier.eval(`document.getElementById("print-80").getAttribute("href")`, &href)
	status, ctype, pdf := cashier.fetch(href)
	if status != 200 || ctype != "application/pdf" {
		t.Fatalf("print: %d %s", status, ctype)
	}
	codes, err := console.PDFQRCodes(pdf)
	if err != nil {
		t.Fatal(err)
	}
	var code string
	if err := p.srv.Pool.QueryRow(ctx, `SELECT code FROM tickets WHERE id = $1::uuid`, ticketIDs[1]).Scan(&code); err != nil {
		t.Fatal(err)
	}
	if len(codes) != 1 || codes[0] != code {
		t.Fatalf("printed QR decodes to %q, want the ticket's code %q", codes, code)
	}
	status, ctype, pdf = cashier.fetch(strings.Replace(href, "80mm", "a4", 1))
	if codes, err := console.PDFQRCodes(pdf); status != 200 || ctype != "application/pdf" || err != nil || len(codes) != 1 || codes[0] != code {
		t.Fatalf("A4 print: %d %s %q %v", status, ctype, codes, err)
	}

	// Look-up: a USB scanner types the code into the search box and Enter.
	cashier.do(chromedp.Navigate(p.base + "/box"))
	cashier.do(chromedp.Focus(chromedp.ID("q")))
	cashier.do(chromedp.SendKeys(chromedp.ID("q"), code))
	cashier.navigateBy(chromedp.KeyEvent("\r"))
	if loc, _ := chromedp.Run(cashier.ctx, chromedp.Location()); !strings.HasSuffix(loc, "/box/tickets/"+ticketIDs[1]) {
		t.Fatalf("scanning the code opened %s, want the ticket", loc)
	}
	var order string
	if err := p.srv.Pool.QueryRow(ctx, `SELECT o.number FROM orders o JOIN tickets t ON t.order_id = o.id WHERE t.id = $1::uuid`, ticketIDs[0]).Scan(&order); err != nil {
		t.Fatal(err)
	}
	cashier.do(chromedp.Navigate(p.base + "/box/lookup?q=" + order))
	if got := cashier.text("table"); !strings.Contains(got, ticketIDs[0][:8]) {
		t.Fatalf("look-up by order number: %q", got)
	}
	cashier.shot("lookup")

	// 3. Refund the first ticket: the fee is shown before confirming.
	cashier.do(chromedp.Navigate(p.base + "/box/tickets/" + ticketIDs[0]))
	if got := cashier.text("#refund .preview"); !strings.Contains(got, "¥18.00") || !strings.Contains(got, "¥162.00") {
		t.Fatalf("refund preview %q, want fee ¥18.00 and ¥162.00 back", got)
	}
	cashier.shot("ticket")
	cashier.navigateBy(chromedp.Click(chromedp.CSS("#refund button")))
	if got := cashier.text(".flash"); !strings.Contains(got, "¥162.00") {
		t.Fatalf("after the refund: %q (error: %s)", got, cashier.text("main"))
	}
	if got := cashier.text("h1 .status"); got != "refunded" {
		t.Errorf("ticket status after refund %q", got)
	}

	// A cashier opening an admin URL gets 403; a form posted without its
	// CSRF token is refused.
	cashier.allowed = append(cashier.allowed, "/admin 403", "/box/sell 403")
	resp, err := chromedp.Run(cashier.ctx, chromedp.NavigateResponse(p.base+"/admin"))
	if err != nil || resp.Status != http.StatusForbidden {
		t.Fatalf("cashier at /admin: %v %v, want 403", resp, err)
	}
	cashier.do(chromedp.Navigate(p.base + "/box"))
	cashier.eval(`(() => { document.querySelector('#sell input[name="csrf"]').remove(); return true })()`, new(bool))
	cashier.navigateBy(chromedp.Submit(chromedp.ID("sell")))
	if got := cashier.text(".error"); !strings.Contains(got, "expired or did not come from this console") {
		t.Fatalf("sale without its CSRF token: %q", got)
	}
	var sold int
	if err := p.srv.Pool.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&sold); err != nil || sold != 2 {
		t.Fatalf("orders after the refused post: %d %v, want 2", sold, err)
	}

	// A card sale: "1", F3 (card), the reference the terminal printed,
	// Enter; no change, and the shift expects it under card.
	cashier.do(chromedp.Navigate(p.base + "/box"))
	cashier.waitFor(`document.activeElement && document.activeElement.name === "product"`, 5*time.Second)
	cashier.key("1")
	cashier.key(kb.F3)
	cashier.waitFor(`document.activeElement && document.activeElement.id === "reference"`, 5*time.Second)
	cashier.key("631200000001")
	cashier.navigateBy(chromedp.KeyEvent("\r"))
	if got := cashier.text("#sale-reference"); got != "631200000001" {
		t.Fatalf("card sale: reference %q (page: %s)", got, cashier.text("main"))
	}
	var method, ref string
	if err := p.srv.Pool.QueryRow(ctx, `SELECT method, coalesce(terminal_ref, '') FROM payments ORDER BY id DESC LIMIT 1`).Scan(&method, &ref); err != nil ||
		method != "card" || ref != "631200000001" {
		t.Fatalf("the card sale's payment: %s %q %v", method, ref, err)
	}
	if got := cashier.text("#shift-expected-card"); got != "¥180.00" {
		t.Fatalf("the shift expects %q on the card terminal, want ¥180.00", got)
	}

	// 4. Close the shift with the cash and the card terminal's total
	// counted as expected.
	cashier.do(chromedp.Navigate(p.base + "/box"))
	expected := strings.TrimPrefix(cashier.text("#shift-expected-cash"), "¥")
	card := strings.TrimPrefix(cashier.text("#shift-expected-card"), "¥")
	cashier.do(chromedp.Click(chromedp.CSS("#shift summary")), chromedp.SendKeys(chromedp.ID("counted"), expected),
		chromedp.SendKeys(chromedp.ID("counted-card"), card))
	cashier.navigateBy(chromedp.KeyEvent("\r"))
	if got := cashier.text("main"); !strings.Contains(got, "Shift 1 closed") || !strings.Contains(got, "difference ¥0.00") {
		t.Fatalf("closing the shift: %q", got)
	}

	// The cashier's language: Chinese, stored for the user.
	cashier.navigateBy(chromedp.Click(chromedp.CSS(`form[action="/me/lang"] button`)))
	if got := cashier.text("#sell-h"); !strings.HasPrefix(got, "售票") {
		t.Fatalf("box office in Chinese: %q", got)
	}
	cashier.shot("box-office-zh")

	// 5. Finance: the revenue report shows the three sales and the refund;
	// the closed shift is confirmed.
	fin := newTab(t, b, p.base, shots)
	fin.login("finance", financePassword)
	fin.do(chromedp.WaitVisible(chromedp.ID("report-table")))
	foot := fin.text("#report-table tfoot")
	for _, want := range []string{"¥540.00", "¥162.00", "¥18.00"} {
		if !strings.Contains(foot, want) {
			t.Errorf("revenue totals %q lack %s", foot, want)
		}
	}
	fin.shot("finance")
	status, ctype, csv := fin.fetch(fin.base + "/finance/export?report=revenue&format=csv")
	if status != 200 || !strings.Contains(ctype, "csv") || !bytes.Contains(csv, []byte("54000")) {
		t.Errorf("CSV export: %d %s %q", status, ctype, csv)
	}
	fin.navigateBy(chromedp.Click(chromedp.CSS("#shifts button")))
	if got := fin.text(".flash"); !strings.Contains(got, "confirmed") {
		t.Errorf("confirming the shift: %q", got)
	}

	// 6. The admin: first login changes the one-time password, then a
	// product with a quota and a gate, which reaches the cluster.
	admin := newTab(t, b, p.base, shots)
	admin.login("admin", p.admin)
	const adminPassword = "the-admins-long-password"
	admin.do(chromedp.SendKeys(chromedp.ID("old_password"), p.admin), chromedp.SendKeys(chromedp.ID("new_password"), adminPassword),
		chromedp.SendKeys(chromedp.ID("new_password2"), adminPassword))
	admin.navigateBy(chromedp.KeyEvent("\r"))
	admin.do(chromedp.Click(chromedp.CSS("#products-h ~ details summary")))
	admin.do(chromedp.SendKeys(chromedp.ID("p-id"), "night-owl"), chromedp.SendKeys(chromedp.ID("p-name"), "Night owl ticket"),
		chromedp.SendKeys(chromedp.ID("p-price"), "88.50"), chromedp.SendKeys(chromedp.ID("p-quota"), "100"))
	admin.navigateBy(chromedp.Submit(chromedp.ID("new-product")))
	if got := admin.text(".flash"); !strings.Contains(got, "night-owl") {
		t.Fatalf("creating the product: %q (%s)", got, admin.text("main"))
	}
	var quota *int
	var price int64
	if err := p.srv.Pool.QueryRow(ctx, `SELECT daily_quota, price_minor FROM products WHERE id = 'night-owl'`).Scan(&quota, &price); err != nil ||
		quota == nil || *quota != 100 || price != 8850 {
		t.Fatalf("product night-owl: quota %v price %d %v", quota, price, err)
	}
	admin.do(chromedp.SendKeys(chromedp.ID("g-id"), "east-9"), chromedp.SetValue(chromedp.ID("g-zone"), "main"))
	admin.navigateBy(chromedp.Submit(chromedp.ID("new-gate")))
	gateToken := admin.text("#secret")
	if !strings.HasPrefix(gateToken, "gt_") {
		t.Fatalf("gate token shown %q (%s)", gateToken, admin.text("main"))
	}
	admin.shot("back-office")
	node := p.cluster.URL(p.cluster.H.Members[0])
	clustertest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		var gl gateapi.GatesResponse
		if err := getJSON(node+gateapi.PathGates, &gl); err != nil {
			return err
		}
		if !slices.ContainsFunc(gl.Gates, func(g gateapi.GateJSON) bool { return g.ID == "east-9" && g.Zone == "main" }) {
			return fmt.Errorf("gates %+v", gl.Gates)
		}
		return nil
	}, "gate east-9 on the cluster")

	// The audit log has the gate just made, by whom.
	admin.do(chromedp.Navigate(p.base + "/admin/audit?action=gate"))
	if got := admin.text("#audit tbody"); !strings.Contains(got, "gate.create") || !strings.Contains(got, "east-9") || !strings.Contains(got, "admin") {
		t.Errorf("audit log for gate: %q", got)
	}
	admin.shot("audit")

	// The admin's box office: look-up, refund, reprint; no cash sales.
	admin.do(chromedp.Navigate(p.base + "/box"))
	if got := admin.text("main"); !strings.Contains(got, "Cash sales are made by cashiers") {
		t.Errorf("admin's box office: %q", got)
	}

	// 7. The gate view shows a scan made through the gate API within a
	// few seconds, without reloading.
	admin.do(chromedp.Navigate(p.base + "/ops"))
	admin.waitFor(`!!document.querySelector('tr[data-gate="east-9"]')`, 5*time.Second)
	clustertest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		return getJSON(node+gateapi.PathTickets+ticketIDs[1], nil)
	}, "the sold ticket on the cluster")
	var sr gateapi.ScanResponse
	if err := postJSON(node+gateapi.PathScan, gateToken, gateapi.ScanRequest{Code: code, Gate: "east-9", ScanID: "east-9:000001", Direction: "in"}, &sr); err != nil || sr.Result != "admit" {
		t.Fatalf("scan: %+v %v", sr, err)
	}
	admin.eval(`(() => { window.__stay = 1; return true })()`, new(bool))
	admin.waitFor(`document.querySelector('tr[data-gate="east-9"] [data-scans]').textContent.trim() === "1" && window.__stay === 1`, 15*time.Second)
	admin.waitFor(`document.querySelector('li[data-zone="main"] [data-occupancy]').textContent.trim() === "1"`, 15*time.Second)
	admin.shot("gate-view")
	admin.navigateBy(chromedp.Click(chromedp.CSS(`form[action="/me/lang"] button`)))
	if got := admin.text("h1"); !strings.HasPrefix(got, "闸机监控") {
		t.Fatalf("gate view in Chinese: %q", got)
	}
	admin.waitFor(`!!document.querySelector('tr[data-gate="east-9"]')`, 5*time.Second)
	admin.shot("gate-view-zh")
	admin.do(chromedp.Navigate(p.base + "/admin"))
	admin.shot("back-office-zh")
	fin.navigateBy(chromedp.Click(chromedp.CSS(`form[action="/me/lang"] button`)))
	fin.do(chromedp.WaitVisible(chromedp.ID("report-table")))
	fin.shot("finance-zh")
}

func getJSON(u string, out any) error {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+gatetest.AdminToken)
	return doJSON(req, out)
}

func postJSON(u, token string, body, out any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return doJSON(req, out)
}

func doJSON(req *http.Request, out any) error {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
