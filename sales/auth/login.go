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

func lockedError(until time.Time, justNow bool) error {
	why := "account is locked"
	if justNow {
		why = "too many wrong passwords in a row: account is locked"
	}
	return problem(ErrLocked, http.StatusLocked, "account_locked",
		"%s until %s; try again then, or ask an administrator to unlock it", why, until.UTC().Format(time.RFC3339))
}

// Login checks username and password and opens a session. An unknown user
// and a wrong password give the same error (ErrBadCredentials, 401); a
// locked account gives ErrLocked (423) saying until when, even with the
// right password; a disabled account ErrDisabled (403), only once the
// password is right. Each attempt is audited with remoteAddr.
func (a *API) Login(ctx context.Context, username, password, remoteAddr string) (LoginResult, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	anon := web.Principal{RemoteAddr: remoteAddr}
	var u userRow
	err := notFound("unknown_user", "no such user")
	if usernameRE.MatchString(username) { // anything else cannot be a user
		u, err = a.userByName(ctx, a.pool, username)
	}
	if errors.Is(err, ErrNotFound) {
		// Take as long as a wrong password would.
		if dummy := a.dummyHash(); dummy != "" {
			_, _, _ = a.verifyPassword(ctx, dummy, password)
		}
		err := a.inTx(ctx, func(tx pgx.Tx) error {
			return audit.Record(ctx, tx, anon, "auth.login_unknown_user", "user", "",
				map[string]any{"username": clip(printable(username), 64)})
		})
		if err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, badCredentials()
	}
	if err != nil {
		return LoginResult{}, err
	}
	if u.Locked {
		return LoginResult{}, a.refuseLocked(ctx, anon, u, "auth.login_locked")
	}
	ok, rehash := false, false
	if len(password) <= MaxPasswordBytes {
		if ok, rehash, err = a.verifyPassword(ctx, u.hash, password); err != nil {
			return LoginResult{}, err
		}
	}
	newHash := ""
	if ok && rehash {
		if newHash, err = a.hashPassword(ctx, password); err != nil {
			return LoginResult{}, err
		}
	}

	var res LoginResult
	var refusal error
	err = a.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := a.userByID(ctx, tx, u.ID, true)
		if err != nil {
			return err
		}
		if cur.Locked { // a concurrent attempt locked it meanwhile
			refusal = lockedError(cur.LockedUntil, false)
			return audit.Record(ctx, tx, anon, "auth.login_locked", "user", strconv.FormatInt(cur.ID, 10),
				map[string]any{"username": cur.Username, "locked_until": cur.LockedUntil})
		}
		if cur.hash != u.hash { // the password changed meanwhile: check against the new one
			newHash = ""
			if ok, _, err = a.verifyPassword(ctx, cur.hash, password); err != nil {
				return err
			}
		}
		if !ok {
			refusal, err = a.recordFailure(ctx, tx, anon, cur, "auth.login_failed")
			return err
		}
		if cur.Disabled {
			refusal = problem(ErrDisabled, http.StatusForbidden, "account_disabled",
				"account %q is disabled; ask an administrator", cur.Username)
			return audit.Record(ctx, tx, anon, "auth.login_disabled", "user", strconv.FormatInt(cur.ID, 10),
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
		if err := audit.Record(ctx, tx, p, "auth.login", "user", strconv.FormatInt(cur.ID, 10),
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
	if refusal != nil {
		return LoginResult{}, refusal
	}
	return res, nil
}

// recordFailure counts one wrong password for cur (row locked in tx),
// locks the account at Config.MaxFailures, audits, and returns the refusal
// for the caller: ErrBadCredentials, or ErrLocked when this one locked it.
func (a *API) recordFailure(ctx context.Context, tx pgx.Tx, by web.Principal, cur userRow, action string) (error, error) {
	now := a.now()
	failures := cur.FailedLogins + 1
	if !cur.LockedUntil.IsZero() { // an earlier lock has run out: count afresh
		failures = 1
	}
	var lockedUntil *time.Time
	if failures >= a.cfg.MaxFailures {
		t := now.Add(a.cfg.LockFor)
		lockedUntil = &t
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = $2, locked_until = $3 WHERE id = $1`,
		cur.ID, failures, lockedUntil); err != nil {
		return nil, err
	}
	id := strconv.FormatInt(cur.ID, 10)
	if err := audit.Record(ctx, tx, by, action, "user", id, map[string]any{
		"username": cur.Username, "reason": "wrong_password", "failures": failures}); err != nil {
		return nil, err
	}
	if lockedUntil == nil {
		return badCredentials(), nil
	}
	if err := audit.Record(ctx, tx, by, "auth.lockout", "user", id, map[string]any{
		"username": cur.Username, "failures": failures, "locked_until": *lockedUntil}); err != nil {
		return nil, err
	}
	a.log.Warn("auth: account locked", "user", cur.Username, "until", *lockedUntil, "remote", by.RemoteAddr)
	return lockedError(*lockedUntil, true), nil
}

// refuseLocked audits an attempt on a locked account and returns ErrLocked.
func (a *API) refuseLocked(ctx context.Context, by web.Principal, u userRow, action string) error {
	err := a.inTx(ctx, func(tx pgx.Tx) error {
		return audit.Record(ctx, tx, by, action, "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"username": u.Username, "locked_until": u.LockedUntil})
	})
	if err != nil {
		return err
	}
	return lockedError(u.LockedUntil, false)
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
