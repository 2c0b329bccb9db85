// Package console is the web console park staff use all day, served by the
// sales service at / (same origin, users, roles and sessions as the JSON
// API): the box office (cashier), the back office (admin), finance and the
// live gate view (operations), in Chinese and English.
//
// Pages are server-rendered html/template (escaping by the engine) with
// htmx, vendored under assets, for the few partial updates (a sale's
// result, a look-up, the gate view's polling). Everything is embedded; no
// CDN. The Content-Security-Policy allows scripts only from this origin,
// so there is no inline script and no on* attribute: the little JS there
// is lives in assets/app.js.
//
// Every handler is reached through route(), which authenticates the
// session cookie, checks the role on the server (a hidden button is not a
// check) and the CSRF token of every POST. Domain work goes through the
// same Go packages the JSON API uses (auth, catalog, orders, refund,
// lookup), so the rules are the API's.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/lookup"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Config wires the console to the sales service's parts.
type Config struct {
	Pool    *pgxpool.Pool
	Auth    *auth.API
	Orders  *orders.API
	Refund  *refund.API
	Lookup  *lookup.API
	Shifts  *shift.API
	Reports *report.API
	// Cluster reaches the park's gate cluster for the gate view and for
	// registering a gate's device (its token); see cluster.go.
	Cluster ClusterConfig
	// Secure marks cookies Secure (the service is served over TLS).
	Secure bool
	// PollEvery is how often the gate view refreshes.
	PollEvery time.Duration
	// CJKFont is the path of a TrueType font with Chinese glyphs that
	// printed tickets embed (see print.go); read at start. Missing (or
	// ""): tickets print in English, and the start logs it once.
	CJKFont string
	Clock   web.Clock
	Log     *slog.Logger
}

// DefaultCJKFont is Debian's fonts-droid-fallback (make deps installs it).
const DefaultCJKFont = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"

// maxFontBytes bounds the font read at start (DroidSansFallbackFull is 4 MB).
const maxFontBytes = 64 << 20

// DefaultConfig returns the defaults; set the parts.
func DefaultConfig() Config {
	return Config{PollEvery: 2 * time.Second, Clock: web.SystemClock{}, Log: slog.Default(),
		Cluster: ClusterConfig{Timeout: 2 * time.Second}, CJKFont: DefaultCJKFont}
}

// Validate reports what is missing.
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil || c.Auth == nil || c.Orders == nil || c.Refund == nil || c.Lookup == nil || c.Shifts == nil || c.Reports == nil {
		errs = append(errs, errors.New("console: pool, auth, orders, refund, lookup, shifts and reports are required"))
	}
	if c.PollEvery < 500*time.Millisecond {
		errs = append(errs, errors.New("console: PollEvery must be at least 500ms"))
	}
	if c.Clock == nil || c.Log == nil {
		errs = append(errs, errors.New("console: clock and logger are required"))
	}
	if c.Cluster.Timeout <= 0 {
		errs = append(errs, errors.New("console: cluster timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Console serves the web console.
type Console struct {
	cfg     Config
	pages   map[string]*template.Template
	mux     *http.ServeMux
	cluster *clusterClient
	audit   *audit.API // reads the audit log (no state of its own)
	cjkFont []byte     // Config.CJKFont's bytes; nil: none
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	acfg := audit.DefaultConfig()
	acfg.Pool, acfg.Log = cfg.Pool, cfg.Log
	auditAPI, err := audit.NewAPI(acfg)
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, mux: http.NewServeMux(), cluster: newClusterClient(cfg.Cluster), audit: auditAPI}
	c.cjkFont = loadFont(cfg.CJKFont, cfg.Log)
	if err := c.parse(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// loadFont reads the CJK font at path; nil, logged once, when there is
// none: printing goes on in English.
func loadFont(path string, log *slog.Logger) []byte {
	if path == "" {
		log.Warn("console: no CJK font configured: printed tickets are in English")
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		log.Warn("console: no CJK font: printed tickets are in English (Debian: apt-get install fonts-droid-fallback, or make deps)",
			"path", path, "err", err)
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFontBytes+1))
	if err == nil && len(b) > maxFontBytes {
		err = fmt.Errorf("larger than %d bytes", maxFontBytes)
	}
	if err == nil {
		err = checkFont(b)
	}
	if err != nil {
		log.Warn("console: the CJK font cannot be used: printed tickets are in English", "path", path, "err", err)
		return nil
	}
	return b
}

// ServeHTTP answers every console path with the security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	c.mux.ServeHTTP(w, r)
}

// Roles of the screens.
var (
	rolesBox     = []string{web.RoleCashier, web.RoleAdmin}
	rolesAdmin   = []string{web.RoleAdmin}
	rolesFinance = []string{web.RoleFinance, web.RoleAdmin}
	rolesOps     = []string{web.RoleGateOperator, web.RoleAdmin}
	rolesAny     = []string{web.RoleAdmin, web.RoleCashier, web.RoleFinance, web.RoleGateOperator}
)

func (c *Console) routes() {
	static, _ := fs.Sub(assetFS, "assets")
	files := http.FileServerFS(static)
	c.mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheFor(files)))
	c.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/assets/favicon.svg", http.StatusMovedPermanently)
	})
	c.mux.HandleFunc("GET /{$}", c.handleHome)
	c.mux.HandleFunc("GET /login", c.handleLoginPage)
	c.mux.HandleFunc("POST /login", c.handleLogin)
	c.mux.HandleFunc("POST /lang", c.handleLangAnon)
	c.mux.Handle("POST /logout", c.route(rolesAny, c.handleLogout))
	c.mux.Handle("POST /me/lang", c.route(rolesAny, c.handleLang))
	c.mux.HandleFunc("GET /password", c.handlePasswordPage)
	c.mux.HandleFunc("POST /password", c.handlePassword)

	c.boxRoutes()
	c.opsRoutes()
	c.adminRoutes()
	c.financeRoutes()

	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "err.not_found")
	})
}

