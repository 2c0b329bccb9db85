// Package quota holds the sales limits: a daily capacity per park, per
// product and per time slot. Taking places is one conditional UPDATE on a
// per-day counter (used + n <= capacity); under READ COMMITTED (the
// default, and what callers must use) racing buyers queue on the counter
// row and the last places go to exactly as many as fit, never one more.
// (Under REPEATABLE READ or SERIALIZABLE they would get serialization
// failures to retry instead.)
//
// Counter rows are always locked in one global order (scope, id, day), for
// every line of an order at once (TakeAll) and on release, so two orders
// never wait on each other in opposite orders. An order's places are
// recorded in quota_holds and given back when it expires, is cancelled or
// refunded.
package quota

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/sales/web"
)

// Scopes of a counter.
const (
	ScopePark    = "park"
	ScopeProduct = "product"
	ScopeSlot    = "slot"
)

// ErrExhausted: a limit has fewer places left than asked. The error is a
// *web.Problem (409, code quota_exhausted) saying which limit.
var ErrExhausted = errors.New("quota exhausted")

// DB is what the package needs: a pgx.Tx or a pool.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Request asks for places.
type Request struct {
	ParkID    string
	ProductID string
	SlotID    int64     // 0: the product has no slots
	VisitDate time.Time // the park-local day; only the date counts
	Quantity  int
}

type limit struct {
	scope, id string
	capacity  *int // nil: no limit, usage still counted for reports
}

func limits(ctx context.Context, tx DB, r Request, taking bool) ([]limit, error) {
	var parkCap, productCap *int
	var hasSlots bool
	err := tx.QueryRow(ctx, `SELECT p.daily_capacity, pr.daily_quota, pr.has_slots FROM parks p JOIN products pr ON pr.park_id = p.id
		WHERE p.id = $1 AND pr.id = $2`, r.ParkID, r.ProductID).Scan(&parkCap, &productCap, &hasSlots)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, web.Problemf(http.StatusNotFound, "unknown_product", "product %q is not sold in park %q", r.ProductID, r.ParkID)
	}
	if err != nil {
		return nil, err
	}
	if hasSlots && r.SlotID == 0 && taking { // Available may ask without a slot
		return nil, web.Problemf(http.StatusBadRequest, "slot_required", "product %q is sold by time slot: choose a slot", r.ProductID)
	}
	ls := []limit{{ScopePark, r.ParkID, parkCap}, {ScopeProduct, r.ProductID, productCap}}
	if r.SlotID != 0 {
		var slotCap int
		err := tx.QueryRow(ctx, `SELECT capacity FROM time_slots WHERE id = $1 AND product_id = $2`, r.SlotID, r.ProductID).Scan(&slotCap)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, web.Problemf(http.StatusNotFound, "unknown_slot", "time slot %d does not belong to product %q", r.SlotID, r.ProductID)
		}
		if err != nil {
			return nil, err
		}
		ls = append(ls, limit{ScopeSlot, fmt.Sprint(r.SlotID), &slotCap})
	}
	return ls, nil
}

// Take reserves r.Quantity places for orderID inside tx, or returns an
// ErrExhausted problem (the caller rolls tx back). An order with several
// lines must use TakeAll, which locks in the global order.
func Take(ctx context.Context, tx DB, orderID int64, r Request) error {
	return TakeAll(ctx, tx, orderID, []Request{r})
}

// take is one counter to raise.
type take struct {
	limit
	day string
	n   int
}

// TakeAll reserves the places of every line of an order inside tx: all or
// nothing (the caller rolls tx back on error).
func TakeAll(ctx context.Context, tx DB, orderID int64, rs []Request) error {
	sums := map[[3]string]*take{}
	for _, r := range rs {
		if r.Quantity < 1 {
			return web.Problemf(http.StatusBadRequest, "bad_quantity", "quantity must be at least 1")
		}
		if r.VisitDate.IsZero() {
			return web.Problemf(http.StatusBadRequest, "bad_date", "visit date is required")
		}
		ls, err := limits(ctx, tx, r, true)
		if err != nil {
			return err
		}
		day := r.VisitDate.Format(time.DateOnly)
		for _, l := range ls {
			k := [3]string{l.scope, l.id, day}
			if t, ok := sums[k]; ok {
				t.n += r.Quantity
			} else {
				sums[k] = &take{limit: l, day: day, n: r.Quantity}
			}
		}
	}
	takes := make([]*take, 0, len(sums))
	for _, t := range sums {
		takes = append(takes, t)
	}
	sort.Slice(takes, func(i, j int) bool {
		return lockLess(takes[i].scope, takes[i].id, takes[i].day, takes[j].scope, takes[j].id, takes[j].day)
	})
	for _, t := range takes {
		if err := t.hold(ctx, tx, orderID); err != nil {
			return err
		}
	}
	return nil
}

