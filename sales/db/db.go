package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors. Each is wrapped with %w and more detail.
var (
	// ErrInvalidPoolConfig: PoolConfig.Validate found a problem.
	ErrInvalidPoolConfig = errors.New("db: invalid pool config")
	// ErrOpen: Open could not parse the DSN or reach the database.
	ErrOpen = errors.New("db: cannot open database")
	// ErrBadMigration: a migration file is misnamed, empty, or the
	// versions are not unique and contiguous from 1.
	ErrBadMigration = errors.New("db: bad migration files")
	// ErrSchemaTooNew: the database has a migration version this binary
	// does not know; a newer admit migrated it.
	ErrSchemaTooNew = errors.New("db: database schema is newer than this binary")
	// ErrSchemaMismatch: the versions recorded in the database disagree
	// with this binary's migrations (a gap, or a version applied under
	// another name).
	ErrSchemaMismatch = errors.New("db: database schema does not match this binary's migrations")
	// ErrMigrationFailed: a migration's SQL failed; nothing of it was kept.
	ErrMigrationFailed = errors.New("db: migration failed")
)

// PoolConfig sizes the connection pool.
type PoolConfig struct {
	// MaxConns caps open connections.
	MaxConns int32
	// MinConns are kept open while idle.
	MinConns int32
	// ConnectTimeout bounds dialling and authenticating one connection.
	ConnectTimeout time.Duration
}

// DefaultPoolConfig returns settings for one sales process.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{MaxConns: 16, MinConns: 1, ConnectTimeout: 5 * time.Second}
}

// Validate reports the first problem with c.
func (c PoolConfig) Validate() error {
	switch {
	case c.MaxConns < 1 || c.MaxConns > 1000:
		return fmt.Errorf("%w: max conns %d must be 1-1000", ErrInvalidPoolConfig, c.MaxConns)
	case c.MinConns < 0 || c.MinConns > c.MaxConns:
		return fmt.Errorf("%w: min conns %d must be 0-%d (max conns)", ErrInvalidPoolConfig, c.MinConns, c.MaxConns)
	case c.ConnectTimeout < 100*time.Millisecond || c.ConnectTimeout > 5*time.Minute:
		return fmt.Errorf("%w: connect timeout %v must be 100ms-5m", ErrInvalidPoolConfig, c.ConnectTimeout)
	}
	return nil
}

// Open returns a pool for dsn (a postgres:// URL or key=value string) once
// one connection to it works. The caller closes the pool. Errors never
// carry the DSN's password.
func Open(ctx context.Context, dsn string, cfg PoolConfig) (*pgxpool.Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpen, err) // pgx redacts the password
	}
	pc.MaxConns = cfg.MaxConns
	pc.MinConns = cfg.MinConns
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "admit"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpen, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%w: database %q on %s:%d: %w", ErrOpen, pc.ConnConfig.Database, pc.ConnConfig.Host, pc.ConnConfig.Port, err)
	}
	return pool, nil
}