// cacheFor lets browsers keep the embedded assets for an hour.
func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

func (c *Console) handleHome(w http.ResponseWriter, r *http.Request) {
	s, ok := c.session(w, r)
	if !ok {
		return
	}
	http.Redirect(w, r, homeOf(s.P.Role), http.StatusSeeOther)
}

// homeOf is the first screen of a role.
func homeOf(role string) string {
	switch role {
	case web.RoleCashier:
		return "/box"
	case web.RoleFinance:
		return "/finance"
	case web.RoleGateOperator:
		return "/ops"
	case web.RoleAdmin:
		return "/admin"
	}
	return "/login"
}

// navItem is a link of the top bar.
type navItem struct {
	Href, Label string
	Current     bool
}

func (c *Console) nav(s *sess, path string) []navItem {
	var out []navItem
	add := func(href, key string, roles []string) {
		for _, r := range roles {
			if r == s.P.Role {
				out = append(out, navItem{Href: href, Label: s.L.T(key), Current: strings.HasPrefix(path, href)})
				return
			}
		}
	}
	add("/box", "nav.box", rolesBox)
	add("/admin", "nav.admin", rolesAdmin)
	add("/finance", "nav.finance", rolesFinance)
	add("/ops", "nav.ops", rolesOps)
	return out
}

// page is what every template gets.
type page struct {
	L     *Locale
	S     *sess
	Title string
	Nav   []navItem
	CSRF  string
	Flash string
	Error string
	Data  any
	Poll  string // the gate view's refresh, "2s"
	Back  string // where the language switch returns: this page, if it is one to GET
}

// render writes the named page (a full page, or its "body" alone for an
// htmx request that targets the main area).
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *sess, status int, name, titleKey string, data any, flash, errMsg string) {
	t, ok := c.pages[name]
	if !ok {
		c.cfg.Log.Error("console: no such template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pg := page{L: s.L, S: s, Title: s.L.T(titleKey), Data: data, Flash: flash, Error: errMsg,
		Poll: fmt.Sprintf("%ds", int(c.cfg.PollEvery/time.Second))}
	if s.P.Role != "" {
		pg.Nav = c.nav(s, r.URL.Path)
		pg.CSRF = s.CSRF
		pg.Back = homeOf(s.P.Role)
		if r.Method == http.MethodGet {
			pg.Back = r.URL.RequestURI()
		}
	}
	exec := "layout"
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") != "" {
		exec = "body"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, exec, pg); err != nil {
		c.cfg.Log.Warn("console: render", "page", name, "err", err)
	}
}

// fragment writes one named template of a page (an htmx swap).
func (c *Console) fragment(w http.ResponseWriter, s *sess, status int, name, block string, data any) {
	t := c.pages[name]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	pg := page{L: s.L, S: s, CSRF: s.CSRF, Data: data}
	if err := t.ExecuteTemplate(w, block, pg); err != nil {
		c.cfg.Log.Warn("console: render fragment", "page", name, "block", block, "err", err)
	}
}

// fail answers an error page with a message from the catalogue.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, key string) {
	s := c.anonSession(r)
	if cur, ok := c.peek(r); ok {
		s = cur
	}
	c.render(w, r, s, status, "error", "title.error", nil, "", s.L.T(key))
}

// errText is what a user is shown for err: the catalogue's text for its
// code when there is one, else the domain's own message; an outage is
// never shown in detail.
func (c *Console) errText(l *Locale, err error) string {
	var p *web.Problem
	if errors.As(err, &p) {
		if t, ok := l.Lookup("err." + p.Code); ok {
			return t
		}
		return p.Msg
	}
	if web.Unavailable(err) {
		return l.T("err.unavailable")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return l.T("err.timeout")
	}
	c.cfg.Log.Warn("console: unexpected error", "err", err)
	return l.T("err.internal")
}

// errStatus is the HTTP status of a domain error.
func errStatus(err error) int {
	var p *web.Problem
	if errors.As(err, &p) && p.Status >= 400 {
		return p.Status
	}
	if errors.Is(err, web.ErrForbidden) {
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}
