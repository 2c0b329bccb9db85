package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/validator/gateapi"
)

// GateTarget scans through the gate API of an admit cluster (fasthttp).
// Simulated gate i talks to node i mod len(Cluster) first and to the
// others in turn when an attempt fails; each gate keeps ConnsPerGate
// persistent connections to each node, shared by its workers. The hot path
// reuses its request, response and body buffers and decodes replies without
// reflection, so a request costs the load generator a few allocations.
type GateTarget struct {
	cfg      Config
	auth     string // "Bearer <token>"
	gateJSON []byte // the registered gate id, JSON-quoted
	path     string
	gates    [][]hostClient // per simulated gate: its primary node first
	clients  []*fasthttp.HostClient
}

type hostClient struct {
	base   string // http://host:port
	uri    string // http://host:port/v1/scan(s)
	client *fasthttp.HostClient
}

// NewGateTarget prepares scanning cfg.Cluster as cfg.Gate: without
// cfg.GateToken it registers the gate (POST /v1/gates, which gives it a new
// token) with cfg.AdminToken; then it waits until every node takes scans for
// the gate. Close it when done.
func NewGateTarget(ctx context.Context, cfg Config) (*GateTarget, error) {
	if err := cfg.validateGate(); err != nil {
		return nil, err
	}
	if err := cfg.validateLoad(); err != nil {
		return nil, err
	}
	token := cfg.GateToken
	if token == "" {
		admin, err := cfg.adminClient()
		if err != nil {
			return nil, err
		}
		if token, err = registerGate(ctx, cfg, admin); err != nil {
			return nil, err
		}
	}
	t, err := newGateTarget(cfg, token)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, cfg, token); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func newGateTarget(cfg Config, token string) (*GateTarget, error) {
	gj, _ := json.Marshal(cfg.Gate)
	t := &GateTarget{cfg: cfg, auth: "Bearer " + token, gateJSON: gj, path: gateapi.PathScan}
	if cfg.Batch > 1 {
		t.path = gateapi.PathScans
	}
	type node struct {
		base, uri, addr string
		tls             bool
	}
	nodes := make([]node, len(cfg.Cluster))
	for i, u := range cfg.Cluster {
		addr, tls, err := splitURL(u)
		if err != nil {
			return nil, err
		}
		scheme := "http://"
		if tls {
			scheme = "https://"
		}
		nodes[i] = node{base: scheme + addr, uri: scheme + addr + t.path, addr: addr, tls: tls}
	}
	for i := range cfg.Gates {
		var hosts []hostClient
		for k := range nodes {
			n := nodes[(i+k)%len(nodes)]
			c := &fasthttp.HostClient{
				Addr: n.addr, IsTLS: n.tls, Name: "admit-bench",
				MaxConns: cfg.ConnsPerGate, MaxConnWaitTimeout: cfg.Timeout,
				MaxIdleConnDuration: time.Minute, NoDefaultUserAgentHeader: true,
			}
			hosts = append(hosts, hostClient{base: n.base, uri: n.uri, client: c})
			t.clients = append(t.clients, c)
		}
		t.gates = append(t.gates, hosts)
	}
	return t, nil
}

// Conn returns a connection of simulated gate g.
func (t *GateTarget) Conn(g int) (Conn, error) {
	if g < 0 || g >= len(t.gates) {
		return nil, fmt.Errorf("gate %d of %d", g, len(t.gates))
	}
	return &gateConn{t: t, hosts: t.gates[g], req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse()}, nil
}

// Close closes the idle connections of every simulated gate.
func (t *GateTarget) Close() error {
	for _, c := range t.clients {
		c.CloseIdleConnections()
	}
	return nil
}

type gateConn struct {
	t     *GateTarget
	hosts []hostClient
	first int // index in hosts of the node tried first: where the leader is, once a follower said
	req   *fasthttp.Request
	resp  *fasthttp.Response
	body  []byte
}

func (c *gateConn) Close() error {
	fasthttp.ReleaseRequest(c.req)
	fasthttp.ReleaseResponse(c.resp)
	c.req, c.resp = nil, nil
	return nil
}

// Do sends the scans to the gate's primary node, or on a retry to the next
// node of its list. A follower's answer naming the leader
// (gateapi.HeaderLeader) makes the leader this connection's primary, as
// gateapi.Client does.
func (c *gateConn) Do(_ context.Context, r *Request) error {
	if r.Attempt == 0 || len(c.body) == 0 {
		c.body = c.t.appendBody(c.body[:0], r)
	}
	h := c.hosts[(c.first+r.Attempt)%len(c.hosts)]
	req, resp := c.req, c.resp
	req.Reset()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(h.uri)
	req.Header.SetContentType("application/json")
	req.Header.Set("Authorization", c.t.auth)
	req.SetBodyRaw(c.body)
	resp.Reset()
	err := h.client.DoDeadline(req, resp, r.Deadline)
	if kind, msg, retry := classify(err, resp); kind != "" {
		return &AttemptError{Kind: kind, Msg: msg, Retry: retry}
	}
	if err := decodeResults(resp.Body(), r.Results, c.t.cfg.Batch > 1); err != nil {
		return &AttemptError{Kind: "decode", Msg: err.Error()}
	}
	if v := resp.Header.Peek(gateapi.HeaderLeader); len(v) > 0 {
		for k := range c.hosts {
			if c.hosts[k].base == string(v) {
				c.first = k
			}
		}
	}
	return nil
}

