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
	"github.com/admitpark/admit/sales/server"
	"github.com/admitpark/admit/sync"
)

func newSyncCmd(g *globalFlags) *cobra.Command {
	var dsn, cluster, token, tokenFile, caFile, clustersFile, clusterPark, metricsAddr string
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Relay sales' outbox to the gate cluster and pull entry events back",
		Long: `Run sync on its own: issued, reprinted and revoked tickets and gate/zone
changes go from the sales database's outbox to the cluster, in order, each
marked sent only once the cluster acknowledged it; entry events come back
into the database exactly once. With --clusters-file, each park listed has
its own cluster: one relay and one feed run per cluster, each park's rows
go only to its cluster; the rest go to --cluster. Several copies may run
(with the same clusters file): one relays per cluster, the others wait and
take over when it dies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			token, err := clusterToken(&salesFlags{clusterToken: token, tokenFile: tokenFile})
			if err != nil {
				return err
			}
			if token == "" {
				return errors.New("the cluster's admin token is required: $ADMIT_ADMIN_TOKEN or --admin-token-file")
			}
			transport, err := clusterTransport(caFile)
			if err != nil {
				return err
			}
			parks, err := parkClusters(clustersFile)
			if err != nil {
				return err
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
			cfg.Transport, cfg.DefaultClusterPark = transport, clusterPark
			runners, err := server.SyncRunners(cfg, parks)
			if err != nil {
				return err
			}
			srv, err := httpapi.Listen(httpapi.DefaultServerConfig(metricsAddr), metricsRouter(reg).Serve)
			if err != nil {
				return err
			}
			defer srv.Shutdown(ctx)
			var wg gosync.WaitGroup
			for _, run := range runners {
				wg.Add(1)
				go func() { defer wg.Done(); run(ctx) }()
			}
			log.Info("sync running", "metrics", srv.Addr(), "park_clusters", len(parks))
			wg.Wait()
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dsn, "pg-dsn", os.Getenv("ADMIT_PG_DSN"), "sales PostgreSQL DSN (default $ADMIT_PG_DSN)")
	fl.StringVar(&cluster, "cluster", envOr("ADMIT_CLUSTER", "http://127.0.0.1:7101"), "gate cluster URL(s), comma-separated")
	fl.StringVar(&tokenFile, "admin-token-file", "", "file with the cluster's admin token (default: $ADMIT_ADMIN_TOKEN)")
	fl.StringVar(&token, "cluster-token", "", "refused: a token on the command line is visible to every local user")
	_ = fl.MarkHidden("cluster-token")
	fl.StringVar(&caFile, "cluster-cacert", os.Getenv("ADMIT_CACERT"), "CA certificate that signs the cluster's HTTPS certificates (default $ADMIT_CACERT)")
	fl.StringVar(&clusterPark, "cluster-park", os.Getenv("ADMIT_CLUSTER_PARK"),
		"the one park the default --cluster serves, if it serves one (default $ADMIT_CLUSTER_PARK)")
	fl.StringVar(&clustersFile, "clusters-file", os.Getenv("ADMIT_CLUSTERS_FILE"),
		"JSON file of the parks with a cluster of their own (see admit sales --help); other parks use --cluster (default $ADMIT_CLUSTERS_FILE)")
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
