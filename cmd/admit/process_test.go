package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/countersm"
	"github.com/admitpark/admit/cluster/localproc"
	"github.com/admitpark/admit/internal/httpclient"
)

var admitBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "admit-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	admitBin = filepath.Join(dir, "admit")
	build := exec.Command("go", "build", "-o", admitBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build admit for process tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testToken = "process-test-token"

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := localproc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// counterClient calls the counter state machine's routes on one node.
func counterClient(n *localproc.Node) *httpclient.Client {
	return &httpclient.Client{URLs: []string{n.HTTPURL}, BearerToken: testToken, HTTP: &http.Client{Timeout: 2 * time.Second}}
}

// self asks one node for its own view.
func self(ctx context.Context, c *localproc.Cluster, n *localproc.Node) (cluster.MemberStatus, error) {
	return c.Admin().At(n.HTTPURL).WithTimeout(2 * time.Second).Self(ctx)
}

// startProcessCluster starts n real `admit node` processes running the
// state machine sm and waits until they form a cluster; they are stopped
// when the test ends, and their logs shown when it failed.
func startProcessCluster(t *testing.T, n int, sm string) *localproc.Cluster {
	t.Helper()
	base := t.TempDir()
	cfg := localproc.DefaultClusterConfig(admitBin, testToken)
	cfg.Nodes, cfg.DataDir, cfg.LogDir, cfg.SettleTimeout = n, base, base, 30*time.Second
	cfg.NodeArgs = append(cfg.NodeArgs, "--state-machine", sm)
	c, err := localproc.StartCluster(t.Context(), cfg)
	if err != nil {
		t.Fatalf("%d node processes to form a cluster: %v", n, err)
	}
	t.Cleanup(func() {
		c.Stop(true)
		if t.Failed() {
			t.Logf("node logs (last lines):\n%s", c.Tail(25))
		}
	})
	return c
}

func leaderProc(c *localproc.Cluster) (*localproc.Node, error) {
	id, _, _ := c.Admin().WithTimeout(2 * time.Second).Leader(context.Background())
	if id == "" {
		return nil, errors.New("no process says it leads")
	}
	return c.Node(id), nil
}

func restart(t *testing.T, n *localproc.Node) {
	t.Helper()
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
}

// TestSIGKILLRestartRejoins kills real node processes with SIGKILL under
// load, leader and follower, restarts them from their data dirs, and checks
// that every acknowledged command survives, nothing is applied twice, and
// the restarted node converges with the others.
func TestSIGKILLRestartRejoins(t *testing.T) {
	lc := startProcessCluster(t, 3, "counter")
	procs := lc.Nodes()

	var next atomic.Uint64
	var mu sync.Mutex
	acked := []uint64{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				op := next.Add(1)
				c := counterClient(procs[i%len(procs)])
				var out map[string]int64
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				err := c.Do(ctx, http.MethodPost, "/v1/counter/add", map[string]any{"op": op, "delta": 1}, &out)
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, op)
					mu.Unlock()
				}
			}
		}()
	}
	waitAcked := func(n int) {
		clustertest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(acked) < n {
				return fmt.Errorf("%d acknowledged", len(acked))
			}
			return nil
		}, "%d acknowledged adds", n)
	}
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	waitAcked(150)
	leader, err := leaderProc(lc)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	leader.Kill()
	var newLeader *localproc.Node
	clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		p, err := leaderProc(lc)
		if err != nil {
			return err
		}
		if p == leader {
			return errors.New("the killed leader still answers")
		}
		newLeader = p
		return nil
	}, "a new leader after SIGKILL of %s", leader.ID)
	t.Logf("SIGKILL of leader %s: %s leads %v later", leader.ID, newLeader.ID, time.Since(killedAt).Round(time.Millisecond))
	waitAcked(ackedNow() + 150)

	restart(t, leader) // same flags, same data dir
	waitAcked(ackedNow() + 100)

	// And a follower, mid-traffic.
	var follower *localproc.Node
	for _, p := range procs {
		if p != newLeader && p != leader {
			follower = p
		}
	}
	follower.Kill()
	waitAcked(ackedNow() + 100)
	restart(t, follower)
	waitAcked(ackedNow() + 100)
	close(stop)
	wg.Wait()

	// Every process converges on one state that holds every acknowledged op.
	var want countersm.State
	clustertest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		var states []countersm.State
		for _, p := range procs {
			var st countersm.State
			if err := counterClient(p).Do(context.Background(), http.MethodGet, "/v1/counter", nil, &st); err != nil {
				return err
			}
			states = append(states, st)
		}
		for i, st := range states {
			if st.Total != states[0].Total || st.Ops != states[0].Ops {
				return fmt.Errorf("%s has %+v, %s has %+v", procs[i].ID, st, procs[0].ID, states[0])
			}
		}
		want = states[0]
		return nil
	}, "all processes to converge")
	mu.Lock()
	defer mu.Unlock()
	for _, p := range procs {
		var st countersm.State
		if err := counterClient(p).Do(context.Background(), http.MethodGet, "/v1/counter", nil, &st); err != nil {
			t.Fatal(err)
		}
		if st.Reapplied != 0 || st.OutOfOrder != 0 {
			t.Fatalf("%s re-applied %d entries, %d out of order", p.ID, st.Reapplied, st.OutOfOrder)
		}
		var check struct {
			Missing []uint64 `json:"missing"`
		}
		if err := counterClient(p).Do(context.Background(), http.MethodPost, "/v1/counter/check", map[string]any{"ops": acked}, &check); err != nil {
			t.Fatal(err)
		}
		if len(check.Missing) > 0 {
			t.Fatalf("%s lost %d acknowledged ops, e.g. %v", p.ID, len(check.Missing), check.Missing[:min(5, len(check.Missing))])
		}
	}
	if want.Ops < uint64(len(acked)) || uint64(want.Total) != want.Ops {
		t.Fatalf("state %+v for %d acknowledged ops", want, len(acked))
	}
	t.Logf("%d acknowledged ops, %d applied (the rest were in flight at a kill)", len(acked), want.Ops)
}

// A node restarted on another Raft address (a new IP after a reboot)
// re-announces it through --join and is a follower again.
func TestRestartOnNewRaftAddress(t *testing.T) {
	lc := startProcessCluster(t, 3, "counter")
	n3 := lc.Nodes()[2]
	n3.Stop()
	newAddr := freePort(t)
	n3.SetRaftAddr(newAddr)
	restart(t, n3)
	clustertest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		st, err := lc.Admin().At(lc.Nodes()[0].HTTPURL).Status(context.Background())
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.ID == "n3" {
				if m.RaftAddr != newAddr || m.State != "follower" {
					return fmt.Errorf("n3 is %s at %s", m.State, m.RaftAddr)
				}
				return nil
			}
		}
		return errors.New("n3 is not a member")
	}, "n3 to follow again at its new address %s", newAddr)
}
