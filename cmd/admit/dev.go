package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/httpapi"
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
	return cmd
}

type devNode struct {
	id, httpURL, raftAddr, dir string
	args                       []string
	mu                         sync.Mutex
	cmd                        *exec.Cmd
	exited                     chan struct{}
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

	nodes := make([]*devNode, f.nodes)
	var urls []string
	for i := range nodes {
		n := &devNode{
			id:       fmt.Sprintf("n%d", i+1),
			httpURL:  fmt.Sprintf("http://%s:%d", f.host, f.httpBase+i),
			raftAddr: fmt.Sprintf("%s:%d", f.host, f.raftBase+i),
		}
		n.dir = filepath.Join(f.dataDir, n.id)
		n.args = []string{"node", "--id", n.id, "--data-dir", n.dir, "--raft-addr", n.raftAddr,
			"--http-addr", strings.TrimPrefix(n.httpURL, "http://")}
		if i == 0 {
			n.args = append(n.args, "--bootstrap")
		} else {
			n.args = append(n.args, "--join", nodes[0].httpURL)
		}
		nodes[i] = n
		urls = append(urls, n.httpURL)
	}
	clusterURLs := strings.Join(urls, ",")
	client, err := httpapi.NewClient(clusterURLs, token)
	if err != nil {
		return err
	}
	client.HTTP.Timeout = 2 * time.Second

	ctx, stop := signalContext()
	defer stop()
	var wg sync.WaitGroup // supervisors, one per node
	defer func() {
		stop()
		wg.Wait()
	}()

	env := append(os.Environ(), "ADMIT_ADMIN_TOKEN="+token)
	// All at once: joiners retry until n1 is up, and a restarted cluster
	// needs a quorum of its members before any of them is ready.
	for _, n := range nodes {
		if err := os.MkdirAll(n.dir, 0o750); err != nil {
			return err
		}
		if err := n.start(exe, env); err != nil {
			return err
		}
	}
	if err := waitVoters(ctx, client, f.nodes, 30*time.Second); err != nil {
		return fmt.Errorf("cluster did not form (logs in %s/*/node.log): %w", f.dataDir, err)
	}
	var salesLines []string
	if f.sales {
		pg, sales, lines, err := startDevSales(ctx, f, exe, env, clusterURLs, token)
		if err != nil {
			return err
		}
		defer pg.Stop()
		nodes = append(nodes, sales)
		salesLines = lines
	}

	fmt.Fprintf(out, "\nadmit dev: %d-node cluster is up (data in %s, Ctrl-C stops it)\n\n", f.nodes, f.dataDir)
	for _, n := range nodes {
		if n.raftAddr == "" {
			continue
		}
		fmt.Fprintf(out, "  %s  http %s  raft %s  pid %d  log %s\n", n.id, n.httpURL, n.raftAddr, n.pid(), filepath.Join(n.dir, "node.log"))
	}
	for _, l := range salesLines {
		fmt.Fprintln(out, l)
	}
	fmt.Fprintf(out, "\nTry, in another terminal:\n")
	fmt.Fprintf(out, "  export ADMIT_ADMIN_TOKEN=%s ADMIT_CLUSTER=%s\n", token, clusterURLs)
	fmt.Fprintf(out, "  ./bin/admit cluster status\n")
	if !f.sales { // with sales, the demo park's gates come through sync
		fmt.Fprintf(out, "  ./bin/admit gate add --id north-1 --zone main\n")
	}
	fmt.Fprintf(out, "  ./bin/admit tickets load --count 100000 --out codes.txt\n")
	fmt.Fprintf(out, "  ./bin/admit scan \"$(head -1 codes.txt)\" --gate north-1     # ADMIT; run it again: DENY already_used\n")
	fmt.Fprintf(out, "  curl -s %s/metrics | grep ^admit_\n", nodes[0].httpURL)
	fmt.Fprintf(out, "  kill -9 <pid of the leader>    # watch a new leader take over below\n\n")

	deaths := make(chan string, len(nodes))
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.supervise(ctx, out, exe, env, f.restartDelay, deaths)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchLeader(ctx, out, nodes[:f.nodes], token, deaths)
	}()
	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping all nodes...")
	for i := len(nodes) - 1; i >= 0; i-- { // sales first, then the cluster
		nodes[i].terminate()
	}
	return nil
}

func (n *devNode) start(exe string, env []string) error {
	logf, err := os.OpenFile(filepath.Join(n.dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	c := exec.Command(exe, n.args...)
	c.Env = env
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = childProcAttr()
	if err := c.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.id, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited = c, exited
	n.mu.Unlock()
	go func() { // ends when the child does; supervise and terminate wait on it
		c.Wait()
		logf.Close()
		close(exited)
	}()
	return nil
}

func (n *devNode) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd.Process.Pid
}

// supervise reports a node that died and restarts it after delay.
func (n *devNode) supervise(ctx context.Context, out io.Writer, exe string, env []string, delay time.Duration, deaths chan<- string) {
	for {
		n.mu.Lock()
		c, exited := n.cmd, n.exited
		n.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-exited:
		}
		select {
		case deaths <- n.id:
		case <-ctx.Done():
			return
		}
		fmt.Fprintf(out, "%s  %s (pid %d) exited: %v\n", stamp(), n.id, c.Process.Pid, c.ProcessState)
		if delay <= 0 {
			fmt.Fprintf(out, "%s  restart it with: %s %s\n", stamp(), exe, strings.Join(n.args, " "))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if err := n.start(exe, env); err != nil {
			fmt.Fprintf(out, "%s  restart %s failed: %v\n", stamp(), n.id, err)
			return
		}
		fmt.Fprintf(out, "%s  %s restarted from its data dir (pid %d)\n", stamp(), n.id, n.pid())
	}
}

// terminate sends SIGTERM and waits; SIGKILL after 10 s.
func (n *devNode) terminate() {
	n.mu.Lock()
	c, exited := n.cmd, n.exited
	n.mu.Unlock()
	select {
	case <-exited:
		return
	default:
	}
	terminateProcess(c.Process)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		c.Process.Kill()
		<-exited
	}
}

// watchLeader prints leader changes. It asks every node for its own view
// (a node that just restarted knows no leader yet, which says nothing of the
// cluster), and times a failover from the moment the leader's process died.
func watchLeader(ctx context.Context, out io.Writer, nodes []*devNode, token string, deaths <-chan string) {
	clients := make([]*httpapi.Client, len(nodes))
	for i, n := range nodes {
		clients[i], _ = httpapi.NewClient(n.httpURL, token)
		clients[i].HTTP.Timeout = 200 * time.Millisecond
	}
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
		now := currentLeader(ctx, clients)
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

// currentLeader returns the node that says it leads, in the highest term.
func currentLeader(ctx context.Context, clients []*httpapi.Client) string {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var best cluster.MemberStatus
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms cluster.MemberStatus
			if c.Do(ctx, "GET", httpapi.PathLocalState, nil, &ms) != nil || ms.State != "leader" {
				return
			}
			mu.Lock()
			if ms.Term > best.Term {
				best = ms
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return best.ID
}

func stamp() string { return time.Now().Format("15:04:05.000") }

func waitVoters(ctx context.Context, client *httpapi.Client, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		st, err := client.Status(ctx)
		if err == nil {
			voters := 0
			for _, m := range st.Members {
				if m.Suffrage == "voter" && m.State != "unreachable" {
					voters++
				}
			}
			if voters == n && st.Leader != "" {
				return nil
			}
			err = fmt.Errorf("%d of %d voters up, leader %q", voters, n, st.Leader)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
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
