package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/agent"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// cable is an agent's network link to the cluster, which a test can cut:
// cut, every call fails as a refused connection does (as when the nodes
// are down or the agent's address is blocked).
type cable struct {
	cut  atomic.Bool
	late atomic.Bool // deliver the call, then lose the answer: the agent times out
	base http.RoundTripper
	mu   sync.Mutex
	sent []gateapi.ScanRequest // scans sent while connected, for device times
}

func newCable() *cable { return &cable{base: &http.Transport{}} }

func (c *cable) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var one gateapi.ScanRequest
		var batch gateapi.ScanBatchRequest
		c.mu.Lock()
		switch r.URL.Path {
		case gateapi.PathScan:
			if json.Unmarshal(body, &one) == nil {
				c.sent = append(c.sent, one)
			}
		case gateapi.PathScans:
			if json.Unmarshal(body, &batch) == nil {
				c.sent = append(c.sent, batch.Scans...)
			}
		}
		c.mu.Unlock()
	}
	if c.late.Load() {
		resp, err := c.base.RoundTrip(r)
		if err == nil {
			resp.Body.Close()
		}
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return c.base.RoundTrip(r)
}

// scans returns every scan sent through the cable.
func (c *cable) scans() []gateapi.ScanRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gateapi.ScanRequest(nil), c.sent...)
}

// uploads returns the scans sent as offline uploads.
func (c *cable) uploads() []gateapi.ScanRequest {
	var out []gateapi.ScanRequest
	for _, s := range c.scans() {
		if s.Offline != "" {
			out = append(out, s)
		}
	}
	return out
}

// park is a real in-process cluster with signing keys, a zone and gates.
type park struct {
	t     *testing.T
	p     *gatetest.Park
	admin *gateapi.Client
	keys  map[uint8]ed25519.PrivateKey
}

