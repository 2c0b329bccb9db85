package auth

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/web"
)

// What the web console (sales/console) needs beyond the JSON API: the
// login behind the same per-address limit as POST /v1/login, the user's
// language, and editing a user.

// Locales are the console's languages (users.locale).
var Locales = []string{"zh-CN", "en"}

// LoginFrom is Login behind the per-address rate limit of POST /v1/login
// (the same buckets): a refusal there is ErrRateLimited, a 429 Problem
// with RetryAfter.
func (a *API) LoginFrom(ctx context.Context, username, password, remoteAddr string) (LoginResult, error) {
	if ok, wait := a.limiter.allow(remoteAddr, a.clock.Now()); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		p := web.Problemf(http.StatusTooManyRequests, "too_many_requests",
			"too many login attempts from this address; try again in %d s", secs)
		p.RetryAfter = wait
		return LoginResult{}, errors.Join(ErrRateLimited, p)
	}
	return a.Login(ctx, username, password, remoteAddr)
}

// Locale returns the user's language, "" when they have not chosen one.
func (a *API) Locale(ctx context.Context, userID int64) (string, error) {
	var loc *string
	err := a.pool.QueryRow(ctx, `SELECT locale FROM users WHERE id = $1`, userID).Scan(&loc)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("no_user", "no user %d", userID)
	}
	if err != nil || loc == nil {
		return "", err
	}
	return *loc, nil
}

// SetLocale stores the calling user's language (one of Locales).
func (a *API) SetLocale(ctx context.Context, by web.Principal, locale string) error {
	ok := false
	for _, l := range Locales {
		ok = ok || l == locale
	}
	if !ok {
		return invalid("bad_locale", "locale %q is not one of %v", clip(printable(locale), 20), Locales)
	}
	if by.UserID == 0 {
		return notFound("no_user", "this caller is an API key, not a user")
	}
	_, err := a.pool.Exec(ctx, `UPDATE users SET locale = $2 WHERE id = $1`, by.UserID, locale)
	return err
}

// UserChange is the body of PUT /v1/users/{id}: what an admin may change
// of a user. Nil fields are left as they are.
type UserChange struct {
	DisplayName  *string `json:"display_name,omitempty"`
	SalesPointID *string `json:"sales_point_id,omitempty"` // cashiers only
}

// UpdateUser changes a user's display name or (for a cashier) window
// (admin only).
func (a *API) UpdateUser(ctx context.Context, by web.Principal, id int64, c UserChange) (User, error) {
	return a.changeUser(ctx, by, id, "edit users", "user.update", func(tx pgx.Tx, u userRow) (map[string]any, error) {
		d := map[string]any{}
		if c.DisplayName != nil {
			n := strings.TrimSpace(*c.DisplayName)
			if utf8.RuneCountInString(n) > 200 || printable(n) != n {
				return nil, invalid("bad_display_name", "display_name must be at most 200 printable characters")
			}
			if _, err := tx.Exec(ctx, `UPDATE users SET display_name = $2, updated_at = $3 WHERE id = $1`, id, n, a.now()); err != nil {
				return nil, err
			}
			d["display_name"] = n
		}
		if c.SalesPointID != nil {
			sp := *c.SalesPointID
			switch {
			case u.Role != web.RoleCashier:
				return nil, invalid("sales_point_not_allowed", "only cashiers have a sales_point_id, not role %s", u.Role)
			case !salesPointRE.MatchString(sp):
				return nil, invalid("bad_sales_point", "sales_point_id %q is not a sales point id", clip(printable(sp), 80))
			}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sales_points WHERE id = $1)`, sp).Scan(&exists); err != nil {
				return nil, err
			}
			if !exists {
				return nil, invalid("unknown_sales_point", "no sales point %q", sp)
			}
			if _, err := tx.Exec(ctx, `UPDATE users SET sales_point_id = $2, updated_at = $3 WHERE id = $1`, id, sp, a.now()); err != nil {
				return nil, err
			}
			d["sales_point_id"] = sp
		}
		return d, nil
	})
}

func (a *API) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathID(w, r, "user")
	if !ok {
		return
	}
	var c UserChange
	if !web.Decode(w, r, &c, maxAuthBody) {
		return
	}
	p, _ := web.PrincipalFrom(r.Context())
	u, err := a.UpdateUser(r.Context(), p, id, c)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusOK, UserReply{User: u})
}

// AuthenticateLenient is Authenticate for the one page a user with a
// one-time password may use (the console's password change), as GET
// /v1/me and POST /v1/me/password are for the API.
func (a *API) AuthenticateLenient(ctx context.Context, token, remoteAddr string) (web.Principal, error) {
	return a.authenticate(ctx, token, remoteAddr, true)
}
