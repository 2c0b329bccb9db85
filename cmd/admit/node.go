package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/adminclient"
	"github.com/admitpark/admit/cluster/countersm"
	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/cluster/join"
	"github.com/admitpark/admit/internal/httpclient"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gate"
)

type nodeFlags struct {
	id, dataDir, raftAddr, advertiseAddr, httpAddr, advertiseHTTP string
	bootstrap                                                     bool
	join                                                          string
	adminToken                                                    string
	stateMachine                                                  string
	maxBody                                                       int
	scanTimeout                                                   time.Duration
	maxBatch                                                      int
	batchWorkers                                                  int
	batchWindow                                                   time.Duration
	deviceSkewWarn                                                time.Duration
	faultInjection                                                bool
	salesToken, salesTokenFile, opsAddr                           string
	tlsCert, tlsKey, tlsCA                                        string
	httpTLSCert, httpTLSKey                                       string
	insecure                                                      bool
}

func newNodeCmd(g *globalFlags) *cobra.Command {
	f := &nodeFlags{}
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run one cluster node (Raft member, gate API, admin API, metrics)",
		Long: `Run one cluster node.

The first node of a new cluster starts with --bootstrap; every other node
starts with --join pointing at any running node's HTTP address. A node
restarted from its data dir rejoins by itself (the flags may stay).`,
		Example: `  admit node --id n1 --data-dir /var/lib/admit/n1 --raft-addr 10.0.0.1:7201 --http-addr 10.0.0.1:7101 --bootstrap
  admit node --id n2 --data-dir /var/lib/admit/n2 --raft-addr 10.0.0.2:7201 --http-addr 10.0.0.2:7101 --join http://10.0.0.1:7101`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runNode(g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.id, "id", "", "node id, unique in the cluster and stable across restarts (required)")
	fl.StringVar(&f.dataDir, "data-dir", "", "directory for the Raft log, snapshots and state (required)")
	fl.StringVar(&f.raftAddr, "raft-addr", "127.0.0.1:7201", "address for Raft and node-to-node traffic")
	fl.StringVar(&f.advertiseAddr, "advertise-addr", "", "Raft address other nodes dial, if not --raft-addr")
	fl.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:7101", "address for the gate, admin and metrics HTTP API")
	fl.StringVar(&f.advertiseHTTP, "advertise-http", "", "HTTP URL clients use for this node, if not http://<http-addr>")
	fl.BoolVar(&f.bootstrap, "bootstrap", false, "start a new cluster with this node as its only member")
	fl.StringVar(&f.join, "join", "", "join the cluster through this node's HTTP URL (comma-separate several)")
	fl.StringVar(&f.adminToken, "admin-token", "", "token for admin calls (default $ADMIT_ADMIN_TOKEN)")
	fl.IntVar(&f.maxBody, "max-body-bytes", 1<<20, "largest accepted request body")
	gdef := gate.DefaultConfig("")
	fl.DurationVar(&f.scanTimeout, "scan-timeout", gdef.ScanTimeout, "longest a scan waits for the cluster before the gate gets 503")
	fl.IntVar(&f.maxBatch, "max-batch", gdef.MaxBatch, "most scans in one log entry (group commit)")
	fl.IntVar(&f.batchWorkers, "batch-workers", gdef.Workers, "scan batches a node keeps in flight at once")
	fl.DurationVar(&f.batchWindow, "batch-window", gdef.BatchWindow, "under load, how long a batch waits for more scans before it is sent (0: never)")
	fl.DurationVar(&f.deviceSkewWarn, "device-skew-warn", gdef.DeviceSkewWarn, "count and log a scan whose device_time is this far from the log time (decisions never depend on it)")
	fl.StringVar(&f.stateMachine, "state-machine", "tickets", "replicated state machine: tickets, or counter (a test counter for process-level tests)")
	fl.MarkHidden("state-machine")
	fl.StringVar(&f.salesToken, "sales-token", "", "the sales service's scoped token: issue, revoke, update, ticket views, events; not configuration or membership (default $ADMIT_SALES_TOKEN; none: only the admin token)")
	fl.StringVar(&f.salesTokenFile, "sales-token-file", "", "read the sales token from this file instead")
	fl.StringVar(&f.opsAddr, "ops-addr", "", "serve /metrics and /debug/pprof/ on this address instead of --http-addr (keep it off the gate network)")
	fl.BoolVar(&f.faultInjection, "fault-injection", false, "serve POST /v1/debug/faults to cut links to peers at runtime (failover drills only; never in production)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "this node's certificate (PEM, from 'admit cluster certs node'): mutual TLS on the Raft port")
	fl.StringVar(&f.tlsKey, "tls-key", "", "this node's private key (PEM)")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "the cluster CA certificate(s) (PEM, ca.crt); peers must present a node certificate it signed. Also trusted for --join https:// URLs")
	fl.StringVar(&f.httpTLSCert, "http-tls-cert", "", "serve the HTTP API over HTTPS with this certificate (the node certificate will do); required off loopback")
	fl.StringVar(&f.httpTLSKey, "http-tls-key", "", "private key of --http-tls-cert")
	fl.BoolVar(&f.insecure, "insecure", false, "allow a non-loopback Raft or HTTP address without TLS (only on a network where nothing but the cluster can reach these ports)")
	cmd.MarkFlagRequired("id")
	cmd.MarkFlagRequired("data-dir")
	return cmd
}

