package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/admitpark/admit/cluster/localproc"
)

// memoryProber is a system whose processes' memory the report shows
// (admit's nodes).
type memoryProber interface {
	// memory reads every node's resident set and Go heap now.
	memory(ctx context.Context) []nodeMemory
}

// restartChecker is a system whose restart after a crash the report
// times (admit).
type restartChecker interface {
	// restartCheck kills one node with SIGKILL, starts it again on the
	// same data and waits, at most timeout, until it is ready.
	restartCheck(ctx context.Context, timeout time.Duration) restartResult
}

// nodeMemory is one node's memory at one moment.
type nodeMemory struct {
	Node string `json:"node"`
	PID  int    `json:"pid"`
	// RSS is VmRSS of /proc/PID/status, in bytes.
	RSS int64 `json:"rss_bytes"`
	// HeapInuse is go_memstats_heap_inuse_bytes of the node's /metrics.
	HeapInuse int64 `json:"heap_inuse_bytes"`
	// HeapLive is the same right after a garbage collection the probe
	// asks for (/debug/pprof/heap?gc=1): what the state itself holds,
	// without the garbage a busy node carries until its next cycle.
	HeapLive int64  `json:"heap_live_bytes"`
	Error    string `json:"error,omitempty"`
}

// memoryResult is admit's memory per node: Empty right after the start,
// Loaded after the tickets were loaded and the machine was quiet again;
// per ticket is Loaded over Tickets (what a node costs per ticket it
// holds, its fixed cost included) and Added the growth over Empty per
// ticket.
type memoryResult struct {
	Tickets int            `json:"tickets"`
	Nodes   []nodeMemUsage `json:"nodes"`
}

// nodeMemUsage is one node of memoryResult.
type nodeMemUsage struct {
	Node               string     `json:"node"`
	Empty              nodeMemory `json:"empty"`
	Loaded             nodeMemory `json:"loaded"`
	RSSPerTicket       float64    `json:"rss_bytes_per_ticket"`
	HeapPerTicket      float64    `json:"heap_inuse_bytes_per_ticket"`
	AddedRSSPerTicket  float64    `json:"added_rss_bytes_per_ticket"`
	AddedHeapPerTicket float64    `json:"added_heap_inuse_bytes_per_ticket"`
	// AddedLivePerTicket is the live heap's growth over Empty per ticket:
	// the memory a ticket costs a node.
	AddedLivePerTicket float64 `json:"added_heap_live_bytes_per_ticket"`
}

// restartResult is the restart check: Node was killed (SIGKILL) while it
// held the loaded tickets, and was ready again Seconds later.
type restartResult struct {
	Node      string  `json:"node"`
	WasLeader bool    `json:"was_leader"`
	Seconds   float64 `json:"kill_to_ready_s"`
	// After is the node's memory once ready again.
	After nodeMemory `json:"after"`
	Error string     `json:"error,omitempty"`
}

func newMemoryResult(tickets int, empty, loaded []nodeMemory) *memoryResult {
	m := &memoryResult{Tickets: tickets}
	for i, l := range loaded {
		u := nodeMemUsage{Node: l.Node, Loaded: l}
		if i < len(empty) {
			u.Empty = empty[i]
		}
		if t := float64(tickets); t > 0 && l.Error == "" {
			u.RSSPerTicket, u.HeapPerTicket = float64(l.RSS)/t, float64(l.HeapInuse)/t
			if u.Empty.Error == "" && u.Empty.RSS > 0 {
				u.AddedRSSPerTicket = float64(l.RSS-u.Empty.RSS) / t
				u.AddedHeapPerTicket = float64(l.HeapInuse-u.Empty.HeapInuse) / t
				u.AddedLivePerTicket = float64(l.HeapLive-u.Empty.HeapLive) / t
			}
		}
		m.Nodes = append(m.Nodes, u)
	}
	return m
}

// memory reads every node's VmRSS and Go heap in use.
func (a *admitSystem) memory(ctx context.Context) []nodeMemory {
	var out []nodeMemory
	for _, n := range a.cluster.Nodes() {
		out = append(out, a.nodeMemory(ctx, n))
	}
	return out
}