// hold takes t's places for the order in tx: the day's counter goes up
// unless that would pass the limit (an ErrExhausted problem), and the
// order's hold records them so that they can be given back.
func (t *take) hold(ctx context.Context, tx DB, orderID int64) error {
	if _, err := tx.Exec(ctx, `INSERT INTO quota_usage (scope, scope_id, visit_date) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, t.scope, t.id, t.day); err != nil {
		return err
	}
	var used int
	err := tx.QueryRow(ctx, `UPDATE quota_usage SET used = used + $4
		WHERE scope = $1 AND scope_id = $2 AND visit_date = $3 AND ($5::int IS NULL OR used + $4 <= $5::int)
		RETURNING used`, t.scope, t.id, t.day, t.n, t.capacity).Scan(&used)
	if errors.Is(err, pgx.ErrNoRows) {
		left, _ := remaining(ctx, tx, t.limit, t.day)
		return fmt.Errorf("%w: %w", ErrExhausted, web.Problemf(http.StatusConflict, "quota_exhausted",
			"%s %s is sold out for %s: %d left, %d asked", t.scope, t.id, t.day, left, t.n))
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO quota_holds (order_id, scope, scope_id, visit_date, quantity)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id, scope, scope_id, visit_date)
		DO UPDATE SET quantity = quota_holds.quantity + EXCLUDED.quantity`, orderID, t.scope, t.id, t.day, t.n)
	return err
}

// scopeRank orders scopes for locking: park, product, slot.
var scopeRank = map[string]int{ScopePark: 0, ScopeProduct: 1, ScopeSlot: 2}

// lockLess is the one order every counter row is locked in.
func lockLess(s1, id1, d1, s2, id2, d2 string) bool {
	if d1 != d2 {
		return d1 < d2
	}
	if scopeRank[s1] != scopeRank[s2] {
		return scopeRank[s1] < scopeRank[s2]
	}
	return id1 < id2
}

func remaining(ctx context.Context, tx DB, l limit, day string) (int, error) {
	if l.capacity == nil {
		return -1, nil
	}
	var used int
	err := tx.QueryRow(ctx, `SELECT used FROM quota_usage WHERE scope = $1 AND scope_id = $2 AND visit_date = $3`, l.scope, l.id, day).Scan(&used)
	return max(0, *l.capacity-used), err
}

// Release gives back every place orderID holds (expired or cancelled
// order). It is idempotent. Counters are updated in the global lock order.
func Release(ctx context.Context, tx DB, orderID int64) error {
	rows, err := tx.Query(ctx, `DELETE FROM quota_holds WHERE order_id = $1
		RETURNING scope, scope_id, visit_date::text, quantity`, orderID)
	if err != nil {
		return err
	}
	var takes []take
	for rows.Next() {
		var t take
		if err := rows.Scan(&t.scope, &t.id, &t.day, &t.n); err != nil {
			rows.Close()
			return err
		}
		takes = append(takes, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	sort.Slice(takes, func(i, j int) bool {
		return lockLess(takes[i].scope, takes[i].id, takes[i].day, takes[j].scope, takes[j].id, takes[j].day)
	})
	for _, t := range takes {
		if _, err := tx.Exec(ctx, `UPDATE quota_usage SET used = GREATEST(0, used - $4)
			WHERE scope = $1 AND scope_id = $2 AND visit_date = $3`, t.scope, t.id, t.day, t.n); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseOne gives back the places of one refunded ticket: r.Quantity
// places (a group ticket holds as many as its persons) in each scope the
// order holds for that product, slot and day.
func ReleaseOne(ctx context.Context, tx DB, orderID int64, r Request) error {
	if r.Quantity < 1 {
		return web.Problemf(http.StatusBadRequest, "bad_quantity", "quantity must be at least 1")
	}
	ls := []limit{{scope: ScopePark, id: r.ParkID}, {scope: ScopeProduct, id: r.ProductID}}
	if r.SlotID != 0 {
		ls = append(ls, limit{scope: ScopeSlot, id: fmt.Sprint(r.SlotID)})
	}
	day := r.VisitDate.Format(time.DateOnly)
	for _, l := range ls {
		tag, err := tx.Exec(ctx, `UPDATE quota_holds SET quantity = quantity - $5
			WHERE order_id = $1 AND scope = $2 AND scope_id = $3 AND visit_date = $4 AND quantity >= $5`,
			orderID, l.scope, l.id, day, r.Quantity)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			continue // nothing held (already released)
		}
		if _, err := tx.Exec(ctx, `UPDATE quota_usage SET used = GREATEST(0, used - $4)
			WHERE scope = $1 AND scope_id = $2 AND visit_date = $3`, l.scope, l.id, day, r.Quantity); err != nil {
			return err
		}
	}
	return nil
}

// Availability is what is left of each limit on a day.
type Availability struct {
	Scope     string `json:"scope"`
	ID        string `json:"id"`
	Capacity  *int   `json:"capacity"` // null: no limit
	Used      int    `json:"used"`
	Remaining *int   `json:"remaining"`
}

// Available reports the limits that apply to r, and the places left.
func Available(ctx context.Context, db DB, r Request) ([]Availability, error) {
	ls, err := limits(ctx, db, r, false)
	if err != nil {
		return nil, err
	}
	day := r.VisitDate.Format(time.DateOnly)
	out := make([]Availability, 0, len(ls))
	for _, l := range ls {
		a := Availability{Scope: l.scope, ID: l.id, Capacity: l.capacity}
		err := db.QueryRow(ctx, `SELECT used FROM quota_usage WHERE scope = $1 AND scope_id = $2 AND visit_date = $3`,
			l.scope, l.id, day).Scan(&a.Used)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		if l.capacity != nil {
			left := max(0, *l.capacity-a.Used)
			a.Remaining = &left
		}
		out = append(out, a)
	}
	return out, nil
}
