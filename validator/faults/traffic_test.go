package faults

// The traffic and checks every scenario shares: a park with gates and
// tickets, simulated gates scanning through the HTTP API, the record of
// every attempt, and the waits for faults to take effect (the checks at
// the end are in checks_test.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/admitpark/admit/bench/linearize"
	"github.com/admitpark/admit/bench/load"
	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

const (
	numGates       = 6                     // simulated gates, two starting at each node
	scansPerTicket = 3                     // consecutive scans of one ticket, by different gates at about the same time
	scanInterval   = 10 * time.Millisecond // each gate starts a scan this often at most
	retryPause     = 20 * time.Millisecond // after every node failed a scan once
	attemptTimeout = 10 * time.Second      // HTTP client, far above the gate's scan timeout
	waitLong       = 60 * time.Second      // bound of a wait for the cluster to do something (generous: -race on a busy machine)
	ciTickets      = 1000
	zone           = "main"
)

// soakDuration is ADMIT_SOAK: how long each scenario keeps cycling its
// fault; 0 (unset) runs one cycle.
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("ADMIT_SOAK")
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		t.Fatalf("ADMIT_SOAK=%q: want a Go duration such as 10m", s)
	}
	return d
}

// attempt is one HTTP request of a scan.
type attempt struct {
	gate      int
	node      int // index in the harness's members
	ticket    int // index in run.codes
	call, ret int64
	status    int // HTTP status; 0: no reply (connection error or timeout)
	decided   bool
	admit     bool
	err       string
}

// run is one scenario's park and traffic.
type run struct {
	t       *testing.T
	park    *gatetest.Park
	h       *clustertest.Harness
	soak    time.Duration
	codes   []string
	ids     [][16]byte
	began   time.Time
	gateIDs []string // numGates traffic gates, then the probe gate
	tokens  []string
	rec     *linearize.Recorder
	hc      *http.Client
	tr      *http.Transport

	next      atomic.Int64 // scan counter; ticket = next / scansPerTicket
	decided   atomic.Int64
	decidedOn []atomic.Int64 // per member

	mu         sync.Mutex
	attempts   []attempt
	unexpected []string // replies no fault explains
	probeSeq   int

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	running  bool
	verified bool
}

type runOptions struct {
	configure func(*cluster.Config) // passed to every node's cluster config
}

// newRun starts a 3-node park, registers the gates and issues the tickets.
func newRun(t *testing.T, o runOptions) *run {
	t.Helper()
	soak := soakDuration(t)
	t0 := time.Now()
	p := gatetest.New(t, gatetest.Options{Configure: o.configure})
	t1 := time.Now()
	tp := &http.Transport{MaxIdleConnsPerHost: 2*numGates + 2, IdleConnTimeout: 30 * time.Second}
	r := &run{
		t: t, park: p, h: p.H, soak: soak, rec: linearize.NewRecorder(), tr: tp, began: t0,
		hc:        &http.Client{Transport: tp, Timeout: attemptTimeout},
		decidedOn: make([]atomic.Int64, len(p.H.Members)),
	}
	t.Cleanup(tp.CloseIdleConnections)

	admin, err := gateapi.NewClient(gateapi.Config{URLs: p.ServedURLs(), AdminToken: gatetest.AdminToken, Timeout: waitLong, Transport: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	for i := 0; i <= numGates; i++ {
		id := fmt.Sprintf("g%d", i)
		if i == numGates {
			id = "probe"
		}
		g, err := admin.AddGate(ctx, gateapi.GateJSON{ID: id, Zone: zone, Direction: gateapi.DirectionBoth})
		if err != nil {
			t.Fatalf("register gate %s: %v", id, err)
		}
		r.gateIDs, r.tokens = append(r.gateIDs, id), append(r.tokens, g.Token)
	}
	// Enough tickets that a soak hardly comes round to used ones again.
	n := ciTickets + int(soak.Seconds()*60)
	n = min(n, 100000)
	var buf bytes.Buffer
	if _, err := load.Run(ctx, admin, load.DefaultOptions(n), &buf, nil); err != nil {
		t.Fatalf("issue %d tickets: %v", n, err)
	}
	r.codes = strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	for _, s := range r.codes {
		c, err := code.Parse(s)
		if err != nil {
			t.Fatalf("code %q: %v", s, err)
		}
		r.ids = append(r.ids, c.TicketID())
	}
	r.logf("park up in %v; %d gates and %d tickets in %v", t1.Sub(t0).Round(time.Millisecond), numGates+1, n, time.Since(t1).Round(time.Millisecond))
	return r
}

func (r *run) member(m *clustertest.Member) int {
	for i, x := range r.h.Members {
		if x == m {
			return i
		}
	}
	r.t.Fatalf("%s is no member", m.ID)
	return -1
}

// logf logs with the time since the run began, so that a failed run's log
// reads as a timeline.
func (r *run) logf(format string, args ...any) {
	r.t.Helper()
	r.t.Logf("[%6.2fs] %s", time.Since(r.began).Seconds(), fmt.Sprintf(format, args...))
}

// start sets the gates scanning; stop (or the test's end) stops them.
func (r *run) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.running = cancel, true
	for g := 0; g < numGates; g++ {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.gate(ctx, g)
		}()
	}
	r.t.Cleanup(func() {
		r.stop()
		if !r.verified { // the test stopped early: the history still counts
			r.checkHistory()
		}
	})
}

