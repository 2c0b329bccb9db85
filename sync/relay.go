package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/gateapi"
)

// Relay sends the outbox to the cluster: the rows of its route (Config.Park,
// Config.OtherParks). See doc.go for its invariants.
type Relay struct {
	cfg    Config
	log    *slog.Logger
	client *gateapi.Client
	route  outbox.Route // the rows of this relay's cluster
	m      *metrics

	passMu  gosync.Mutex  // one SendPending at a time
	unknown map[int64]int // seq -> "unknown" answers in a row; guarded by passMu
	active  atomic.Bool   // holds the advisory lock
	standby atomic.Int64  // lock attempts that found the lock taken
}

// NewRelay checks cfg and builds a relay; Run starts it.
func NewRelay(cfg Config) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cl, err := cfg.client()
	if err != nil {
		return nil, err
	}
	return &Relay{cfg: cfg, log: cfg.Log.With("component", "sync.relay"), client: cl, route: cfg.route(),
		m: newMetrics(cfg.Registerer), unknown: map[int64]int{}}, nil
}

// Active reports whether this relay holds the advisory lock (and so is the
// one sending).
func (r *Relay) Active() bool { return r.active.Load() }

// Run takes the advisory lock (waiting on standby while another relay holds
// it), then sends the outbox until ctx ends. It returns nil when ctx ends;
// the lock is released by closing its connection.
func (r *Relay) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		conn, err := r.lock(ctx)
		if err != nil {
			break // ctx ended
		}
		r.setActive(true)
		r.log.Info("sync relay active: holding the outbox lock", "lock_key", r.cfg.lockKey(), "park", r.cfg.Park)
		err = r.serve(ctx, conn)
		r.setActive(false)
		closeConn(conn)
		if ctx.Err() != nil {
			break
		}
		r.m.errors.WithLabelValues("lock").Inc()
		r.log.Error("sync relay lost its lock connection; another relay may take over, trying to lock again", "err", err)
	}
	return nil
}

func (r *Relay) setActive(on bool) {
	r.active.Store(on)
	if on {
		r.m.active.Set(1)
	} else {
		r.m.active.Set(0)
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Close(ctx) // ends the session: Postgres releases its advisory locks
}

// lock returns a connection of its own (hijacked from the pool, so it is
// never handed to anyone else) that holds the advisory lock and LISTENs
// on NotifyChannel. It retries every LockRetry until ctx ends.
func (r *Relay) lock(ctx context.Context) (*pgx.Conn, error) {
	var conn *pgx.Conn
	waiting := false
	for {
		if conn == nil {
			pc, err := r.cfg.Pool.Acquire(ctx)
			if err == nil {
				conn = pc.Hijack()
			} else if ctx.Err() == nil {
				r.m.errors.WithLabelValues("lock").Inc()
				r.log.Warn("sync relay: no database connection for the lock", "err", err)
			}
		}
		if conn != nil {
			var ok bool
			err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, r.cfg.lockKey()).Scan(&ok)
			if err == nil && ok {
				if _, err = conn.Exec(ctx, `LISTEN `+NotifyChannel); err == nil {
					return conn, nil
				}
			}
			if err != nil {
				closeConn(conn) // the lock (if taken) goes with the session
				conn = nil
				if ctx.Err() == nil {
					r.m.errors.WithLabelValues("lock").Inc()
					r.log.Warn("sync relay: taking the outbox lock failed", "err", err)
				}
			} else if r.standby.Add(1); !waiting {
				waiting = true
				r.log.Info("sync relay on standby: another relay holds the outbox lock", "retry_every", r.cfg.LockRetry)
			}
		}
		t := time.NewTimer(r.cfg.LockRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			if conn != nil {
				closeConn(conn)
			}
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// serve runs passes while this relay holds the lock on conn. It returns
// nil when ctx ends, or the error that broke conn (the lock is then gone).
func (r *Relay) serve(ctx context.Context, conn *pgx.Conn) error {
	var backoff time.Duration
	for ctx.Err() == nil {
		n, err := r.SendPending(ctx)
		wait, wake := r.cfg.Poll, true
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			backoff = r.cfg.nextBackoff(backoff)
			wait, wake = backoff, false // a new sale must not cut a backoff short
			r.log.Warn("sync relay: outbox blocked, retrying", "err", err, "retry_in", backoff)
		case n > 0:
			backoff, wait = 0, 0 // more may have come meanwhile: look again at once
		default:
			backoff = 0
		}
		if err := r.wait(ctx, conn, wait, wake); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// wait waits d, or less when wake and a NOTIFY arrives on conn. Waiting on
// conn also tells when it broke: the error is then returned.
func (r *Relay) wait(ctx context.Context, conn *pgx.Conn, d time.Duration, wake bool) error {
	if d <= 0 {
		return nil
	}
	deadline := time.Now().Add(d)
	for {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		_, err := conn.WaitForNotification(wctx)
		expired := wctx.Err() != nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil && wake:
			r.m.wakeups.WithLabelValues("notify").Inc()
			return nil
		case err == nil:
			continue // drain notifications until the backoff is over
		case expired && !conn.IsClosed():
			if wake {
				r.m.wakeups.WithLabelValues("poll").Inc()
			}
			return nil
		default:
			return fmt.Errorf("lock connection: %w", errors.Join(err, errConnClosed(conn)))
		}
	}
}

func errConnClosed(c *pgx.Conn) error {
	if c.IsClosed() {
		return errors.New("connection closed")
	}
	return nil
}

// loadUnsent reads the next unsent rows of this relay's cluster, in seq
// order.
func (r *Relay) loadUnsent(ctx context.Context) ([]outbox.Row, error) {
	return outbox.LoadUnsentFor(ctx, r.cfg.Pool, r.route, r.cfg.Batch)
}

// tellsPark says whether this relay's cluster is told the park id of a
// configure row of park: a park's own cluster is; the default cluster may
// serve several parks (as one cluster served every park before clusters
// files), so it is told only the one Config.DefaultClusterPark names.
func (r *Relay) tellsPark(park string) bool {
	return r.cfg.Park != "" || park == "" || park == r.cfg.DefaultClusterPark
}
