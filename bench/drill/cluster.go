package drill

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/httpapi"
)

// node is one real `admit node` process the drill runs.
type node struct {
	id, httpURL, raftAddr, dir, log string
	args                            []string
	bin                             string
	env                             []string
	mu                              sync.Mutex
	cmd                             *exec.Cmd
	exited                          chan struct{}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (n *node) start() error {
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	c := exec.Command(n.bin, n.args...)
	c.Env = n.env
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.id, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited = c, exited
	n.mu.Unlock()
	go func() {
		c.Wait()
		logf.Close()
		close(exited)
	}()
	return nil
}

// signal sends sig and waits for the process to end (SIGKILL after 10 s).
func (n *node) signal(sig syscall.Signal) {
	n.mu.Lock()
	c, exited := n.cmd, n.exited
	n.mu.Unlock()
	if c == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	c.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		c.Process.Kill()
		<-exited
	}
}

func (n *node) hasExited() bool {
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	select {
	case <-exited:
		return true
	default:
		return false
	}
}

// lastWords is the first panic or fatal line of the node's log, or its last line.
func (n *node) lastWords() string {
	data, _ := os.ReadFile(n.log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.Contains(l, "level=ERROR msg=\"open") {
			return l
		}
	}
	return lines[len(lines)-1]
}

// localCluster is a cluster of node processes the drill started.
type localCluster struct {
	nodes []*node
	dir   string
	temp  bool
}

// startLocal starts n node processes, with their fault switch on when
// faults (partition mode), and waits until they form a cluster.
func startLocal(ctx context.Context, bin string, n int, dataDir, token string, faults bool) (*localCluster, error) {
	lc := &localCluster{dir: dataDir}
	if dataDir == "" {
		d, err := os.MkdirTemp("", "admit-drill-")
		if err != nil {
			return nil, err
		}
		lc.dir, lc.temp = d, true
	}
	env := append(os.Environ(), "ADMIT_ADMIN_TOKEN="+token)
	for i := range n {
		h, err := freeAddr()
		if err != nil {
			return nil, err
		}
		r, err := freeAddr()
		if err != nil {
			return nil, err
		}
		nd := &node{id: fmt.Sprintf("n%d", i+1), httpURL: "http://" + h, raftAddr: r, bin: bin, env: env}
		nd.dir = filepath.Join(lc.dir, nd.id)
		nd.log = filepath.Join(lc.dir, nd.id+".log")
		nd.args = []string{"node", "--id", nd.id, "--data-dir", nd.dir, "--raft-addr", r, "--http-addr", h, "--log-level", "warn"}
		if faults {
			nd.args = append(nd.args, "--fault-injection")
		}
		if i == 0 {
			nd.args = append(nd.args, "--bootstrap")
		} else {
			nd.args = append(nd.args, "--join", lc.nodes[0].httpURL)
		}
		if err := os.MkdirAll(nd.dir, 0o750); err != nil {
			return nil, err
		}
		lc.nodes = append(lc.nodes, nd)
		if err := nd.start(); err != nil {
			lc.stop(false)
			return nil, err
		}
	}
	if err := waitSettled(ctx, lc.urls(), token, n, 60*time.Second); err != nil {
		lc.stop(false)
		return nil, fmt.Errorf("cluster did not form (logs in %s): %w", lc.dir, err)
	}
	return lc, nil
}

func (lc *localCluster) urls() []string {
	var u []string
	for _, n := range lc.nodes {
		u = append(u, n.httpURL)
	}
	return u
}

func (lc *localCluster) byID(id string) *node {
	for _, n := range lc.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// stop ends every node with SIGTERM and removes a temporary data dir
// unless keep (a failed drill keeps its logs and data for a look).
func (lc *localCluster) stop(keep bool) {
	var wg sync.WaitGroup
	for _, n := range lc.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.signal(syscall.SIGTERM) }()
	}
	wg.Wait()
	if lc.temp && !keep {
		os.RemoveAll(lc.dir)
	}
}

// tail returns the last lines of every node's log.
func (lc *localCluster) tail(lines int) string {
	var b strings.Builder
	for _, n := range lc.nodes {
		data, _ := os.ReadFile(n.log)
		ls := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "--- %s ---\n%s\n", n.id, strings.Join(ls[max(0, len(ls)-lines):], "\n"))
	}
	return b.String()
}

// self asks one node for its own view.
func self(ctx context.Context, url, token string, timeout time.Duration) (cluster.MemberStatus, error) {
	var ms cluster.MemberStatus
	c, err := httpapi.NewClient(url, token)
	if err != nil {
		return ms, err
	}
	c.HTTP.Timeout = timeout
	err = c.Do(ctx, http.MethodGet, httpapi.PathLocalState, nil, &ms)
	return ms, err
}

// leaderOf asks every node and returns the one that says it leads in the
// highest term.
func leaderOf(ctx context.Context, urls []string, token string) (id, url string, term uint64) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms, err := self(ctx, u, token, 250*time.Millisecond)
			if err != nil || ms.State != "leader" {
				return
			}
			mu.Lock()
			if ms.Term > term {
				id, url, term = ms.ID, u, ms.Term
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return id, url, term
}

// waitSettled waits until n voters are up (leader or follower) with a leader.
func waitSettled(ctx context.Context, urls []string, token string, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := httpapi.NewClient(strings.Join(urls, ","), token)
	if err != nil {
		return err
	}
	client.HTTP.Timeout = time.Second
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := client.Status(ctx)
		if err == nil {
			up := 0
			for _, m := range st.Members {
				if m.Suffrage == "voter" && (m.State == "leader" || m.State == "follower") {
					up++
				}
			}
			if up >= n && st.Leader != "" {
				return nil
			}
			err = fmt.Errorf("%d of %d voters up, leader %q", up, n, st.Leader)
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return err
		case <-tick.C:
		}
	}
}

// waitSelfSettled waits until every node says it leads or follows, and all
// name the same leader.
func waitSelfSettled(ctx context.Context, urls []string, token string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		leaders := map[string]bool{}
		ok := true
		for _, u := range urls {
			ms, err := self(ctx, u, token, 500*time.Millisecond)
			switch {
			case err != nil:
				ok, last = false, err
			case ms.State != "leader" && ms.State != "follower":
				ok, last = false, fmt.Errorf("%s is %s", ms.ID, ms.State)
			case ms.Leader == "":
				ok, last = false, fmt.Errorf("%s knows no leader", ms.ID)
			default:
				leaders[ms.Leader] = true
			}
		}
		if ok && len(leaders) == 1 {
			return nil
		}
		if ok {
			last = fmt.Errorf("nodes name different leaders: %v", leaders)
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var errNoLeader = errors.New("no leader")
