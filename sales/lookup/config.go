package lookup

import (
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config is what the lookup package needs.
type Config struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// IDHashSecret is the HMAC key for ID numbers; the same secret orders
	// uses to fill tickets.holder_id_hash. At least 16 bytes.
	IDHashSecret []byte
	// MaxResults bounds one list reply; more matches set "truncated".
	MaxResults int
}

// DefaultConfig returns the defaults; Pool and IDHashSecret must be set.
func DefaultConfig() Config {
	return Config{Log: slog.Default(), MaxResults: 200}
}

// Validate checks the config.
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("lookup: Config.Pool is required"))
	}
	if c.Log == nil {
		errs = append(errs, errors.New("lookup: Config.Log is required"))
	}
	if len(c.IDHashSecret) < 16 {
		errs = append(errs, errors.New("lookup: Config.IDHashSecret must hold at least 16 bytes (the secret orders hashes ID numbers with)"))
	}
	if c.MaxResults < 1 || c.MaxResults > 10000 {
		errs = append(errs, errors.New("lookup: Config.MaxResults must be 1-10000"))
	}
	return errors.Join(errs...)
}
