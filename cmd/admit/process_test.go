package main

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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/countersm"
	"github.com/admitpark/admit/cluster/httpapi"
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

// proc is one real `admit node` process.
type proc struct {
	id, httpURL, raftAddr, dir, log string
	args                            []string
	cmd                             *exec.Cmd
	exited                          chan struct{}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(admitBin, p.args...)
	p.cmd.Env = append(os.Environ(), "ADMIT_ADMIN_TOKEN="+testToken)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) {
		c.Wait()
		logf.Close()
		close(done)
	}(p.cmd, p.exited)
}

func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	<-p.exited
}

func (p *proc) client(t *testing.T) *httpapi.Client {
	c, err := httpapi.NewClient(p.httpURL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP.Timeout = 2 * time.Second
	return c
}

func (p *proc) self(ctx context.Context, t *testing.T) (cluster.MemberStatus, error) {
	var ms cluster.MemberStatus
	err := p.client(t).Do(ctx, http.MethodGet, httpapi.PathLocalState, nil, &ms)
	return ms, err
}

func startProcessCluster(t *testing.T, n int, sm string) []*proc {
	t.Helper()
	base := t.TempDir()
	procs := make([]*proc, n)
	for i := range procs {
		p := &proc{id: fmt.Sprintf("n%d", i+1), httpURL: "http://" + freePort(t), raftAddr: freePort(t)}
		p.dir = filepath.Join(base, p.id)
		p.log = filepath.Join(base, p.id+".log")
		p.args = []string{"node", "--id", p.id, "--data-dir", p.dir, "--raft-addr", p.raftAddr,
			"--http-addr", strings.TrimPrefix(p.httpURL, "http://"), "--log-level", "warn", "--state-machine", sm}
		if i == 0 {
			p.args = append(p.args, "--bootstrap")
		} else {
			p.args = append(p.args, "--join", procs[0].httpURL)
		}
		procs[i] = p
		p.start(t)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.signal(syscall.SIGTERM)
		}
		if t.Failed() {
			for _, p := range procs {
				b, _ := os.ReadFile(p.log)
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("--- %s log (last lines) ---\n%s", p.id, strings.Join(lines[max(0, len(lines)-25):], "\n"))
			}
		}
	})
	clustertest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		st, err := procs[0].client(t).Status(context.Background())
		if err != nil {
			return err
		}
		up := 0
		for _, m := range st.Members {
			if m.State == "leader" || m.State == "follower" {
				up++
			}
		}
		if up != n || st.Leader == "" {
			return fmt.Errorf("%d of %d members up, leader %q", up, n, st.Leader)
		}
		return nil
	}, "%d node processes to form a cluster", n)
	return procs
}

func leaderProc(t *testing.T, procs []*proc) (*proc, error) {
	var best *proc
	var term uint64
	for _, p := range procs {
		ms, err := p.self(context.Background(), t)
		if err == nil && ms.State == "leader" && ms.Term >= term {
			best, term = p, ms.Term
		}
	}
	if best == nil {
		return nil, errors.New("no process says it leads")
	}
	return best, nil
}

// TestSIGKILLRestartRejoins kills real node processes with SIGKILL under
// load, leader and follower, restarts them from their data dirs, and checks
// that every acknowledged command survives, nothing is applied twice, and
// the restarted node converges with the others.
func TestSIGKILLRestartRejoins(t *testing.T) {
	procs := startProcessCluster(t, 3, "counter")

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
				c := procs[i%len(procs)].client(t)
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
	leader, err := leaderProc(t, procs)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	leader.signal(syscall.SIGKILL)
	var newLeader *proc
	clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		p, err := leaderProc(t, procs)
		if err != nil {
			return err
		}
		if p == leader {
			return errors.New("the killed leader still answers")
		}
		newLeader = p
		return nil
	}, "a new leader after SIGKILL of %s", leader.id)
	t.Logf("SIGKILL of leader %s: %s leads %v later", leader.id, newLeader.id, time.Since(killedAt).Round(time.Millisecond))
	waitAcked(ackedNow() + 150)

	leader.start(t) // same flags, same data dir
	waitAcked(ackedNow() + 100)

	// And a follower, mid-traffic.
	var follower *proc
	for _, p := range procs {
		if p != newLeader && p != leader {
			follower = p
		}
	}
	follower.signal(syscall.SIGKILL)
	waitAcked(ackedNow() + 100)
	follower.start(t)
	waitAcked(ackedNow() + 100)
	close(stop)
	wg.Wait()

	// Every process converges on one state that holds every acknowledged op.
	var want countersm.State
	clustertest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		var states []countersm.State
		for _, p := range procs {
			var st countersm.State
			if err := p.client(t).Do(context.Background(), http.MethodGet, "/v1/counter", nil, &st); err != nil {
				return err
			}
			states = append(states, st)
		}
		for i, st := range states {
			if st.Total != states[0].Total || st.Ops != states[0].Ops {
				return fmt.Errorf("%s has %+v, %s has %+v", procs[i].id, st, procs[0].id, states[0])
			}
		}
		want = states[0]
		return nil
	}, "all processes to converge")
	mu.Lock()
	defer mu.Unlock()
	for _, p := range procs {
		var st countersm.State
		if err := p.client(t).Do(context.Background(), http.MethodGet, "/v1/counter", nil, &st); err != nil {
			t.Fatal(err)
		}
		if st.Reapplied != 0 || st.OutOfOrder != 0 {
			t.Fatalf("%s re-applied %d entries, %d out of order", p.id, st.Reapplied, st.OutOfOrder)
		}
		var check struct {
			Missing []uint64 `json:"missing"`
		}
		if err := p.client(t).Do(context.Background(), http.MethodPost, "/v1/counter/check", map[string]any{"ops": acked}, &check); err != nil {
			t.Fatal(err)
		}
		if len(check.Missing) > 0 {
			t.Fatalf("%s lost %d acknowledged ops, e.g. %v", p.id, len(check.Missing), check.Missing[:min(5, len(check.Missing))])
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
	procs := startProcessCluster(t, 3, "counter")
	n3 := procs[2]
	n3.signal(syscall.SIGTERM)
	newAddr := freePort(t)
	for i, a := range n3.args {
		if a == n3.raftAddr {
			n3.args[i] = newAddr
		}
	}
	n3.raftAddr = newAddr
	n3.start(t)
	clustertest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		st, err := procs[0].client(t).Status(context.Background())
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
