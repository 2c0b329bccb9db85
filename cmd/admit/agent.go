package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/admitpark/admit/internal/httpclient"
	"github.com/admitpark/admit/validator/agent"
	"github.com/admitpark/admit/validator/gateapi"
)

// withAgent adds `admit gate agent` to the gate command.
func withAgent(gate *cobra.Command, g *globalFlags) *cobra.Command {
	gate.AddCommand(newGateAgentCmd(g))
	return gate
}

func newGateAgentCmd(g *globalFlags) *cobra.Command {
	cfg := agent.DefaultConfig()
	var cluster, tokenFile, listen, policy, caFile string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "An offline-capable gate: forwards scans to the cluster, decides them itself when it does not answer",
		Long: `Serves POST /v1/scan and /v1/scans (the node's gate API) to turnstiles and
handhelds. Online, each scan goes to the cluster (any node, with failover).
When the cluster does not answer within --budget, the agent decides from the
code's signature and claims, what it saw on the changefeed and its own
earlier decisions (--policy), stores the decision (fsync) before answering
"offline": true, and uploads its backlog in order when the cluster is back.

The gate token comes from $ADMIT_GATE_TOKEN or --gate-token-file, never the
command line; devices send the same token to the agent.`,
		Example: `  ADMIT_GATE_TOKEN=$(cat north-1.token) admit gate agent --cluster http://10.0.0.1:7101,http://10.0.0.2:7101 \
      --gate north-1 --listen 127.0.0.1:7601 --data-dir /var/lib/admit-agent`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if cfg.ClusterURLs, err = gateapi.ParseURLs(cluster); err != nil {
				return fmt.Errorf("--cluster: %w", err)
			}
			if cfg.Policy, err = agent.ParsePolicy(policy); err != nil {
				return fmt.Errorf("--policy: %w", err)
			}
			if cfg.GateToken, err = gateTokenFrom(tokenFile); err != nil {
				return err
			}
			if err := hostPort("listen", listen); err != nil {
				return err
			}
			if caFile != "" {
				tcfg, err := httpclient.TLSConfigFromCAFile(caFile)
				if err != nil {
					return err
				}
				cfg.Transport = httpclient.NewTransport(tcfg)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			cfg.Logger, cfg.Registerer = log.With("component", "agent"), reg
			return runAgent(cmd, cfg, listen, reg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cluster, "cluster", envOr("ADMIT_CLUSTER", ""), "node URLs, comma-separated, tried in order (default $ADMIT_CLUSTER)")
	fl.StringVar(&cfg.Gate, "gate", "", "the gate this agent scans for (required)")
	fl.StringVar(&tokenFile, "gate-token-file", "", "file with the gate's token (default: $ADMIT_GATE_TOKEN)")
	fl.StringVar(&listen, "listen", "127.0.0.1:7601", "address the devices call (POST /v1/scan), also /metrics, /healthz, /readyz")
	fl.StringVar(&cfg.DataDir, "data-dir", "", "directory of the agent's store (agent.db, log/): the offline backlog and deny list (required)")
	fl.DurationVar(&cfg.Budget, "budget", cfg.Budget, "how long a scan waits for the cluster before the agent decides it offline")
	fl.StringVar(&policy, "policy", cfg.Policy.String(), "offline policy: deny (nobody enters), allow-once-per-device, allow (signature and the code's claims only)")
	fl.IntVar(&cfg.ZoneBit, "zone-bit", cfg.ZoneBit, "bit of the gate's zone in codes' zone masks, overriding the cluster's (-1: the cluster's; zones unchecked offline if it has none)")
	fl.IntVar(&cfg.UploadBatch, "upload-batch", cfg.UploadBatch, "offline scans per POST /v1/scans when the backlog is uploaded")
	fl.StringVar(&caFile, "cacert", os.Getenv("ADMIT_CACERT"), "CA certificate for https:// node URLs (default $ADMIT_CACERT)")
	cmd.MarkFlagRequired("gate")
	cmd.MarkFlagRequired("data-dir")
	return cmd
}

// gateTokenFrom reads the gate token from file, else $ADMIT_GATE_TOKEN.
func gateTokenFrom(file string) (string, error) {
	if file == "" {
		if t := os.Getenv("ADMIT_GATE_TOKEN"); t != "" {
			return t, nil
		}
		return "", errors.New("a gate token is required: $ADMIT_GATE_TOKEN or --gate-token-file (printed by `admit gate add`)")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--gate-token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--gate-token-file: %s is empty", file)
	}
	return t, nil
}

func runAgent(cmd *cobra.Command, cfg agent.Config, listen string, reg *prometheus.Registry) error {
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", a.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}

	runCtx, cancelRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		runErr = a.Run(runCtx)
	}()
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("gate agent: serve", "err", err)
			stop()
		}
	}()
	cfg.Logger.Info("gate agent ready", "listen", ln.Addr().String(), "gate", cfg.Gate, "cluster", strings.Join(cfg.ClusterURLs, ","),
		"policy", cfg.Policy.String(), "budget", cfg.Budget)
	fmt.Fprintf(cmd.OutOrStdout(), "gate agent for %s listening on http://%s\n", cfg.Gate, ln.Addr())
	<-ctx.Done()
	// Devices first, so no decision is left half-made; then the agent.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	srv.Shutdown(sctx)
	cancel()
	cancelRun()
	wg.Wait()
	return runErr
}
