package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/web"
)

// Cookies. The session cookie holds the same session token POST /v1/login
// gives (auth's sessions table, its expiry and lockout rules); with TLS it
// takes the __Host- prefix (Secure, Path=/, no Domain).
const (
	cookieSession = "admit_session"
	cookieLang    = "admit_lang"
	cookieLogin   = "admit_login_csrf" // the login form's double-submit token
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
	maxForm       = 64 << 10
)

// sess is the caller of a console request.
type sess struct {
	P     web.Principal
	Token string
	CSRF  string
	L     *Locale
}

func (c *Console) cookieName(base string) string {
	if c.cfg.Secure {
		return "__Host-" + base
	}
	return base
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, expires time.Time, httpOnly bool) {
	ck := &http.Cookie{Name: c.cookieName(name), Value: value, Path: "/", HttpOnly: httpOnly,
		Secure: c.cfg.Secure, SameSite: http.SameSiteStrictMode}
	if expires.IsZero() {
		ck.MaxAge = -1
	} else {
		ck.Expires = expires
	}
	http.SetCookie(w, ck)
}

func (c *Console) cookie(r *http.Request, name string) string {
	ck, err := r.Cookie(c.cookieName(name))
	if err != nil {
		return ""
	}
	return ck.Value
}

// csrfFor binds a CSRF token to a session: HMAC-SHA256 keyed by the
// session token, which only the HttpOnly cookie holds. Nothing to store,
// and it survives a restart of the service.
func csrfFor(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("admit console csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// anonSession is the caller before login: their language from the cookie
// or the browser.
func (c *Console) anonSession(r *http.Request) *sess {
	return &sess{L: c.localeFor(r, "")}
}

func (c *Console) localeFor(r *http.Request, stored string) *Locale {
	if stored != "" {
		return locale(stored)
	}
	if l := c.cookie(r, cookieLang); l != "" {
		return locale(l)
	}
	al := strings.ToLower(r.Header.Get("Accept-Language"))
	if strings.HasPrefix(al, "en") {
		return locale("en")
	}
	return locale("zh-CN")
}

// peek returns the caller's session when the cookie holds a valid one.
func (c *Console) peek(r *http.Request) (*sess, bool) {
	tok := c.cookie(r, cookieSession)
	if tok == "" {
		return nil, false
	}
	p, err := c.cfg.Auth.Authenticate(r.Context(), tok, web.RemoteAddr(r))
	if err != nil {
		return nil, false
	}
	return c.sessOf(r, p, tok), true
}

func (c *Console) sessOf(r *http.Request, p web.Principal, tok string) *sess {
	stored, err := c.cfg.Auth.Locale(r.Context(), p.UserID)
	if err != nil {
		c.cfg.Log.Warn("console: read locale", "user", p.UserID, "err", err)
	}
	return &sess{P: p, Token: tok, CSRF: csrfFor(tok), L: c.localeFor(r, stored)}
}

// session authenticates the cookie; when it cannot it answers itself (to
// the login page with why, or the password change) and returns false.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (*sess, bool) {
	tok := c.cookie(r, cookieSession)
	if tok == "" {
		c.toLogin(w, r, "")
		return nil, false
	}
	p, err := c.cfg.Auth.Authenticate(r.Context(), tok, web.RemoteAddr(r))
	switch {
	case err == nil:
		return c.sessOf(r, p, tok), true
	case errors.Is(err, auth.ErrMustChangePassword):
		c.redirect(w, r, "/password")
	case errors.Is(err, auth.ErrSessionExpired):
		c.setCookie(w, cookieSession, "", time.Time{}, true)
		c.toLogin(w, r, "expired")
	case errors.Is(err, auth.ErrDisabled):
		c.setCookie(w, cookieSession, "", time.Time{}, true)
		c.toLogin(w, r, "disabled")
	case errors.Is(err, web.ErrUnauthenticated):
		c.setCookie(w, cookieSession, "", time.Time{}, true)
		c.toLogin(w, r, "ended")
	default:
		c.render(w, r, c.anonSession(r), errStatus(err), "error", "title.error", nil, "", c.errText(c.anonSession(r).L, err))
	}
	return nil, false
}

// redirect sends the browser to path, also from an htmx request (which
// would otherwise swap the target page into a fragment).
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, path string) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", path)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