// stop ends the traffic: no new scans; the attempts in flight finish.
func (r *run) stop() {
	if !r.running {
		return
	}
	r.cancel()
	r.wg.Wait()
	r.running = false
	r.tr.CloseIdleConnections()
}

func (r *run) gate(ctx context.Context, g int) {
	tick := time.NewTicker(scanInterval)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		k := r.next.Add(1) - 1
		idx := int(k / scansPerTicket % int64(len(r.codes)))
		r.scan(ctx, g, idx, fmt.Sprintf("%s-%d", r.gateIDs[g], seq))
	}
}

// scan makes the attempts of one scan, all with the same scan_id: first at
// the gate's own node, then round the others, until one is decided or the
// traffic stops.
func (r *run) scan(ctx context.Context, g, idx int, scanID string) {
	n := len(r.h.Members)
	node := g % n
	for try := 1; ; try++ {
		if a, _ := r.attempt(g, node, idx, scanID); a.decided || ctx.Err() != nil {
			return
		}
		node = (node + 1) % n
		if try%n == 0 {
			pause(ctx, retryPause)
		}
	}
}

func pause(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// attempt sends one scan request to a member and records it.
func (r *run) attempt(g, node, idx int, scanID string) (attempt, gateapi.ScanResponse) {
	body, _ := json.Marshal(gateapi.ScanRequest{Code: r.codes[idx], Gate: r.gateIDs[g], ScanID: scanID, Direction: "in"})
	in := linearize.Input{Ticket: fmt.Sprintf("t%d", idx), ScanID: scanID}
	base := r.park.URL(r.h.Members[node])
	a := attempt{gate: g, node: node, ticket: idx, call: r.rec.Now()}
	status, raw, err := r.post(base+gateapi.PathScan, r.tokens[g], body)
	a.ret, a.status = r.rec.Now(), status
	var resp gateapi.ScanResponse
	switch {
	case err != nil:
		a.err = err.Error()
	case status == http.StatusOK:
		if err := json.Unmarshal(raw, &resp); err != nil {
			a.err = fmt.Sprintf("reply %q: %v", raw, err)
			r.surprise("g%d on %s: undecodable 200: %s", g, r.h.Members[node].ID, a.err)
		} else {
			a.decided, a.admit = true, resp.Result == "admit"
		}
	default:
		a.err = fmt.Sprintf("%d %s", status, bytes.TrimSpace(raw))
		if status != http.StatusServiceUnavailable {
			r.surprise("g%d on %s: %s", g, r.h.Members[node].ID, a.err)
		}
	}
	if a.decided {
		r.rec.Record(g, a.call, a.ret, in, linearize.Output{Result: resp.Result, Reason: resp.Reason, Rescan: resp.Rescan})
		r.decided.Add(1)
		r.decidedOn[node].Add(1)
	} else {
		r.rec.RecordUnknown(g, a.call, in)
	}
	r.mu.Lock()
	r.attempts = append(r.attempts, a)
	r.mu.Unlock()
	return a, resp
}

func (r *run) surprise(format string, args ...any) {
	r.mu.Lock()
	r.unexpected = append(r.unexpected, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// post sends a request with a gate's token; no status is an error here.
func (r *run) post(u, token string, body []byte) (int, []byte, error) {
	return r.do(http.MethodPost, u, token, body)
}

func (r *run) do(method, u, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, raw, nil
}

// probe scans ticket idx once on member node as the probe gate (a new
// scan_id each call), recorded with the traffic. It returns the decision,
// or an error for an attempt that got none.
func (r *run) probe(node, idx int) (gateapi.ScanResponse, error) {
	r.mu.Lock()
	r.probeSeq++
	scanID := fmt.Sprintf("probe-%d", r.probeSeq)
	r.mu.Unlock()
	a, resp := r.attempt(numGates, node, idx, scanID)
	if !a.decided {
		return resp, errors.New(a.err)
	}
	return resp, nil
}

// cycles runs one fault cycle, or (soak) cycles until the soak time is up.
func (r *run) cycles(fn func(cycle int)) {
	start := time.Now()
	for c := 1; ; c++ {
		fn(c)
		if time.Since(start) >= r.soak {
			r.logf("%d fault cycles in %v", c, time.Since(start).Round(time.Millisecond))
			return
		}
	}
}

// waitDecided waits until n more scans attempts are decided, anywhere.
func (r *run) waitDecided(n int64, what string, args ...any) {
	r.t.Helper()
	base := r.decided.Load()
	clustertest.CheckFor(r.t, waitLong, 10*time.Millisecond, func() error {
		if got := r.decided.Load() - base; got < n {
			return fmt.Errorf("%d of %d decided", got, n)
		}
		return nil
	}, what, args...)
}

// waitEveryNode waits until every node decides scans again.
func (r *run) waitEveryNode() {
	r.t.Helper()
	for _, m := range r.h.Members {
		r.waitDecidedOn(m, perNode)
	}
	r.logf("every node decides scans")
}

// waitDecidedOn waits until member m decides n more attempts.
func (r *run) waitDecidedOn(m *clustertest.Member, n int64) {
	r.t.Helper()
	i := r.member(m)
	base := r.decidedOn[i].Load()
	clustertest.CheckFor(r.t, waitLong, 10*time.Millisecond, func() error {
		if got := r.decidedOn[i].Load() - base; got < n {
			return fmt.Errorf("%d of %d decided", got, n)
		}
		return nil
	}, "%s to decide scans again", m.ID)
}

// mark is a point in the run: attempts sent from at on are in
// attempts[i:] (they end later, so they are appended later).
type mark struct {
	i  int
	at int64
}

func (r *run) mark() mark {
	r.mu.Lock()
	i := len(r.attempts)
	r.mu.Unlock()
	return mark{i: i, at: r.rec.Now()}
}

// since returns the attempts at the given members (nil: all) sent at or
// after from and ended before to.
func (r *run) since(from mark, to int64, nodes []*clustertest.Member) []attempt {
	want := map[int]bool{}
	for _, m := range nodes {
		want[r.member(m)] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []attempt
	for _, a := range r.attempts[from.i:] {
		if (nodes == nil || want[a.node]) && a.call >= from.at && a.ret < to {
			out = append(out, a)
		}
	}
	return out
}

// waitFailedSince waits until n attempts at the given members (nil: all),
// sent from from on, have failed.
func (r *run) waitFailedSince(from mark, nodes []*clustertest.Member, n int) {
	r.t.Helper()
	clustertest.CheckFor(r.t, waitLong, 10*time.Millisecond, func() error {
		got := 0
		for _, a := range r.since(from, linearize.Infinity, nodes) {
			if !a.decided {
				got++
			}
		}
		if got < n {
			return fmt.Errorf("%d of %d failed", got, n)
		}
		return nil
	}, "gates to hear errors from %s", ids(nodes))
}

// waitLeaderAmong waits until exactly one member of group leads and every
// member of group names it (members outside group are not asked: they may
// be cut off).
func (r *run) waitLeaderAmong(group []*clustertest.Member) *clustertest.Member {
	r.t.Helper()
	var leader *clustertest.Member
	clustertest.CheckFor(r.t, waitLong, 10*time.Millisecond, func() error {
		leader = nil
		for _, m := range group {
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
		for _, m := range group {
			if id, _ := m.Node().Leader(); id != leader.ID {
				return fmt.Errorf("%s thinks the leader is %q, not %s", m.ID, id, leader.ID)
			}
		}
		return nil
	}, "a leader among %s", ids(group))
	return leader
}

// follower waits for a settled leader and returns one of its followers
// (which one turns with cycle, so soak cycles hit both).
func (r *run) follower(cycle int) *clustertest.Member {
	r.t.Helper()
	var f *clustertest.Member
	clustertest.CheckFor(r.t, waitLong, 10*time.Millisecond, func() error {
		if r.h.Leader() == nil {
			return errors.New("no leader")
		}
		fs := r.h.Followers()
		if len(fs) != len(r.h.Members)-1 {
			return fmt.Errorf("%d followers", len(fs))
		}
		f = fs[cycle%len(fs)]
		return nil
	}, "a leader with every other node following")
	return f
}

func ids(ms []*clustertest.Member) string {
	if ms == nil {
		return "any node"
	}
	var s []string
	for _, m := range ms {
		s = append(s, m.ID)
	}
	return strings.Join(s, ",")
}

func others(all []*clustertest.Member, not *clustertest.Member) []*clustertest.Member {
	var out []*clustertest.Member
	for _, m := range all {
		if m != not {
			out = append(out, m)
		}
	}
	return out
}

// noDecisionsFrom asserts that none of the given members decided a scan
// sent at or after from that ended before to: a node without a quorum
// must not answer. It returns how many attempts there failed.
func (r *run) noDecisionsFrom(nodes []*clustertest.Member, from mark, to int64, what string) int {
	r.t.Helper()
	failed := 0
	var bad []string
	for _, a := range r.since(from, to, nodes) {
		if !a.decided {
			failed++
			continue
		}
		if len(bad) < 5 {
			res := "deny"
			if a.admit {
				res = "ADMIT"
			}
			bad = append(bad, fmt.Sprintf("gate %s on %s at %v: %s", r.gateIDs[a.gate], r.h.Members[a.node].ID, time.Duration(a.call), res))
		}
	}
	if len(bad) > 0 {
		r.t.Errorf("%s: decisions without a quorum: %s", what, strings.Join(bad, "; "))
	}
	return failed
}
