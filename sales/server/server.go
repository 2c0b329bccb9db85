// Package server wires the sales service together: the PostgreSQL pool and
// migrations, every domain API on one net/http mux, the background loops
// (expiring unpaid orders, retrying refunds), health, metrics and the
// OpenAPI document. It holds no business logic.
package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	gosync "sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/lookup"
	"github.com/admitpark/admit/sales/member"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/sync"
)

// Config configures the sales service.
type Config struct {
	DSN      string        // PostgreSQL
	Pool     db.PoolConfig //
	HTTPAddr string        // host:port; port 0 picks one
	// TLS, when set, serves the API over HTTPS (certificate and key from
	// TLSCertFile/TLSKeyFile or given here). Plain HTTP is for loopback.
	TLS *tls.Config
	// Migrate applies pending migrations at start (else they must be
	// applied with `admit sales migrate` first).
	Migrate bool

	// ClusterURLs (comma-separated) and ClusterToken reach the park's gate
	// cluster, which must revoke a ticket before its refund.
	ClusterURLs  string
	ClusterToken string
	// ClusterTransport carries the calls to the cluster (refunds, sync):
	// HTTPS with the cluster's CA. Nil: the default transport.
	ClusterTransport http.RoundTripper
	// ClusterPark is the one park the default cluster serves, if it serves
	// one: the cluster then learns the park id (sync.Config.DefaultClusterPark).
	ClusterPark string
	// ParkClusters are the parks with a gate cluster of their own, by park
	// id (the clusters file, LoadClustersFile): their outbox rows go to it,
	// its entry events come back with a cursor of their own, and their
	// refunds revoke there. Every other park (and every outbox row written
	// before rows named their park) uses the cluster of ClusterURLs.
	ParkClusters map[string]ParkCluster

	// HolderSecret keys the HMAC of holders' ID numbers (look-ups). At
	// least 32 bytes; keep it across restarts.
	HolderSecret []byte

	// KEK seals the signing keys' private halves in the database (see
	// package keys); plain keys an older version stored are sealed at start.
	KEK *keys.KEK

	// TestPaymentSecret, when set, enables the "test" payment provider
	// (for development and tests only). It signs the provider's webhooks,
	// so it must not be any other secret (HolderSecret in particular).
	TestPaymentSecret []byte

	// Sync runs the outbox relay and the entry feed in this process (see
	// package sync; `admit sync` runs them on their own). Only one relay is
	// active at a time, whichever process runs it.
	Sync bool

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Clock      web.Clock
}

// DefaultConfig returns the defaults; set DSN and HolderSecret.
func DefaultConfig() Config {
	return Config{Pool: db.DefaultPoolConfig(), HTTPAddr: "127.0.0.1:7401", Clock: web.SystemClock{}, Logger: slog.Default()}
}

// Validate reports what is missing.
func (c Config) Validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, errors.New("a PostgreSQL DSN is required (--pg-dsn or ADMIT_PG_DSN)"))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("http address %q: %v", c.HTTPAddr, err))
	}
	if len(c.HolderSecret) < 32 {
		errs = append(errs, errors.New("the holder ID secret must have at least 32 bytes"))
	}
	if c.KEK == nil {
		errs = append(errs, errors.New("a key-encryption key for the signing keys is required (--key-file or ADMIT_KEK)"))
	}
	if len(c.TestPaymentSecret) > 0 && bytes.Equal(c.TestPaymentSecret, c.HolderSecret) {
		errs = append(errs, errors.New("the test payment provider's secret must differ from the holder ID secret"))
	}
	if c.ClusterURLs == "" {
		errs = append(errs, errors.New("the gate cluster's URL is required (--cluster): refunds must be revoked there first"))
	}
	for id, pc := range c.ParkClusters {
		if id == "" || pc.URLs == "" || pc.Token == "" {
			errs = append(errs, fmt.Errorf("park %q's cluster needs a park id, URLs and a token", id))
		}
	}
	if c.Logger == nil || c.Clock == nil {
		errs = append(errs, errors.New("logger and clock are required"))
	}
	if err := c.Pool.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Server is a running sales service.
type Server struct {
	cfg    Config
	Pool   *pgxpool.Pool
	http   *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	wg     gosync.WaitGroup
	served chan error
}

