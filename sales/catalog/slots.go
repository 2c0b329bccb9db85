package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

const slotCols = `id, product_id, to_char(starts, 'HH24:MI'), to_char(ends, 'HH24:MI'), capacity`

func scanSlot(r pgx.Row) (Slot, error) {
	var s Slot
	return s, r.Scan(&s.ID, &s.ProductID, &s.Start, &s.End, &s.Capacity)
}

// GetSlot returns the time slot, or ErrNotFound.
func GetSlot(ctx context.Context, db DB, id int64) (Slot, error) {
	s, err := scanSlot(db.QueryRow(ctx, `SELECT `+slotCols+` FROM time_slots WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, notFound("slot_not_found", "time slot %d does not exist", id)
	}
	return s, err
}

// ListSlots returns the product's time slots by start.
func ListSlots(ctx context.Context, db DB, productID string) ([]Slot, error) {
	rows, err := db.Query(ctx, `SELECT `+slotCols+` FROM time_slots WHERE product_id = $1 ORDER BY starts`, productID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanSlot)
}

// CreateSlot adds a time slot to a product that has slots; two slots of a
// product cannot start at the same time.
func CreateSlot(ctx context.Context, tx pgx.Tx, by web.Principal, productID string, in SlotInput) (Slot, error) {
	if err := in.Validate(); err != nil {
		return Slot{}, err
	}
	var hasSlots bool
	err := tx.QueryRow(ctx, `SELECT has_slots FROM products WHERE id = $1 FOR SHARE`, productID).Scan(&hasSlots)
	if errors.Is(err, pgx.ErrNoRows) {
		return Slot{}, productNotFound(productID)
	}
	if err != nil {
		return Slot{}, err
	}
	if !hasSlots {
		return Slot{}, invalid("no_slots", `product %q is not sold by time slot; set "has_slots" first`, productID)
	}
	s, err := scanSlot(tx.QueryRow(ctx, `INSERT INTO time_slots (product_id, starts, ends, capacity)
		VALUES ($1, $2::time, $3::time, $4) ON CONFLICT (product_id, starts) DO NOTHING RETURNING `+slotCols,
		productID, in.Start, in.End, in.Capacity))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, conflict("slot_exists", "product %q already has a slot starting at %s", productID, in.Start)
	}
	if err != nil {
		return s, fmt.Errorf("create slot: %w", err)
	}
	return s, audit.Record(ctx, tx, by, "slot.create", "slot", fmt.Sprint(s.ID), map[string]any{"product_id": productID, "slot": in})
}
