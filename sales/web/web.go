// Package web holds what every sales API handler shares: JSON replies and
// errors (a database outage is 503 with Retry-After, never its details),
// strict request decoding with size limits and text checks (valid UTF-8, no
// control characters; see text.go), the authenticated principal in the
// request context, the client's source for throttling, role checks, and
// the clock.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"time"
)

// MaxBody is the default request body limit.
const MaxBody = 1 << 20

// Role names, as stored in users.role.
const (
	RoleAdmin        = "admin"
	RoleCashier      = "cashier"
	RoleGateOperator = "gate_operator"
	RoleFinance      = "finance"
	RoleDistributor  = "distributor"
)

// Principal is who is calling: a user with a session, or a distributor's
// API key.
type Principal struct {
	UserID        int64  `json:"user_id,omitempty"`
	Username      string `json:"username,omitempty"`
	Role          string `json:"role"`
	SalesPointID  string `json:"sales_point_id,omitempty"`
	DistributorID int64  `json:"distributor_id,omitempty"`
	APIKeyID      int64  `json:"api_key_id,omitempty"`
	RemoteAddr    string `json:"-"`
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller; ok is false for anonymous requests.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Authenticator turns a bearer token (session token or API key) into a
// principal.
type Authenticator interface {
	Authenticate(ctx context.Context, token, remoteAddr string) (Principal, error)
}

// ErrUnauthenticated: no or bad credentials (401). ErrForbidden: the caller
// may not do this (403).
var (
	ErrUnauthenticated = errors.New("not logged in")
	ErrForbidden       = errors.New("forbidden")
)

// Authenticated wraps h so that it runs only for a caller with a valid
// token; the principal is in the request context.
func Authenticated(a Authenticator, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := BearerToken(r)
		if token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="admit-sales"`)
			Error(w, http.StatusUnauthorized, "missing token: log in at POST /v1/login and send Authorization: Bearer <token>")
			return
		}
		p, err := a.Authenticate(r.Context(), token, RemoteAddr(r))
		switch {
		case err == nil:
		case errors.Is(err, ErrForbidden):
			Error(w, http.StatusForbidden, "%v", err)
			return
		case errors.Is(err, ErrUnauthenticated):
			Error(w, http.StatusUnauthorized, "%v", err)
			return
		case Unavailable(err):
			ServiceUnavailable(w)
			return
		default: // the database, not the caller: no details out
			Error(w, http.StatusInternalServerError, "cannot check the token right now; try again")
			return
		}
		h.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Require wraps h so that only the given roles reach it.
func Require(h http.HandlerFunc, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			Error(w, http.StatusUnauthorized, "not logged in")
			return
		}
		if !slices.Contains(roles, p.Role) {
			Error(w, http.StatusForbidden, "role %s may not do this (needs %v)", p.Role, roles)
			return
		}
		h(w, r)
	})
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) string {
	const p = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) > len(p) && (h[:len(p)] == p || h[:len(p)] == "bearer ") {
		return h[len(p):]
	}
	return ""
}

// RemoteAddr is the client address for the audit log.
func RemoteAddr(r *http.Request) string { return r.RemoteAddr }

// Source is where a request comes from, for throttling: the IP address of
// remoteAddr ("host:port" or a bare address) without the port, and for
// IPv6 its /64 (one subscriber's network). Anything else is returned as
// it is.
func Source(remoteAddr string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// ErrorBody is every error reply.
type ErrorBody struct {
	Error string `json:"error"`
}

// Error writes {"error": "..."} with status.
func Error(w http.ResponseWriter, status int, format string, args ...any) {
	JSON(w, status, ErrorBody{Error: fmt.Sprintf(format, args...)})
}

// Decode reads the body (at most max bytes; 0 means MaxBody) into v
// strictly: one JSON value, no unknown fields, and only acceptable text in
// its strings (see CheckJSONText and CheckText: valid UTF-8, no control
// characters, newlines and tabs only in fields tagged `text:"multiline"`).
// It writes the 4xx reply itself (400 naming the field for bad text) and
// returns false when the body is unusable.
func Decode(w http.ResponseWriter, r *http.Request, v any, max int64) bool {
	if max <= 0 {
		max = MaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			Error(w, http.StatusRequestEntityTooLarge, "request body too large: limit is %d bytes", max)
		} else {
			Error(w, http.StatusBadRequest, "read body: %v", err)
		}
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		Error(w, http.StatusBadRequest, "request body is empty; send a JSON object")
		return false
	}
	if err := DecodeBytes(body, v); err != nil {
		if te, ok := errText(err); ok {
			JSON(w, http.StatusBadRequest, ProblemBody{Error: "invalid text in the body: " + te.Error(), Code: "bad_text"})
			return false
		}
		Error(w, http.StatusBadRequest, "invalid JSON body: %v", err)
		return false
	}
	return true
}

// DecodeBytes is Decode's check of a body already read: one JSON value into
// v, no unknown fields, acceptable text (a *TextError otherwise).
func DecodeBytes(body []byte, v any) error {
	if err := CheckJSONText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one value")
	}
	return CheckText(v)
}

// Clock tells the time; tests inject one that they move by hand.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// Problem is an error a handler can turn into a 4xx reply: Status and a
// message for the caller. Domain packages return it (wrapped is fine) for
// refusals such as "sold out" or "role may not".
type Problem struct {
	Status int
	Code   string // machine-readable, e.g. quota_exhausted
	Msg    string
	// RetryAfter, when positive, is sent as the Retry-After header (whole
	// seconds, rounded up).
	RetryAfter time.Duration
}

func (p *Problem) Error() string { return p.Msg }

// Problemf builds a Problem.
func Problemf(status int, code, format string, args ...any) *Problem {
	return &Problem{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ProblemBody is the reply for a Problem: the error and its code.
type ProblemBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// Fail answers err: a Problem with its status, anything else with 500,
// whose details go to the log, not to the caller.
func Fail(w http.ResponseWriter, log *slog.Logger, err error) {
	var p *Problem
	if errors.As(err, &p) {
		if p.RetryAfter > 0 {
			SetRetryAfter(w, p.RetryAfter)
		}
		JSON(w, p.Status, ProblemBody{Error: p.Msg, Code: p.Code})
		return
	}
	if Unavailable(err) {
		if log != nil {
			log.Warn("request failed: the database is unavailable", "err", err)
		}
		ServiceUnavailable(w)
		return
	}
	if log != nil {
		log.Error("request failed", "err", err)
	}
	Error(w, http.StatusInternalServerError, "internal error; the server log has the details")
}
