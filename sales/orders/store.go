package orders

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/quota"
	"github.com/admitpark/admit/sales/web"
)

// DB is a pgx.Tx or a pool.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// orderRow is one orders row.
type orderRow struct {
	ID                           int64
	Number, ParkID, Channel      string
	SalesPointID                 string
	UserID, DistributorID        int64
	ExternalRef                  string
	Status, Currency             string
	TotalMinor                   int64
	ContactName, ContactPhone    string
	ExpiresAt, CreatedAt, PaidAt time.Time
}

const orderCols = `id, number, park_id, channel, coalesce(sales_point_id, ''), coalesce(user_id, 0), coalesce(distributor_id, 0),
	coalesce(external_ref, ''), status, currency, total_minor, contact_name, contact_phone,
	coalesce(expires_at, 'epoch'::timestamptz), created_at, coalesce(paid_at, 'epoch'::timestamptz)`

func scanOrder(row pgx.Row) (orderRow, error) {
	var o orderRow
	err := row.Scan(&o.ID, &o.Number, &o.ParkID, &o.Channel, &o.SalesPointID, &o.UserID, &o.DistributorID,
		&o.ExternalRef, &o.Status, &o.Currency, &o.TotalMinor, &o.ContactName, &o.ContactPhone,
		&o.ExpiresAt, &o.CreatedAt, &o.PaidAt)
	for _, t := range []*time.Time{&o.ExpiresAt, &o.PaidAt} {
		if t.Unix() == 0 {
			*t = time.Time{}
		}
	}
	return o, err
}

func notFound(ref string) error {
	return web.Problemf(http.StatusNotFound, "unknown_order", "no order %q", ref)
}

// findOrder reads an order by id (digits) or number, locked FOR UPDATE when
// lock is set.
func findOrder(ctx context.Context, db DB, ref string, lock bool) (orderRow, error) {
	q := `SELECT ` + orderCols + ` FROM orders WHERE `
	var arg any
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil && id > 0 {
		q, arg = q+`id = $1`, id
	} else if numberRe.MatchString(ref) {
		q, arg = q+`number = $1`, ref
	} else {
		return orderRow{}, bad("bad_order_ref", "%q is neither an order id nor an order number like W20261122-004711", ref)
	}
	if lock {
		q += ` FOR UPDATE`
	}
	o, err := scanOrder(db.QueryRow(ctx, q, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return o, notFound(ref)
	}
	return o, err
}

// visible reports whether p may see o: a distributor sees only its own
// orders; staff see every order.
func visible(p web.Principal, o orderRow) bool {
	if p.Role == web.RoleDistributor {
		return p.DistributorID != 0 && o.DistributorID == p.DistributorID
	}
	return true
}

// orderFor finds an order the caller may see; another distributor's order
// is "not found", so its existence does not leak.
func orderFor(ctx context.Context, db DB, p web.Principal, ref string, lock bool) (orderRow, error) {
	o, err := findOrder(ctx, db, ref, lock)
	if err != nil {
		return o, err
	}
	if !visible(p, o) {
		return orderRow{}, notFound(ref)
	}
	return o, nil
}

// endUnpaid moves a pending order (locked by the caller) to expired or
// cancelled and gives its places back. It reports false when the order was
// not pending.
func endUnpaid(ctx context.Context, tx DB, p web.Principal, o orderRow, status, why string) (bool, error) {
	tag, err := tx.Exec(ctx, `UPDATE orders SET status = $2 WHERE id = $1 AND status = 'pending'`, o.ID, status)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	if err := quota.Release(ctx, tx, o.ID); err != nil {
		return false, err
	}
	if err := deleteHolders(ctx, tx, o.ID); err != nil {
		return false, err
	}
	action := "order.expire"
	if status == StatusCancelled {
		action = "order.cancel"
	}
	return true, audit.Record(ctx, tx, p, action, "order", o.Number, map[string]any{"order_id": o.ID, "reason": why})
}

// system is the principal of the service's own changes (expiry, late
// refunds, webhooks): no user, no key.
func system(remoteAddr string) web.Principal {
	return web.Principal{Role: "system", RemoteAddr: remoteAddr}
}
