package orders

// Small reads of the catalog tables (parks, products, prices, slots, sales
// points). They stand in for sales/catalog until that package is done; the
// queries read the schema in sales/db/migrations as it is.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/admitpark/admit/sales/web"
)

type productInfo struct {
	ID, ParkID, Name, Kind string
	Entries                int
	Zones                  []string
	ValidDays              int
	HasSlots, RealName     bool
	MaxPerOrder            int
	SalesStopped, Active   bool
	PriceMinor             int64 // for the date asked (override or list price)
	Currency               string
}

// readProduct returns a product with its price on day (YYYY-MM-DD).
func readProduct(ctx context.Context, db DB, id, day string) (productInfo, error) {
	var p productInfo
	err := db.QueryRow(ctx, `SELECT p.id, p.park_id, p.name, p.kind, p.entries, p.zones, p.valid_days, p.has_slots, p.real_name,
			p.max_per_order, p.sales_stopped, p.active,
			coalesce((SELECT o.price_minor FROM price_overrides o WHERE o.product_id = p.id AND o.visit_date = $2::date), p.price_minor),
			p.currency
		FROM products p WHERE p.id = $1`, id, day).Scan(&p.ID, &p.ParkID, &p.Name, &p.Kind, &p.Entries, &p.Zones, &p.ValidDays,
		&p.HasSlots, &p.RealName, &p.MaxPerOrder, &p.SalesStopped, &p.Active, &p.PriceMinor, &p.Currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, web.Problemf(http.StatusNotFound, "unknown_product", "no product %q", id)
	}
	return p, err
}

type parkInfo struct {
	ID, Name, TimeZone, Currency string
	Loc                          *time.Location
}

func (a *API) readPark(ctx context.Context, db DB, id string) (parkInfo, error) {
	var p parkInfo
	err := db.QueryRow(ctx, `SELECT id, name, time_zone, currency FROM parks WHERE id = $1`, id).
		Scan(&p.ID, &p.Name, &p.TimeZone, &p.Currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, web.Problemf(http.StatusNotFound, "unknown_park", "no park %q", id)
	}
	if err != nil {
		return p, err
	}
	p.Loc, err = a.location(p.TimeZone)
	return p, err
}

// location loads (and caches) an IANA zone.
func (a *API) location(name string) (*time.Location, error) {
	if l, ok := a.locs.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("park time zone %q: %w", name, err)
	}
	a.locs.Store(name, l)
	return l, nil
}

type slotInfo struct {
	ID           int64
	ProductID    string
	Starts, Ends time.Duration // since midnight
}

// at returns the slot's start and end on the park-local day.
func (s slotInfo) at(day time.Time, loc *time.Location) (time.Time, time.Time) {
	return clockOn(day, s.Starts, loc), clockOn(day, s.Ends, loc)
}

// clockOn is the wall-clock time d after midnight on day in loc (computed
// as a wall time, so a DST change that day does not shift it).
func clockOn(day time.Time, d time.Duration, loc *time.Location) time.Time {
	y, m, dd := day.Date()
	h, mi, s := int(d/time.Hour), int(d/time.Minute%60), int(d/time.Second%60)
	return time.Date(y, m, dd, h, mi, s, 0, loc)
}

func readSlot(ctx context.Context, db DB, id int64) (slotInfo, error) {
	var s slotInfo
	var starts, ends pgtype.Time
	err := db.QueryRow(ctx, `SELECT id, product_id, starts, ends FROM time_slots WHERE id = $1`, id).
		Scan(&s.ID, &s.ProductID, &starts, &ends)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, web.Problemf(http.StatusNotFound, "unknown_slot", "no time slot %d", id)
	}
	s.Starts = time.Duration(starts.Microseconds) * time.Microsecond
	s.Ends = time.Duration(ends.Microseconds) * time.Microsecond
	return s, err
}

type salesPointInfo struct {
	ID, ParkID, Kind string
	Active           bool
}

func readSalesPoint(ctx context.Context, db DB, id string) (salesPointInfo, error) {
	var s salesPointInfo
	err := db.QueryRow(ctx, `SELECT id, park_id, kind, active FROM sales_points WHERE id = $1`, id).
		Scan(&s.ID, &s.ParkID, &s.Kind, &s.Active)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, web.Problemf(http.StatusForbidden, "unknown_sales_point", "your sales point %q does not exist", id)
	}
	return s, err
}

func distributorActive(ctx context.Context, db DB, id int64) (bool, error) {
	var active bool
	err := db.QueryRow(ctx, `SELECT active FROM distributors WHERE id = $1`, id).Scan(&active)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return active, err
}
