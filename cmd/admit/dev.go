package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/cluster/adminclient"
	"github.com/admitpark/admit/cluster/localproc"
	"github.com/admitpark/admit/sales/pgserver"
)

type devFlags struct {
	nodes        int
	dataDir      string
	host         string
	httpBase     int
	raftBase     int
	fresh        bool
	restartDelay time.Duration
	sales        bool
	salesPort    int
	pgPort       int
	tls          bool
}

func newDevCmd() *cobra.Command {
	f := &devFlags{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster of real node processes for trying admit out (make run)",
		Long: `Run a local cluster: each node is a real 'admit node' process on loopback,
with its data under --data-dir. Ctrl-C stops every node cleanly; the data
stays for next time (--fresh starts over). A node that dies (try kill -9 on
the leader) is reported with how long the cluster went without a leader,
and restarted after --restart-delay, so you can watch it rejoin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.nodes, "nodes", 3, "number of nodes (3 or 5 make sense)")
	fl.StringVar(&f.dataDir, "data-dir", ".data", "where the nodes keep their data")
	fl.StringVar(&f.host, "host", "127.0.0.1", "loopback address to listen on")
	fl.IntVar(&f.httpBase, "http-port", 7101, "HTTP port of the first node; the others follow")
	fl.IntVar(&f.raftBase, "raft-port", 7201, "Raft port of the first node; the others follow")
	fl.BoolVar(&f.fresh, "fresh", false, "delete --data-dir first and start a new cluster")
	fl.DurationVar(&f.restartDelay, "restart-delay", 3*time.Second, "restart a node this long after it dies (0: never)")
	fl.BoolVar(&f.sales, "sales", true, "also run PostgreSQL (data in --data-dir/pg) and the sales service")
	fl.IntVar(&f.salesPort, "sales-port", 7401, "HTTP port of the sales service")
	fl.IntVar(&f.pgPort, "pg-port", 7432, "PostgreSQL port")
	fl.BoolVar(&f.tls, "tls", true, "mutual TLS between the nodes, with a CA and node certificates made on first run in --data-dir/tls (the HTTP API stays plain on loopback)")
	return cmd
}

func runDev(cmd *cobra.Command, f *devFlags) error {
	if f.nodes < 1 || f.nodes > 9 {
		return fmt.Errorf("--nodes %d: use 1 to 9", f.nodes)
	}
	out := cmd.OutOrStdout()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if f.fresh {
		if err := os.RemoveAll(f.dataDir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(f.dataDir, 0o750); err != nil {
		return err
	}
	token, err := devToken(filepath.Join(f.dataDir, "admin-token"))
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()

	ccfg := localproc.DefaultClusterConfig(exe, token)
	ccfg.Nodes, ccfg.DataDir, ccfg.Host, ccfg.HTTPPort, ccfg.RaftPort = f.nodes, f.dataDir, f.host, f.httpBase, f.raftBase
	ccfg.NodeArgs = nil                      // the nodes log at info level to <data-dir>/n<i>/node.log
	ccfg.ParentDeathSignal = syscall.SIGTERM // if dev itself dies, its nodes shut down cleanly
	ccfg.SettleTimeout = 30 * time.Second
	ccfg.TLS = f.tls // certificates in <data-dir>/tls
	lc, err := localproc.StartCluster(ctx, ccfg)
	if err != nil {
		return err
	}
	nodes := lc.Nodes()
	clusterURLs := strings.Join(lc.URLs(), ",")
	procs := make([]*localproc.Process, 0, len(nodes)+1) // supervised, stopped in reverse
	for _, n := range nodes {
		procs = append(procs, n.Process)
	}
	var pg *pgserver.Server
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- { // sales first, then the cluster
			procs[i].Stop()
		}
		if pg != nil {
			pg.Stop()
		}
	}()
	var salesLines []string
	if f.sales {
		env := append(os.Environ(), "ADMIT_ADMIN_TOKEN="+token)
		var sales *localproc.Process
		if pg, sales, salesLines, err = startDevSales(ctx, f, exe, env, clusterURLs, token); err != nil {
			return err
		}
		procs = append(procs, sales)
	}

	fmt.Fprintf(out, "\nadmit dev: %d-node cluster is up (data in %s, Ctrl-C stops it)\n", f.nodes, f.dataDir)
	if ca := lc.CAFile(); ca != "" {
		fmt.Fprintf(out, "  Raft port: mutual TLS, certificates in %s (CA %s)\n", filepath.Dir(ca), ca)
	} else {
		fmt.Fprintf(out, "  Raft port: NO TLS (--tls=false)\n")
	}
	fmt.Fprintln(out)
	for _, n := range nodes {
		fmt.Fprintf(out, "  %s  http %s  raft %s  pid %d  log %s\n", n.ID, n.HTTPURL, n.RaftAddr, n.Pid(), n.LogPath())
	}
	for _, l := range salesLines {
		fmt.Fprintln(out, l)
	}
	fmt.Fprintf(out, "\nTry, in another terminal:\n")
	fmt.Fprintf(out, "  export ADMIT_ADMIN_TOKEN=$(cat %s) ADMIT_CLUSTER=%s\n", filepath.Join(f.dataDir, "admin-token"), clusterURLs)
	fmt.Fprintf(out, "  ./bin/admit cluster status\n")
	if !f.sales { // with sales, the demo park's gates come through sync
		fmt.Fprintf(out, "  ./bin/admit gate add --id north-1 --zone main\n")
	}
	if f.sales {
		// The cluster now holds the park's signing keys and refuses codes
		// signed by any other key, synthetic ones included.
		fmt.Fprintf(out, "  # tickets come from sales (the cluster admits only codes signed by the park's keys);\n")
		fmt.Fprintf(out, "  # for synthetic loads run `admit dev --sales=false --data-dir .data-bench`\n")
	} else {
		fmt.Fprintf(out, "  ./bin/admit tickets load --count 100000 --out codes.txt\n")
		fmt.Fprintf(out, "  ./bin/admit scan \"$(head -1 codes.txt)\" --gate north-1     # ADMIT; run it again: DENY already_used\n")
	}
	fmt.Fprintf(out, "  curl -s %s/metrics | grep ^admit_\n", nodes[0].HTTPURL)
	fmt.Fprintf(out, "  kill -9 <pid of the leader>    # watch a new leader take over below\n\n")

	deaths := make(chan string, len(procs))
	sup := localproc.NewSupervisor(localproc.SupervisorConfig{RestartDelay: f.restartDelay,
		OnEvent: func(ctx context.Context, ev localproc.Event) { printDevEvent(ctx, out, f.restartDelay, ev, deaths) }})
	for _, p := range procs {
		sup.Watch(p)
	}
	var wg sync.WaitGroup // the leader watcher
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchLeader(ctx, out, lc.Admin().WithTimeout(200*time.Millisecond), deaths)
	}()
	<-ctx.Done()
	sup.Close()
	wg.Wait()
	fmt.Fprintln(out, "\nstopping all nodes...")
	return nil
}

// printDevEvent reports a process that died or was restarted, and tells
// the leader watcher of a death.
func printDevEvent(ctx context.Context, out io.Writer, delay time.Duration, ev localproc.Event, deaths chan<- string) {
	name := ev.Process.Name()
	switch ev.Kind {
	case localproc.Exited:
		select {
		case deaths <- name:
		case <-ctx.Done():
			return
		}
		fmt.Fprintf(out, "%s  %s (pid %d) exited: %v\n", stamp(), name, ev.Pid, ev.State)
		if delay <= 0 {
			fmt.Fprintf(out, "%s  restart it with: %s\n", stamp(), ev.Process.CommandLine())
		}
	case localproc.Restarted:
		fmt.Fprintf(out, "%s  %s restarted from its data dir (pid %d)\n", stamp(), name, ev.Pid)
	case localproc.RestartFailed:
		fmt.Fprintf(out, "%s  restart %s failed: %v\n", stamp(), name, ev.Err)
	}
}

// watchLeader prints leader changes. It asks every node for its own view
// (a node that just restarted knows no leader yet, which says nothing of the
// cluster), and times a failover from the moment the leader's process died.
func watchLeader(ctx context.Context, out io.Writer, admin *adminclient.Client, deaths <-chan string) {
	var leader string
	var lostAt time.Time
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-deaths:
			if id == leader {
				lostAt = time.Now()
				leader = ""
				fmt.Fprintf(out, "%s  the leader %s is gone; waiting for a new one\n", stamp(), id)
			}
			continue
		case <-tick.C:
		}
		now, _, _ := admin.Leader(ctx)
		if now == "" || now == leader {
			continue
		}
		if !lostAt.IsZero() {
			fmt.Fprintf(out, "%s  new leader %s, elected %.0f ms after the old one died\n", stamp(), now, float64(time.Since(lostAt).Microseconds())/1000)
			lostAt = time.Time{}
		} else {
			fmt.Fprintf(out, "%s  leader is %s\n", stamp(), now)
		}
		leader = now
	}
}

// devToken reads the dev cluster's admin token, creating it on first run.
func devToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 16)
	rand.Read(raw)
	token := hex.EncodeToString(raw)
	return token, os.WriteFile(path, []byte(token+"\n"), 0o600)
}
