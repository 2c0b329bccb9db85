// Package gatetest runs a real park cluster for tests in other packages:
// nodes on clustertest (real Raft over TCP, real Badger) with the ticket
// state machine, each serving the gate and admin API over HTTP on a random
// loopback port, as `admit node` does.
package gatetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gate"
)

// AdminToken is the cluster admin (operator) token of every test park.
const AdminToken = "test-admin-token"

// SalesToken is the sales service's scoped token of every test park
// (gate.Config.SalesToken).
const SalesToken = "test-sales-token"

// Options shape a test park.
type Options struct {
	Nodes        int // default 3
	MaxBodyBytes int // request body limit of each node; default the server's
	// Configure, when set, adjusts each node's cluster config before it
	// opens (every start, restarts included), after the harness's own
	// settings: snapshot thresholds, log handlers.
	Configure func(*cluster.Config)
	// Gate, when set, adjusts each node's gate API config (retention,
	// batching) before it starts.
	Gate func(*gate.Config)
}

// Park is a running test cluster with its HTTP servers.
type Park struct {
	H    *clustertest.Harness
	t    testing.TB
	opts Options
	mu   sync.Mutex
	urls map[string]string // member id -> base URL (kept after Unserve)
	stop map[string]func() // member id -> stops its server; present while served
}

// New starts the cluster and serves every member; everything stops at test
// cleanup, the servers before the nodes.
func New(t testing.TB, opts Options) *Park {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	p := &Park{t: t, opts: opts, urls: map[string]string{}, stop: map[string]func(){}}
	p.H = clustertest.New(t, opts.Nodes, clustertest.Options{
		StateMachine: func(string) cluster.StateMachine { return fsm.NewMachine() },
		Configure:    opts.Configure,
	})
	t.Cleanup(p.closeAll) // runs before the harness's cleanup
	for _, m := range p.H.Members {
		p.Serve(m)
	}
	return p
}

// Serve starts the gate API for a running member.
func (p *Park) Serve(m *clustertest.Member) {
	p.t.Helper()
	cfg := gate.DefaultConfig(AdminToken)
	cfg.SalesToken = SalesToken
	cfg.Registerer = m.Registry
	if p.opts.Gate != nil {
		p.opts.Gate(&cfg)
	}
	srv, err := gate.New(cfg, m.Node())
	if err != nil {
		p.t.Fatal(err)
	}
	r := httpapi.NewRouter()
	(&httpapi.Admin{Node: m.Node(), AdminToken: AdminToken, Gatherer: m.Registry}).Register(r)
	srv.Register(r)
	scfg := httpapi.DefaultServerConfig("127.0.0.1:0")
	if p.opts.MaxBodyBytes > 0 {
		scfg.MaxBodyBytes = p.opts.MaxBodyBytes
	}
	hs, err := httpapi.Listen(scfg, r.Serve)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.urls[m.ID] = "http://" + hs.Addr()
	p.stop[m.ID] = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		srv.Close()
	}
	p.mu.Unlock()
}

// Unserve stops m's HTTP server (a killed node answers nothing).
func (p *Park) Unserve(m *clustertest.Member) {
	p.mu.Lock()
	stop := p.stop[m.ID]
	delete(p.stop, m.ID)
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (p *Park) closeAll() {
	for _, m := range p.H.Members {
		p.Unserve(m)
	}
}

// Kill stops m's server and the node, the hard way.
func (p *Park) Kill(m *clustertest.Member) {
	p.Unserve(m)
	p.H.Kill(m)
}

// Restart starts a killed member from its data dir and serves it again
// (on a new HTTP port).
func (p *Park) Restart(m *clustertest.Member) {
	p.H.Restart(m)
	p.Serve(m)
}

// Disconnect cuts every Raft link of m; its HTTP server stays up, so
// gates still reach it and get its answers.
func (p *Park) Disconnect(m *clustertest.Member) { p.H.Disconnect(m) }

// Partition cuts every Raft link between the groups (see
// clustertest.Harness.Partition); HTTP servers stay up.
func (p *Park) Partition(groups ...[]*clustertest.Member) { p.H.Partition(groups...) }

// Heal restores every Raft link.
func (p *Park) Heal() { p.H.Heal() }

// URL is m's base URL (its last one, if it is not served now).
func (p *Park) URL(m *clustertest.Member) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.urls[m.ID]
}

// ServedURLs lists the base URLs of the members served now, in member order.
func (p *Park) ServedURLs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var list []string
	for _, m := range p.H.Members {
		if _, ok := p.stop[m.ID]; ok {
			list = append(list, p.urls[m.ID])
		}
	}
	return list
}

// ClusterURLs is every member's base URL, comma-separated, as --cluster
// takes it.
func (p *Park) ClusterURLs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var list []string
	for _, m := range p.H.Members {
		list = append(list, p.urls[m.ID])
	}
	return strings.Join(list, ",")
}
