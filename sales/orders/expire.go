package orders

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/web"
)

// expireBatch is how many orders one ExpireDue transaction expires.
const expireBatch = 100

// ExpireDue expires every pending order whose hold ran out by now, giving
// its places back, and returns how many it expired. Orders locked by a
// payment in progress are skipped; the payment sees the hold ran out and
// expires the order itself.
func (a *API) ExpireDue(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		var channels []string
		err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
			channels = channels[:0]
			rows, err := tx.Query(ctx, `SELECT `+orderCols+` FROM orders WHERE status = 'pending' AND expires_at <= $1
				ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, expireBatch)
			if err != nil {
				return err
			}
			var due []orderRow
			for rows.Next() {
				o, err := scanOrder(rows)
				if err != nil {
					rows.Close()
					return err
				}
				due = append(due, o)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, o := range due {
				ok, err := endUnpaid(ctx, tx, system(""), o, StatusExpired, "hold ran out unpaid")
				if err != nil {
					return err
				}
				if ok {
					channels = append(channels, o.Channel)
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		for _, c := range channels {
			a.m.orders.WithLabelValues(c, StatusExpired).Inc()
		}
		total += len(channels)
		if len(channels) < expireBatch {
			return total, nil
		}
	}
}

// Cancel cancels a pending order and gives its places back. Paid orders
// are refunded instead (refunds), not cancelled.
func (a *API) Cancel(ctx context.Context, p web.Principal, ref string) (Order, error) {
	var o orderRow
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		if o, err = orderFor(ctx, tx, p, ref, true); err != nil {
			return err
		}
		if o.Status != StatusPending {
			return web.Problemf(http.StatusConflict, "order_not_pending", "order %s is %s: only a pending order can be cancelled", o.Number, o.Status)
		}
		_, err = endUnpaid(ctx, tx, p, o, StatusCancelled, "cancelled by "+p.Role)
		return err
	})
	if err != nil {
		return Order{}, err
	}
	a.m.orders.WithLabelValues(o.Channel, StatusCancelled).Inc()
	return a.load(ctx, a.cfg.Pool, o.ID)
}

// Sweeper runs ExpireDue and RefundLatePayments every Config.SweepEvery,
// at the time the Config's clock tells.
type Sweeper struct {
	api   *API
	every time.Duration
}

// Sweeper returns the API's sweeper; the caller runs it (Run) and stops it
// by cancelling the context.
func (a *API) Sweeper() *Sweeper { return &Sweeper{api: a, every: a.cfg.SweepEvery} }

// Run sweeps until ctx is done, then returns ctx's error. Errors of a round
// are logged and the next round tries again.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			s.Once(ctx)
		}
	}
}

// Once is one round: expire what is due, retry due refunds.
func (s *Sweeper) Once(ctx context.Context) {
	log := s.api.cfg.Log
	if n, err := s.api.ExpireDue(ctx, s.api.now()); err != nil {
		log.Error("expiring unpaid orders", "expired", n, "err", err)
	} else if n > 0 {
		log.Info("expired unpaid orders", "count", n)
	}
	if n, err := s.api.RefundLatePayments(ctx); err != nil {
		log.Warn("refunding late payments", "refunded", n, "err", err)
	} else if n > 0 {
		log.Info("refunded late payments", "count", n)
	}
}
