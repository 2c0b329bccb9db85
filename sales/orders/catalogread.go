package orders

// The catalog as orders sees it: parks, products with their price on a
// visit date, slots and sales points, read through sales/catalog (which
// owns those tables and their queries). orders answers with its own
// problem codes (unknown_product, unknown_park, unknown_slot,
// unknown_sales_point) where the catalog says ErrNotFound. Distributors
// belong to sales/auth; distributorActive reads the one flag orders needs.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/web"
)

// productInfo is a catalog product with its price on the visit date asked.
type productInfo struct {
	catalog.Product
	PriceMinor int64 // on the visit date (override or list price); shadows Product.PriceMinor
}

// readProduct returns a product with its price on day.
func readProduct(ctx context.Context, db DB, id string, day time.Time) (productInfo, error) {
	p, price, err := catalog.GetProductPrice(ctx, db, id, day)
	if errors.Is(err, catalog.ErrNotFound) {
		return productInfo{}, web.Problemf(http.StatusNotFound, "unknown_product", "no product %q", id)
	}
	return productInfo{Product: p, PriceMinor: price}, err
}

// parkInfo is a catalog park with its time zone loaded.
type parkInfo struct {
	catalog.Park
	Loc *time.Location
}

func (a *API) readPark(ctx context.Context, db DB, id string) (parkInfo, error) {
	p, err := catalog.GetPark(ctx, db, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return parkInfo{}, web.Problemf(http.StatusNotFound, "unknown_park", "no park %q", id)
	}
	if err != nil {
		return parkInfo{}, err
	}
	loc, err := a.location(p.TimeZone)
	return parkInfo{Park: p, Loc: loc}, err
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

// clockOn is the wall-clock time d after midnight on day in loc (computed
// as a wall time, so a DST change that day does not shift it).
func clockOn(day time.Time, d time.Duration, loc *time.Location) time.Time {
	y, m, dd := day.Date()
	h, mi, s := int(d/time.Hour), int(d/time.Minute%60), int(d/time.Second%60)
	return time.Date(y, m, dd, h, mi, s, 0, loc)
}

func readSlot(ctx context.Context, db DB, id int64) (catalog.Slot, error) {
	s, err := catalog.GetSlot(ctx, db, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return s, web.Problemf(http.StatusNotFound, "unknown_slot", "no time slot %d", id)
	}
	return s, err
}

func readSalesPoint(ctx context.Context, db DB, id string) (catalog.SalesPoint, error) {
	s, err := catalog.GetSalesPoint(ctx, db, id)
	if errors.Is(err, catalog.ErrNotFound) {
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
