package refund_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/gateapi"
)

// countingCluster is a Revoker that counts its calls. While down it answers
// nothing until the call's deadline passes (an unreachable cluster, as the
// caller sees it) and counts that as a timeout; while up it revokes.
type countingCluster struct {
	mu       sync.Mutex
	up       bool
	calls    int
	timeouts int
	noLimit  int // calls made without a deadline
}

func (c *countingCluster) Revoke(ctx context.Context, _ [16]byte, _ uint64) (refund.RevokeResult, error) {
	c.mu.Lock()
	c.calls++
	up := c.up
	if _, ok := ctx.Deadline(); !ok {
		c.noLimit++
	}
	c.mu.Unlock()
	if up {
		return refund.RevokeResult{Outcome: gateapi.OutcomeRevoked}, nil
	}
	<-ctx.Done()
	c.mu.Lock()
	c.timeouts++
	c.mu.Unlock()
	return refund.RevokeResult{}, fmt.Errorf("%w: %w", refund.ErrClusterUnavailable, ctx.Err())
}

func (c *countingCluster) counts() (calls, timeouts, noLimit int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.timeouts, c.noLimit
}

func (c *countingCluster) setUp(up bool) {
	c.mu.Lock()
	c.up = up
	c.mu.Unlock()
}

// TestBatchWaitsAtMostOneTimeout: with the cluster down, a refund request
// for several tickets, and a retry pass over several due refunds, each
// make one cluster call that times out, not one per ticket: the tickets
// after it count a failed attempt without calling. The next batch calls
// again, and once the cluster answers every ticket is revoked. Counted
// with the Revoker's calls and timeouts, not the clock.
func TestBatchWaitsAtMostOneTimeout(t *testing.T) {
	f := newFix(t, false)
	cl := &countingCluster{}
	cfg := refund.DefaultConfig()
	cfg.Pool, cfg.Clock, cfg.Revoker, cfg.KEK = f.pool, f.clock, cl, testKEK
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.RevokeTimeout = 100 * time.Millisecond // each timeout waited costs the test this
	api, err := refund.NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const tickets = 4
	s := f.sell(order{product: "day", tickets: tickets, method: "cash"})
	cashier := web.Principal{UserID: f.users["cash1"], Username: "cash1", Role: web.RoleCashier, SalesPointID: "w1"}

	start := time.Now()
	refunds, err := api.Request(f.ctx, cashier, refund.Request{OrderNumber: s.Number, Reason: "rain"})
	t.Logf("a request for %d tickets with the cluster down answered in %v", tickets, time.Since(start))
	if err != nil || len(refunds) != tickets {
		t.Fatalf("Request: %d refunds, %v; want %d", len(refunds), err, tickets)
	}
	calls, timeouts, noLimit := cl.counts()
	if calls != 1 || timeouts != 1 {
		t.Fatalf("the request made %d cluster calls (%d timed out) for %d tickets; want 1 (1): one timeout, not one per ticket", calls, timeouts, tickets)
	}
	if noLimit != 0 {
		t.Fatalf("%d cluster calls had no deadline", noLimit)
	}
	for _, r := range refunds {
		if r.Status != refund.StatusPendingRevoke || r.Attempts != 1 {
			t.Fatalf("refund %d: %s after %d attempts; want pending_revoke after 1", r.ID, r.Status, r.Attempts)
		}
	}
	if n := skipped(t, f); n != tickets-1 {
		t.Fatalf("%d attempts were skipped as the cluster was down, want %d", n, tickets-1)
	}

	// The retrier's batch: again one call.
	later := f.clock.Now().Add(time.Hour)
	if n, err := api.Retrier().RetryDue(f.ctx, later); n != tickets || err != nil {
		t.Fatalf("RetryDue = %d, %v; want %d, nil", n, err, tickets)
	}
	if calls, timeouts, _ := cl.counts(); calls != 2 || timeouts != 2 {
		t.Fatalf("after a retry pass over %d refunds: %d calls, %d timed out; want 2 and 2 (one more)", tickets, calls, timeouts)
	}
	if n := skipped(t, f); n != 2*(tickets-1) {
		t.Fatalf("%d attempts skipped, want %d", n, 2*(tickets-1))
	}

	// The cluster is back: the next pass calls for every ticket.
	cl.setUp(true)
	later = later.Add(time.Hour)
	if n, err := api.Retrier().RetryDue(f.ctx, later); n != tickets || err != nil {
		t.Fatalf("RetryDue = %d, %v; want %d, nil", n, err, tickets)
	}
	if calls, timeouts, _ := cl.counts(); calls != 2+tickets || timeouts != 2 {
		t.Fatalf("with the cluster up: %d calls, %d timed out; want %d and 2", calls, timeouts, 2+tickets)
	}
	for _, r := range refunds {
		got, err := api.Get(f.ctx, adminP(f), r.ID)
		if err != nil || got.Status != refund.StatusRefunded {
			t.Fatalf("refund %d: %+v, %v; want refunded", r.ID, got, err)
		}
	}
}

// skipped counts the failed attempts recorded without a cluster call
// because an earlier call in the same batch got no answer.
func skipped(t *testing.T, f *fix) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM audit_log WHERE action = 'refund.pending'
		AND details->>'why' LIKE 'cluster unavailable (an earlier call in the batch%'`).Scan(&n); err != nil {
		t.Fatalf("count skipped attempts: %v", err)
	}
	return n
}
