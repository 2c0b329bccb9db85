package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/validator/ticket"
)

// Policy says what the agent does with a scan when the cluster does not
// answer. docs/agent.md says what each one risks.
type Policy uint8

const (
	// AllowOncePerDevice decides from the code's signed claims, the usage
	// this agent knows (its own decisions and the changefeed it followed
	// while online) and its deny list. The default.
	AllowOncePerDevice Policy = iota
	// Deny: offline, nobody enters.
	Deny
	// Allow trusts a genuine code: signature, validity window and zone
	// only; no memory of earlier entries.
	Allow
)

var policyNames = [...]string{"allow-once-per-device", "deny", "allow"}

func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// ParsePolicy parses a policy name.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if s == n {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("policy %q: must be deny, allow-once-per-device or allow", s)
}

// Config configures an Agent.
type Config struct {
	// ClusterURLs are the nodes' gate API URLs, tried in order (failover).
	ClusterURLs []string
	// Gate is the gate this agent scans for; every scan it serves is for
	// this gate (several devices may share it: their scan ids must differ).
	Gate string
	// GateToken is the gate's token from `admit gate add`; devices send
	// the same token to the agent.
	GateToken string
	// DataDir holds the agent's store (agent.db and the decision log, log/).
	DataDir string
	// Budget is how long a scan waits for the cluster before the agent
	// decides locally.
	Budget time.Duration
	// Policy applies to offline decisions.
	Policy Policy
	// ZoneBit is the bit of the gate's zone in codes' zone masks (the
	// order sales numbers a park's zones; see docs/agent.md). -1: the
	// cluster's (GET /v1/keys?gate= says it when sales sent it); when
	// neither knows, offline zone checks are skipped.
	ZoneBit int
	// Probe is how often an offline agent tries the cluster again (and
	// uploads its backlog).
	Probe time.Duration
	// Refresh is how often an online agent re-reads the keys and polls
	// the changefeed when it is caught up.
	Refresh time.Duration
	// KeyRefresh is how often an online agent re-reads the keys, time zone
	// and gate configuration (it also does whenever it comes back online).
	KeyRefresh time.Duration
	// UploadBatch is how many offline scans go in one POST /v1/scans.
	UploadBatch int
	// RequestTimeout bounds each upload, key or feed call to one node.
	RequestTimeout time.Duration
	// MaxBody bounds a request body a device sends, in bytes.
	MaxBody int64
	// MaxBatch bounds the scans in one POST /v1/scans a device sends.
	MaxBatch int
	// ScanRetention is how long the agent remembers a scan id it decided
	// (for repeated scan ids and to match the changefeed).
	ScanRetention time.Duration
	// Transport carries the calls to the cluster; nil: a default one.
	Transport http.RoundTripper
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the agent's metrics; nil: none registered.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the defaults; ClusterURLs, Gate, GateToken and
// DataDir must be set.
func DefaultConfig() Config {
	return Config{
		Budget:         300 * time.Millisecond,
		Policy:         AllowOncePerDevice,
		ZoneBit:        -1,
		Probe:          time.Second,
		Refresh:        time.Second,
		KeyRefresh:     30 * time.Second,
		UploadBatch:    1000,
		RequestTimeout: 10 * time.Second,
		MaxBody:        4 << 20,
		MaxBatch:       1000,
		ScanRetention:  48 * time.Hour,
	}
}

// Validate checks cfg.
func (c *Config) Validate() error {
	var errs []error
	if len(c.ClusterURLs) == 0 {
		errs = append(errs, errors.New("agent: no cluster URL"))
	}
	if !ticket.ValidName(c.Gate) || !ticket.CleanText(c.Gate) {
		errs = append(errs, fmt.Errorf("agent: gate id must be 1-%d bytes of text", ticket.MaxNameLen))
	}
	if c.GateToken == "" {
		errs = append(errs, errors.New("agent: no gate token"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("agent: no data dir"))
	}
	if c.Budget <= 0 || c.Budget > time.Minute {
		errs = append(errs, errors.New("agent: budget must be in (0, 1m]"))
	}
	if int(c.Policy) >= len(policyNames) {
		errs = append(errs, fmt.Errorf("agent: unknown %s", c.Policy))
	}
	if c.ZoneBit < -1 || c.ZoneBit > 31 {
		errs = append(errs, errors.New("agent: zone bit must be 0-31, or -1 for unknown"))
	}
	if c.Probe <= 0 || c.Refresh <= 0 || c.KeyRefresh <= 0 || c.RequestTimeout <= 0 || c.ScanRetention <= 0 {
		errs = append(errs, errors.New("agent: probe, refresh, key refresh, request timeout and scan retention must be positive"))
	}
	if c.UploadBatch < 1 || c.UploadBatch > 10000 || c.MaxBatch < 1 || c.MaxBatch > 10000 {
		errs = append(errs, errors.New("agent: upload batch and max batch must be 1-10000"))
	}
	if c.MaxBody < 1024 {
		errs = append(errs, errors.New("agent: max body must be at least 1024 bytes"))
	}
	return errors.Join(errs...)
}
