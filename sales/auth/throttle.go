package auth

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// Wrong passwords are counted per (username, source) in login_throttle, a
// source being the client's IP address (an IPv6 address by its /64, see
// web.Source). Config.MaxFailures wrong passwords in a row from one source
// block that source, for that username, for Config.LockFor; each further
// wrong password after a block doubles the next block, up to
// Config.MaxLockFor. Other sources, and the right password from them, are
// not affected: nobody can lock an account from afar. The username is
// counted as typed whether or not such a user exists, and a blocked source
// gets the same answer either way (429 too_many_attempts with Retry-After),
// so the answers do not tell which usernames exist. A right password from a
// source clears its count; a password change or an admin's unlock clears
// every source's count for the username; a count not added to for
// Config.ForgetAfter starts afresh.

// metrics are the auth counters, registered on Config.Registerer.
type metrics struct {
	lockouts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{lockouts: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "admit_sales_login_lockouts_total",
		Help: "Times a source was blocked for a username after too many wrong passwords in a row.",
	})}
	if reg != nil {
		if err := reg.Register(m.lockouts); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// throttledError is the answer while (username, source) is blocked.
func throttledError(until, now time.Time) error {
	wait := until.Sub(now)
	secs := int(math.Ceil(wait.Seconds()))
	err := problem(ErrThrottled, http.StatusTooManyRequests, "too_many_attempts",
		"too many wrong passwords for this username from this address; try again in %d s, or ask an administrator", secs)
	var p *web.Problem
	if errors.As(err, &p) {
		p.RetryAfter = wait
	}
	return err
}

// blockFor is how long the failures-th wrong password in a row blocks.
func (a *API) blockFor(failures int) time.Duration {
	if failures < a.cfg.MaxFailures {
		return 0
	}
	d := a.cfg.LockFor
	for i := a.cfg.MaxFailures; i < failures && d < a.cfg.MaxLockFor; i++ {
		d *= 2
	}
	return min(d, a.cfg.MaxLockFor)
}

// blockedUntil returns when (username, source)'s block ends, or zero when
// it is not blocked at now.
func (a *API) blockedUntil(ctx context.Context, q querier, username, source string, now time.Time) (time.Time, error) {
	var until time.Time
	err := q.QueryRow(ctx, `SELECT blocked_until FROM login_throttle
		WHERE username = $1 AND source = $2 AND blocked_until > $3`, username, source, now).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	return until.UTC(), err
}

// refuseThrottled audits an attempt from a blocked source and returns the
// refusal.
func (a *API) refuseThrottled(ctx context.Context, by web.Principal, action, username, source string, until, now time.Time) error {
	err := a.inTx(ctx, func(tx pgx.Tx) error {
		return audit.Record(ctx, tx, by, action, "user", "", map[string]any{
			"username": username, "source": source, "blocked_until": until})
	})
	if err != nil {
		return err
	}
	return throttledError(until, now)
}

// countFailure counts one wrong password (or unknown username) for
// (username, source) in tx and audits it as action; when this one blocks
// the source it also audits auth.lockout. It reports whether it blocked, so
// the caller counts the lockout once tx has committed.
func (a *API) countFailure(ctx context.Context, tx pgx.Tx, by web.Principal, action, username, source, userID, reason string) (bool, error) {
	now := a.now()
	var failures int
	err := tx.QueryRow(ctx, `INSERT INTO login_throttle (username, source, failures, last_failure_at)
		VALUES ($1, $2, 1, $3)
		ON CONFLICT (username, source) DO UPDATE SET
			failures = CASE WHEN login_throttle.last_failure_at <= $4 THEN 1 ELSE login_throttle.failures + 1 END,
			last_failure_at = $3
		RETURNING failures`, username, source, now, now.Add(-a.cfg.ForgetAfter)).Scan(&failures)
	if err != nil {
		return false, err
	}
	if err := audit.Record(ctx, tx, by, action, "user", userID, map[string]any{
		"username": username, "source": source, "reason": reason, "failures": failures}); err != nil {
		return false, err
	}
	block := a.blockFor(failures)
	if block == 0 {
		return false, nil
	}
	until := now.Add(block)
	if _, err := tx.Exec(ctx, `UPDATE login_throttle SET blocked_until = $3 WHERE username = $1 AND source = $2`,
		username, source, until); err != nil {
		return false, err
	}
	if err := audit.Record(ctx, tx, by, "auth.lockout", "user", userID, map[string]any{
		"username": username, "source": source, "failures": failures, "blocked_until": until}); err != nil {
		return false, err
	}
	a.log.Warn("auth: too many wrong passwords; source blocked for this username",
		"user", username, "source", source, "failures", failures, "until", until)
	return true, nil
}

// clearThrottle forgets the wrong passwords counted for username: from
// source, or from every source when source is "".
func clearThrottle(ctx context.Context, tx pgx.Tx, username, source string) (int64, error) {
	tag, err := tx.Exec(ctx, `DELETE FROM login_throttle WHERE username = $1 AND ($2 = '' OR source = $2)`, username, source)
	return tag.RowsAffected(), err
}

// PurgeThrottle deletes counts that have been forgotten (no wrong password
// for Config.ForgetAfter and no block in force), and returns how many.
func (a *API) PurgeThrottle(ctx context.Context) (int64, error) {
	now := a.now()
	tag, err := a.pool.Exec(ctx, `DELETE FROM login_throttle WHERE last_failure_at <= $1
		AND (blocked_until IS NULL OR blocked_until <= $2)`, now.Add(-a.cfg.ForgetAfter), now)
	return tag.RowsAffected(), err
}
