package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/admitpark/admit/internal/httpclient"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/server"
)

type salesFlags struct {
	dsn, httpAddr, cluster, clusterToken, tokenFile, secretFile string
	clusterCA, clustersFile, tlsCert, tlsKey, clusterPark       string
	keyFile, testPaymentSecretFile                              string
	migrate, testPayments, sync                                 bool
}

func newSalesCmd(g *globalFlags) *cobra.Command {
	f := &salesFlags{}
	cmd := &cobra.Command{
		Use:   "sales",
		Short: "Run the sales service (catalog, orders, payments, refunds) on PostgreSQL",
		Long: `Run the sales service. It needs PostgreSQL (--pg-dsn), the park's gate
cluster (--cluster, for refunds), and a secret file for the keyed hash of
holders' ID numbers (--secret-file, created on first use; keep it).

Secrets never go on the command line (every local user can read it):
  - the cluster's admin token: $ADMIT_ADMIN_TOKEN or --admin-token-file;
  - the key-encryption key (KEK) that seals the ticket-signing keys in the
    database: --key-file (64 hex digits, mode 0600) or $ADMIT_KEK. Make one
    with: (umask 077; openssl rand -hex 32 > sales-kek). Keep it apart from
    the database backups; without it the signing keys cannot be opened.
    Plain keys of older versions are sealed at the first start with a KEK.
    To change the KEK: admit sales keys rewrap --old-key-file OLD --key-file NEW,
    then restart with --key-file NEW.

First time: admit sales migrate, then admit sales init (prints the admin's
one-time password), then admit sales. Locked out for good (the last admin)?
On the server: admit sales admin unlock USER.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSales(cmd, g, f) },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.dsn, "pg-dsn", os.Getenv("ADMIT_PG_DSN"), "PostgreSQL DSN (default $ADMIT_PG_DSN; prefer the environment when it holds a password)")
	pf.StringVar(&f.keyFile, "key-file", "", "file with the key-encryption key of the signing keys (64 hex digits, mode 0600); default $ADMIT_KEK")
	fl := cmd.Flags()
	fl.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:7401", "address for the sales API")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "certificate (PEM) to serve the sales API over HTTPS; with --tls-key")
	fl.StringVar(&f.tlsKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fl.StringVar(&f.cluster, "cluster", envOr("ADMIT_CLUSTER", "http://127.0.0.1:7101"), "gate cluster URL(s), comma-separated")
	fl.StringVar(&f.tokenFile, "admin-token-file", "", "file with the cluster's admin token (default: $ADMIT_ADMIN_TOKEN)")
	fl.StringVar(&f.clusterCA, "cluster-cacert", os.Getenv("ADMIT_CACERT"), "CA certificate that signs the cluster's HTTPS certificates (default $ADMIT_CACERT)")
	fl.StringVar(&f.clusterPark, "cluster-park", os.Getenv("ADMIT_CLUSTER_PARK"),
		"the one park the default --cluster serves, if it serves one: it then learns the park id and refuses other parks' tickets (default $ADMIT_CLUSTER_PARK)")
	fl.StringVar(&f.clustersFile, "clusters-file", os.Getenv("ADMIT_CLUSTERS_FILE"),
		`JSON file of the parks with a cluster of their own: {"parks":{"ID":{"urls":"...","token_file":"...","cacert":"..."}}}; other parks use --cluster (default $ADMIT_CLUSTERS_FILE)`)
	fl.StringVar(&f.clusterToken, "cluster-token", "", "refused: a token on the command line is visible to every local user")
	_ = fl.MarkHidden("cluster-token")
	fl.StringVar(&f.secretFile, "secret-file", "sales-secret", "file with the holder ID hash secret; created if missing")
	fl.StringVar(&f.testPaymentSecretFile, "test-payment-secret-file", "sales-test-payment-secret",
		"with --test-payments: file with the test provider's webhook secret; created if missing")
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
	cmd.AddCommand(migrate, initCmd, newSalesAdminCmd(f), newSalesKeysCmd(f), newSalesReportCmd(), newSalesMembersCmd(), newSalesCardCmd())
	return cmd
}

// newSalesAdminCmd is `admit sales admin`: recovery run on the server,
// against the database directly (no API, no login).
func newSalesAdminCmd(f *salesFlags) *cobra.Command {
	admin := &cobra.Command{Use: "admin", Short: "Recover access to the sales service (run on the server)"}
	admin.AddCommand(&cobra.Command{
		Use:   "unlock USER",
		Short: "Lift every wrong-password block on USER, from every address (for the last admin)",
		Long: `Forget the wrong passwords counted for USER from every address, so a
blocked address may try again at once. It talks to the database directly
(--pg-dsn or $ADMIT_PG_DSN) and is recorded in the audit log as done by the
operator (the OS user who ran it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, err := db.Open(cmd.Context(), f.dsn, db.DefaultPoolConfig())
			if err != nil {
				return err
			}
			defer pool.Close()
			cfg := auth.DefaultConfig()
			cfg.Pool = pool
			a, err := auth.NewAPI(cfg)
			if err != nil {
				return err
			}
			operator := "admit sales admin unlock"
			if u, err := user.Current(); err == nil {
				operator += " (" + u.Username + ")"
			}
			u, n, err := a.OperatorUnlock(cmd.Context(), args[0], operator)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %q (%s) unlocked: %d blocked or counting addresses cleared\n", u.Username, u.Role, n)
			return nil
		},
	})
	return admin
}

