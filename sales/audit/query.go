package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/web"
)

// Config is what the audit log reader needs.
type Config struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// MaxLimit bounds the entries one page holds; DefaultLimit is a page
	// without ?limit=.
	MaxLimit, DefaultLimit int
}

// DefaultConfig returns the defaults; Pool must be set.
func DefaultConfig() Config { return Config{Log: slog.Default(), MaxLimit: 1000, DefaultLimit: 100} }

// Validate checks the config.
func (c Config) Validate() error {
	if c.Pool == nil || c.Log == nil {
		return errors.New("audit: Config.Pool and Config.Log are required")
	}
	if c.DefaultLimit < 1 || c.MaxLimit < c.DefaultLimit {
		return errors.New("audit: need 1 <= DefaultLimit <= MaxLimit")
	}
	return nil
}

// API reads the audit log (GET /v1/audit).
type API struct{ cfg Config }

// NewAPI validates cfg.
func NewAPI(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &API{cfg: cfg}, nil
}

// Entry is one audit_log row.
type Entry struct {
	ID         int64           `json:"id"`
	At         time.Time       `json:"at"`
	UserID     *int64          `json:"user_id,omitempty"`
	Username   string          `json:"username,omitempty"`
	APIKeyID   *int64          `json:"api_key_id,omitempty"`
	Action     string          `json:"action"`
	ObjectType string          `json:"entity"`
	ObjectID   string          `json:"entity_id"`
	Details    json.RawMessage `json:"details"`
	RemoteAddr string          `json:"remote_addr,omitempty"`
}

// Filter selects entries; zero fields select everything. Pages go from
// the newest down: Before is the last id of the previous page.
type Filter struct {
	From, To time.Time // at in [From, To)
	UserID   int64
	Username string
	Action   string // exact, or a prefix ending in "." or "*" ("refund." or "refund.*")
	Entity   string
	EntityID string
	Before   int64
	Limit    int
}

// Page is one page of entries, newest first; Next is the Before of the
// next page, 0 on the last one.
type Page struct {
	Entries []Entry `json:"entries"`
	Next    int64   `json:"next,omitempty"`
}

// Query returns a page of the entries f selects.
func (a *API) Query(ctx context.Context, f Filter) (Page, error) {
	if f.Limit <= 0 {
		f.Limit = a.cfg.DefaultLimit
	}
	f.Limit = min(f.Limit, a.cfg.MaxLimit)
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if !f.From.IsZero() {
		where = append(where, "l.at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "l.at < "+arg(f.To))
	}
	if f.UserID != 0 {
		where = append(where, "l.user_id = "+arg(f.UserID))
	}
	if f.Username != "" {
		where = append(where, "l.user_id = (SELECT id FROM users WHERE username = "+arg(f.Username)+")")
	}
	if a, ok := strings.CutSuffix(f.Action, "*"); ok {
		where = append(where, "l.action LIKE "+arg(escapeLike(a)+"%"))
	} else if strings.HasSuffix(f.Action, ".") {
		where = append(where, "l.action LIKE "+arg(escapeLike(f.Action)+"%"))
	} else if f.Action != "" {
		where = append(where, "l.action = "+arg(f.Action))
	}
	if f.Entity != "" {
		where = append(where, "l.object_type = "+arg(f.Entity))
	}
	if f.EntityID != "" {
		where = append(where, "l.object_id = "+arg(f.EntityID))
	}
	if f.Before > 0 {
		where = append(where, "l.id < "+arg(f.Before))
	}
	sql := `SELECT l.id, l.at, l.user_id, coalesce(u.username, ''), l.api_key_id, l.action, l.object_type, l.object_id,
			l.details, l.remote_addr
		FROM audit_log l LEFT JOIN users u ON u.id = l.user_id`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY l.id DESC LIMIT " + arg(f.Limit+1)
	rows, err := a.cfg.Pool.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, err
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := row.Scan(&e.ID, &e.At, &e.UserID, &e.Username, &e.APIKeyID, &e.Action, &e.ObjectType, &e.ObjectID, &e.Details, &e.RemoteAddr)
		return e, err
	})
	if err != nil {
		return Page{}, err
	}
	p := Page{Entries: entries}
	if len(entries) > f.Limit {
		p.Entries = entries[:f.Limit]
		p.Next = p.Entries[f.Limit-1].ID
	}
	if p.Entries == nil {
		p.Entries = []Entry{}
	}
	return p, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Routes registers:
//
//	GET /v1/audit?from=&to=&user=&action=&entity=&entity_id=&before=&limit=   admin, finance
func (a *API) Routes(mux *http.ServeMux, authn web.Authenticator) {
	mux.Handle("GET /v1/audit", web.Authenticated(authn, web.Require(a.handleQuery, web.RoleAdmin, web.RoleFinance)))
}

var (
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:*-]{0,63}$`)
	entityRe = regexp.MustCompile(`^[^\x00-\x1f]{1,128}$`)
)

// ParseFilter reads the query of GET /v1/audit. Times are RFC 3339 or a
// date (UTC midnight; "to" a date means through that day).
func (a *API) ParseFilter(q map[string][]string) (Filter, error) {
	var f Filter
	bad := func(code, format string, args ...any) error {
		return web.Problemf(http.StatusBadRequest, code, format, args...)
	}
	for k, v := range q {
		if len(v) != 1 {
			return f, bad("bad_parameter", "parameter %q given %d times", k, len(v))
		}
		val := v[0]
		switch k {
		case "from", "to":
			t, err := time.Parse(time.RFC3339, val)
			if err != nil {
				d, derr := time.Parse(time.DateOnly, val)
				if derr != nil {
					return f, bad("bad_time", "%q must be an RFC 3339 time or a date YYYY-MM-DD, not %q", k, val)
				}
				t = d
				if k == "to" {
					t = d.AddDate(0, 0, 1)
				}
			}
			if k == "from" {
				f.From = t
			} else {
				f.To = t
			}
		case "user":
			if id, err := strconv.ParseInt(val, 10, 64); err == nil && id > 0 {
				f.UserID = id
			} else if nameRe.MatchString(val) {
				f.Username = val
			} else {
				return f, bad("bad_user", `"user" must be a user id or a username, not %q`, val)
			}
		case "action":
			if !nameRe.MatchString(val) {
				return f, bad("bad_action", `"action" must be an action like refund.complete or a prefix like refund.*, not %q`, val)
			}
			f.Action = val
		case "entity", "entity_id":
			if !entityRe.MatchString(val) {
				return f, bad("bad_entity", "%q must be 1-128 printable characters", k)
			}
			if k == "entity" {
				f.Entity = val
			} else {
				f.EntityID = val
			}
		case "before":
			id, err := strconv.ParseInt(val, 10, 64)
			if err != nil || id <= 0 {
				return f, bad("bad_before", `"before" must be an entry id (the "next" of the previous page)`)
			}
			f.Before = id
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > a.cfg.MaxLimit {
				return f, bad("bad_limit", `"limit" must be 1-%d`, a.cfg.MaxLimit)
			}
			f.Limit = n
		default:
			return f, bad("bad_parameter", "unknown parameter %q (from, to, user, action, entity, entity_id, before, limit)", k)
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, bad("bad_time", `"to" must be after "from"`)
	}
	return f, nil
}

func (a *API) handleQuery(w http.ResponseWriter, r *http.Request) {
	f, err := a.ParseFilter(r.URL.Query())
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	p, err := a.Query(r.Context(), f)
	if err != nil {
		web.Fail(w, a.cfg.Log, fmt.Errorf("audit query: %w", err))
		return
	}
	web.JSON(w, http.StatusOK, p)
}
