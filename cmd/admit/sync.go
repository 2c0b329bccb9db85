package main

import (
	"errors"
	"os"
	gosync "sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sync"
)

func newSyncCmd(g *globalFlags) *cobra.Command {
	var dsn, cluster, token, metricsAddr string
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Relay sales' outbox to the gate cluster and pull entry events back",
		Long: `Run sync on its own: issued, reprinted and revoked tickets and gate/zone
changes go from the sales database's outbox to the cluster, in order, each
marked sent only once the cluster acknowledged it; entry events come back
into the database exactly once. Several copies may run: one relays, the
others wait and take over when it dies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if token == "" {
				return errors.New("the cluster's admin token is required: --cluster-token or ADMIT_ADMIN_TOKEN")
			}
			ctx, stop := signalContext()
			defer stop()
			pool, err := db.Open(ctx, dsn, db.DefaultPoolConfig())
			if err != nil {
				return err
			}
			defer pool.Close()
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			cfg := sync.DefaultConfig()
			cfg.Pool, cfg.ClusterURLs, cfg.AdminToken, cfg.Log, cfg.Registerer = pool, cluster, token, log, reg
			relay, err := sync.NewRelay(cfg)
			if err != nil {
				return err
			}
			feed, err := sync.NewFeed(cfg)
			if err != nil {
				return err
			}
			srv, err := httpapi.Listen(httpapi.DefaultServerConfig(metricsAddr), metricsRouter(reg).Serve)
			if err != nil {
				return err
			}
			defer srv.Shutdown(ctx)
			var wg gosync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); relay.Run(ctx) }()
			go func() { defer wg.Done(); feed.Run(ctx) }()
			log.Info("sync running", "metrics", srv.Addr())
			wg.Wait()
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dsn, "pg-dsn", os.Getenv("ADMIT_PG_DSN"), "sales PostgreSQL DSN (default $ADMIT_PG_DSN)")
	fl.StringVar(&cluster, "cluster", envOr("ADMIT_CLUSTER", "http://127.0.0.1:7101"), "gate cluster URL(s), comma-separated")
	fl.StringVar(&token, "cluster-token", os.Getenv("ADMIT_ADMIN_TOKEN"), "the cluster's admin token (default $ADMIT_ADMIN_TOKEN)")
	fl.StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:7501", "address for /metrics and /healthz")
	return cmd
}

// metricsRouter serves /metrics and /healthz for processes without an API.
func metricsRouter(reg *prometheus.Registry) *httpapi.Router {
	r := httpapi.NewRouter()
	r.Handle("GET", "/metrics", fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	r.Handle("GET", "/healthz", func(ctx *fasthttp.RequestCtx) {
		httpapi.JSON(ctx, 200, map[string]string{"status": "ok"})
	})
	return r
}
