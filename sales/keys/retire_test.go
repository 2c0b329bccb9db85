package keys_test

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/web"
)

// clusterSet is the key ids sent to the parks' clusters.
func clusterSet(t *testing.T, db *pgxpool.Pool) []uint8 {
	t.Helper()
	var ids []uint8
	err := pgx.BeginFunc(t.Context(), db, func(tx pgx.Tx) error {
		set, err := keys.ForClusters(t.Context(), tx)
		for _, k := range set {
			ids = append(ids, k.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestRetiredKeyVerifiesUntilItsCodesExpire: a rotated-out key stays in the
// clusters' set during the grace after its rotation and, after that, while
// a ticket whose current code it signed is still valid; then it leaves.
func TestRetiredKeyVerifiesUntilItsCodesExpire(t *testing.T) {
	ctx := t.Context()
	db := pgtest.NewDB(t)
	if _, err := keys.Ensure(ctx, db, kek); err != nil {
		t.Fatal(err)
	}
	res, err := keys.RotateRecorded(ctx, db, kek, web.Principal{Role: web.RoleAdmin, Username: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.KeyID != 2 || !slices.Equal(res.Retired, []uint8{1}) || !slices.Equal(res.Sent, []uint8{1, 2}) {
		t.Fatalf("rotation %+v: want key 2 active, 1 retired, clusters verifying 1 and 2", res)
	}
	var audited int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'keys.rotate'`).Scan(&audited); err != nil || audited != 1 {
		t.Fatalf("%d keys.rotate audit rows (%v), want 1", audited, err)
	}
	// Past the grace, with no ticket of its own: retired for good.
	if _, err := db.Exec(ctx, `UPDATE signing_keys SET retired_at = now() - interval '2 days' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if got := clusterSet(t, db); !slices.Equal(got, []uint8{2}) {
		t.Fatalf("past the grace without valid codes the clusters verify with %v, want [2]", got)
	}
	// A ticket key 1 signed, valid for another hour, brings it back. The
	// ticket row stands alone: its order is not this test's subject.
	if _, err := db.Exec(ctx, `ALTER TABLE tickets DISABLE TRIGGER ALL`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO tickets (id, order_id, order_line_id, park_id, product_id, kind, visit_date,
			valid_from, valid_until, status, code, key_id, price_minor)
		VALUES (gen_random_uuid(), 1, 1, 'p', 'x', 'single', current_date, now() - interval '1 hour', now() + interval '1 hour',
			'active', 'C', 1, 100)`); err != nil {
		t.Fatal(err)
	}
	if got := clusterSet(t, db); !slices.Equal(got, []uint8{1, 2}) {
		t.Fatalf("with a valid code of key 1 the clusters verify with %v, want [1 2]", got)
	}
	if _, err := db.Exec(ctx, `UPDATE tickets SET valid_until = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	if got := clusterSet(t, db); !slices.Equal(got, []uint8{2}) {
		t.Fatalf("once key 1's last code expired the clusters verify with %v, want [2]", got)
	}
}