func (a *admitSystem) nodeMemory(ctx context.Context, n *localproc.Node) nodeMemory {
	m := nodeMemory{Node: n.ID, PID: n.Pid()}
	var errs []error
	rss, err := vmRSS(m.PID)
	if err != nil {
		errs = append(errs, err)
	}
	heap, err := a.metric(ctx, n.HTTPURL, "go_memstats_heap_inuse_bytes")
	if err != nil {
		errs = append(errs, err)
	}
	m.RSS, m.HeapInuse = rss, int64(heap)
	if _, err := a.getAuth(ctx, n.HTTPURL+"/debug/pprof/heap?gc=1"); err != nil {
		errs = append(errs, fmt.Errorf("force a GC: %w", err))
	} else if live, err := a.metric(ctx, n.HTTPURL, "go_memstats_heap_inuse_bytes"); err != nil {
		errs = append(errs, err)
	} else {
		m.HeapLive = int64(live)
	}
	if err := errors.Join(errs...); err != nil {
		m.Error = err.Error()
	}
	return m
}

// vmRSS reads VmRSS of /proc/pid/status, in bytes.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(v) // "123456 kB"
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("pid %d: VmRSS %q", pid, v)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("pid %d: no VmRSS in /proc/%d/status", pid, pid)
}

// httpClient talks to the nodes' HTTP API: plain, or HTTPS trusting the
// cluster's CA.
func (a *admitSystem) httpClient() *http.Client {
	if a.hc != nil {
		return a.hc
	}
	a.hc = &http.Client{Timeout: 5 * time.Second}
	if ca := a.cluster.CAFile(); ca != "" {
		if pem, err := os.ReadFile(ca); err == nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			a.hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		}
	}
	return a.hc
}

// get GETs base+path and returns the body of a 200.
func (a *admitSystem) get(ctx context.Context, url string) ([]byte, error) {
	return a.getWith(ctx, url, "")
}

// getAuth is get with the admin token.
func (a *admitSystem) getAuth(ctx context.Context, url string) ([]byte, error) {
	return a.getWith(ctx, url, a.token)
}

func (a *admitSystem) getWith(ctx context.Context, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(b[:min(len(b), 200)]))
	}
	return b, nil
}

// metric reads one unlabelled sample from the node's /metrics
// (Prometheus text format).
func (a *admitSystem) metric(ctx context.Context, base, name string) (float64, error) {
	b, err := a.get(ctx, base+"/metrics")
	if err != nil {
		return 0, err
	}
	return parseMetric(b, name)
}

// parseMetric finds "name value" in a Prometheus text exposition.
func parseMetric(b []byte, name string) (float64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte(name))
		if !ok || len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) == 0 {
			break
		}
		return strconv.ParseFloat(f[0], 64)
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

// leader returns the leader's id as the node at base sees it (GET
// /readyz).
func (a *admitSystem) leader(ctx context.Context, base string) (string, error) {
	b, err := a.get(ctx, base+"/readyz")
	if err != nil {
		return "", err
	}
	var r struct {
		Leader string `json:"leader"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("/readyz: %w", err)
	}
	return r.Leader, nil
}

// restartCheck kills a follower (the last node that does not lead: a
// leader's restart would time an election too) with SIGKILL, starts it
// again on its data, and times it until its /readyz answers 200.
func (a *admitSystem) restartCheck(ctx context.Context, timeout time.Duration) restartResult {
	nodes := a.cluster.Nodes()
	leader, err := a.leader(ctx, nodes[0].HTTPURL)
	if err != nil {
		return restartResult{Error: "finding the leader: " + err.Error()}
	}
	victim := nodes[len(nodes)-1]
	for i := len(nodes) - 1; i >= 0; i-- {
		if nodes[i].ID != leader {
			victim = nodes[i]
			break
		}
	}
	res := restartResult{Node: victim.ID, WasLeader: victim.ID == leader}
	t0 := time.Now()
	victim.Kill()
	if err := victim.Restart(); err != nil {
		res.Error = err.Error()
		return res
	}
	if err := waitHTTP(ctx, victim.Process, victim.HTTPURL+"/readyz", timeout, a.httpClient()); err != nil {
		res.Error = fmt.Sprintf("not ready within %v: %v", timeout, err)
		return res
	}
	res.Seconds = time.Since(t0).Seconds()
	res.After = a.nodeMemory(ctx, victim)
	return res
}
