package quota_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/quota"
)

// raceBuyers is how many buyers race for the last places, each in its own
// transaction on its own connection; raceLimit is the binding limit.
const (
	raceBuyers = 60
	raceLimit  = 20
)

// newRaceFixture is a fixture whose pool has a connection for every buyer
// at once, so that all of them can be inside Take together.
func newRaceFixture(t *testing.T) *fixture {
	t.Helper()
	pool, err := db.Open(t.Context(), pgtest.NewDSN(t), db.PoolConfig{MaxConns: raceBuyers + 4, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &fixture{t: t, ctx: t.Context(), pool: pool}
}

// TestRaceEachLimitAlone races buyers against each kind of limit while it
// is the only one that binds: a park's daily capacity (across two
// products), a product's daily quota, a time slot's capacity. Exactly the
// limit is sold, never one more.
//
// The race is made certain rather than left to scheduling: after a first
// sale has created the day's counter rows, a gate transaction locks every
// counter row of the day (SELECT ... FOR UPDATE, which does not block the
// counters' INSERT ... ON CONFLICT DO NOTHING), every buyer starts Take,
// and the gate lets go only once all of them are waiting on a row lock.
// With the conditional UPDATE each buyer's check is made on the row it
// finally locks; code that read the counter, checked it and then updated
// it would let every waiting buyer through, having read the same count.
func TestRaceEachLimitAlone(t *testing.T) {
	cases := []struct {
		name         string
		parkCap      *int
		productQuota *int
		slotCap      int // 0: the products have no slots
		scope        string
	}{
		{name: "park", parkCap: ptr(raceLimit), productQuota: ptr(10 * raceBuyers), scope: quota.ScopePark},
		{name: "product", productQuota: ptr(raceLimit), scope: quota.ScopeProduct},
		{name: "slot", parkCap: ptr(10 * raceBuyers), slotCap: raceLimit, scope: quota.ScopeSlot},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newRaceFixture(t)
			f.park("p1", c.parkCap)
			f.product("p1", "adult", c.productQuota)
			f.product("p1", "child", c.productQuota) // a second product: only the park limit spans both
			reqs := []quota.Request{{ParkID: "p1", ProductID: "adult", VisitDate: day, Quantity: 1}}
			if c.name == "park" {
				reqs = append(reqs, quota.Request{ParkID: "p1", ProductID: "child", VisitDate: day, Quantity: 1})
			}
			if c.slotCap != 0 {
				reqs[0].SlotID = f.slot("adult", "10:00", c.slotCap)
			}
			scopeID := map[string]string{quota.ScopePark: "p1", quota.ScopeProduct: "adult", quota.ScopeSlot: fmt.Sprint(reqs[0].SlotID)}[c.scope]

			f.mustTake(reqs[0]) // creates the day's counter rows; raceLimit-1 places are left
			results := raceThroughGate(t, f, raceBuyers, func(i int) error {
				_, err := f.take(reqs[i%len(reqs)])
				return err
			})

			ok, refused := 0, 0
			for i, err := range results {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, quota.ErrExhausted):
					refused++
					wantExhausted(t, err, c.scope+" "+scopeID, "0 left, 1 asked")
				default:
					t.Errorf("buyer %d: %v", i, err)
				}
			}
			t.Logf("%s limit %d: 1 sold before the race, %d of %d racing buyers took a place, %d refused",
				c.scope, raceLimit, ok, raceBuyers, refused)
			if ok != raceLimit-1 || refused != raceBuyers-(raceLimit-1) {
				t.Fatalf("%d racing buyers took a place and %d were refused; want %d and %d (the %s limit is %d and 1 was sold before)",
					ok, refused, raceLimit-1, raceBuyers-(raceLimit-1), c.scope, raceLimit)
			}
			if got := f.used(c.scope, scopeID, day); got != raceLimit {
				t.Errorf("%s %s used = %d, want exactly the limit %d", c.scope, scopeID, got, raceLimit)
			}
			// Refused orders roll back every scope: the park counts every
			// place sold, whatever limit bound.
			if got := f.used(quota.ScopePark, "p1", day); got != raceLimit {
				t.Errorf("park used = %d, want %d", got, raceLimit)
			}
			var holders, held int
			if err := f.pool.QueryRow(f.ctx, `SELECT count(DISTINCT order_id), coalesce(sum(quantity), 0) FROM quota_holds
				WHERE scope = $1 AND scope_id = $2`, c.scope, scopeID).Scan(&holders, &held); err != nil {
				t.Fatal(err)
			}
			if holders != raceLimit || held != raceLimit {
				t.Errorf("%d orders hold %d places of %s %s, want %d and %d", holders, held, c.scope, scopeID, raceLimit, raceLimit)
			}
		})
	}
}

// raceThroughGate runs buy(i) for n buyers at once while a gate
// transaction holds every quota counter row of day locked, waits until
// each buyer is either done or waiting on a lock, then lets them all go.
// It returns each buyer's error.
func raceThroughGate(t *testing.T, f *fixture, n int, buy func(i int) error) []error {
	t.Helper()
	errs := make([]error, n)
	pgtest.RaceBehindLock(t, f.ctx, f.pool, `SELECT count(*) FROM (SELECT 1 FROM quota_usage WHERE visit_date = $1::date
		ORDER BY array_position(ARRAY['park', 'product', 'slot'], scope), scope_id FOR UPDATE) l`, []any{day.Format(time.DateOnly)},
		n, func(i int) { errs[i] = buy(i) })
	return errs
}
