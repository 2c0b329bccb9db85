package refund

import (
	"errors"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/web"
)

// Config is what the refund package needs.
type Config struct {
	Pool  *pgxpool.Pool
	Clock web.Clock
	Log   *slog.Logger
	// Revoker revokes at the default cluster: for tickets of every park not
	// in ParkRevokers. See ClusterRevoker.
	Revoker Revoker
	// ParkRevokers revoke at a park's own cluster, by park id: a ticket is
	// revoked by its park's, else by Revoker.
	ParkRevokers map[string]Revoker
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Providers by Name(), for refunds of provider payments.
	Providers map[string]payment.Provider
	// KEK opens the signing keys, for reprints (see package keys).
	KEK *keys.KEK

	// RevokeTimeout bounds one cluster call made while a request waits.
	RevokeTimeout time.Duration
	// Lease: a refund being worked on is left alone by others this long
	// (its next_attempt_at is pushed this far); longer than RevokeTimeout.
	Lease time.Duration
	// RetryBase and RetryMax: backoff after a failed attempt is RetryBase *
	// 2^(attempts-1), at most RetryMax.
	RetryBase time.Duration
	RetryMax  time.Duration
	// RetryEvery is how often Retrier.Run looks for due refunds.
	RetryEvery time.Duration
	// RetryBatch bounds the refunds one RetryDue call takes on.
	RetryBatch int
	// MaxTickets bounds the tickets one refund request may name.
	MaxTickets int
}

// DefaultConfig returns the defaults; Pool and Revoker must still be set.
func DefaultConfig() Config {
	return Config{
		Clock:         web.SystemClock{},
		Log:           slog.Default(),
		Providers:     map[string]payment.Provider{},
		RevokeTimeout: 10 * time.Second,
		Lease:         time.Minute,
		RetryBase:     5 * time.Second,
		RetryMax:      5 * time.Minute,
		RetryEvery:    5 * time.Second,
		RetryBatch:    100,
		MaxTickets:    200,
	}
}

// Validate checks the config.
func (c Config) Validate() error {
	var errs []error
	if c.KEK == nil {
		errs = append(errs, errors.New("refund: Config.KEK is required (reprints sign with the active key)"))
	}
	if c.Pool == nil {
		errs = append(errs, errors.New("refund: Config.Pool is required"))
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("refund: Config.Clock is required"))
	}
	if c.Log == nil {
		errs = append(errs, errors.New("refund: Config.Log is required"))
	}
	if c.Revoker == nil {
		errs = append(errs, errors.New("refund: Config.Revoker is required (a ClusterRevoker for the park's cluster)"))
	}
	for park, r := range c.ParkRevokers {
		if park == "" || r == nil {
			errs = append(errs, errors.New("refund: Config.ParkRevokers maps park ids to non-nil revokers"))
			break
		}
	}
	if c.RevokeTimeout <= 0 || c.Lease <= c.RevokeTimeout {
		errs = append(errs, errors.New("refund: RevokeTimeout must be positive and Lease longer than it"))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		errs = append(errs, errors.New("refund: RetryBase must be positive and RetryMax at least RetryBase"))
	}
	if c.RetryEvery <= 0 || c.RetryBatch < 1 || c.MaxTickets < 1 {
		errs = append(errs, errors.New("refund: RetryEvery, RetryBatch and MaxTickets must be positive"))
	}
	for name, p := range c.Providers {
		if p == nil || p.Name() != name {
			errs = append(errs, errors.New("refund: Providers must map each provider's Name() to it"))
			break
		}
	}
	return errors.Join(errs...)
}

// revoker is the Revoker of the ticket's park's cluster, and the cluster's
// name: the park id when the park has a cluster of its own, else "" (the
// default cluster and Revoker).
func (c Config) revoker(park string) (Revoker, string) {
	if r, ok := c.ParkRevokers[park]; ok && park != "" {
		return r, park
	}
	return c.Revoker, ""
}

// backoff is the wait after the attempts-th failed attempt.
func (c Config) backoff(attempts int) time.Duration {
	d := c.RetryBase
	for i := 1; i < attempts && d < c.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.RetryMax)
}
