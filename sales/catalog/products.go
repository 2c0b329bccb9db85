package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

const productCols = `id, park_id, name, kind, entries, zones, valid_days, has_slots, real_name, max_per_order,
	daily_quota, sales_stopped, price_minor, currency, refundable, refund_until_hours, refund_fee_minor,
	refund_fee_percent, date_change_allowed, active, created_at, updated_at`

func scanProduct(r pgx.Row) (Product, error) {
	var p Product
	err := r.Scan(&p.ID, &p.ParkID, &p.Name, &p.Kind, &p.Entries, &p.Zones, &p.ValidDays, &p.HasSlots, &p.RealName,
		&p.MaxPerOrder, &p.DailyQuota, &p.SalesStopped, &p.PriceMinor, &p.Currency, &p.Refundable,
		&p.RefundUntilHours, &p.RefundFeeMinor, &p.RefundFeePercent, &p.DateChangeAllowed, &p.Active,
		&p.CreatedAt, &p.UpdatedAt)
	if p.Zones == nil {
		p.Zones = []string{}
	}
	return p, err
}

func productNotFound(id string) error {
	return notFound("product_not_found", "product %q does not exist", id)
}

// GetProduct returns the product, or ErrNotFound.
func GetProduct(ctx context.Context, db DB, id string) (Product, error) {
	p, err := scanProduct(db.QueryRow(ctx, `SELECT `+productCols+` FROM products WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, productNotFound(id)
	}
	return p, err
}

// getProductForUpdate reads the product in tx and locks it against
// changes until tx ends.
func getProductForUpdate(ctx context.Context, tx DB, id string) (Product, error) {
	p, err := scanProduct(tx.QueryRow(ctx, `SELECT `+productCols+` FROM products WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, productNotFound(id)
	}
	return p, err
}

// LockProductForSale reads the product in tx with a share lock, and
// refuses (409) one that is inactive or whose sales are stopped. An order
// that calls it before taking places is ordered against StopSales: a stop
// waits for orders already past this point, and orders after the stop see
// it.
func LockProductForSale(ctx context.Context, tx pgx.Tx, id string) (Product, error) {
	p, err := scanProduct(tx.QueryRow(ctx, `SELECT `+productCols+` FROM products WHERE id = $1 FOR SHARE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, productNotFound(id)
	}
	if err != nil {
		return p, err
	}
	return p, p.OnSale()
}

// ProductFilter narrows ListProducts.
type ProductFilter struct {
	ParkID     string // "": every park
	ActiveOnly bool
}

// ListProducts returns products by id.
func ListProducts(ctx context.Context, db DB, f ProductFilter) ([]Product, error) {
	rows, err := db.Query(ctx, `SELECT `+productCols+` FROM products
		WHERE ($1 = '' OR park_id = $1) AND (active OR NOT $2) ORDER BY id`, f.ParkID, f.ActiveOnly)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanProduct)
}

// checkInPark validates what depends on the product's park: it exists,
// the currency is the park's (defaulting to it), the zones are the park's.
func checkInPark(ctx context.Context, tx DB, in *ProductInput) error {
	park, err := lockPark(ctx, tx, in.ParkID)
	if errors.Is(err, ErrNotFound) {
		return invalid("unknown_park", `"park_id": park %q does not exist`, in.ParkID)
	}
	if err != nil {
		return err
	}
	if in.Currency == "" {
		in.Currency = park.Currency
	}
	if in.Currency != park.Currency {
		return invalid("currency_mismatch", `"currency" %s differs from park %q's currency %s; a park sells in one currency`, in.Currency, park.ID, park.Currency)
	}
	if in.Zones == nil {
		in.Zones = []string{}
	}
	if len(in.Zones) == 0 {
		return nil
	}
	zones, err := ListZones(ctx, tx, park.ID)
	if err != nil {
		return err
	}
	ids := make([]string, len(zones))
	for i, z := range zones {
		ids[i] = z.ID
	}
	for _, z := range in.Zones {
		if !slices.Contains(ids, z) {
			known := "it has no zones yet"
			if len(ids) > 0 {
				known = "its zones: " + strings.Join(ids, ", ")
			}
			return invalid("unknown_zone", `zone %q in "zones" is not a zone of park %q (%s)`, z, park.ID, known)
		}
	}
	return nil
}

// CreateProduct adds a product. Start from NewProductInput for defaults.
func CreateProduct(ctx context.Context, tx pgx.Tx, by web.Principal, in ProductInput) (Product, error) {
	if err := in.Validate(); err != nil {
		return Product{}, err
	}
	if err := checkInPark(ctx, tx, &in); err != nil {
		return Product{}, err
	}
	p, err := scanProduct(tx.QueryRow(ctx, `INSERT INTO products (id, park_id, name, kind, entries, zones, valid_days,
		has_slots, real_name, max_per_order, daily_quota, price_minor, currency, refundable, refund_until_hours,
		refund_fee_minor, refund_fee_percent, date_change_allowed, active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT (id) DO NOTHING RETURNING `+productCols,
		in.ID, in.ParkID, in.Name, in.Kind, in.Entries, in.Zones, in.ValidDays, in.HasSlots, in.RealName,
		in.MaxPerOrder, in.DailyQuota, in.PriceMinor, in.Currency, in.Refundable, in.RefundUntilHours,
		in.RefundFeeMinor, in.RefundFeePercent, in.DateChangeAllowed, in.Active))
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, conflict("product_exists", "product %q already exists", in.ID)
	}
	if err != nil {
		return Product{}, fmt.Errorf("create product: %w", err)
	}
	return p, audit.Record(ctx, tx, by, "product.create", "product", p.ID, in)
}

// UpdateProduct changes a product (every field but its id, its park and
// its sales stop). Tickets already sold keep what they were sold with.
func UpdateProduct(ctx context.Context, tx pgx.Tx, by web.Principal, in ProductInput) (Product, error) {
	if err := in.Validate(); err != nil {
		return Product{}, err
	}
	old, err := getProductForUpdate(ctx, tx, in.ID)
	if err != nil {
		return Product{}, err
	}
	if in.ParkID != old.ParkID {
		return Product{}, invalid("park_immutable", `product %q belongs to park %q; "park_id" cannot change`, in.ID, old.ParkID)
	}
	if err := checkInPark(ctx, tx, &in); err != nil {
		return Product{}, err
	}
	p, err := scanProduct(tx.QueryRow(ctx, `UPDATE products SET name = $2, kind = $3, entries = $4, zones = $5,
		valid_days = $6, has_slots = $7, real_name = $8, max_per_order = $9, daily_quota = $10, price_minor = $11,
		currency = $12, refundable = $13, refund_until_hours = $14, refund_fee_minor = $15, refund_fee_percent = $16,
		date_change_allowed = $17, active = $18, updated_at = now()
		WHERE id = $1 RETURNING `+productCols,
		in.ID, in.Name, in.Kind, in.Entries, in.Zones, in.ValidDays, in.HasSlots, in.RealName, in.MaxPerOrder,
		in.DailyQuota, in.PriceMinor, in.Currency, in.Refundable, in.RefundUntilHours, in.RefundFeeMinor,
		in.RefundFeePercent, in.DateChangeAllowed, in.Active))
	if err != nil {
		return Product{}, fmt.Errorf("update product: %w", err)
	}
	return p, audit.Record(ctx, tx, by, "product.update", "product", p.ID, map[string]any{"before": old.Input(), "after": in})
}

// StopSales stops every sale of the product at once (no window, kiosk, shop
// or distributor sells it) until ResumeSales. Stopping a stopped product
// changes nothing.
func StopSales(ctx context.Context, tx pgx.Tx, by web.Principal, id string) (Product, error) {
	return setSalesStopped(ctx, tx, by, id, true)
}

// ResumeSales lifts a stop of sales.
func ResumeSales(ctx context.Context, tx pgx.Tx, by web.Principal, id string) (Product, error) {
	return setSalesStopped(ctx, tx, by, id, false)
}

func setSalesStopped(ctx context.Context, tx pgx.Tx, by web.Principal, id string, stop bool) (Product, error) {
	p, err := scanProduct(tx.QueryRow(ctx, `UPDATE products SET sales_stopped = $2, updated_at = now()
		WHERE id = $1 AND sales_stopped <> $2 RETURNING `+productCols, id, stop))
	if errors.Is(err, pgx.ErrNoRows) {
		return GetProduct(ctx, tx, id) // unknown, or already so
	}
	if err != nil {
		return p, err
	}
	action := "product.resume_sales"
	if stop {
		action = "product.stop_sales"
	}
	return p, audit.Record(ctx, tx, by, action, "product", id, nil)
}
