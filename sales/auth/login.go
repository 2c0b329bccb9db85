package auth

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// LoginResult is a new session. Token is shown only here.
type LoginResult struct {
	Token              string    `json:"token"`
	ExpiresAt          time.Time `json:"expires_at"`
	User               User      `json:"user"`
	MustChangePassword bool      `json:"must_change_password"`
}

func badCredentials() error {
	return problem(ErrBadCredentials, http.StatusUnauthorized, "bad_credentials", "wrong username or password")
}

// Login checks username and password and opens a session. Every refusal
// that could tell whether the username exists is the same for an unknown
// user and a wrong password, in status, body and work: ErrBadCredentials
// (401), after one password verification either way (unknown users check
// a dummy hash); ErrThrottled (429, with RetryAfter) while this source is
// blocked for this username (see throttle.go), before any verification.
// A disabled account gives ErrDisabled (403), only once the password is
// right. Each attempt is audited with remoteAddr.
func (a *API) Login(ctx context.Context, username, password, remoteAddr string) (LoginResult, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	anon := web.Principal{RemoteAddr: remoteAddr}
	source := web.Source(remoteAddr)
	valid := usernameRE.MatchString(username) // anything else cannot be a user, nor is counted
	if valid {
		now := a.now()
		until, err := a.blockedUntil(ctx, a.pool, username, source, now)
		if err != nil {
			return LoginResult{}, err
		}
		if !until.IsZero() {
			return LoginResult{}, a.refuseThrottled(ctx, anon, "auth.login_throttled", username, source, until, now)
		}
	}
	var u userRow
	known := false
	if valid {
		var err error
		u, err = a.userByName(ctx, a.pool, username)
		switch {
		case err == nil:
			known = true
		case !errors.Is(err, ErrNotFound):
			return LoginResult{}, err
		}
	}
	// The same work for everyone: an unknown user checks the dummy hash.
	hash := a.dummy
	if known {
		hash = u.hash
	}
	ok, rehash := false, false
	if len(password) <= MaxPasswordBytes {
		var err error
		if ok, rehash, err = a.verifyPassword(ctx, hash, password); err != nil {
			return LoginResult{}, err
		}
	}
	if !known {
		blocked := false
		err := a.inTx(ctx, func(tx pgx.Tx) error {
			if !valid {
				return audit.Record(ctx, tx, anon, "auth.login_unknown_user", "user", "",
					map[string]any{"username": clip(printable(username), 64), "source": source})
			}
			var err error
			blocked, err = a.countFailure(ctx, tx, anon, "auth.login_unknown_user", username, source, "", "unknown_user")
			return err
		})
		if err != nil {
			return LoginResult{}, err
		}
		a.countLockout(blocked)
		return LoginResult{}, badCredentials()
	}
	newHash := ""
	if ok && rehash {
		var err error
		if newHash, err = a.hashPassword(ctx, password); err != nil {
			return LoginResult{}, err
		}
	}

	var res LoginResult
	var refusal error
	blocked := false
	err := a.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := a.userByID(ctx, tx, u.ID, true)
		if err != nil {
			return err
		}
		if cur.hash != u.hash { // the password changed meanwhile: check against the new one
			newHash = ""
			if ok, _, err = a.verifyPassword(ctx, cur.hash, password); err != nil {
				return err
			}
		}
		id := strconv.FormatInt(cur.ID, 10)
		if !ok {
			refusal = badCredentials()
			if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1`, cur.ID); err != nil {
				return err
			}
			blocked, err = a.countFailure(ctx, tx, anon, "auth.login_failed", cur.Username, source, id, "wrong_password")
			return err
		}
		if cur.Disabled {
			refusal = problem(ErrDisabled, http.StatusForbidden, "account_disabled",
				"account %q is disabled; ask an administrator", cur.Username)
			return audit.Record(ctx, tx, anon, "auth.login_disabled", "user", id,
				map[string]any{"username": cur.Username})
		}
		now := a.now()
		if newHash == "" {
			newHash = cur.hash
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL, password_hash = $2
			WHERE id = $1`, cur.ID, newHash); err != nil {
			return err
		}
		if _, err := clearThrottle(ctx, tx, cur.Username, source); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2`, cur.ID, now); err != nil {
			return err
		}
		token, th := newToken(SessionPrefix)
		expires := now.Add(a.cfg.SessionTTL)
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, expires_at, remote_addr)
			VALUES ($1, $2, $3, $4, $5)`, th, cur.ID, now, expires, clip(remoteAddr, 200)); err != nil {
			return err
		}
		p := principalOf(cur.User, remoteAddr)
		if err := audit.Record(ctx, tx, p, "auth.login", "user", id,
			map[string]any{"username": cur.Username, "expires_at": expires, "rehashed": newHash != cur.hash}); err != nil {
			return err
		}
		cur.FailedLogins, cur.LockedUntil, cur.Locked = 0, time.Time{}, false
		res = LoginResult{Token: token, ExpiresAt: expires, User: cur.User, MustChangePassword: cur.MustChangePassword}
		return nil
	})
	if err != nil {
		return LoginResult{}, err
	}
	a.countLockout(blocked)
	if refusal != nil {
		return LoginResult{}, refusal
	}
	return res, nil
}

// countLockout counts a block in the metric (after its transaction
// committed).
func (a *API) countLockout(blocked bool) {
	if blocked {
		a.m.lockouts.Inc()
	}
}

func principalOf(u User, remoteAddr string) web.Principal {
	return web.Principal{UserID: u.ID, Username: u.Username, Role: u.Role, SalesPointID: u.SalesPointID,
		DistributorID: u.DistributorID, RemoteAddr: remoteAddr}
}

// Logout ends the session of token (the caller's own).
func (a *API) Logout(ctx context.Context, by web.Principal, token string) error {
	if !strings.HasPrefix(token, SessionPrefix) {
		return problem(ErrUnknownToken, http.StatusBadRequest, "not_a_session", "only a session token can log out; API keys are revoked by an admin")
	}
	return a.inTx(ctx, func(tx pgx.Tx) error {
		var userID int64
		err := tx.QueryRow(ctx, `DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id`, hashToken(token)).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return problem(ErrUnknownToken, http.StatusUnauthorized, "unknown_session", "no such session: already logged out")
		}
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, by, "auth.logout", "user", strconv.FormatInt(userID, 10), nil)
	})
}

// LogoutAll ends every session of user id (admin only; or the user
// themself) and returns how many there were.
func (a *API) LogoutAll(ctx context.Context, by web.Principal, id int64) (int64, error) {
	if by.UserID != id {
		if err := requireAdmin(by, "log out other users"); err != nil {
			return 0, err
		}
	}
	var n int64
	err := a.inTx(ctx, func(tx pgx.Tx) error {
		u, err := a.userByID(ctx, tx, id, true)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return audit.Record(ctx, tx, by, "auth.logout_all", "user", strconv.FormatInt(id, 10),
			map[string]any{"username": u.Username, "sessions_ended": n})
	})
	return n, err
}

// PurgeExpiredSessions deletes sessions past their expiry (housekeeping;
// Login also drops the user's own expired ones) and returns how many.
func (a *API) PurgeExpiredSessions(ctx context.Context) (int64, error) {
	var n int64
	err := a.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, a.now())
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		n = tag.RowsAffected()
		return audit.Record(ctx, tx, web.Principal{}, "session.purge", "session", "", map[string]any{"deleted": n})
	})
	return n, err
}
