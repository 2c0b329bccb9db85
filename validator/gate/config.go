package gate

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the gate API on one node.
type Config struct {
	// AdminToken authorises the admin calls (and scans on behalf of any gate).
	AdminToken string

	// MaxBatch caps the scans in one log entry.
	MaxBatch int

	// Workers is how many batches a node keeps in flight at once. While they
	// are out, new scans queue and form the next batches; more workers than
	// that leave one idle for every scan and nothing is grouped (measured:
	// 8 workers gave 1.02 scans per log entry at 2,000 scans/s).
	Workers int

	// BatchWindow is how long a worker waits for more scans before sending
	// a batch, but only while the node is busy (its previous batch held more
	// than one scan): every log entry costs an fsync on each replica, so
	// under load a few hundred microseconds buy far fewer of them. At light
	// load a scan is sent at once. 0 turns the wait off. Unit: time.
	BatchWindow time.Duration

	// ScanTimeout bounds one scan at the node, queueing included. Past it the
	// gate gets 503 and should retry with the same scan_id (or decide
	// offline). Unit: time.
	ScanTimeout time.Duration

	// MaxScansPerRequest caps POST /v1/scans.
	MaxScansPerRequest int

	// MaxTicketsPerRequest caps POST /v1/tickets/issue.
	MaxTicketsPerRequest int

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// DefaultConfig returns settings for a park LAN.
func DefaultConfig(adminToken string) Config {
	return Config{
		AdminToken:           adminToken,
		MaxBatch:             256,
		Workers:              2,
		BatchWindow:          300 * time.Microsecond,
		ScanTimeout:          1500 * time.Millisecond,
		MaxScansPerRequest:   1000,
		MaxTicketsPerRequest: 5000,
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case len(c.AdminToken) < 8:
		return errors.New("gate: admin token must be at least 8 characters")
	case c.MaxBatch < 1 || c.MaxBatch > 4096:
		return fmt.Errorf("gate: max batch %d must be 1-4096", c.MaxBatch)
	case c.Workers < 1 || c.Workers > 256:
		return fmt.Errorf("gate: workers %d must be 1-256", c.Workers)
	case c.BatchWindow < 0 || c.BatchWindow > 100*time.Millisecond:
		return fmt.Errorf("gate: batch window %v must be 0-100ms", c.BatchWindow)
	case c.ScanTimeout < 10*time.Millisecond:
		return fmt.Errorf("gate: scan timeout %v is below 10ms", c.ScanTimeout)
	case c.MaxScansPerRequest < 1 || c.MaxTicketsPerRequest < 1:
		return errors.New("gate: request limits must be positive")
	}
	return nil
}
