package shift

import (
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/sales/web"
)

// Config is what the shift API needs.
type Config struct {
	Pool  *pgxpool.Pool
	Clock web.Clock
	Log   *slog.Logger
	// Registerer receives admit_sales_shifts_open and
	// admit_sales_shifts_overdue (read from the database at scrape time);
	// nil registers none.
	Registerer prometheus.Registerer
	// MaxList bounds the shifts one list answers.
	MaxList int
}

// DefaultConfig returns the defaults; Pool must still be set.
func DefaultConfig() Config {
	return Config{Clock: web.SystemClock{}, Log: slog.Default(), MaxList: 1000}
}

// Validate checks the config.
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("shift: Config.Pool is required"))
	}
	if c.Clock == nil || c.Log == nil {
		errs = append(errs, errors.New("shift: Config.Clock and Config.Log are required"))
	}
	if c.MaxList < 1 {
		errs = append(errs, errors.New("shift: Config.MaxList must be at least 1"))
	}
	return errors.Join(errs...)
}