// classify names what went wrong with an attempt ("" for a 200) and
// whether a gate would retry it with the same scan id.
func classify(err error, resp *fasthttp.Response) (kind, msg string, retry bool) {
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			return "timeout", err.Error(), true
		case errors.Is(err, fasthttp.ErrNoFreeConns):
			return "no_free_conns", err.Error(), true
		default:
			return "connection", err.Error(), true
		}
	}
	code := resp.StatusCode()
	if code == fasthttp.StatusOK {
		return "", "", false
	}
	var eb struct {
		Error string `json:"error"`
	}
	msg = strings.TrimSpace(string(resp.Body()))
	if json.Unmarshal(resp.Body(), &eb) == nil && eb.Error != "" {
		msg = eb.Error
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	retry = code == fasthttp.StatusServiceUnavailable || code == fasthttp.StatusGatewayTimeout || code == fasthttp.StatusBadGateway
	return "http_" + strconv.Itoa(code), msg, retry
}

// decodeResults reads a 200 reply into res: one ScanResponse, or a
// ScanBatchResponse with exactly len(res) results. The common reply takes
// the fast path (scanReply); anything it does not know goes through
// encoding/json.
func decodeResults(body []byte, res []Result, batch bool) error {
	if err := fastDecode(body, res, batch); err == nil {
		return nil
	}
	clear(res)
	if !batch {
		var r gateapi.ScanResponse
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Errorf("reply: %v", err)
		}
		return resultOf(&r, &res[0])
	}
	var br gateapi.ScanBatchResponse
	if err := json.Unmarshal(body, &br); err != nil {
		return fmt.Errorf("reply: %v", err)
	}
	if len(br.Results) != len(res) {
		return fmt.Errorf("reply has %d results for %d scans", len(br.Results), len(res))
	}
	for i := range br.Results {
		if err := resultOf(&br.Results[i], &res[i]); err != nil {
			return err
		}
	}
	return nil
}

func resultOf(r *gateapi.ScanResponse, out *Result) error {
	switch {
	case r.Error != "":
		*out = Result{Err: r.Error}
		return nil
	case r.Result == "admit":
		*out = Result{Decision: Admit, Rescan: r.Rescan}
	case r.Result == "deny":
		*out = Result{Decision: Deny, Reason: r.Reason, Rescan: r.Rescan}
	default:
		return fmt.Errorf("result %q is neither admit nor deny", r.Result)
	}
	return nil
}

func (t *GateTarget) appendBody(b []byte, r *Request) []byte {
	if t.cfg.Batch == 1 {
		return t.appendScan(b, r, 0)
	}
	b = append(b, `{"scans":[`...)
	for i := range r.Codes {
		if i > 0 {
			b = append(b, ',')
		}
		b = t.appendScan(b, r, i)
	}
	return append(b, "]}"...)
}

func (t *GateTarget) appendScan(b []byte, r *Request, i int) []byte {
	b = append(b, `{"code":`...)
	b = appendJSONString(b, r.Codes[i])
	b = append(b, `,"gate":`...)
	b = append(b, t.gateJSON...)
	b = append(b, `,"scan_id":"`...)
	b = r.AppendScanID(b, i)
	b = append(b, '"')
	if t.cfg.Direction != "" {
		b = append(b, `,"direction":"`...)
		b = append(b, t.cfg.Direction...)
		b = append(b, '"')
	}
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// adminClient is the typed client for the setup calls (register the gate,
// load tickets); scans take the fasthttp path of GateTarget.
func (cfg Config) adminClient() (*gateapi.Client, error) {
	return gateapi.NewClient(gateapi.Config{URLs: cfg.Cluster, AdminToken: cfg.AdminToken, Timeout: cfg.AdminTimeout})
}

// registerGate registers (or re-registers) cfg.Gate and returns its new token.
func registerGate(ctx context.Context, cfg Config, admin *gateapi.Client) (string, error) {
	out, err := admin.AddGate(ctx, gateapi.GateJSON{ID: cfg.Gate, Zone: cfg.Zone, Direction: gateapi.DirectionBoth})
	if err != nil {
		return "", fmt.Errorf("register gate %s: %w", cfg.Gate, err)
	}
	if out.Token == "" {
		return "", fmt.Errorf("register gate %s: no token in the reply", cfg.Gate)
	}
	return out.Token, nil
}

// waitReady waits until every node accepts the gate's token: a follower
// knows a newly registered gate only once it has applied the change. It
// probes with a code that can never parse, which every node answers with
// deny invalid_code without touching the log.
func waitReady(ctx context.Context, cfg Config, token string) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.AdminTimeout)
	defer cancel()
	body := fmt.Sprintf(`{"code":%q,"gate":%s,"scan_id":"bench-probe"}`, probeCode, appendJSONString(nil, cfg.Gate))
	for _, u := range cfg.Cluster {
		addr, tls, err := splitURL(u)
		if err != nil {
			return err
		}
		c := &fasthttp.HostClient{Addr: addr, IsTLS: tls, Name: "admit-bench"}
		scheme := "http://"
		if tls {
			scheme = "https://"
		}
		err = probe(ctx, c, scheme+addr+gateapi.PathScan, token, body)
		c.CloseIdleConnections()
		if err != nil {
			return fmt.Errorf("node %s does not take scans for gate %s: %w", u, cfg.Gate, err)
		}
	}
	return nil
}

func probe(ctx context.Context, c *fasthttp.HostClient, uri, token, body string) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last, answer error // answer: the node's last refusal, which says more than a timeout
	for {
		req.Reset()
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(uri)
		req.Header.SetContentType("application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		req.SetBodyString(body)
		err := c.DoTimeout(req, resp, time.Second)
		if err == nil && resp.StatusCode() == fasthttp.StatusOK {
			return nil
		}
		last = err
		if err == nil {
			_, msg, _ := classify(nil, resp)
			answer = fmt.Errorf("%d %s", resp.StatusCode(), msg)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			if answer != nil {
				return answer
			}
			return last
		}
	}
}
