package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
