package drill

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/admitpark/admit/bench/linearize"
	"github.com/admitpark/admit/validator/gateapi"
)

const maxAttempts = 50 // per scan; then it counts as failed

// traffic is the simulated gates: each scans every Interval through its
// own node, and retries a failed scan with the same scan_id on the next.
// At the start of every round each gate goes back to its home node, so the
// gates stay spread over all nodes (the leader change of the round, a cut
// off leader above all, meets gates talking to it) rather than drifting away
// from the nodes of earlier failovers.
type traffic struct {
	o       Options
	urls    []string
	token   string
	gateIDs []string
	codes   []string
	rec     *linearize.Recorder
	nodes   []*gateapi.Client // one per URL: each attempt goes to the node the turnstile chose
	next    atomic.Int64
	round   atomic.Int32

	mu       sync.Mutex
	cur      Counts
	errRun   int
	errRunMs float64
}

func newTraffic(o Options, urls []string, token string, gateIDs, codes []string, rec *linearize.Recorder) *traffic {
	tp := &http.Transport{MaxIdleConnsPerHost: 4 * o.Gates, MaxConnsPerHost: 0, IdleConnTimeout: time.Minute}
	tr := &traffic{o: o, urls: urls, token: token, gateIDs: gateIDs, codes: codes, rec: rec}
	for _, u := range urls {
		// The gate token is the admin token here: the drill's gates are its own.
		c, err := gateapi.NewClient(gateapi.Config{URLs: []string{u}, GateToken: token, Timeout: o.Timeout, Transport: tp})
		if err != nil {
			panic(err) // one URL given: cannot fail
		}
		tr.nodes = append(tr.nodes, c)
	}
	return tr
}

func (tr *traffic) start(ctx context.Context, wg *sync.WaitGroup) {
	for g := range tr.gateIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.gate(ctx, g)
		}()
	}
}

// closeRound hands back the counts since the last call (into rd when set).
func (tr *traffic) closeRound(rd *Round) Counts {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	c := tr.cur
	if rd != nil {
		rd.Counts = c
		rd.MaxErrorRun, rd.MaxErrorMs = tr.errRun, tr.errRunMs
	}
	tr.cur, tr.errRun, tr.errRunMs = Counts{}, 0, 0
	return c
}

type gateState struct {
	id       int
	seq      int
	node     int
	runLen   int
	runStart time.Time
}

func (tr *traffic) gate(ctx context.Context, g int) {
	home := g % len(tr.urls)
	st := &gateState{id: g, node: home}
	round := tr.round.Load()
	tick := time.NewTicker(tr.o.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r := tr.round.Load(); r != round {
			round, st.node = r, home
		}
		k := tr.next.Add(1) - 1
		idx := (k / int64(tr.o.ScansPerTicket)) % int64(len(tr.codes))
		st.seq++
		tr.scan(ctx, st, int(idx))
	}
}

// scan makes the attempts of one scan, all with the same scan_id.
func (tr *traffic) scan(ctx context.Context, st *gateState, idx int) {
	req := gateapi.ScanRequest{Code: tr.codes[idx], Gate: tr.gateIDs[st.id], ScanID: fmt.Sprintf("g%d:%06d", st.id, st.seq), Direction: "in"}
	in := linearize.Input{Ticket: fmt.Sprintf("t%d", idx), ScanID: req.ScanID}
	var c Counts
	decided := false
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if ctx.Err() != nil {
				break
			}
			c.Retries++
		}
		c.Attempts++
		call := tr.rec.Now()
		resp, retry, err := tr.attempt(tr.nodes[st.node], req)
		if err == nil {
			tr.rec.Record(st.id, call, tr.rec.Now(), in, linearize.Output{Result: resp.Result, Reason: resp.Reason, Rescan: resp.Rescan})
			if resp.Result == "admit" {
				c.Admitted++
			} else {
				c.Denied++
			}
			if resp.Rescan {
				c.Rescans++
			}
			decided = true
			tr.endRun(st)
			break
		}
		tr.rec.RecordUnknown(st.id, call, in)
		if st.runLen == 0 {
			st.runStart = time.Now()
		}
		st.runLen++
		st.node = (st.node + 1) % len(tr.urls) // the turnstile tries the next node
		if !retry {
			break
		}
		if attempt > 0 {
			wait(ctx, 20*time.Millisecond)
		}
	}
	if !decided {
		c.Failed++
	}
	tr.mu.Lock()
	tr.cur.add(c)
	tr.mu.Unlock()
}

func (tr *traffic) endRun(st *gateState) {
	if st.runLen == 0 {
		return
	}
	d := ms(time.Since(st.runStart))
	tr.mu.Lock()
	if st.runLen > tr.errRun {
		tr.errRun = st.runLen
	}
	tr.errRunMs = max(tr.errRunMs, d)
	tr.mu.Unlock()
	st.runLen = 0
}

// attempt sends one scan to one node; retry says whether a turnstile
// would retry (no answer, or a 502/503/504).
func (tr *traffic) attempt(node *gateapi.Client, req gateapi.ScanRequest) (gateapi.ScanResponse, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tr.o.Timeout)
	defer cancel()
	out, err := node.Scan(ctx, req)
	switch gateapi.StatusOf(err) {
	case 0:
		return out, err != nil, err
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return out, true, err
	}
	return out, false, err
}
