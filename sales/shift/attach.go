package shift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is a pgx.Tx (normally) or a pool.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// SettingsKey is the settings row that holds Settings.
const SettingsKey = "shifts"

// Settings are the park operator's shift rules (settings row "shifts").
type Settings struct {
	// Required refuses window sales and payouts without an open shift.
	Required bool `json:"required"`
	// MaxOpenMinutes: a shift open longer is overdue (reports, metric).
	MaxOpenMinutes int `json:"max_open_minutes"`
}

// DefaultSettings apply while no settings row exists: shifts required,
// overdue after 12 hours.
func DefaultSettings() Settings { return Settings{Required: true, MaxOpenMinutes: 12 * 60} }

// Validate checks s.
func (s Settings) Validate() error {
	if s.MaxOpenMinutes < 1 || s.MaxOpenMinutes > 7*24*60 {
		return invalid("bad_settings", `"max_open_minutes" must be 1-%d, not %d`, 7*24*60, s.MaxOpenMinutes)
	}
	return nil
}

// ReadSettings returns the settings row, or DefaultSettings.
func ReadSettings(ctx context.Context, db DB) (Settings, error) {
	s := DefaultSettings()
	var raw []byte
	err := db.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, SettingsKey).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return DefaultSettings(), fmt.Errorf("settings %q: %w", SettingsKey, err)
	}
	return s, nil
}

// WriteSettings stores s.
func WriteSettings(ctx context.Context, db DB, s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()`, SettingsKey, b)
	return err
}

// lockOpen returns userID's open shift locked FOR SHARE in tx, and its
// sales point; id 0 when there is none. A close that committed first makes
// the row no longer match (status is re-checked after the lock wait).
func lockOpen(ctx context.Context, tx DB, userID int64) (id int64, salesPoint string, err error) {
	err = tx.QueryRow(ctx, `SELECT id, sales_point_id FROM shifts WHERE user_id = $1 AND status = 'open' FOR SHARE`, userID).
		Scan(&id, &salesPoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", nil
	}
	return id, salesPoint, err
}

// Attach finds the shift a money movement by userID at salesPointID
// belongs to, locked FOR SHARE in tx until it commits (so no close passes
// it): the user's open shift at that sales point. Without one it returns 0
// when shifts are not required, else a 409 no_open_shift problem
// (ErrNoOpenShift). An open shift at another sales point is a 409
// wrong_sales_point problem.
func Attach(ctx context.Context, tx DB, userID int64, salesPointID string) (int64, error) {
	id, found, err := Optional(ctx, tx, userID, salesPointID)
	if err != nil || found {
		return id, err
	}
	s, err := ReadSettings(ctx, tx)
	if err != nil {
		return 0, err
	}
	if s.Required {
		return 0, problem(ErrNoOpenShift, http.StatusConflict, "no_open_shift",
			"you have no open shift: open one at POST /v1/shifts before selling at a window")
	}
	return 0, nil
}

// Optional is Attach without the requirement: the open shift locked FOR
// SHARE and found true, or 0 and false.
func Optional(ctx context.Context, tx DB, userID int64, salesPointID string) (int64, bool, error) {
	if userID == 0 {
		return 0, false, nil
	}
	id, sp, err := lockOpen(ctx, tx, userID)
	if err != nil || id == 0 {
		return 0, false, err
	}
	if salesPointID != "" && sp != salesPointID {
		return 0, false, problem(ErrState, http.StatusConflict, "wrong_sales_point",
			"your open shift %d is at sales point %s, not %s: close it first", id, sp, salesPointID)
	}
	return id, true, nil
}

// Required reports whether window sales need an open shift.
func Required(ctx context.Context, db DB) (bool, error) {
	s, err := ReadSettings(ctx, db)
	return s.Required, err
}
