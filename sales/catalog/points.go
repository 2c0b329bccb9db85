package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// ListBusinessUnits returns the park's business units by name.
func ListBusinessUnits(ctx context.Context, db DB, parkID string) ([]BusinessUnit, error) {
	rows, err := db.Query(ctx, `SELECT id, park_id, name FROM business_units WHERE park_id = $1 ORDER BY name`, parkID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.Row) (BusinessUnit, error) {
		var b BusinessUnit
		return b, r.Scan(&b.ID, &b.ParkID, &b.Name)
	})
}

// CreateBusinessUnit adds a business unit to the park; names are unique
// in a park.
func CreateBusinessUnit(ctx context.Context, tx pgx.Tx, by web.Principal, parkID string, in BusinessUnitInput) (BusinessUnit, error) {
	var b BusinessUnit
	if err := checkName("name", in.Name); err != nil {
		return b, err
	}
	if _, err := lockPark(ctx, tx, parkID); err != nil {
		return b, err
	}
	err := tx.QueryRow(ctx, `INSERT INTO business_units (park_id, name) VALUES ($1, $2)
		ON CONFLICT (park_id, name) DO NOTHING RETURNING id, park_id, name`, parkID, in.Name).Scan(&b.ID, &b.ParkID, &b.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, conflict("business_unit_exists", "park %q already has a business unit named %q", parkID, in.Name)
	}
	if err != nil {
		return b, fmt.Errorf("create business unit: %w", err)
	}
	return b, audit.Record(ctx, tx, by, "business_unit.create", "business_unit", fmt.Sprint(b.ID), in)
}

const salesPointCols = `id, park_id, business_unit_id, name, kind, active`

func scanSalesPoint(r pgx.Row) (SalesPoint, error) {
	var s SalesPoint
	return s, r.Scan(&s.ID, &s.ParkID, &s.BusinessUnitID, &s.Name, &s.Kind, &s.Active)
}

// GetSalesPoint returns the sales point, or ErrNotFound.
func GetSalesPoint(ctx context.Context, db DB, id string) (SalesPoint, error) {
	s, err := scanSalesPoint(db.QueryRow(ctx, `SELECT `+salesPointCols+` FROM sales_points WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, notFound("sales_point_not_found", "sales point %q does not exist", id)
	}
	return s, err
}

// ListSalesPoints returns the sales points of a park ("" for every park)
// by id.
func ListSalesPoints(ctx context.Context, db DB, parkID string) ([]SalesPoint, error) {
	rows, err := db.Query(ctx, `SELECT `+salesPointCols+` FROM sales_points WHERE $1 = '' OR park_id = $1 ORDER BY id`, parkID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanSalesPoint)
}

// CreateSalesPoint adds a sales point. Its business unit, if any, must be
// one of its park's.
func CreateSalesPoint(ctx context.Context, tx pgx.Tx, by web.Principal, in SalesPointInput) (SalesPoint, error) {
	if err := in.Validate(); err != nil {
		return SalesPoint{}, err
	}
	if _, err := lockPark(ctx, tx, in.ParkID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return SalesPoint{}, invalid("unknown_park", `"park_id": park %q does not exist`, in.ParkID)
		}
		return SalesPoint{}, err
	}
	if in.BusinessUnitID != nil {
		var park string
		err := tx.QueryRow(ctx, `SELECT park_id FROM business_units WHERE id = $1`, *in.BusinessUnitID).Scan(&park)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && park != in.ParkID) {
			return SalesPoint{}, invalid("unknown_business_unit", `"business_unit_id": park %q has no business unit %d`, in.ParkID, *in.BusinessUnitID)
		}
		if err != nil {
			return SalesPoint{}, err
		}
	}
	active := in.Active == nil || *in.Active
	s, err := scanSalesPoint(tx.QueryRow(ctx, `INSERT INTO sales_points (id, park_id, business_unit_id, name, kind, active)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING `+salesPointCols,
		in.ID, in.ParkID, in.BusinessUnitID, in.Name, in.Kind, active))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, conflict("sales_point_exists", "sales point %q already exists", in.ID)
	}
	if err != nil {
		return s, fmt.Errorf("create sales point: %w", err)
	}
	return s, audit.Record(ctx, tx, by, "sales_point.create", "sales_point", s.ID, in)
}