func newPark(t *testing.T, nodes int) *park {
	t.Helper()
	gp := gatetest.New(t, gatetest.Options{Nodes: nodes})
	admin, err := gateapi.NewClient(gateapi.Config{URLs: strings.Split(gp.ClusterURLs(), ","), AdminToken: gatetest.AdminToken,
		Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := &park{t: t, p: gp, admin: admin, keys: map[uint8]ed25519.PrivateKey{}}
	p.setKeys(1)
	if err := admin.SetZone(t.Context(), gateapi.ZoneJSON{ID: "main"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetZone(t.Context(), gateapi.ZoneJSON{ID: "coaster"}); err != nil {
		t.Fatal(err)
	}
	return p
}

// setKeys makes the cluster's key set exactly ids (new keys are made).
func (p *park) setKeys(ids ...uint8) {
	p.t.Helper()
	set := gateapi.ParkJSON{ID: "sunny", TimeZone: "UTC"}
	for _, id := range ids {
		if p.keys[id] == nil {
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			p.keys[id] = priv
		}
		set.Keys = append(set.Keys, gateapi.KeyJSON{ID: id, Public: base64.StdEncoding.EncodeToString(p.keys[id].Public().(ed25519.PublicKey))})
	}
	if err := p.admin.SetPark(p.t.Context(), set); err != nil {
		p.t.Fatal(err)
	}
}

func (p *park) addGate(id, zone string) string {
	p.t.Helper()
	g, err := p.admin.AddGate(p.t.Context(), gateapi.GateJSON{ID: id, Zone: zone, Direction: gateapi.DirectionIn})
	if err != nil {
		p.t.Fatal(err)
	}
	return g.Token
}

// tk describes a ticket to issue.
type tk struct {
	kind       ticket.Kind
	entries    uint16
	key        uint8
	zones      []string // on the cluster's ticket
	mask       uint32   // in the code
	from, till time.Time
}

// issue issues a ticket and returns its code.
func (p *park) issue(d tk) string {
	p.t.Helper()
	if d.key == 0 {
		d.key = 1
	}
	if d.from.IsZero() {
		d.from = time.Now().Add(-time.Hour).Truncate(time.Minute)
		d.till = d.from.Add(24 * time.Hour)
	}
	var id [16]byte
	rand.Read(id[:])
	c, err := code.Sign(p.keys[d.key], code.Claims{KeyID: d.key, TicketID: id, Version: 1, Kind: uint8(d.kind), Entries: d.entries,
		ValidFrom: d.from, ValidUntil: d.till, ZoneMask: d.mask})
	if err != nil {
		p.t.Fatal(err)
	}
	tj := gateapi.TicketJSON{ID: ticket.FormatID(id), Version: 1, Product: "adult", Kind: d.kind.String(), Entries: d.entries,
		Zones: d.zones, ValidFrom: d.from, ValidUntil: d.till, Status: ticket.Active.String(), Code: c, Park: "sunny"}
	resp, err := p.admin.Issue(p.t.Context(), []gateapi.TicketJSON{tj})
	if err != nil || resp.Applied != 1 {
		p.t.Fatalf("issue: %+v, %v", resp, err)
	}
	return c
}

// issueUnchecked signs a single ticket's code with key id without issuing
// it (the cluster would refuse a key it no longer holds).
func (p *park) issueUnchecked(key uint8) string {
	p.t.Helper()
	var id [16]byte
	rand.Read(id[:])
	from := time.Now().Add(-time.Hour).Truncate(time.Minute)
	c, err := code.Sign(p.keys[key], code.Claims{KeyID: key, TicketID: id, Version: 1, Kind: uint8(ticket.Single),
		ValidFrom: from, ValidUntil: from.Add(24 * time.Hour)})
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

// agentUnder is an agent with its cable, running until the test ends.
type agentUnder struct {
	*agent.Agent
	cable  *cable
	gate   string
	token  string
	cancel context.CancelFunc
	done   chan error
	n      atomic.Int64
}

func (p *park) startAgent(gate, token string, dir string, opt func(*agent.Config)) *agentUnder {
	p.t.Helper()
	return p.start(gate, token, dir, opt, false)
}

// startAgentOffline starts an agent whose link is cut from the start.
func (p *park) startAgentOffline(gate, token string, dir string) *agentUnder {
	p.t.Helper()
	return p.start(gate, token, dir, nil, true)
}

func (p *park) start(gate, token string, dir string, opt func(*agent.Config), cut bool) *agentUnder {
	p.t.Helper()
	cfg := agent.DefaultConfig()
	cfg.ClusterURLs = strings.Split(p.p.ClusterURLs(), ",")
	cfg.Gate, cfg.GateToken, cfg.DataDir = gate, token, dir
	cfg.Probe, cfg.Refresh, cfg.Budget = 50*time.Millisecond, 50*time.Millisecond, time.Second
	cfg.RequestTimeout = 5 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{p.t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("gate", gate)
	c := newCable()
	c.cut.Store(cut)
	cfg.Transport = c
	if opt != nil {
		opt(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &agentUnder{Agent: a, cable: c, gate: gate, token: token, cancel: cancel, done: make(chan error, 1)}
	go func() { u.done <- a.Run(ctx) }()
	p.t.Cleanup(u.stop)
	if cut {
		return u
	}
	clustertest.CheckFor(p.t, 10*time.Second, 10*time.Millisecond, func() error {
		if !a.Online() {
			return errors.New("offline")
		}
		return nil
	}, "agent %s online", gate)
	return u
}

// stop stops the agent and waits for it (idempotent).
func (u *agentUnder) stop() {
	if u.cancel == nil {
		return
	}
	u.cancel()
	u.cancel = nil
	<-u.done
}

// scan scans code at the agent with a fresh scan id.
func (u *agentUnder) scan(t *testing.T, c string) gateapi.ScanResponse {
	t.Helper()
	r, err := u.Scan(t.Context(), gateapi.ScanRequest{Code: c, ScanID: fmt.Sprintf("%s:%d", u.gate, u.n.Add(1))})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// cutOff cuts the agent's link; its next scan finds out and is decided
// offline.
func (u *agentUnder) cutOff(t *testing.T) {
	t.Helper()
	u.cable.cut.Store(true)
}

// reconnect restores the link and waits until the backlog has drained
// and the agent is online.
func (u *agentUnder) reconnect(t *testing.T) {
	t.Helper()
	u.cable.cut.Store(false)
	clustertest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		n, err := u.Backlog()
		if err != nil {
			return err
		}
		if n > 0 || !u.Online() {
			return fmt.Errorf("backlog %d, online %v", n, u.Online())
		}
		return nil
	}, "agent %s back online with its backlog uploaded", u.gate)
}

func want(t *testing.T, what string, r gateapi.ScanResponse, result, reason string, offline bool) {
	t.Helper()
	if r.Result != result || r.Reason != reason || r.Offline != offline {
		t.Fatalf("%s: %s/%s offline=%v (%+v); want %s/%s offline=%v", what, r.Result, r.Reason, r.Offline, r, result, reason, offline)
	}
}

// events reads the whole changefeed.
func (p *park) events() []gateapi.EventJSON {
	p.t.Helper()
	var all []gateapi.EventJSON
	after := ""
	for {
		r, err := p.admin.Events(p.t.Context(), after, 10000)
		if err != nil {
			p.t.Fatal(err)
		}
		all = append(all, r.Events...)
		if len(r.Events) == 0 {
			return all
		}
		after = r.Next
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
