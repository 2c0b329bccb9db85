package member

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/credential"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/web"
)

// Config configures the members API.
type Config struct {
	Pool  *pgxpool.Pool
	Clock web.Clock
	Log   *slog.Logger
	// HolderIDSecret keys the look-up hash of ID numbers (members.id_hash,
	// as tickets.holder_id_hash); the same secret orders uses. At least 32
	// bytes. The gate's key is derived from it (credential.GateIDKey).
	HolderIDSecret []byte
	// KEK opens the signing keys: a pass moved to a new card gets a new
	// code version (see package keys).
	KEK *keys.KEK
	// MaxImportBytes bounds an uploaded CSV or XLSX file, in bytes.
	MaxImportBytes int64
	// MaxImportRows bounds the data rows of one import.
	MaxImportRows int
	// MaxRechargeMinor bounds one recharge, in minor units.
	MaxRechargeMinor int64
}

// DefaultConfig returns the defaults; set Pool, KEK and HolderIDSecret.
func DefaultConfig() Config {
	return Config{
		Clock:            web.SystemClock{},
		Log:              slog.Default(),
		MaxImportBytes:   8 << 20,
		MaxImportRows:    20000,
		MaxRechargeMinor: 10_000_00 * 100, // 1,000,000.00
	}
}

// Validate says what is missing or out of range.
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("member: Pool is required"))
	}
	if c.Clock == nil || c.Log == nil {
		errs = append(errs, errors.New("member: Clock and Log are required"))
	}
	if c.KEK == nil {
		errs = append(errs, errors.New("member: KEK is required (the signing keys' key-encryption key)"))
	}
	if len(c.HolderIDSecret) < 32 {
		errs = append(errs, fmt.Errorf("member: HolderIDSecret must have at least 32 bytes, has %d", len(c.HolderIDSecret)))
	}
	if c.MaxImportBytes < 1<<10 || c.MaxImportBytes > 256<<20 {
		errs = append(errs, fmt.Errorf("member: MaxImportBytes %d must be 1 KiB-256 MiB", c.MaxImportBytes))
	}
	if c.MaxImportRows < 1 || c.MaxImportRows > 1_000_000 {
		errs = append(errs, fmt.Errorf("member: MaxImportRows %d must be 1-1000000", c.MaxImportRows))
	}
	if c.MaxRechargeMinor < 1 {
		errs = append(errs, errors.New("member: MaxRechargeMinor must be positive"))
	}
	return errors.Join(errs...)
}

// API manages members, cards, stored value and points.
type API struct {
	cfg     Config
	gateKey []byte
}

// NewAPI checks cfg.
func NewAPI(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &API{cfg: cfg, gateKey: credential.GateIDKey(cfg.HolderIDSecret)}, nil
}

func (a *API) now() time.Time { return a.cfg.Clock.Now() }

// DB is a pgx.Tx or a pool.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func bad(code, format string, args ...any) error {
	return web.Problemf(http.StatusBadRequest, code, format, args...)
}

func conflict(code, format string, args ...any) error {
	return web.Problemf(http.StatusConflict, code, format, args...)
}

func notFound(code, format string, args ...any) error {
	return web.Problemf(http.StatusNotFound, code, format, args...)
}
