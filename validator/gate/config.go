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
	// AdminToken is the OPERATOR token: it authorises every call (and scans
	// on behalf of any gate).
	AdminToken string

	// SalesToken, when set, is the sales service's token, scoped to what
	// sync and sales need: issue, revoke, update, ticket views, the event
	// feed, and reading gates, zones and the park. It cannot add or remove
	// gates or zones, change the park, reset zones, scan, or reach the
	// cluster admin API, so a leaked sales token cannot add a gate (whose
	// token would admit visitors) or a member. Empty: only AdminToken.
	SalesToken string

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

	// LeaderBatching sends a follower's scans to the leader's batcher, which
	// puts them in its own log entries with the leader's and every other
	// follower's: one entry, one fsync per replica and one replication
	// round for many nodes' gates. Off: each node makes its own entries
	// (the cluster forwards them). Needs a node with CallLeader.
	LeaderBatching bool

	// ScanTimeout bounds one scan at the node, queueing included. Past it the
	// gate gets 503 and should retry with the same scan_id (or decide
	// offline). Unit: time.
	ScanTimeout time.Duration

	// ScanRetention is how long scan ids (for rescans) and entry events are
	// kept; older ones are purged by the leader every PurgeInterval, so
	// memory stays flat. It must outlast any gate's retries and the sync
	// feed's longest outage (the feed reads events before they go; an
	// event purged unread stops the feed with 410). Unit: time.
	ScanRetention time.Duration

	// PurgeInterval is how often the leader purges; 0 turns purging off.
	// Unit: time.
	PurgeInterval time.Duration

	// MaxScansPerRequest caps POST /v1/scans.
	MaxScansPerRequest int

	// MaxTicketsPerRequest caps POST /v1/tickets/issue.
	MaxTicketsPerRequest int

	// DeviceSkewWarn is how far a scan's device_time may be from the log
	// time of its decision before the node counts it as skewed
	// (admit_scan_device_skewed_total) and logs a warning (at most once a
	// minute per gate). A live scan is skewed either way; an uploaded
	// offline scan only when its device time is ahead of the log time
	// (behind is its backlog's age). Decisions never depend on it: log
	// order decides. Unit: time.
	DeviceSkewWarn time.Duration

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
		LeaderBatching:       true,
		ScanTimeout:          1500 * time.Millisecond,
		ScanRetention:        48 * time.Hour,
		PurgeInterval:        10 * time.Minute,
		MaxScansPerRequest:   1000,
		MaxTicketsPerRequest: 5000,
		DeviceSkewWarn:       time.Minute,
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case len(c.AdminToken) < 8:
		return errors.New("gate: admin token must be at least 8 characters")
	case c.SalesToken != "" && len(c.SalesToken) < 8:
		return errors.New("gate: sales token must be at least 8 characters")
	case c.SalesToken != "" && c.SalesToken == c.AdminToken:
		return errors.New("gate: the sales token must differ from the admin (operator) token")
	case c.MaxBatch < 1 || c.MaxBatch > 4096:
		return fmt.Errorf("gate: max batch %d must be 1-4096", c.MaxBatch)
	case c.Workers < 1 || c.Workers > 256:
		return fmt.Errorf("gate: workers %d must be 1-256", c.Workers)
	case c.BatchWindow < 0 || c.BatchWindow > 100*time.Millisecond:
		return fmt.Errorf("gate: batch window %v must be 0-100ms", c.BatchWindow)
	case c.ScanTimeout < 10*time.Millisecond:
		return fmt.Errorf("gate: scan timeout %v is below 10ms", c.ScanTimeout)
	case c.PurgeInterval < 0 || (c.PurgeInterval > 0 && c.ScanRetention < time.Second):
		return fmt.Errorf("gate: purge interval %v must not be negative, and the scan retention %v at least 1s", c.PurgeInterval, c.ScanRetention)
	case c.MaxScansPerRequest < 1 || c.MaxTicketsPerRequest < 1:
		return errors.New("gate: request limits must be positive")
	case c.DeviceSkewWarn < time.Second:
		return fmt.Errorf("gate: device skew bound %v is below 1s", c.DeviceSkewWarn)
	}
	return nil
}