// Start opens the database, wires the APIs and starts serving.
func Start(ctx context.Context, cfg Config) (s *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	pool, err := db.Open(ctx, cfg.DSN, cfg.Pool)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	if cfg.Migrate {
		applied, err := db.Migrate(ctx, pool)
		if err != nil {
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("applied migrations", "versions", applied)
		}
	}
	if cur, pending, err := db.Status(ctx, pool); err != nil {
		return nil, err
	} else if len(pending) > 0 {
		return nil, fmt.Errorf("database schema is at version %d with %d migrations pending: run `admit sales migrate` or start with --migrate", cur, len(pending))
	}
	sealed, err := keys.Ensure(ctx, pool, cfg.KEK)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if sealed > 0 {
		log.Info("sealed plain signing keys with the key-encryption key", "keys", sealed, "kek", cfg.KEK.ID())
	}

	var providers []payment.Provider
	if len(cfg.TestPaymentSecret) > 0 {
		tp, err := payment.NewTestProvider(cfg.TestPaymentSecret)
		if err != nil {
			return nil, err
		}
		providers = append(providers, tp)
	}
	byName := map[string]payment.Provider{}
	for _, p := range providers {
		byName[p.Name()] = p
	}

	acfg := auth.DefaultConfig()
	acfg.Pool, acfg.Clock, acfg.Log, acfg.Registerer = pool, cfg.Clock, log.With("pkg", "auth"), cfg.Registerer
	authAPI, err := auth.NewAPI(acfg)
	if err != nil {
		return nil, err
	}
	ccfg := catalog.DefaultConfig()
	ccfg.Pool, ccfg.Clock, ccfg.Log = pool, cfg.Clock, log
	ccfg.ParkCreated = sendGateKey(cfg.HolderSecret)
	catalogAPI, err := catalog.NewAPI(ccfg)
	if err != nil {
		return nil, err
	}
	ocfg := orders.DefaultConfig()
	ocfg.Pool, ocfg.Clock, ocfg.Log, ocfg.Registerer = pool, cfg.Clock, log.With("pkg", "orders"), cfg.Registerer
	ocfg.HolderIDSecret, ocfg.Providers, ocfg.KEK = cfg.HolderSecret, providers, cfg.KEK
	ocfg.CardPay = member.PayOrder
	ordersAPI, err := orders.NewAPI(ocfg)
	if err != nil {
		return nil, err
	}
	revoker, err := refund.NewClusterRevoker(cfg.ClusterURLs, cfg.ClusterToken, 3*time.Second, cfg.ClusterTransport)
	if err != nil {
		return nil, err
	}
	rcfg := refund.DefaultConfig()
	rcfg.Pool, rcfg.Clock, rcfg.Log, rcfg.Revoker, rcfg.Providers = pool, cfg.Clock, log.With("pkg", "refund"), revoker, byName
	if len(cfg.ParkClusters) > 0 {
		rcfg.ParkRevokers = map[string]refund.Revoker{}
		for id, pc := range cfg.ParkClusters {
			r, err := refund.NewClusterRevoker(pc.URLs, pc.Token, 3*time.Second, pc.Transport)
			if err != nil {
				return nil, fmt.Errorf("park %s's cluster: %w", id, err)
			}
			rcfg.ParkRevokers[id] = r
		}
	}
	rcfg.Registerer, rcfg.KEK = cfg.Registerer, cfg.KEK
	refundAPI, err := refund.NewAPI(rcfg)
	if err != nil {
		return nil, err
	}
	lcfg := lookup.DefaultConfig()
	lcfg.Pool, lcfg.Log, lcfg.IDHashSecret = pool, log.With("pkg", "lookup"), cfg.HolderSecret
	lookupAPI, err := lookup.NewAPI(lcfg)
	if err != nil {
		return nil, err
	}
	financeRoutes, shiftAPI, reportAPI, err := financeAPIs(pool, cfg, log)
	if err != nil {
		return nil, err
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(poolCollector{pool}); err != nil {
			return nil, err
		}
	}

	cons, err := newConsole(cfg, pool, authAPI, ordersAPI, refundAPI, lookupAPI, shiftAPI, reportAPI, log)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	cons.APIRoutes(mux, authAPI)
	authAPI.Routes(mux, authAPI)
	catalogAPI.Routes(mux, authAPI)
	ordersAPI.Routes(mux, authAPI)
	refundAPI.Routes(mux, authAPI)
	lookupAPI.Routes(mux, authAPI)
	financeRoutes(mux, authAPI)
	if err := membersRoutes(ctx, cfg, pool, mux, authAPI); err != nil {
		return nil, err
	}
	(&keys.RotateAPI{Pool: pool, KEK: cfg.KEK, Log: log.With("pkg", "keys")}).Routes(mux, authAPI)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		web.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /readyz", Ready(pool, log))
	mux.HandleFunc("GET /openapi.json", serveOpenAPI)
	if cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		web.Error(w, http.StatusNotFound, "no such endpoint: %s %s (see /openapi.json)", r.Method, r.URL.Path)
	})
	mux.Handle("/", cons) // the web console

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	s = &Server{cfg: cfg, Pool: pool, ln: ln, cancel: cancel, served: make(chan error, 1),
		http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	if cfg.Sync {
		scfg := sync.DefaultConfig()
		scfg.Pool, scfg.ClusterURLs, scfg.AdminToken, scfg.Transport = pool, cfg.ClusterURLs, cfg.ClusterToken, cfg.ClusterTransport
		scfg.DefaultClusterPark = cfg.ClusterPark
		scfg.Log, scfg.Registerer = log.With("pkg", "sync"), cfg.Registerer
		runners, err := SyncRunners(scfg, cfg.ParkClusters)
		if err != nil {
			cancel()
			ln.Close()
			return nil, err
		}
		for _, run := range runners {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				run(bg)
			}()
		}
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		ordersAPI.Sweeper().Run(bg) // expires unpaid orders, retries late-payment refunds
	}()
	go func() {
		defer s.wg.Done()
		refundAPI.Retrier().Run(bg) // completes refunds the cluster could not confirm at once
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		housekeeping(bg, authAPI, log) // expired sessions, forgotten wrong-password counts
	}()
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	go func() { s.served <- s.http.Serve(ln) }()
	log.Info("sales service listening", "addr", ln.Addr().String(), "https", cfg.TLS != nil)
	return s, nil
}

