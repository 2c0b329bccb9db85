package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/web"
)

// Authenticate implements web.Authenticator: a session token ("st_...")
// gives the user's principal, an API key ("ak_...") the distributor's
// (Role distributor, DistributorID, APIKeyID). Refusals wrap
// web.ErrUnauthenticated (401) and a sentinel (ErrSessionExpired,
// ErrUnknownToken, ErrKeyRevoked, ErrDisabled). A user who must change
// their password is refused with web.ErrForbidden (403) and
// ErrMustChangePassword everywhere but GET /v1/me, POST /v1/me/password and
// POST /v1/logout.
func (a *API) Authenticate(ctx context.Context, token, remoteAddr string) (web.Principal, error) {
	return a.authenticate(ctx, token, remoteAddr, false)
}

// lenient is the authenticator of the routes a user with a one-time
// password may use.
type lenient struct{ a *API }

func (l lenient) Authenticate(ctx context.Context, token, remoteAddr string) (web.Principal, error) {
	return l.a.authenticate(ctx, token, remoteAddr, true)
}

func (a *API) authenticate(ctx context.Context, token, remoteAddr string, allowMustChange bool) (web.Principal, error) {
	switch {
	case strings.HasPrefix(token, SessionPrefix):
		return a.sessionPrincipal(ctx, token, remoteAddr, allowMustChange)
	case strings.HasPrefix(token, APIKeyPrefix):
		return a.keyPrincipal(ctx, token, remoteAddr)
	}
	return web.Principal{}, unauthenticated(ErrUnknownToken, "the token is neither a session token (st_...) nor an API key (ak_...)")
}

func (a *API) sessionPrincipal(ctx context.Context, token, remoteAddr string, allowMustChange bool) (web.Principal, error) {
	if !wellFormed(token, SessionPrefix) {
		return web.Principal{}, unauthenticated(ErrUnknownToken, "malformed session token")
	}
	var expires time.Time
	var u User
	err := a.pool.QueryRow(ctx, `SELECT s.expires_at, u.id, u.username, u.role, coalesce(u.sales_point_id, ''),
			coalesce(u.distributor_id, 0), u.disabled, u.must_change_password
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1`, hashToken(token)).
		Scan(&expires, &u.ID, &u.Username, &u.Role, &u.SalesPointID, &u.DistributorID, &u.Disabled, &u.MustChangePassword)
	if errors.Is(err, pgx.ErrNoRows) {
		return web.Principal{}, unauthenticated(ErrUnknownToken, "unknown or logged-out session; log in at POST /v1/login")
	}
	if err != nil {
		return web.Principal{}, fmt.Errorf("auth: look up session: %w", err)
	}
	if !expires.After(a.now()) {
		return web.Principal{}, unauthenticated(ErrSessionExpired, "session expired at %s; log in again at POST /v1/login",
			expires.UTC().Format(time.RFC3339))
	}
	if u.Disabled {
		return web.Principal{}, unauthenticated(ErrDisabled, "account %q is disabled", u.Username)
	}
	if u.MustChangePassword && !allowMustChange {
		return web.Principal{}, forbidden(ErrMustChangePassword, "you must change your one-time password first: POST /v1/me/password")
	}
	return principalOf(u, remoteAddr), nil
}

func (a *API) keyPrincipal(ctx context.Context, token, remoteAddr string) (web.Principal, error) {
	if !wellFormed(token, APIKeyPrefix) {
		return web.Principal{}, unauthenticated(ErrUnknownToken, "malformed API key")
	}
	var id, distributorID int64
	var prefix string
	var revoked *time.Time
	var active bool
	err := a.pool.QueryRow(ctx, `SELECT k.id, k.distributor_id, k.prefix, k.revoked_at, d.active
		FROM api_keys k JOIN distributors d ON d.id = k.distributor_id WHERE k.key_hash = $1`, hashToken(token)).
		Scan(&id, &distributorID, &prefix, &revoked, &active)
	if errors.Is(err, pgx.ErrNoRows) {
		return web.Principal{}, unauthenticated(ErrUnknownToken, "unknown API key")
	}
	if err != nil {
		return web.Principal{}, fmt.Errorf("auth: look up API key: %w", err)
	}
	if revoked != nil {
		return web.Principal{}, unauthenticated(ErrKeyRevoked, "API key %s… was revoked at %s", prefix, revoked.UTC().Format(time.RFC3339))
	}
	if !active {
		return web.Principal{}, unauthenticated(ErrDisabled, "distributor %d is inactive", distributorID)
	}
	return web.Principal{Role: web.RoleDistributor, DistributorID: distributorID, APIKeyID: id, RemoteAddr: remoteAddr}, nil
}
