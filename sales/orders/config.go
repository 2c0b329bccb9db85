package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/sales/credential"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/web"
)

// Config configures the orders API.
type Config struct {
	Pool       *pgxpool.Pool
	Clock      web.Clock
	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not registered

	// HolderIDSecret keys the HMAC-SHA256 of holders' ID numbers (and of
	// idempotent requests). At least 32 bytes; changing it makes stored
	// hashes unfindable.
	HolderIDSecret []byte
	// KEK opens the signing keys (see package keys).
	KEK *keys.KEK
	// Providers are the online payment providers, by Name.
	Providers []payment.Provider
	// CardPay takes an order's total from a member card's stored value
	// (package member, member.PayOrder) in the order's transaction; nil:
	// the stored_value method is refused.
	CardPay CardPayFunc

	HoldFor         time.Duration // a pending order holds its places this long; default 15 min
	MaxDaysAhead    int           // latest visit date, in days after the park's today; default 90
	MaxLines        int           // lines in one order; default 20
	SweepEvery      time.Duration // how often the Sweeper runs; default 30 s
	ProviderTimeout time.Duration // one call to a provider; default 15 s
}

// DefaultConfig returns the defaults; set Pool and HolderIDSecret.
func DefaultConfig() Config {
	return Config{
		Clock:           web.SystemClock{},
		Log:             slog.Default(),
		HoldFor:         15 * time.Minute,
		MaxDaysAhead:    90,
		MaxLines:        20,
		SweepEvery:      30 * time.Second,
		ProviderTimeout: 15 * time.Second,
	}
}

// Validate says what is missing or out of range.
func (c Config) Validate() error {
	var errs []error
	if c.KEK == nil {
		errs = append(errs, errors.New("orders: KEK is required (the signing keys' key-encryption key)"))
	}
	if c.Pool == nil {
		errs = append(errs, errors.New("orders: Pool is required"))
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("orders: Clock is required"))
	}
	if c.Log == nil {
		errs = append(errs, errors.New("orders: Log is required"))
	}
	if len(c.HolderIDSecret) < 32 {
		errs = append(errs, fmt.Errorf("orders: HolderIDSecret must have at least 32 bytes, has %d", len(c.HolderIDSecret)))
	}
	if c.HoldFor < time.Minute || c.HoldFor > 24*time.Hour {
		errs = append(errs, fmt.Errorf("orders: HoldFor %v must be between 1m and 24h", c.HoldFor))
	}
	if c.MaxDaysAhead < 0 || c.MaxDaysAhead > 3660 {
		errs = append(errs, fmt.Errorf("orders: MaxDaysAhead %d must be 0-3660", c.MaxDaysAhead))
	}
	if c.MaxLines < 1 || c.MaxLines > 500 {
		errs = append(errs, fmt.Errorf("orders: MaxLines %d must be 1-500", c.MaxLines))
	}
	if c.SweepEvery <= 0 {
		errs = append(errs, errors.New("orders: SweepEvery must be positive"))
	}
	if c.ProviderTimeout <= 0 {
		errs = append(errs, errors.New("orders: ProviderTimeout must be positive"))
	}
	return errors.Join(errs...)
}

// API sells: orders, their payments and the tickets they issue.
type API struct {
	cfg       Config
	gateKey   []byte // credential.GateIDKey(cfg.HolderIDSecret)
	providers *payment.Registry
	m         *metrics
	locs      sync.Map // time zone name -> *time.Location
}

// NewAPI checks cfg, registers the metrics and makes sure a signing key
// exists (keys.Ensure).
func NewAPI(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reg, err := payment.NewRegistry(cfg.Providers...)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := keys.Ensure(ctx, cfg.Pool, cfg.KEK); err != nil {
		return nil, fmt.Errorf("orders: ensure a signing key: %w", err)
	}
	return &API{cfg: cfg, gateKey: credential.GateIDKey(cfg.HolderIDSecret), providers: reg, m: m}, nil
}

// metrics are the package's Prometheus series.
type metrics struct {
	orders          *prometheus.CounterVec
	tickets         prometheus.Counter
	quotaRejections prometheus.Counter
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "admit_sales_orders_total",
			Help: "Orders entering a status (pending at creation, then paid, expired or cancelled), by channel.",
		}, []string{"channel", "status"}),
		tickets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "admit_sales_tickets_issued_total",
			Help: "Tickets issued for paid orders.",
		}),
		quotaRejections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "admit_sales_quota_rejections_total",
			Help: "Orders refused because a park, product or slot limit was sold out.",
		}),
	}
	if r != nil {
		for _, c := range []prometheus.Collector{m.orders, m.tickets, m.quotaRejections} {
			if err := r.Register(c); err != nil {
				return nil, fmt.Errorf("orders: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (a *API) now() time.Time { return a.cfg.Clock.Now() }