// newSalesKeysCmd is `admit sales keys`: the signing keys' KEK.
func newSalesKeysCmd(f *salesFlags) *cobra.Command {
	var oldFile string
	k := &cobra.Command{Use: "keys", Short: "Manage the key-encryption key of the ticket-signing keys"}
	rewrap := &cobra.Command{
		Use:   "rewrap",
		Short: "Seal every signing key with a new key-encryption key",
		Long: `Rotate the key-encryption key (KEK): every signing key sealed with the old
KEK (--old-key-file) is sealed with the new one (--key-file, or $ADMIT_KEK),
in one transaction; plain keys of older versions are sealed too. Steps:

  (umask 077; openssl rand -hex 32 > sales-kek.new)
  admit sales keys rewrap --old-key-file sales-kek --key-file sales-kek.new
  restart admit sales with --key-file sales-kek.new; then destroy sales-kek

A running sales process opens the keys with its KEK at every issue: from
the rewrap until its restart with the new key file, its sales fail, so
restart it right after (or stop sales during the rewrap).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if oldFile == "" {
				return errors.New("--old-key-file is required")
			}
			oldKEK, err := keys.LoadKEKFile(oldFile)
			if err != nil {
				return fmt.Errorf("--old-key-file: %w", err)
			}
			newKEK, err := loadKEK(f.keyFile)
			if err != nil {
				return err
			}
			pool, err := db.Open(cmd.Context(), f.dsn, db.DefaultPoolConfig())
			if err != nil {
				return err
			}
			defer pool.Close()
			n, err := keys.Rewrap(cmd.Context(), pool, oldKEK, newKEK)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d signing keys sealed with %s (were %s); restart admit sales with the new --key-file\n",
				n, newKEK.ID(), oldKEK.ID())
			return nil
		},
	}
	rewrap.Flags().StringVar(&oldFile, "old-key-file", "", "file with the key-encryption key the keys are sealed with now")
	k.AddCommand(rewrap, newSalesKeysRotateCmd(f))
	return k
}

// loadKEK reads the KEK from path, or else from $ADMIT_KEK.
func loadKEK(path string) (*keys.KEK, error) {
	if path != "" {
		k, err := keys.LoadKEKFile(path)
		if err != nil {
			return nil, fmt.Errorf("--key-file: %w", err)
		}
		return k, nil
	}
	if v := os.Getenv("ADMIT_KEK"); v != "" {
		k, err := keys.ParseKEK(v)
		if err != nil {
			return nil, fmt.Errorf("$ADMIT_KEK: %w", err)
		}
		return k, nil
	}
	return nil, keys.ErrNoKEK
}

// isLoopbackHost reports whether host is a loopback name or address.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clusterTransport is the transport for HTTPS to the cluster with its CA;
// nil (the default transport) when no CA file is given.
func clusterTransport(caFile string) (http.RoundTripper, error) {
	if caFile == "" {
		return nil, nil
	}
	tlsCfg, err := httpclient.TLSConfigFromCAFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--cluster-cacert: %w", err)
	}
	return httpclient.NewTransport(tlsCfg), nil
}

// parkClusters reads the clusters file (--clusters-file); none: nil.
func parkClusters(path string) (map[string]server.ParkCluster, error) {
	if path == "" {
		return nil, nil
	}
	m, err := server.LoadClustersFile(path)
	if err != nil {
		return nil, fmt.Errorf("--clusters-file: %w", err)
	}
	return m, nil
}

// clusterToken reads the cluster's admin token from file, else from
// $ADMIT_ADMIN_TOKEN; never from the command line.
func clusterToken(f *salesFlags) (string, error) {
	if f.clusterToken != "" {
		return "", errors.New("--cluster-token is refused: a token on the command line is visible to every local user (ps); use $ADMIT_ADMIN_TOKEN or --admin-token-file")
	}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", fmt.Errorf("--admin-token-file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("--admin-token-file: %s is empty", f.tokenFile)
		}
		return t, nil
	}
	return os.Getenv("ADMIT_ADMIN_TOKEN"), nil
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
	token, err := clusterToken(f)
	if err != nil {
		return err
	}
	kek, err := loadKEK(f.keyFile)
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
	cfg.ClusterURLs, cfg.ClusterToken = f.cluster, token
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else if host, _, err := net.SplitHostPort(f.httpAddr); err == nil && !isLoopbackHost(host) {
		log.Warn("sales API served over plain HTTP on a non-loopback address: passwords and session tokens cross the network in clear; use --tls-cert/--tls-key", "addr", f.httpAddr)
	}
	if cfg.ClusterTransport, err = clusterTransport(f.clusterCA); err != nil {
		return err
	}
	cfg.ClusterPark = f.clusterPark
	if cfg.ParkClusters, err = parkClusters(f.clustersFile); err != nil {
		return err
	}
	cfg.HolderSecret, cfg.KEK = secret, kek
	cfg.Sync = f.sync
	cfg.Logger, cfg.Registerer, cfg.Gatherer = log, reg, reg
	if f.testPayments { // development only: the test provider's own webhook secret
		if cfg.TestPaymentSecret, err = readOrCreateSecret(f.testPaymentSecretFile); err != nil {
			return fmt.Errorf("--test-payment-secret-file: %w", err)
		}
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