func (c *Console) toLogin(w http.ResponseWriter, r *http.Request, why string) {
	q := url.Values{}
	if why != "" {
		q.Set("m", why)
	}
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		q.Set("next", r.URL.RequestURI())
	}
	target := "/login"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	c.redirect(w, r, target)
}

// route guards h: a valid session, one of roles (else 403), and on POST
// the session's CSRF token in the form or the X-CSRF-Token header (else
// 403). The form is parsed (at most maxForm bytes).
func (c *Console) route(roles []string, h func(http.ResponseWriter, *http.Request, *sess)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.session(w, r)
		if !ok {
			return
		}
		if !slices.Contains(roles, s.P.Role) {
			c.render(w, r, s, http.StatusForbidden, "error", "title.forbidden", nil, "", s.L.T("err.forbidden_role"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				c.render(w, r, s, http.StatusBadRequest, "error", "title.error", nil, "", s.L.T("err.bad_form"))
				return
			}
			tok := r.PostForm.Get(csrfField)
			if tok == "" {
				tok = r.Header.Get(csrfHeader)
			}
			if !sameToken(tok, s.CSRF) {
				c.render(w, r, s, http.StatusForbidden, "error", "title.forbidden", nil, "", s.L.T("err.csrf"))
				return
			}
		}
		h(w, r, s)
	})
}

// loginData is the login page.
type loginData struct {
	Username, Next, Token string
	Message               string
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	s := c.anonSession(r)
	c.loginPage(w, r, s, http.StatusOK, r.URL.Query().Get("next"), "", loginMessage(s.L, r.URL.Query().Get("m")))
}

func loginMessage(l *Locale, m string) string {
	switch m {
	case "expired", "ended", "disabled", "logged_out", "password_changed":
		return l.T("login." + m)
	}
	return ""
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request, s *sess, status int, next, user, errMsg string) {
	tok := randomToken()
	c.setCookie(w, cookieLogin, tok, c.cfg.Clock.Now().Add(time.Hour), true)
	d := loginData{Username: user, Next: safeNext(next), Token: tok}
	msg := ""
	if errMsg == "" {
		msg = loginMessage(s.L, r.URL.Query().Get("m"))
	}
	c.render(w, r, s, status, "login", "title.login", d, msg, errMsg)
}

// safeNext keeps a post-login target on this site.
func safeNext(n string) string {
	if n == "" || !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.HasPrefix(n, "/\\") {
		return ""
	}
	return n
}

