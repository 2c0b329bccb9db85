package refund_test

// A real 3-node park cluster with the gate API served over HTTP on every
// node, as `admit node` serves it (the minimal pieces of
// validator/gate/fixture_test.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

const adminToken = "test-admin-token"

type park struct {
	t    *testing.T
	h    *clustertest.Harness
	mu   sync.Mutex
	urls map[string]string // member id -> base URL
	stop map[string]func()
	http *http.Client
}

func newPark(t *testing.T) *park {
	t.Helper()
	p := &park{t: t, urls: map[string]string{}, stop: map[string]func(){}, http: &http.Client{Timeout: 10 * time.Second}}
	p.h = clustertest.New(t, 3, clustertest.Options{
		StateMachine: func(string) cluster.StateMachine { return fsm.Machine{} },
	})
	t.Cleanup(p.closeAll) // before the harness's cleanup: servers stop first
	for _, m := range p.h.Members {
		p.serve(m)
	}
	return p
}

func (p *park) serve(m *clustertest.Member) {
	p.t.Helper()
	cfg := gate.DefaultConfig(adminToken)
	cfg.Registerer = m.Registry
	srv, err := gate.New(cfg, m.Node())
	if err != nil {
		p.t.Fatal(err)
	}
	r := httpapi.NewRouter()
	(&httpapi.Admin{Node: m.Node(), AdminToken: adminToken, Gatherer: m.Registry}).Register(r)
	srv.Register(r)
	hs, err := httpapi.Listen(httpapi.DefaultServerConfig("127.0.0.1:0"), r.Serve)
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

func (p *park) unserve(m *clustertest.Member) {
	p.mu.Lock()
	stop := p.stop[m.ID]
	delete(p.stop, m.ID)
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (p *park) closeAll() {
	for _, m := range p.h.Members {
		p.unserve(m)
	}
}

func (p *park) kill(m *clustertest.Member) {
	p.unserve(m)
	p.h.Kill(m)
}

func (p *park) restart(m *clustertest.Member) {
	p.h.Restart(m)
	p.serve(m)
}

func (p *park) url(m *clustertest.Member) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.urls[m.ID]
}

// clusterURLs is the comma-separated list a ClusterRevoker takes.
func (p *park) clusterURLs() string {
	var list []string
	for _, m := range p.h.Members {
		list = append(list, p.url(m))
	}
	return strings.Join(list, ",")
}

func (p *park) call(base, method, path, token string, body, out any) (int, error) {
	buf, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(buf))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %q: %w", raw, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, nil
}

// admin calls a running node with the admin token until it answers 2xx
// (an election may be on).
func (p *park) admin(method, path string, body, out any) {
	p.t.Helper()
	clustertest.CheckFor(p.t, 15*time.Second, 50*time.Millisecond, func() error {
		_, err := p.call(p.url(p.h.Running()[0]), method, path, adminToken, body, out)
		return err
	}, "%s %s", method, path)
}

func (p *park) addGate(id, zone string) string {
	p.t.Helper()
	var g gate.GateJSON
	p.admin(http.MethodPost, gate.PathGates, gate.GateJSON{ID: id, Zone: zone, Direction: "in"}, &g)
	return g.Token
}

// issue sends tickets (with their codes) to the cluster as the sync relay
// would.
func (p *park) issue(tickets ...gate.TicketJSON) gate.IssueResponse {
	p.t.Helper()
	var out gate.IssueResponse
	p.admin(http.MethodPost, gate.PathIssue, gate.IssueRequest{Tickets: tickets}, &out)
	return out
}

// scan posts one scan through a running node and returns its decision.
func (p *park) scan(gateToken, gateID, code string) gate.ScanResponse {
	p.t.Helper()
	var resp gate.ScanResponse
	scanID := fmt.Sprintf("%s:%d", gateID, time.Now().UnixNano())
	clustertest.CheckFor(p.t, 15*time.Second, 50*time.Millisecond, func() error {
		_, err := p.call(p.url(p.h.Running()[0]), http.MethodPost, gate.PathScan, gateToken,
			gate.ScanRequest{Code: code, Gate: gateID, ScanID: scanID}, &resp)
		return err
	}, "scan at %s", gateID)
	return resp
}
