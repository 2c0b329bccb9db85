package refund

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Retrier finishes refunds that could not finish while their request
// waited: revokes the cluster did not answer (pending_revoke) and provider
// refunds that failed (refunded, completed_at NULL, method provider).
type Retrier struct {
	a *API
}

// Retrier returns the API's retrier.
func (a *API) Retrier() *Retrier { return &Retrier{a: a} }

// RetryDue works on every refund due at now (next_attempt_at <= now), at
// most Config.RetryBatch of each kind, and returns how many it tried. A
// refund is claimed first (next_attempt_at = now + Lease, FOR UPDATE SKIP
// LOCKED), so several retriers never work on one refund at once.
func (r *Retrier) RetryDue(ctx context.Context, now time.Time) (int, error) {
	a := r.a
	revokes, err := r.claim(ctx, now, `status = 'pending_revoke'`)
	if err != nil {
		return 0, err
	}
	money, err := r.claim(ctx, now, `status = 'refunded' AND completed_at IS NULL`)
	if err != nil {
		return 0, err
	}
	var errs []error
	down := clustersDown{}
	for _, id := range revokes {
		if err := a.attempt(ctx, systemPrincipal, id, now, false, down); err != nil {
			errs = append(errs, err)
		}
	}
	for _, id := range money {
		if err := a.sendMoney(ctx, systemPrincipal, id, now); err != nil {
			errs = append(errs, err)
		}
	}
	return len(revokes) + len(money), errors.Join(errs...)
}

func (r *Retrier) claim(ctx context.Context, now time.Time, cond string) ([]int64, error) {
	rows, err := r.a.cfg.Pool.Query(ctx, `UPDATE refunds SET next_attempt_at = $2 WHERE id IN (
			SELECT id FROM refunds WHERE `+cond+` AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING id`, now, now.Add(r.a.cfg.Lease), r.a.cfg.RetryBatch)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// Run calls RetryDue every Config.RetryEvery until ctx ends. The caller
// owns the goroutine.
func (r *Retrier) Run(ctx context.Context) error {
	t := time.NewTicker(r.a.cfg.RetryEvery)
	defer t.Stop()
	for {
		n, err := r.RetryDue(ctx, r.a.cfg.Clock.Now())
		if err != nil && ctx.Err() == nil {
			r.a.cfg.Log.Error("refund retry", "tried", n, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