func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	s := c.anonSession(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.loginPage(w, r, s, http.StatusBadRequest, "", "", s.L.T("err.bad_form"))
		return
	}
	next, user := r.PostForm.Get("next"), r.PostForm.Get("username")
	if !sameToken(r.PostForm.Get(csrfField), c.cookie(r, cookieLogin)) {
		c.loginPage(w, r, s, http.StatusForbidden, next, user, s.L.T("err.csrf"))
		return
	}
	res, err := c.cfg.Auth.LoginFrom(r.Context(), user, r.PostForm.Get("password"), web.RemoteAddr(r))
	if err != nil {
		var p *web.Problem
		msg := c.errText(s.L, err)
		if errors.As(err, &p) && p.RetryAfter > 0 {
			web.SetRetryAfter(w, p.RetryAfter)
			msg = s.L.T("err.locked_out", int(p.RetryAfter.Round(time.Second)/time.Second))
		}
		c.loginPage(w, r, s, errStatus(err), next, user, msg)
		return
	}
	c.setCookie(w, cookieLogin, "", time.Time{}, true)
	c.setCookie(w, cookieSession, res.Token, res.ExpiresAt, true)
	if res.MustChangePassword {
		http.Redirect(w, r, "/password", http.StatusSeeOther)
		return
	}
	// A first login keeps the language chosen on the login page.
	if stored, err := c.cfg.Auth.Locale(r.Context(), res.User.ID); err == nil && stored == "" {
		p := web.Principal{UserID: res.User.ID, Role: res.User.Role}
		if err := c.cfg.Auth.SetLocale(r.Context(), p, s.L.Code); err != nil {
			c.cfg.Log.Warn("console: store locale", "err", err)
		}
	}
	target := safeNext(next)
	if target == "" {
		target = homeOf(res.User.Role)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (c *Console) handleLogout(w http.ResponseWriter, r *http.Request, s *sess) {
	if err := c.cfg.Auth.Logout(r.Context(), s.P, s.Token); err != nil && !errors.Is(err, auth.ErrUnknownToken) {
		c.cfg.Log.Warn("console: logout", "err", err)
	}
	c.setCookie(w, cookieSession, "", time.Time{}, true)
	c.redirect(w, r, "/login?m=logged_out")
}

// handleLang stores the user's language and returns to where they were.
func (c *Console) handleLang(w http.ResponseWriter, r *http.Request, s *sess) {
	l := r.PostForm.Get("lang")
	if err := c.cfg.Auth.SetLocale(r.Context(), s.P, l); err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	c.setCookie(w, cookieLang, l, c.cfg.Clock.Now().AddDate(1, 0, 0), true)
	back := safeNext(r.PostForm.Get("back"))
	if back == "" {
		back = homeOf(s.P.Role)
	}
	c.redirect(w, r, back)
}

// handleLangAnon switches the login page's language (a cookie; the
// user's own choice is stored at login).
func (c *Console) handleLangAnon(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	l := r.PostForm.Get("lang")
	if !sameToken(r.PostForm.Get(csrfField), c.cookie(r, cookieLogin)) || (l != "en" && l != "zh-CN") {
		c.fail(w, r, http.StatusForbidden, "err.csrf")
		return
	}
	c.setCookie(w, cookieLang, l, c.cfg.Clock.Now().AddDate(1, 0, 0), true)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// The one-time password is changed here before anything else; the session
// is authenticated leniently (auth.AuthenticateLenient), as for
// POST /v1/me/password.
func (c *Console) passwordSession(w http.ResponseWriter, r *http.Request) (*sess, bool) {
	tok := c.cookie(r, cookieSession)
	if tok == "" {
		c.toLogin(w, r, "")
		return nil, false
	}
	p, err := c.cfg.Auth.AuthenticateLenient(r.Context(), tok, web.RemoteAddr(r))
	if err != nil {
		c.setCookie(w, cookieSession, "", time.Time{}, true)
		c.toLogin(w, r, "ended")
		return nil, false
	}
	return c.sessOf(r, p, tok), true
}

func (c *Console) handlePasswordPage(w http.ResponseWriter, r *http.Request) {
	s, ok := c.passwordSession(w, r)
	if !ok {
		return
	}
	c.render(w, r, s, http.StatusOK, "password", "title.password", nil, "", "")
}

func (c *Console) handlePassword(w http.ResponseWriter, r *http.Request) {
	s, ok := c.passwordSession(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || !sameToken(r.PostForm.Get(csrfField), s.CSRF) {
		c.render(w, r, s, http.StatusForbidden, "error", "title.forbidden", nil, "", s.L.T("err.csrf"))
		return
	}
	if r.PostForm.Get("new_password") != r.PostForm.Get("new_password2") {
		c.render(w, r, s, http.StatusBadRequest, "password", "title.password", nil, "", s.L.T("err.password_mismatch"))
		return
	}
	if _, err := c.cfg.Auth.ChangePassword(r.Context(), s.P, s.Token, r.PostForm.Get("old_password"), r.PostForm.Get("new_password")); err != nil {
		c.render(w, r, s, errStatus(err), "password", "title.password", nil, "", c.errText(s.L, err))
		return
	}
	http.Redirect(w, r, homeOf(s.P.Role), http.StatusSeeOther)
}
