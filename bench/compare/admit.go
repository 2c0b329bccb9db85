package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/admitpark/admit/bench/loadgen"
	"github.com/admitpark/admit/cluster/httpapi"
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
	bin    string
	nodes  int
	token  string
	urls   []string
	procs  []*proc
	client *httpapi.Client
	gt     *loadgen.GateTarget
}

func (a *admitSystem) name() string { return "admit" }

func (a *admitSystem) start(ctx context.Context, dir string) (systemInfo, error) {
	raw := make([]byte, 16)
	rand.Read(raw)
	a.token = hex.EncodeToString(raw)
	env := append(os.Environ(), "ADMIT_ADMIN_TOKEN="+a.token)
	var first string
	for i := range a.nodes {
		h, err := freeAddr()
		if err != nil {
			return systemInfo{}, err
		}
		r, err := freeAddr()
		if err != nil {
			return systemInfo{}, err
		}
		id := fmt.Sprintf("n%d", i+1)
		args := []string{"node", "--id", id, "--data-dir", filepath.Join(dir, id), "--raft-addr", r, "--http-addr", h, "--log-level", "warn"}
		if i == 0 {
			args = append(args, "--bootstrap")
			first = "http://" + h
		} else {
			args = append(args, "--join", first)
		}
		p, err := startProc("admit "+id, filepath.Join(dir, id+".log"), env, a.bin, args...)
		if err != nil {
			return systemInfo{}, err
		}
		a.procs = append(a.procs, p)
		a.urls = append(a.urls, "http://"+h)
	}
	c, err := httpapi.NewClient(strings.Join(a.urls, ","), a.token)
	if err != nil {
		return systemInfo{}, err
	}
	c.HTTP.Timeout = 2 * time.Second
	a.client = c
	if err := a.waitSettled(ctx, 60*time.Second); err != nil {
		return systemInfo{}, fmt.Errorf("admit cluster did not form (logs in %s): %w", dir, err)
	}
	ver := "admit"
	if out, err := exec.CommandContext(ctx, a.bin, "version").Output(); err == nil {
		ver = strings.TrimSpace(string(out))
	}
	return systemInfo{
		Version: ver,
		PerScan: "POST /v1/scan (JSON) to one node (gates spread over the 3 nodes, followers forward to the leader); " +
			"each node group-commits the scans that arrive while its batches are in flight into one ScanBatch Raft entry (followers forward theirs to the leader); apply checks the code digest, the scan id " +
			"(idempotency), the entitlement rules, marks the ticket used and records an entry event",
		Durability: "Raft log fsynced on the leader and a quorum before the answer (hashicorp/raft defaults); state in Badger",
		Settings:   []string{"admit node defaults (group commit window and --max-batch as shipped)", fmt.Sprintf("%d voters", a.nodes)},
		Endpoints:  a.urls,
	}, nil
}

// waitSettled waits until every node is a voter that leads or follows.
func (a *admitSystem) waitSettled(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := a.client.Status(ctx)
		if err == nil {
			up := 0
			for _, m := range st.Members {
				if m.Suffrage == "voter" && (m.State == "leader" || m.State == "follower") {
					up++
				}
			}
			if up == a.nodes && st.Leader != "" {
				return nil
			}
			err = fmt.Errorf("%d of %d voters up, leader %q", up, a.nodes, st.Leader)
		}
		for _, p := range a.procs {
			if derr := p.dead(); derr != nil {
				return derr
			}
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

// load issues the tickets through the admin API, 1000 per request, 4
// requests in flight (as `admit tickets load` does).
func (a *admitSystem) load(ctx context.Context, ts *ticketSet) error {
	c, err := httpapi.NewClient(strings.Join(a.urls, ","), a.token)
	if err != nil {
		return err
	}
	c.HTTP.Timeout = 60 * time.Second
	return inBatches(ctx, len(ts.Codes), 1000, 4, func(ctx context.Context, _, from, to int) error {
		var out gateapi.IssueResponse
		err := c.Do(ctx, http.MethodPost, gateapi.PathIssue, ts.issueRequest(from, to), &out)
		if err == nil && out.Applied != to-from {
			err = fmt.Errorf("issue: %d of %d tickets applied", out.Applied, to-from)
		}
		return err
	})
}

func (a *admitSystem) target(ctx context.Context, cfg loadgen.Config, _ *ticketSet) (loadgen.Target, error) {
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
	var wg sync.WaitGroup
	for _, p := range a.procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}