func runNode(g *globalFlags, f *nodeFlags) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	f.adminToken = adminToken(f.adminToken)
	if f.salesToken, err = nodeSalesToken(f.salesToken, f.salesTokenFile, f.adminToken); err != nil {
		return err
	}
	for flag, addr := range map[string]string{"raft-addr": f.raftAddr, "http-addr": f.httpAddr} {
		if err := hostPort(flag, addr); err != nil {
			return err
		}
	}
	switch {
	case f.adminToken == "":
		return errors.New("an admin token is required: --admin-token or ADMIT_ADMIN_TOKEN")
	case f.bootstrap && f.join != "":
		return errors.New("--bootstrap and --join exclude each other: bootstrap the first node, join the others")
	case f.stateMachine != "tickets" && f.stateMachine != "counter":
		return fmt.Errorf("--state-machine %q: use tickets or counter", f.stateMachine)
	}
	peerTLS, httpTLS, err := nodeTLS(log, f)
	if err != nil {
		return err
	}
	apiURL := f.advertiseHTTP
	if apiURL == "" {
		apiURL = "http://" + f.httpAddr
		if httpTLS != nil {
			apiURL = "https://" + f.httpAddr
		}
	}

	// Wiring, in order; shutdown runs in reverse.
	ctx, stop := signalContext()
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	cfg := cluster.DefaultConfig(f.id, f.dataDir, f.raftAddr)
	cfg.AdvertiseAddr = f.advertiseAddr
	cfg.APIAddr = apiURL
	cfg.Logger = log
	cfg.Registerer = reg
	cfg.ServerTLS, cfg.ClientTLS = peerTLS.server, peerTLS.client
	var faults *cluster.Faults
	if f.faultInjection {
		faults = cluster.NewFaults(nil)
		cfg.Dial = faults.Dial
		log.Warn("FAULT INJECTION IS ON: any holder of the admin token can cut this node off from its peers through " + httpapi.PathFaults + "; for drills only, never in production")
	}
	var sm cluster.StateMachine = fsm.NewMachine()
	if f.stateMachine == "counter" {
		sm = countersm.Counter{}
	}
	node, err := cluster.Open(cfg, sm)
	if err != nil {
		return err
	}
	defer node.Close()

	router, opsRouter := httpapi.NewRouter(), (*httpapi.Router)(nil)
	if f.opsAddr != "" {
		opsRouter = httpapi.NewRouter()
	}
	(&httpapi.Admin{Node: node, AdminToken: f.adminToken, Gatherer: reg, Ops: opsRouter}).Register(router)
	if faults != nil {
		(&httpapi.FaultsAPI{Node: node, Faults: faults, AdminToken: f.adminToken}).Register(router)
	}
	if f.stateMachine == "counter" {
		countersm.Routes(router, node, f.adminToken)
	} else {
		gcfg := gate.DefaultConfig(f.adminToken)
		gcfg.SalesToken = f.salesToken
		gcfg.ScanTimeout, gcfg.MaxBatch = f.scanTimeout, f.maxBatch
		gcfg.Workers, gcfg.BatchWindow = f.batchWorkers, f.batchWindow
		gcfg.DeviceSkewWarn = f.deviceSkewWarn
		gcfg.Logger = log
		gcfg.Registerer = reg
		gates, err := gate.New(gcfg, node)
		if err != nil {
			return err
		}
		defer gates.Close()
		gates.Register(router)
	}
	scfg := httpapi.DefaultServerConfig(f.httpAddr)
	scfg.MaxBodyBytes = f.maxBody
	scfg.Logger = log
	scfg.TLS = httpTLS
	srv, err := httpapi.Listen(scfg, router.Serve)
	if err != nil {
		return fmt.Errorf("listen on http address %s: %w", f.httpAddr, err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if opsRouter != nil {
		stopOps, err := listenOps(scfg, f.opsAddr, opsRouter)
		if err != nil {
			return err
		}
		defer stopOps()
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	hasState, err := node.HasState()
	if err != nil {
		return err
	}
	switch {
	case hasState && f.join != "":
		// Asking again is harmless when nothing changed, and tells the
		// cluster this node's new address when it moved.
		log.Info("restarted from existing state; confirming membership", "data_dir", f.dataDir, "via", f.join)
		wg.Add(1)
		go func() {
			defer wg.Done()
			joinCluster(ctx, log, f, node.RaftAddr())
		}()
	case hasState:
		log.Info("restarted from existing state; rejoining the cluster", "data_dir", f.dataDir)
	case f.bootstrap:
		if err := node.Bootstrap(); err != nil {
			return err
		}
		log.Info("bootstrapped a new cluster")
	case f.join != "":
		wg.Add(1)
		go func() {
			defer wg.Done()
			joinCluster(ctx, log, f, node.RaftAddr())
		}()
	default:
		log.Warn("new node with neither --bootstrap nor --join: waiting to be added with 'admit cluster join'")
	}
	log.Info("node ready for traffic", "http", srv.Addr(), "raft", node.RaftAddr())
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

// joinCluster asks the cluster at --join to add this node until it does,
// the cluster refuses, or ctx ends (package cluster/join has the policy).
func joinCluster(ctx context.Context, log *slog.Logger, f *nodeFlags, raftAddr string) {
	cfg := join.DefaultConfig()
	cfg.AdminToken, cfg.ID, cfg.RaftAddr, cfg.Logger = f.adminToken, f.id, raftAddr, log
	if f.tlsCA != "" {
		tcfg, err := httpclient.TLSConfigFromCAFile(f.tlsCA)
		if err != nil {
			log.Error("cannot join", "err", err)
			return
		}
		cfg.TLS = tcfg
	}
	urls, err := adminclient.ParseURLs(f.join)
	if err != nil {
		log.Error("cannot join", "err", err)
		return
	}
	cfg.URLs = urls
	switch err := join.Join(ctx, cfg); {
	case err == nil:
		log.Info("joined the cluster", "via", f.join)
	case errors.Is(err, join.ErrRefused):
		log.Error("join refused; fix the flags and restart", "err", err)
	case ctx.Err() == nil:
		log.Error("cannot join", "err", err)
	}
}

// hostPort checks an address flag early, with the flag's name in the error.
func hostPort(flag, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--%s %q: %v", flag, addr, strings.TrimPrefix(err.Error(), "address "+addr+": "))
	}
	return nil
}
