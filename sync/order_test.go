package sync

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/validator/gateapi"
)

// TestSendsInSeqOrderNotHeapOrder: the relay sends rows in seq order even
// when the table holds them in another physical order, as it does after
// earlier rows were updated (an operator resending them, say): such an
// UPDATE writes a new row version at the end of the heap, and a read
// without an ORDER BY returns the rows as stored.
//
// The rows are a ticket's issue at v1, its reprint at v2 and its revoke at
// v3, stored in reverse: revoke, v2, v1. In seq order the revoke finds the
// ticket and the pass acknowledges all three; out of order the revoke
// would reach the cluster before any issue and get "unknown", blocking the
// pass.
func TestSendsInSeqOrderNotHeapOrder(t *testing.T) {
	p, d := newPark(t), newDB(t)
	token := p.addGate("north-1", "main", "in")
	r := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))

	tj := p.newTicket()
	v1 := d.issue(tj)
	v2 := d.issue(p.version(tj, 2))
	v3 := d.insert("revoke", tj.ID, 3, gateapi.ChangeRequest{Version: 3})
	other := p.newTicket()
	last := d.issue(other)
	// Move v2, then v1, to the end of the heap: mark each sent and unsent
	// again, as an operator's resend does. sent_at is in the predicate of
	// the unsent index, so these are not HOT updates: each makes a new row
	// version at the end of the heap with a new index entry.
	for _, seq := range []int64{v2, v1} {
		for _, set := range []string{"now()", "NULL"} {
			if _, err := d.pool.Exec(t.Context(), `UPDATE outbox SET sent_at = `+set+` WHERE seq = $1`, seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	physical := d.seqs(`SELECT seq FROM outbox ORDER BY ctid`)
	if want := []int64{v3, last, v2, v1}; !slices.Equal(physical, want) {
		t.Fatalf("setup: rows stored in order %v, want %v (revoke first, v1 last)", physical, want)
	}
	t.Logf("seq order %v, stored (ctid) order %v", []int64{v1, v2, v3, last}, physical)

	n, err := r.SendPending(t.Context())
	if err != nil || n != 4 {
		t.Fatalf("SendPending = %d, %v; want 4, nil (rows sent in seq order: issue v1, v2, revoke v3, issue)", n, err)
	}
	if v := p.clusterTicket(tj.ID); v.Ticket.Version != 3 || v.Ticket.Status != "revoked" {
		t.Fatalf("cluster ticket: %+v, want version 3 revoked", v.Ticket)
	}
	if res := p.scan("north-1", token, p.version(tj, 2).Code); res.Result != "deny" || res.Reason != "revoked" {
		t.Fatalf("scan of the revoked ticket: %+v, want deny revoked", res)
	}
	if res := p.scan("north-1", token, other.Code); res.Result != "admit" {
		t.Fatalf("scan of the other ticket: %+v, want admit", res)
	}
	// Marked sent in seq order: each row's sent_at is no earlier than the
	// sent_at of every row with a lower seq.
	bySent := d.seqs(`SELECT seq FROM outbox ORDER BY sent_at, seq`)
	if !slices.IsSorted(bySent) {
		t.Fatalf("rows marked sent in the order %v, want seq order", bySent)
	}
}

// seqs runs a query that returns seqs.
func (d *db) seqs(sql string, args ...any) []int64 {
	d.t.Helper()
	rows, err := d.pool.Query(d.t.Context(), sql, args...)
	if err != nil {
		d.t.Fatal(err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
	return seqs
}
