package pgtest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Querier is what AwaitLockQueue reads pg_stat_activity through: a pool,
// a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// AwaitLockQueue waits until n sessions have either finished (done
// counts them) or queued on a lock in the current database, for race
// tests that hold a row lock, start n contenders, and must release them
// all at once. It fails the test after a minute, saying what it saw.
func AwaitLockQueue(t testing.TB, ctx context.Context, q Querier, n int, done func() int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var waiting int
		if err := q.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		d := done()
		if waiting+d >= n {
			t.Logf("%d sessions waiting on a lock, %d already done", waiting, d)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %d sessions to queue on a lock: after 1m %d wait and %d are done", n, waiting, d)
		}
		time.Sleep(5 * time.Millisecond) // polling pg_stat_activity; no event to wait on
	}
}

// RaceBehindLock makes n contenders start together: a transaction of pool
// locks the rows lockSQL selects FOR UPDATE (lockSQL returns how many;
// none fails the test), run(0..n-1) start at once, and when each is done
// or queued on a lock the transaction ends and lets them all go. It
// returns when every run has.
func RaceBehindLock(t testing.TB, ctx context.Context, pool *pgxpool.Pool, lockSQL string, args []any, n int, run func(i int)) {
	t.Helper()
	gate, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gate.Rollback(ctx) }()
	var locked int
	if err := gate.QueryRow(ctx, lockSQL, args...).Scan(&locked); err != nil {
		t.Fatal(err)
	}
	if locked == 0 {
		t.Fatal("no rows to lock: make them first")
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer done.Add(1)
			run(i)
		})
	}
	AwaitLockQueue(t, ctx, pool, n, func() int { return int(done.Load()) })
	if err := gate.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}
