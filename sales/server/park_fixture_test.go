package server_test

// A real 3-node park cluster with the gate API served over HTTP on every
// node, as `admit node` serves it (the minimal pieces of
// validator/gate/fixture_test.go), and a JSON client for it and for sales.

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

const clusterAdminToken = "test-admin-token"

type park struct {
	t    *testing.T
	h    *clustertest.Harness
	mu   sync.Mutex
	urls map[string]string // member id -> base URL
	stop map[string]func()
}

func newPark(t *testing.T) *park {
	t.Helper()
	p := &park{t: t, urls: map[string]string{}, stop: map[string]func(){}}
	p.h = clustertest.New(t, 3, clustertest.Options{
		StateMachine: func(string) cluster.StateMachine { return fsm.Machine{} },
	})
	t.Cleanup(p.closeAll) // before the harness's cleanup: servers stop first
	for _, m := range p.h.Members {
		p.serve(m)
	}
	p.h.WaitLeader(10 * time.Second)
	return p
}

func (p *park) serve(m *clustertest.Member) {
	p.t.Helper()
	cfg := gate.DefaultConfig(clusterAdminToken)
	cfg.Registerer = m.Registry
	srv, err := gate.New(cfg, m.Node())
	if err != nil {
		p.t.Fatal(err)
	}
	r := httpapi.NewRouter()
	(&httpapi.Admin{Node: m.Node(), AdminToken: clusterAdminToken, Gatherer: m.Registry}).Register(r)
	srv.Register(r)
	scfg := httpapi.DefaultServerConfig("127.0.0.1:0")
	scfg.MaxBodyBytes = 64 << 10
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

func (p *park) closeAll() {
	p.mu.Lock()
	stops := p.stop
	p.stop = map[string]func(){}
	p.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
}

// url is the base URL of the i-th member.
func (p *park) url(i int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.urls[p.h.Members[i].ID]
}

// clusterURLs is every node's base URL, comma-separated (--cluster).
func (p *park) clusterURLs() string {
	var us []string
	for i := range p.h.Members {
		us = append(us, p.url(i))
	}
	return strings.Join(us, ",")
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// do sends a JSON request (body nil for none) and decodes a JSON reply into
// out when given; it returns the status and the raw reply.
func do(method, url, token string, body, out any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, raw, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("decode %q: %w", raw, err)
		}
	}
	return resp.StatusCode, raw, nil
}

// must sends a request and fails the test unless the reply has status want.
func must(t *testing.T, want int, method, url, token string, body, out any) {
	t.Helper()
	status, raw, err := do(method, url, token, body, out)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, status, raw, want)
	}
}
