package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// dateOf is the YYYY-MM-DD of t's own year, month and day.
func dateOf(t time.Time) string { return t.Format(time.DateOnly) }

// PriceFor is the product's unit price (minor units, in its currency) on
// visitDate (its year, month and day): the override for that date if any,
// else the base price. ErrNotFound for an unknown product.
func PriceFor(ctx context.Context, db DB, productID string, visitDate time.Time) (int64, error) {
	var price int64
	err := db.QueryRow(ctx, `SELECT coalesce(o.price_minor, p.price_minor) FROM products p
		LEFT JOIN price_overrides o ON o.product_id = p.id AND o.visit_date = $2::date
		WHERE p.id = $1`, productID, dateOf(visitDate)).Scan(&price)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, productNotFound(productID)
	}
	return price, err
}

// GetProductPrice returns the product and its unit price on visitDate (as
// PriceFor: the override for that date, else the base price) in one read;
// ErrNotFound for an unknown product.
func GetProductPrice(ctx context.Context, db DB, productID string, visitDate time.Time) (Product, int64, error) {
	var price int64
	p, err := scanProduct(withCols{db.QueryRow(ctx, `SELECT `+productCols+`,
			coalesce((SELECT o.price_minor FROM price_overrides o WHERE o.product_id = products.id AND o.visit_date = $2::date), price_minor)
		FROM products WHERE id = $1`, productID, dateOf(visitDate)), []any{&price}})
	if errors.Is(err, pgx.ErrNoRows) {
		return p, 0, productNotFound(productID)
	}
	return p, price, err
}

// withCols scans a row whose columns after the first ones go into extra.
type withCols struct {
	pgx.Row
	extra []any
}

func (r withCols) Scan(dest ...any) error { return r.Row.Scan(append(dest, r.extra...)...) }

// ListPrices returns the product's price overrides from from to to
// (inclusive; a zero time leaves that side open), by date.
func ListPrices(ctx context.Context, db DB, productID string, from, to time.Time) ([]PriceOverride, error) {
	f, t := "", ""
	if !from.IsZero() {
		f = dateOf(from)
	}
	if !to.IsZero() {
		t = dateOf(to)
	}
	rows, err := db.Query(ctx, `SELECT product_id, to_char(visit_date, 'YYYY-MM-DD'), price_minor FROM price_overrides
		WHERE product_id = $1 AND ($2 = '' OR visit_date >= $2::date) AND ($3 = '' OR visit_date <= $3::date)
		ORDER BY visit_date`, productID, f, t)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.Row) (PriceOverride, error) {
		var o PriceOverride
		return o, r.Scan(&o.ProductID, &o.Date, &o.PriceMinor)
	})
}

// SetPrice sets the product's price on one visit date, replacing any
// earlier override. Orders already placed keep their price.
func SetPrice(ctx context.Context, tx pgx.Tx, by web.Principal, productID string, visitDate time.Time, priceMinor int64) (PriceOverride, error) {
	o := PriceOverride{ProductID: productID, Date: dateOf(visitDate), PriceMinor: priceMinor}
	if err := checkPrice("price_minor", priceMinor); err != nil {
		return o, err
	}
	var base int64
	err := tx.QueryRow(ctx, `SELECT price_minor FROM products WHERE id = $1 FOR SHARE`, productID).Scan(&base)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, productNotFound(productID)
	}
	if err != nil {
		return o, err
	}
	var before *int64
	err = tx.QueryRow(ctx, `WITH old AS (SELECT price_minor FROM price_overrides WHERE product_id = $1 AND visit_date = $2::date FOR UPDATE),
		up AS (INSERT INTO price_overrides (product_id, visit_date, price_minor) VALUES ($1, $2::date, $3)
			ON CONFLICT (product_id, visit_date) DO UPDATE SET price_minor = EXCLUDED.price_minor)
		SELECT (SELECT price_minor FROM old)`, productID, o.Date, priceMinor).Scan(&before)
	if err != nil {
		return o, fmt.Errorf("set price: %w", err)
	}
	return o, audit.Record(ctx, tx, by, "price.set", "product", productID,
		map[string]any{"date": o.Date, "price_minor": priceMinor, "before": before, "base_price_minor": base})
}

// DeletePrice removes the product's override on one visit date, so the
// base price applies again. ErrNotFound when there is none.
func DeletePrice(ctx context.Context, tx pgx.Tx, by web.Principal, productID string, visitDate time.Time) error {
	day := dateOf(visitDate)
	var before int64
	err := tx.QueryRow(ctx, `DELETE FROM price_overrides WHERE product_id = $1 AND visit_date = $2::date RETURNING price_minor`,
		productID, day).Scan(&before)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := GetProduct(ctx, tx, productID); err != nil {
			return err
		}
		return notFound("price_not_found", "product %q has no price override on %s", productID, day)
	}
	if err != nil {
		return fmt.Errorf("delete price: %w", err)
	}
	return audit.Record(ctx, tx, by, "price.delete", "product", productID, map[string]any{"date": day, "before": before})
}
