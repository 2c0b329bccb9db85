package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/server"
)

type salesFlags struct {
	dsn, httpAddr, cluster, clusterToken, secretFile string
	migrate, testPayments, sync                      bool
}

func newSalesCmd(g *globalFlags) *cobra.Command {
	f := &salesFlags{}
	cmd := &cobra.Command{
		Use:   "sales",
		Short: "Run the sales service (catalog, orders, payments, refunds) on PostgreSQL",
		Long: `Run the sales service. It needs PostgreSQL (--pg-dsn), the park's gate
cluster (--cluster, for refunds), and a secret file for the keyed hash of
holders' ID numbers (--secret-file, created on first use; keep it).

First time: admit sales migrate, then admit sales init (prints the admin's
one-time password), then admit sales.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSales(cmd, g, f) },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.dsn, "pg-dsn", os.Getenv("ADMIT_PG_DSN"), "PostgreSQL DSN (default $ADMIT_PG_DSN)")
	fl := cmd.Flags()
	fl.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:7401", "address for the sales API")
	fl.StringVar(&f.cluster, "cluster", envOr("ADMIT_CLUSTER", "http://127.0.0.1:7101"), "gate cluster URL(s), comma-separated")
	fl.StringVar(&f.clusterToken, "cluster-token", os.Getenv("ADMIT_ADMIN_TOKEN"), "the cluster's admin token (default $ADMIT_ADMIN_TOKEN)")
	fl.StringVar(&f.secretFile, "secret-file", "sales-secret", "file with the holder ID hash secret; created if missing")
	fl.BoolVar(&f.migrate, "migrate", false, "apply pending database migrations at start")
	fl.BoolVar(&f.testPayments, "test-payments", false, "enable the test payment provider (development only)")
	fl.BoolVar(&f.sync, "sync", false, "also run sync here: relay the outbox to the cluster, pull entry events back")

	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := db.Open(cmd.Context(), f.dsn, db.DefaultPoolConfig())
			if err != nil {
				return err
			}
			defer pool.Close()
			applied, err := db.Migrate(cmd.Context(), pool)
			if err != nil {
				return err
			}
			cur, _, err := db.Status(cmd.Context(), pool)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied %d migrations %v; schema is at version %d\n", len(applied), applied, cur)
			return nil
		},
	}
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the first admin user and print its one-time password",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := salesInit(cmd.Context(), f.dsn)
			if err != nil {
				return err
			}
			printInit(cmd, res)
			return nil
		},
	}
	cmd.AddCommand(migrate, initCmd)
	return cmd
}

func salesInit(ctx context.Context, dsn string) (auth.InitResult, error) {
	pool, err := db.Open(ctx, dsn, db.DefaultPoolConfig())
	if err != nil {
		return auth.InitResult{}, err
	}
	defer pool.Close()
	cfg := auth.DefaultConfig()
	cfg.Pool = pool
	a, err := auth.NewAPI(cfg)
	if err != nil {
		return auth.InitResult{}, err
	}
	return a.Init(ctx)
}

func printInit(cmd *cobra.Command, res auth.InitResult) {
	if res.Created {
		fmt.Fprintf(cmd.OutOrStdout(), "admin user %q created; one-time password (shown only now): %s\nlog in with POST /v1/login, then change it with POST /v1/me/password\n", res.Username, res.Password)
	} else {
		fmt.Fprintln(cmd.OutOrStdout(), res.Message)
	}
}

// readOrCreateSecret returns the secret in path, making a random one (0600)
// on first use.
func readOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(s) < 32 {
			return nil, fmt.Errorf("%s: want at least 64 hex digits", path)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	s := make([]byte, 32)
	rand.Read(s)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(s)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

func runSales(cmd *cobra.Command, g *globalFlags, f *salesFlags) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	secret, err := readOrCreateSecret(f.secretFile)
	if err != nil {
		return fmt.Errorf("--secret-file: %w", err)
	}
	ctx, stop := signalContext()
	defer stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	cfg := server.DefaultConfig()
	cfg.DSN, cfg.HTTPAddr, cfg.Migrate = f.dsn, f.httpAddr, f.migrate
	cfg.ClusterURLs, cfg.ClusterToken = f.cluster, f.clusterToken
	cfg.HolderSecret = secret
	cfg.Sync = f.sync
	cfg.Logger, cfg.Registerer, cfg.Gatherer = log, reg, reg
	if f.testPayments {
		cfg.TestPaymentSecret = secret // development only: the test provider signs with it
	}
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Close(sctx)
}
