// Package clustertest runs real multi-node clusters inside one test process:
// real Raft over TCP on random loopback ports, real Badger in t.TempDir(),
// and fault injection at the transport (disconnect, partition, heal).
package clustertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/cluster"
)

// Options shape a harness cluster.
type Options struct {
	// StateMachine makes each node's state machine. Required.
	StateMachine func(id string) cluster.StateMachine
	// Configure adjusts each node's Config before it opens.
	Configure func(*cluster.Config)
	// LogLevel for node logs sent to t.Log; default Warn.
	LogLevel slog.Level
}

// Member is one node of a harness cluster.
type Member struct {
	ID       string
	Dir      string
	RaftAddr string // fixed after first start so restarts keep the address
	Registry *prometheus.Registry
	node     *cluster.Node
	mu       sync.Mutex
}

// Node is the running node, or nil while the member is stopped.
func (m *Member) Node() *cluster.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// Harness is a cluster under test.
type Harness struct {
	t       testing.TB
	opts    Options
	Net     *FaultNet
	Members []*Member
	logw    *testLogWriter
	base    string
}

// New starts n nodes: the first bootstraps, the others join through it. It
// returns once all n are voters and a leader is elected. Everything stops at
// test cleanup.
func New(t testing.TB, n int, opts Options) *Harness {
	t.Helper()
	if opts.StateMachine == nil {
		t.Fatal("clustertest: Options.StateMachine is required")
	}
	if opts.LogLevel == 0 {
		opts.LogLevel = slog.LevelWarn
	}
	h := &Harness{t: t, opts: opts, Net: NewFaultNet(), logw: &testLogWriter{t: t}}
	// TempDir before Cleanup: cleanups run last-first, so nodes stop
	// before their directories go.
	h.base = t.TempDir()
	t.Cleanup(h.Close)
	for i := 0; i < n; i++ {
		h.AddMember()
	}
	h.WaitVoters(n, 10*time.Second)
	h.WaitLeader(10 * time.Second)
	return h
}

