package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/admitpark/admit/bench/loadgen"
	"github.com/admitpark/admit/cluster/localproc"
	"github.com/admitpark/admit/validator/gateapi"
)

// system is one system under comparison: started from real binaries in
// its own directory, loaded with the ticket set, scanned through a
// loadgen.Target, stopped.
type system interface {
	name() string
	// start brings the system up in dir (empty or new) and returns its
	// version and the settings that matter for the comparison.
	start(ctx context.Context, dir string) (info systemInfo, err error)
	// load issues every ticket of ts as valid and unused.
	load(ctx context.Context, ts *ticketSet) error
	// target returns what the load generator scans through (after load).
	target(ctx context.Context, cfg loadgen.Config, ts *ticketSet) (loadgen.Target, error)
	// stop ends the system's processes; it is safe after a failed start.
	stop()
}

// systemInfo describes a system in the report.
type systemInfo struct {
	Version    string   `json:"version"`
	PerScan    string   `json:"per_scan"`
	Durability string   `json:"durability"`
	Settings   []string `json:"settings"`
	Endpoints  []string `json:"endpoints"`
}

// admitSystem is a 3-node cluster of real `admit node` processes, with
// their default (fsync on) settings.
type admitSystem struct {
	bin     string
	nodes   int
	token   string
	urls    []string
	cluster *localproc.Cluster
	gt      *loadgen.GateTarget
	hc      *http.Client // memory and restart probes
}

func (a *admitSystem) name() string { return "admit" }

func (a *admitSystem) start(ctx context.Context, dir string) (systemInfo, error) {
	raw := make([]byte, 16)
	rand.Read(raw)
	a.token = hex.EncodeToString(raw)
	cfg := localproc.DefaultClusterConfig(a.bin, a.token)
	cfg.Nodes, cfg.DataDir, cfg.LogDir = a.nodes, dir, dir
	cfg.ParentDeathSignal, cfg.StopTimeout, cfg.SettleTimeout = syscall.SIGKILL, 15*time.Second, 60*time.Second
	c, err := localproc.StartCluster(ctx, cfg)
	if err != nil {
		return systemInfo{}, fmt.Errorf("admit: %w", err)
	}
	a.cluster, a.urls = c, c.URLs()
	ver := "admit"
	if out, err := exec.CommandContext(ctx, a.bin, "version").Output(); err == nil {
		ver = strings.TrimSpace(string(out))
	}
	return systemInfo{
		Version: ver,
		PerScan: "POST /v1/scan (JSON; batched phase: POST /v1/scans of --batch scans) to one node (gates spread over the 3 nodes, followers forward to the leader); " +
			"each node group-commits the scans that arrive while its batches are in flight into one ScanBatch Raft entry (followers forward theirs to the leader); apply checks the code digest, the scan id " +
			"(idempotency), the entitlement rules, marks the ticket used and records an entry event",
		Durability: "Raft log fsynced on the leader and a quorum before the answer (hashicorp/raft defaults); state in Badger",
		Settings:   []string{"admit node defaults (group commit window and --max-batch as shipped)", fmt.Sprintf("%d voters", a.nodes)},
		Endpoints:  a.urls,
	}, nil
}

// load issues the tickets through the admin API, 1000 per request, 4
// requests in flight (as `admit tickets load` does).
func (a *admitSystem) load(ctx context.Context, ts *ticketSet) error {
	c, err := gateapi.NewClient(gateapi.Config{URLs: a.urls, AdminToken: a.token, Timeout: 60 * time.Second})
	if err != nil {
		return err
	}
	return inBatches(ctx, len(ts.Codes), 1000, 4, func(ctx context.Context, _, from, to int) error {
		out, err := c.Issue(ctx, ts.issueRequest(from, to).Tickets)
		if err == nil && out.Applied != to-from {
			err = fmt.Errorf("issue: %d of %d tickets applied", out.Applied, to-from)
		}
		return err
	})
}

func (a *admitSystem) target(ctx context.Context, cfg loadgen.Config, _ *ticketSet) (loadgen.Target, error) {
	if a.gt != nil { // the previous phase's
		a.gt.Close()
		a.gt = nil
	}
	cfg.Cluster, cfg.AdminToken, cfg.GateToken = a.urls, a.token, ""
	gt, err := loadgen.NewGateTarget(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.gt = gt
	return gt, nil
}

func (a *admitSystem) stop() {
	if a.gt != nil {
		a.gt.Close()
	}
	if a.cluster != nil {
		a.cluster.Stop(true) // dir is the run's, not a temporary one
	}
}
