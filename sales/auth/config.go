package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/sales/web"
)

// MinPasswordLength is the password policy: at least this many characters
// (Unicode code points). MaxPasswordBytes bounds what is hashed.
const (
	MinPasswordLength = 10
	MaxPasswordBytes  = 1024
)

// Config configures the API. Start from DefaultConfig.
type Config struct {
	Pool  *pgxpool.Pool
	Clock web.Clock
	Log   *slog.Logger

	// Argon2 holds the argon2id parameters for new hashes. Tests use
	// TestArgon2 to stay fast.
	Argon2 Argon2Params
	// MaxConcurrentHashes bounds argon2id runs at once (each takes
	// Argon2.MemoryKiB of memory).
	MaxConcurrentHashes int

	SessionTTL time.Duration // a session's life: 12h, a cashier's shift

	// Wrong passwords are throttled per (username, source), never per
	// account (see throttle.go): MaxFailures (3) wrong passwords in a row
	// from one source block that source for that username for LockFor
	// (15m); every further one doubles the block, up to MaxLockFor (4h). A
	// count not added to for ForgetAfter (24h) starts afresh.
	MaxFailures int
	LockFor     time.Duration
	MaxLockFor  time.Duration
	ForgetAfter time.Duration

	// Registerer gets the auth metrics (admit_sales_login_lockouts_total);
	// nil registers nothing.
	Registerer prometheus.Registerer

	// Login rate limit per remote address (a token bucket in memory):
	// LoginBurst attempts at once, refilled at LoginPerMinute.
	LoginBurst     int
	LoginPerMinute float64
}

// DefaultConfig returns the production defaults (Pool still to be set).
func DefaultConfig() Config {
	return Config{
		Clock:               web.SystemClock{},
		Log:                 slog.Default(),
		Argon2:              DefaultArgon2,
		MaxConcurrentHashes: 4,
		SessionTTL:          12 * time.Hour,
		MaxFailures:         3,
		LockFor:             15 * time.Minute,
		MaxLockFor:          4 * time.Hour,
		ForgetAfter:         24 * time.Hour,
		LoginBurst:          10,
		LoginPerMinute:      30,
	}
}

// Validate says what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("auth: Pool is required"))
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("auth: Clock is required"))
	}
	if c.Log == nil {
		errs = append(errs, errors.New("auth: Log is required"))
	}
	if err := c.Argon2.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("auth: Argon2: %w", err))
	}
	if c.MaxConcurrentHashes < 1 {
		errs = append(errs, errors.New("auth: MaxConcurrentHashes must be at least 1"))
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, fmt.Errorf("auth: SessionTTL %v is shorter than a minute", c.SessionTTL))
	}
	if c.MaxFailures < 1 {
		errs = append(errs, errors.New("auth: MaxFailures must be at least 1"))
	}
	if c.LockFor <= 0 || c.MaxLockFor < c.LockFor {
		errs = append(errs, errors.New("auth: LockFor must be positive and MaxLockFor at least LockFor"))
	}
	if c.ForgetAfter < c.MaxLockFor {
		errs = append(errs, errors.New("auth: ForgetAfter must be at least MaxLockFor"))
	}
	if c.LoginBurst < 1 || c.LoginPerMinute <= 0 {
		errs = append(errs, errors.New("auth: LoginBurst must be at least 1 and LoginPerMinute positive"))
	}
	return errors.Join(errs...)
}

// API is the auth service: the Go functions and their HTTP routes. It is
// also the web.Authenticator for every other sales package.
type API struct {
	cfg     Config
	pool    *pgxpool.Pool
	clock   web.Clock
	log     *slog.Logger
	hashSem chan struct{}
	limiter *limiter
	m       *metrics

	dummy    string       // a hash verified for unknown users, so they take as long
	verifies atomic.Int64 // password verifications done, for tests of equal work
}

// NewAPI checks cfg and builds the API (it hashes one dummy password). It
// starts no goroutine.
func NewAPI(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	a := &API{
		cfg:     cfg,
		pool:    cfg.Pool,
		clock:   cfg.Clock,
		log:     cfg.Log,
		hashSem: make(chan struct{}, cfg.MaxConcurrentHashes),
		limiter: newLimiter(cfg.LoginBurst, cfg.LoginPerMinute/60),
		m:       m,
	}
	// A valid hash of a password nobody knows, made now so that the first
	// unknown username costs what every later one does.
	if a.dummy, err = a.hashPassword(context.Background(), "no user has this password: "+randomText(16)); err != nil {
		return nil, fmt.Errorf("auth: dummy hash: %w", err)
	}
	return a, nil
}

// now is the clock's time at database precision, in UTC.
func (a *API) now() time.Time { return a.clock.Now().UTC().Truncate(time.Microsecond) }

// inTx runs fn in a transaction, committed when fn returns nil.
func (a *API) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, a.pool, fn)
}
