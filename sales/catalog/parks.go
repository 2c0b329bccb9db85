package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/sync/outbox"
)

const parkCols = `id, name, time_zone, currency, daily_capacity, capacity_warn,
	coalesce(to_char(opens_at, 'HH24:MI'), ''), coalesce(to_char(closes_at, 'HH24:MI'), ''), created_at`

func scanPark(row pgx.Row) (Park, error) {
	var p Park
	err := row.Scan(&p.ID, &p.Name, &p.TimeZone, &p.Currency, &p.DailyCapacity, &p.CapacityWarn,
		&p.OpensAt, &p.ClosesAt, &p.CreatedAt)
	if err != nil {
		return p, err
	}
	if loc, err := loadLocation(p.TimeZone); err == nil {
		p.loc = loc
	}
	return p, nil
}

// GetPark returns the park, or ErrNotFound.
func GetPark(ctx context.Context, db DB, id string) (Park, error) {
	p, err := scanPark(db.QueryRow(ctx, `SELECT `+parkCols+` FROM parks WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, notFound("park_not_found", "park %q does not exist", id)
	}
	return p, err
}

// ListParks returns every park by id.
func ListParks(ctx context.Context, db DB) ([]Park, error) {
	rows, err := db.Query(ctx, `SELECT `+parkCols+` FROM parks ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPark)
}

func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CreatePark adds a park.
func CreatePark(ctx context.Context, tx pgx.Tx, by web.Principal, in ParkInput) (Park, error) {
	if in.Currency == "" {
		in.Currency = "CNY"
	}
	if err := in.Validate(); err != nil {
		return Park{}, err
	}
	p, err := scanPark(tx.QueryRow(ctx, `INSERT INTO parks (id, name, time_zone, currency, daily_capacity, capacity_warn, opens_at, closes_at)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, '')::time, NULLIF($8, '')::time)
		ON CONFLICT (id) DO NOTHING RETURNING `+parkCols,
		in.ID, in.Name, in.TimeZone, in.Currency, in.DailyCapacity, in.CapacityWarn, in.OpensAt, in.ClosesAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return Park{}, conflict("park_exists", "park %q already exists", in.ID)
	}
	if err != nil {
		return Park{}, fmt.Errorf("create park: %w", err)
	}
	// The park's cluster learns which park it serves, its time zone and the
	// keys that sign the park's codes.
	set, err := keys.ForClusters(ctx, tx)
	if err != nil {
		return Park{}, err
	}
	if _, err := outbox.WriteConfigure(ctx, tx, outbox.Configure{Park: p.ID, TimeZone: p.TimeZone, Keys: set}); err != nil {
		return Park{}, err
	}
	return p, audit.Record(ctx, tx, by, "park.create", "park", p.ID, in)
}

// UpdatePark changes a park (every field but its id). Its currency cannot
// change while it has products in another currency.
func UpdatePark(ctx context.Context, tx pgx.Tx, by web.Principal, in ParkInput) (Park, error) {
	if err := in.Validate(); err != nil {
		return Park{}, err
	}
	old, err := getParkForUpdate(ctx, tx, in.ID)
	if err != nil {
		return Park{}, err
	}
	if in.Currency != old.Currency {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM products WHERE park_id = $1 AND currency <> $2`, in.ID, in.Currency).Scan(&n); err != nil {
			return Park{}, err
		}
		if n > 0 {
			return Park{}, conflict("currency_in_use", "park %q has %d products priced in %s; change them before the park's currency", in.ID, n, old.Currency)
		}
	}
	p, err := scanPark(tx.QueryRow(ctx, `UPDATE parks SET name = $2, time_zone = $3, currency = $4, daily_capacity = $5,
		capacity_warn = $6, opens_at = NULLIF($7, '')::time, closes_at = NULLIF($8, '')::time
		WHERE id = $1 RETURNING `+parkCols,
		in.ID, in.Name, in.TimeZone, in.Currency, in.DailyCapacity, in.CapacityWarn, in.OpensAt, in.ClosesAt))
	if err != nil {
		return Park{}, fmt.Errorf("update park: %w", err)
	}
	if p.TimeZone != old.TimeZone {
		if _, err := outbox.WriteConfigure(ctx, tx, outbox.Configure{Park: p.ID, TimeZone: p.TimeZone}); err != nil {
			return Park{}, err
		}
	}
	return p, audit.Record(ctx, tx, by, "park.update", "park", p.ID, map[string]any{"before": old.Input(), "after": in})
}

// getParkForUpdate reads the park in tx and locks it against changes
// until tx ends.
func getParkForUpdate(ctx context.Context, tx DB, id string) (Park, error) {
	p, err := scanPark(tx.QueryRow(ctx, `SELECT `+parkCols+` FROM parks WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, notFound("park_not_found", "park %q does not exist", id)
	}
	return p, err
}

func lockPark(ctx context.Context, tx DB, id string) (Park, error) {
	p, err := scanPark(tx.QueryRow(ctx, `SELECT `+parkCols+` FROM parks WHERE id = $1 FOR SHARE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, notFound("park_not_found", "park %q does not exist", id)
	}
	return p, err
}

// ListZones returns the park's zones by id.
func ListZones(ctx context.Context, db DB, parkID string) ([]Zone, error) {
	rows, err := db.Query(ctx, `SELECT park_id, id, name, cap, warn, bit FROM zones WHERE park_id = $1 ORDER BY id`, parkID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.Row) (Zone, error) {
		var z Zone
		return z, r.Scan(&z.ParkID, &z.ID, &z.Name, &z.Cap, &z.Warn, &z.Bit)
	})
}

// SetZone creates or changes a zone of the park (created tells which) and
// queues the change for the park's cluster.
func SetZone(ctx context.Context, tx pgx.Tx, by web.Principal, parkID string, in ZoneInput) (z Zone, created bool, err error) {
	if err := in.Validate(); err != nil {
		return z, false, err
	}
	if _, err := lockPark(ctx, tx, parkID); err != nil {
		return z, false, err
	}
	// A new zone takes the lowest free bit (creation order: zones are never
	// deleted; the park row is locked); an existing one keeps its bit.
	err = tx.QueryRow(ctx, `INSERT INTO zones (park_id, id, name, cap, warn, bit) VALUES ($1, $2, $3, $4, $5,
			(SELECT b FROM generate_series(0, 31) b WHERE NOT EXISTS (SELECT 1 FROM zones WHERE park_id = $1 AND bit = b) ORDER BY b LIMIT 1))
		ON CONFLICT (park_id, id) DO UPDATE SET name = EXCLUDED.name, cap = EXCLUDED.cap, warn = EXCLUDED.warn
		RETURNING park_id, id, name, cap, warn, bit, xmax = 0`, parkID, in.ID, in.Name, in.Cap, in.Warn).
		Scan(&z.ParkID, &z.ID, &z.Name, &z.Cap, &z.Warn, &z.Bit, &created)
	if err != nil {
		return z, false, fmt.Errorf("set zone: %w", err)
	}
	oz := outbox.Zone{ID: z.ID, Cap: uint32(z.Cap), Warn: uint32(z.Warn)}
	if z.Bit != nil {
		b := int(*z.Bit)
		oz.Bit = &b // offline gate agents check codes' zone masks with it
	}
	if _, err := outbox.WriteConfigure(ctx, tx, outbox.Configure{Park: parkID, Zones: []outbox.Zone{oz}}); err != nil {
		return z, false, err
	}
	action := "zone.update"
	if created {
		action = "zone.create"
	}
	return z, created, audit.Record(ctx, tx, by, action, "zone", parkID+"/"+z.ID, in)
}

// ListGates returns the park's gates by id.
func ListGates(ctx context.Context, db DB, parkID string) ([]Gate, error) {
	rows, err := db.Query(ctx, `SELECT park_id, id, zone_id, direction FROM gates WHERE park_id = $1 ORDER BY id`, parkID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.Row) (Gate, error) {
		var g Gate
		return g, r.Scan(&g.ParkID, &g.ID, &g.Zone, &g.Direction)
	})
}

// SetGate creates or changes a gate of the park (created tells which) and
// queues the change for the park's cluster. Its zone must exist.
func SetGate(ctx context.Context, tx pgx.Tx, by web.Principal, parkID string, in GateInput) (g Gate, created bool, err error) {
	if err := in.Validate(); err != nil {
		return g, false, err
	}
	if _, err := lockPark(ctx, tx, parkID); err != nil {
		return g, false, err
	}
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM zones WHERE park_id = $1 AND id = $2)`, parkID, in.Zone).Scan(&ok); err != nil {
		return g, false, err
	}
	if !ok {
		return g, false, invalid("unknown_zone", "zone %q does not exist in park %q; create it first (POST /v1/parks/%s/zones)", in.Zone, parkID, parkID)
	}
	err = tx.QueryRow(ctx, `INSERT INTO gates (park_id, id, zone_id, direction) VALUES ($1, $2, $3, $4)
		ON CONFLICT (park_id, id) DO UPDATE SET zone_id = EXCLUDED.zone_id, direction = EXCLUDED.direction
		RETURNING park_id, id, zone_id, direction, xmax = 0`, parkID, in.ID, in.Zone, in.Direction).
		Scan(&g.ParkID, &g.ID, &g.Zone, &g.Direction, &created)
	if err != nil {
		return g, false, fmt.Errorf("set gate: %w", err)
	}
	if _, err := outbox.WriteConfigure(ctx, tx, outbox.Configure{Park: parkID, Gates: []outbox.Gate{{ID: g.ID, Zone: g.Zone, Direction: g.Direction}}}); err != nil {
		return g, false, err
	}
	action := "gate.update"
	if created {
		action = "gate.create"
	}
	return g, created, audit.Record(ctx, tx, by, action, "gate", parkID+"/"+g.ID, in)
}
