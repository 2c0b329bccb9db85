package sync

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/gateapi"
)

// Sentinel errors, wrapped with %w and detail; check with errors.Is.
var (
	// ErrInvalidConfig: a Config field is missing or out of range.
	ErrInvalidConfig = errors.New("sync: invalid config")
	// ErrNotAcknowledged: the cluster answered, but not with an outcome
	// that acknowledges the row (e.g. revoke "unknown"); the row stays
	// unsent and blocks the rows after it until it is acknowledged.
	ErrNotAcknowledged = errors.New("sync: cluster did not acknowledge")
	// ErrBadRow: an outbox row that cannot be sent as it is (bad kind,
	// payload or ticket id). It blocks the queue until an operator fixes it.
	ErrBadRow = errors.New("sync: bad outbox row")
	// ErrCluster: the cluster could not be reached or refused a request.
	ErrCluster = errors.New("sync: cluster call failed")
	// ErrEventsPurged: the cluster purged entry events the feed has not
	// read (410 Gone); the feed cannot go on without an operator.
	ErrEventsPurged = errors.New("sync: cluster purged unread entry events")
)

// DefaultLockKey is the Postgres advisory lock key the active relay holds.
const DefaultLockKey int64 = 0x61646d69_7473796e // "admitsyn"

// NotifyChannel is the channel the relay LISTENs on; a trigger on outbox
// insert may NOTIFY it to wake the relay at once (see doc.go).
const NotifyChannel = "admit_outbox"

// FeedCursorKey is the settings key holding the default cluster's entry
// feed cursor; the feed of a park's own cluster keeps its cursor under
// FeedCursorKey + "." + the park id (Config.CursorKey).
const FeedCursorKey = "sync.feed.cursor"

// Config configures a Relay and a Feed (the same type for both; each uses
// the fields that concern it).
type Config struct {
	Pool        *pgxpool.Pool
	ClusterURLs string // comma-separated node URLs, e.g. http://10.0.0.1:7101,http://10.0.0.2:7101
	AdminToken  string // the cluster's admin token
	// Park is the park whose own cluster this is (the clusters file): its
	// relay sends only that park's outbox rows, its feed keeps its own
	// cursor, and its events are stored with entry_events.cluster = Park.
	// "" is the default cluster: rows with no park (NULL park_id, written
	// before rows had one) and those of every park not in OtherParks.
	Park string
	// OtherParks, for the default cluster only: the parks that have a
	// cluster of their own, whose rows the default relay leaves alone.
	OtherParks []string
	// DefaultClusterPark, for the default cluster only: the one park it
	// serves, when it serves one. Its configure rows then keep their park
	// id, so the cluster learns it and refuses other parks' tickets; empty:
	// the default cluster is told no park (it may serve several).
	DefaultClusterPark string
	// Transport, when set, carries the calls to the cluster: HTTPS with
	// the cluster's CA (httpclient.NewTransport). Nil: the default.
	Transport http.RoundTripper
	Batch     int // relay: issue rows per POST; feed: events per GET (1-10000)
	// MaxBatchBytes caps the payload bytes of one issue POST (the cluster
	// refuses bodies over 1 MiB by default).
	MaxBatchBytes int
	Poll          time.Duration // wait when idle (caught up) before the next pass
	Backoff       time.Duration // first wait after a failed pass; doubles per failure
	MaxBackoff    time.Duration
	// LockRetry: how often a standby relay tries to take the advisory lock.
	LockRetry time.Duration
	LockKey   int64
	// UnknownAttempts: a revoke or update answered "unknown" this many
	// times in a row, while no unsent issue row for the ticket is left, is
	// given up: logged as an error, noted in audit_log, marked sent.
	UnknownAttempts int
	Timeout         time.Duration // per cluster call
	Log             *slog.Logger
	Registerer      prometheus.Registerer // nil: metrics are not registered
}

// DefaultConfig returns the defaults; set Pool, ClusterURLs and AdminToken.
func DefaultConfig() Config {
	return Config{
		Batch:           1000,
		MaxBatchBytes:   768 << 10,
		Poll:            100 * time.Millisecond,
		Backoff:         200 * time.Millisecond,
		MaxBackoff:      30 * time.Second,
		LockRetry:       time.Second,
		LockKey:         DefaultLockKey,
		UnknownAttempts: 10,
		Timeout:         15 * time.Second,
		Log:             slog.Default(),
	}
}