// SyncRunners builds one sync relay and one entry feed per cluster: the
// default cluster of base, and each park's own cluster of parks (see
// sync.PerCluster). It returns their Run functions.
func SyncRunners(base sync.Config, parks map[string]ParkCluster) ([]func(context.Context) error, error) {
	ids := make([]string, 0, len(parks))
	for id := range parks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	clusters := make([]sync.Cluster, 0, len(ids))
	for _, id := range ids {
		pc := parks[id]
		clusters = append(clusters, sync.Cluster{Park: id, ClusterURLs: pc.URLs, AdminToken: pc.Token, Transport: pc.Transport})
	}
	cfgs, err := sync.PerCluster(base, clusters)
	if err != nil {
		return nil, err
	}
	var runs []func(context.Context) error
	for _, c := range cfgs {
		relay, err := sync.NewRelay(c)
		if err != nil {
			return nil, err
		}
		feed, err := sync.NewFeed(c)
		if err != nil {
			return nil, err
		}
		runs = append(runs, relay.Run, feed.Run)
	}
	return runs, nil
}

// housekeeping purges expired sessions and forgotten login_throttle rows
// every 10 minutes until ctx ends.
func housekeeping(ctx context.Context, a *auth.API, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := a.PurgeExpiredSessions(ctx); err != nil && ctx.Err() == nil {
			log.Warn("purging expired sessions", "err", err)
		}
		if _, err := a.PurgeThrottle(ctx); err != nil && ctx.Err() == nil {
			log.Warn("purging old wrong-password counts", "err", err)
		}
	}
}

// Pinger is what /readyz checks: the pool.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Ready answers GET /readyz: 200 when the database answers a ping, else
// 503 with Retry-After. The reply is anonymous, so it names nothing of the
// setup (no DSN, user, host or address); the error goes to the log.
func Ready(db Pinger, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			log.Warn("readyz: the database does not answer", "err", err)
			web.ServiceUnavailable(w)
			return
		}
		web.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// Addr is the bound HTTP address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving (waiting for requests until ctx ends), stops the
// background loops and closes the pool, in that order.
func (s *Server) Close(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	s.cancel()
	s.wg.Wait()
	s.Pool.Close()
	return err
}

// poolCollector reports the pool's state at scrape time.
type poolCollector struct{ pool *pgxpool.Pool }

var (
	descAcquired = prometheus.NewDesc("admit_sales_pg_conns_acquired", "PostgreSQL connections in use.", nil, nil)
	descIdle     = prometheus.NewDesc("admit_sales_pg_conns_idle", "Idle PostgreSQL connections.", nil, nil)
	descMax      = prometheus.NewDesc("admit_sales_pg_conns_max", "Most PostgreSQL connections the pool opens.", nil, nil)
	descWaits    = prometheus.NewDesc("admit_sales_pg_acquire_waits_total", "Times a request waited for a free connection.", nil, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAcquired
	ch <- descIdle
	ch <- descMax
	ch <- descWaits
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(descAcquired, prometheus.GaugeValue, float64(st.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(descIdle, prometheus.GaugeValue, float64(st.IdleConns()))
	ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(st.MaxConns()))
	ch <- prometheus.MustNewConstMetric(descWaits, prometheus.CounterValue, float64(st.EmptyAcquireCount()))
}