// AddMember starts a new node and has it join the cluster (or bootstraps it
// when it is the first).
func (h *Harness) AddMember() *Member {
	h.t.Helper()
	id := fmt.Sprintf("n%d", len(h.Members)+1)
	m := &Member{ID: id, Dir: filepath.Join(h.base, id)}
	h.Members = append(h.Members, m)
	h.start(m)
	if len(h.Members) == 1 {
		if err := m.node.Bootstrap(); err != nil {
			h.t.Fatalf("bootstrap %s: %v", m.ID, err)
		}
		return m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	CheckFor(h.t, 10*time.Second, 50*time.Millisecond, func() error {
		leader := h.Leader()
		if leader == nil {
			return errors.New("no leader to join through")
		}
		return leader.Node().Join(ctx, m.ID, m.RaftAddr, false)
	}, "%s to join", m.ID)
	return m
}

// Config returns the configuration a member starts with.
func (h *Harness) config(m *Member) cluster.Config {
	addr := m.RaftAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cfg := cluster.DefaultConfig(m.ID, m.Dir, addr)
	// Generous for -race on two cores; tests check behaviour, not speed.
	cfg.HeartbeatTimeout = 500 * time.Millisecond
	cfg.ElectionTimeout = 500 * time.Millisecond
	cfg.LeaderLeaseTimeout = 250 * time.Millisecond
	cfg.ApplyTimeout = 5 * time.Second
	cfg.Dial = h.Net.Dialer(m.ID)
	cfg.Logger = slog.New(slog.NewTextHandler(h.logw, &slog.HandlerOptions{Level: h.opts.LogLevel}))
	m.Registry = prometheus.NewRegistry()
	cfg.Registerer = m.Registry
	if h.opts.Configure != nil {
		h.opts.Configure(&cfg)
	}
	return cfg
}

func (h *Harness) start(m *Member) {
	h.t.Helper()
	n, err := cluster.Open(h.config(m), h.opts.StateMachine(m.ID))
	if err != nil {
		h.t.Fatalf("open %s: %v", m.ID, err)
	}
	m.mu.Lock()
	m.node = n
	m.RaftAddr = n.RaftAddr()
	m.mu.Unlock()
	h.Net.Register(m.ID, m.RaftAddr)
}

// Kill stops a member the hard way: its links are cut first, so it sends
// nothing more, then it is closed. (A real SIGKILL of an admit process is
// tested in cmd/admit.)
func (h *Harness) Kill(m *Member) {
	h.t.Helper()
	h.isolate(m)
	if n := m.Node(); n != nil {
		n.Close()
	}
	m.mu.Lock()
	m.node = nil
	m.mu.Unlock()
	h.healMember(m)
}

// Restart starts a stopped member from its data dir on its old address.
func (h *Harness) Restart(m *Member) {
	h.t.Helper()
	if m.Node() != nil {
		h.t.Fatalf("restart %s: still running", m.ID)
	}
	h.start(m)
}

// Disconnect cuts every link of m.
func (h *Harness) Disconnect(m *Member) { h.isolate(m) }

func (h *Harness) isolate(m *Member) {
	for _, o := range h.Members {
		if o != m {
			h.Net.Cut(m.ID, o.ID)
		}
	}
}

func (h *Harness) healMember(m *Member) {
	for _, o := range h.Members {
		if o != m {
			h.Net.Uncut(m.ID, o.ID)
		}
	}
}

// Partition cuts every link between the groups; links within a group stay.
func (h *Harness) Partition(groups ...[]*Member) {
	for i, a := range groups {
		for _, b := range groups[i+1:] {
			for _, x := range a {
				for _, y := range b {
					h.Net.Cut(x.ID, y.ID)
				}
			}
		}
	}
}

// Heal restores every link.
func (h *Harness) Heal() { h.Net.HealAll() }

// Running lists the members that are up.
func (h *Harness) Running() []*Member {
	var out []*Member
	for _, m := range h.Members {
		if m.Node() != nil {
			out = append(out, m)
		}
	}
	return out
}

// Leader returns the running member that is leader, or nil.
func (h *Harness) Leader() *Member {
	for _, m := range h.Running() {
		if m.Node().IsLeader() {
			return m
		}
	}
	return nil
}

// Followers lists running members that are not leader.
func (h *Harness) Followers() []*Member {
	var out []*Member
	for _, m := range h.Running() {
		if !m.Node().IsLeader() {
			out = append(out, m)
		}
	}
	return out
}

// WaitLeader waits until exactly one running member leads and every running
// member agrees on it.
func (h *Harness) WaitLeader(timeout time.Duration) *Member {
	h.t.Helper()
	var leader *Member
	CheckFor(h.t, timeout, 20*time.Millisecond, func() error {
		leader = nil
		for _, m := range h.Running() {
			if m.Node().IsLeader() {
				if leader != nil {
					return fmt.Errorf("two leaders: %s and %s", leader.ID, m.ID)
				}
				leader = m
			}
		}
		if leader == nil {
			return errors.New("no leader")
		}
		for _, m := range h.Running() {
			if id, _ := m.Node().Leader(); id != leader.ID {
				return fmt.Errorf("%s thinks the leader is %q, not %s", m.ID, id, leader.ID)
			}
		}
		return nil
	}, "a leader")
	return leader
}

// WaitVoters waits until the leader's configuration has n voters.
func (h *Harness) WaitVoters(n int, timeout time.Duration) {
	h.t.Helper()
	CheckFor(h.t, timeout, 20*time.Millisecond, func() error {
		l := h.Leader()
		if l == nil {
			return errors.New("no leader")
		}
		servers, err := l.Node().Members()
		if err != nil {
			return err
		}
		if len(servers) != n {
			return fmt.Errorf("%d members, want %d", len(servers), n)
		}
		return nil
	}, "%d voters", n)
}

// WaitApplied waits until every running member has applied at least index.
func (h *Harness) WaitApplied(index uint64, timeout time.Duration) {
	h.t.Helper()
	// Raft counts an entry applied a moment before the state holds it:
	// wait also for every state to hold what the most advanced one held
	// at the start (up to index).
	var state uint64
	for _, m := range h.Running() {
		if s := m.Node().StateIndex(); s <= index {
			state = max(state, s)
		}
	}
	CheckFor(h.t, timeout, 10*time.Millisecond, func() error {
		for _, m := range h.Running() {
			if got := m.Node().AppliedIndex(); got < index {
				return fmt.Errorf("%s applied %d, want %d", m.ID, got, index)
			}
			if got := m.Node().StateIndex(); got < state {
				return fmt.Errorf("%s state holds up to %d, want %d", m.ID, got, state)
			}
		}
		return nil
	}, "every member to apply index %d", index)
}

// Close stops every member.
func (h *Harness) Close() {
	for _, m := range h.Members {
		if n := m.Node(); n != nil {
			n.Close()
			m.mu.Lock()
			m.node = nil
			m.mu.Unlock()
		}
	}
	h.logw.stop()
}

// CheckFor polls fn every interval until it returns nil, and fails the test
// with fn's last error and what was awaited if timeout passes first.
func CheckFor(t testing.TB, timeout, interval time.Duration, fn func() error, what string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, fmt.Sprintf(what, args...), err)
		}
		<-tick.C
	}
}

// testLogWriter sends logs to t.Log until the test ends; goroutines that
// log later are dropped rather than panic.
type testLogWriter struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

var _ io.Writer = (*testLogWriter)(nil)

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}