// Validate says what is wrong, if anything.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Pool == nil:
		return bad("Pool is required")
	case c.ClusterURLs == "":
		return bad("ClusterURLs is required")
	case c.AdminToken == "":
		return bad("AdminToken is required")
	case c.Batch < 1 || c.Batch > 10000:
		return bad("Batch %d must be 1-10000", c.Batch)
	case c.MaxBatchBytes < 4096:
		return bad("MaxBatchBytes %d must be at least 4096", c.MaxBatchBytes)
	case c.Poll < time.Millisecond || c.Poll > time.Minute:
		return bad("Poll %v must be 1ms-1m", c.Poll)
	case c.Backoff < time.Millisecond:
		return bad("Backoff %v must be at least 1ms", c.Backoff)
	case c.MaxBackoff < c.Backoff:
		return bad("MaxBackoff %v must be at least Backoff %v", c.MaxBackoff, c.Backoff)
	case c.LockRetry < time.Millisecond:
		return bad("LockRetry %v must be at least 1ms", c.LockRetry)
	case c.UnknownAttempts < 1:
		return bad("UnknownAttempts %d must be at least 1", c.UnknownAttempts)
	case c.Timeout < 100*time.Millisecond:
		return bad("Timeout %v must be at least 100ms", c.Timeout)
	case c.Log == nil:
		return bad("Log is required")
	}
	if _, err := gateapi.ParseURLs(c.ClusterURLs); err != nil {
		return bad("ClusterURLs: %v", err)
	}
	if c.Park != "" && len(c.OtherParks) > 0 {
		return bad("OtherParks is for the default cluster (Park \"\") only")
	}
	for _, p := range append([]string{c.Park}, c.OtherParks...) {
		if !validPark(p) {
			return bad("park id %q: want 1-64 letters, digits, '-' or '_'", p)
		}
	}
	return nil
}

// validPark: "" (the default cluster) or a park id as sales allows it,
// safe in a settings key and a metric label.
func validPark(p string) bool {
	if len(p) > 64 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// CursorKey is the settings key of this cluster's feed cursor:
// FeedCursorKey for the default cluster, FeedCursorKey.PARK for a park's.
func (c Config) CursorKey() string {
	if c.Park == "" {
		return FeedCursorKey
	}
	return FeedCursorKey + "." + c.Park
}

// route is the outbox rows this cluster's relay sends.
func (c Config) route() outbox.Route {
	return outbox.Route{Park: c.Park, Except: c.OtherParks}
}

// lockKey is the advisory lock of this cluster's relay: LockKey for the
// default cluster; for a park's, LockKey mixed with a hash of the park id,
// so each cluster has one active relay and the relays of different
// clusters do not wait for each other.
func (c Config) lockKey() int64 {
	if c.Park == "" {
		return c.LockKey
	}
	h := fnv.New64a()
	h.Write([]byte("admit sync relay park " + c.Park))
	k := c.LockKey ^ int64(h.Sum64())
	if k == c.LockKey {
		k++
	}
	return k
}

// Cluster is a park's own cluster, for PerCluster.
type Cluster struct {
	Park        string // the park id
	ClusterURLs string // comma-separated node URLs
	AdminToken  string
	Transport   http.RoundTripper // nil: the default
}

// PerCluster returns one Config per cluster, each for one Relay and one
// Feed: base itself for the default cluster (its OtherParks set to the
// parks of clusters), then one per entry of clusters (Park, URLs, token
// and transport from it; the rest from base). When clusters is not empty,
// every config's metrics carry the label park (the park id; "" for the
// default cluster), so the relays and feeds do not share gauges; with no
// clusters base is returned as it is (no label).
func PerCluster(base Config, clusters []Cluster) ([]Config, error) {
	if base.Park != "" {
		return nil, fmt.Errorf("%w: the default cluster's config has Park %q", ErrInvalidConfig, base.Park)
	}
	if len(clusters) == 0 {
		return []Config{base}, nil
	}
	seen := map[string]bool{}
	def := base
	def.OtherParks = nil
	for _, cl := range clusters {
		if cl.Park == "" || seen[cl.Park] {
			return nil, fmt.Errorf("%w: cluster park id %q empty or given twice", ErrInvalidConfig, cl.Park)
		}
		seen[cl.Park] = true
		def.OtherParks = append(def.OtherParks, cl.Park)
	}
	out := []Config{labelled(def)}
	for _, cl := range clusters {
		c := base
		c.Park, c.OtherParks = cl.Park, nil
		c.ClusterURLs, c.AdminToken, c.Transport = cl.ClusterURLs, cl.AdminToken, cl.Transport
		out = append(out, labelled(c))
	}
	for _, c := range out {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("cluster of park %q: %w", c.Park, err)
		}
	}
	return out, nil
}

// labelled gives c's metrics and log the park label.
func labelled(c Config) Config {
	if c.Registerer != nil {
		c.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"park": c.Park}, c.Registerer)
	}
	if c.Log != nil {
		c.Log = c.Log.With("park", c.Park)
	}
	return c
}

// client is the typed gate API client over ClusterURLs, with its one
// failover policy (gateapi doc): 2xx and 4xx answers are final; a node
// that cannot be reached or answers 5xx is passed over for the next.
func (c Config) client() (*gateapi.Client, error) {
	urls, err := gateapi.ParseURLs(c.ClusterURLs)
	if err != nil {
		return nil, err
	}
	return gateapi.NewClient(gateapi.Config{URLs: urls, AdminToken: c.AdminToken, Timeout: c.Timeout, Transport: c.Transport})
}

// nextBackoff doubles d within [Backoff, MaxBackoff].
func (c Config) nextBackoff(d time.Duration) time.Duration {
	if d < c.Backoff {
		return c.Backoff
	}
	return min(2*d, c.MaxBackoff)
}
