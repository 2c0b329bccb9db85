package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/validator/gate"
)

// engine sends the scans of a run; its steps run one after another.
type engine struct {
	cfg      Config
	codes    []string
	auth     string // "Bearer <token>"
	path     string // gate.PathScan or gate.PathScans
	gateJSON []byte // the registered gate id, JSON-quoted
	gates    []*simGate
	hosts    []*fasthttp.HostClient // every client, to close them

	// The scheduler's counters, carried across ramp steps so that scan ids
	// stay unique and every step scans fresh tickets.
	nextReq  int64
	nextScan int64
	sent     atomic.Int64 // scans handed to the gates in the current step

	// The collector's: which tickets were scanned; Wrapped; the furthest
	// position in the code list.
	seen    []uint64
	wrapped bool
	maxPos  int64
}

// simGate is one simulated gate with its connections: its own HostClient
// to every node, its primary node first.
type simGate struct {
	name  string // scan id prefix, unique per run
	hosts []hostClient
	seq   int64 // next scan id number; the scheduler's
}

type hostClient struct {
	base   string // http://host:port
	client *fasthttp.HostClient
}

// job is one request: Batch scans from scan index scan, scan ids from seq.
type job struct {
	intended time.Time
	scan     int64
	seq      int64
}

type attemptErr struct {
	kind, msg string
	scans     int
}

// outcome is what became of one request, retries included.
type outcome struct {
	scan     int64
	scans    int
	latency  time.Duration
	done     time.Time
	admits   int
	rescans  int
	denies   []string // reason of every denied scan
	errs     []attemptErr
	retries  int // scans sent again
	failed   int // scans without a decision
	canceled bool
}

func newEngine(cfg Config, codes []string, token string) (*engine, error) {
	raw := make([]byte, 4)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	run := hex.EncodeToString(raw)
	gj, _ := json.Marshal(cfg.Gate)
	e := &engine{
		cfg: cfg, codes: codes, auth: "Bearer " + token, path: gate.PathScan, gateJSON: gj,
		seen: make([]uint64, (len(codes)+63)/64), maxPos: int64(cfg.Skip) - 1,
	}
	if cfg.Batch > 1 {
		e.path = gate.PathScans
	}
	type node struct {
		base, addr string
		tls        bool
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
		nodes[i] = node{base: scheme + addr, addr: addr, tls: tls}
	}
	for i := range cfg.Gates {
		g := &simGate{name: fmt.Sprintf("g%d.%s", i+1, run)}
		for k := range nodes {
			n := nodes[(i+k)%len(nodes)]
			c := &fasthttp.HostClient{
				Addr: n.addr, IsTLS: n.tls, Name: "admit-bench",
				MaxConns: cfg.ConnsPerGate, MaxConnWaitTimeout: cfg.Timeout,
				MaxIdleConnDuration: time.Minute, NoDefaultUserAgentHeader: true,
			}
			g.hosts = append(g.hosts, hostClient{base: n.base, client: c})
			e.hosts = append(e.hosts, c)
		}
		e.gates = append(e.gates, g)
	}
	return e, nil
}

func (e *engine) close() {
	for _, c := range e.hosts {
		c.CloseIdleConnections()
	}
}

// codeIndex maps the k-th scan of the run to a position in the code list:
// from Skip, RepeatGap tickets, each scanned once, then the same again,
// Repeat times, then the next RepeatGap tickets. A position past the end
// wraps around.
func (e *engine) codeIndex(k int64) int64 {
	w, r := int64(e.cfg.RepeatGap), int64(e.cfg.Repeat)
	return int64(e.cfg.Skip) + k/(w*r)*w + k%(w*r)%w
}

func (e *engine) code(k int64) string {
	return e.codes[e.codeIndex(k)%int64(len(e.codes))]
}

// step sends rate scans/s for dur and waits for every answer.
func (e *engine) step(ctx context.Context, step, steps int, rate float64, dur time.Duration) Stats {
	conns := e.cfg.ConnsPerGate
	jobs := make([]chan job, len(e.gates))
	results := make(chan outcome, 4096)
	var wg sync.WaitGroup
	for gi, g := range e.gates {
		jobs[gi] = make(chan job, 1024)
		for range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.worker(ctx, g, jobs[gi], results)
			}()
		}
	}
	e.sent.Store(0)
	start := time.Now()
	col := &collector{e: e, start: start, hist: newHist(), win: newHist(),
		st: Stats{Step: step, TargetRate: rate, DenyReasons: map[string]int64{}, ErrorKinds: map[string]int64{}}}
	colDone := make(chan struct{})
	go func() {
		col.run(results, step, steps)
		close(colDone)
	}()
	lastSent, planned := e.schedule(ctx, start, rate, dur, jobs)
	for _, ch := range jobs {
		close(ch)
	}
	wg.Wait()
	close(results)
	<-colDone
	return col.finish(lastSent, planned)
}

// schedule hands out requests at fixed intervals from start, whatever
// became of the earlier ones. It returns when the last one was handed out
// and when the schedule would have ended.
func (e *engine) schedule(ctx context.Context, start time.Time, rate float64, dur time.Duration, jobs []chan job) (last, planned time.Time) {
	batch := int64(e.cfg.Batch)
	n := max(1, int64(math.Ceil(rate*dur.Seconds()/float64(batch)-1e-9)))
	interval := float64(batch) / rate * float64(time.Second)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	last = start
	for i := range n {
		due := start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return last, due
			}
		}
		gi := e.nextReq % int64(len(e.gates))
		g := e.gates[gi]
		j := job{intended: due, scan: e.nextScan, seq: g.seq}
		select {
		case jobs[gi] <- j:
		case <-ctx.Done():
			return last, due
		}
		e.nextReq++
		e.nextScan += batch
		g.seq += batch
		e.sent.Add(batch)
		last = time.Now()
	}
	return last, start.Add(time.Duration(float64(n) * interval))
}

func (e *engine) worker(ctx context.Context, g *simGate, jobs <-chan job, out chan<- outcome) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	var body []byte
	for j := range jobs {
		if ctx.Err() != nil {
			continue // interrupted: drop what is queued, unsent
		}
		body = e.appendBody(body[:0], g, j)
		out <- e.send(ctx, g, j, body, req, resp)
	}
}

// send makes the attempts of one request, with the same scan ids each time,
// the next node of the gate's list after each failure.
func (e *engine) send(ctx context.Context, g *simGate, j job, body []byte, req *fasthttp.Request, resp *fasthttp.Response) outcome {
	o := outcome{scan: j.scan, scans: e.cfg.Batch}
	for attempt := 0; ; attempt++ {
		h := g.hosts[attempt%len(g.hosts)]
		req.Reset()
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(h.base + e.path)
		req.Header.SetContentType("application/json")
		req.Header.Set("Authorization", e.auth)
		req.SetBodyRaw(body)
		resp.Reset()
		err := h.client.DoDeadline(req, resp, time.Now().Add(e.cfg.Timeout))
		kind, msg, retry := classify(err, resp)
		if kind == "" {
			if derr := e.tally(&o, resp.Body()); derr == nil {
				break
			} else {
				kind, msg, retry = "decode", derr.Error(), false
			}
		}
		o.errs = append(o.errs, attemptErr{kind: kind, msg: msg, scans: o.scans})
		if !retry || attempt >= e.cfg.Retries || ctx.Err() != nil {
			o.failed = o.scans
			break
		}
		o.retries += o.scans
		if d := e.cfg.RetryDelay; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				o.failed = o.scans
				o.canceled = true
			}
			if o.canceled {
				break
			}
		}
	}
	o.done = time.Now()
	o.latency = o.done.Sub(j.intended)
	return o
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

// tally adds a 200 reply's decisions to o.
func (e *engine) tally(o *outcome, body []byte) error {
	if e.cfg.Batch == 1 {
		var r gate.ScanResponse
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Errorf("reply: %v", err)
		}
		return o.add(&r)
	}
	var br gate.ScanBatchResponse
	if err := json.Unmarshal(body, &br); err != nil {
		return fmt.Errorf("reply: %v", err)
	}
	if len(br.Results) != e.cfg.Batch {
		return fmt.Errorf("reply has %d results for %d scans", len(br.Results), e.cfg.Batch)
	}
	for i := range br.Results {
		if err := o.add(&br.Results[i]); err != nil {
			return err
		}
	}
	return nil
}

func (o *outcome) add(r *gate.ScanResponse) error {
	switch {
	case r.Error != "":
		o.errs = append(o.errs, attemptErr{kind: "scan_" + r.Error, msg: "no decision for scan " + r.ScanID, scans: 1})
		o.failed++
		return nil
	case r.Result == "admit":
		o.admits++
	case r.Result == "deny":
		o.denies = append(o.denies, r.Reason)
	default:
		return fmt.Errorf("result %q is neither admit nor deny", r.Result)
	}
	if r.Rescan {
		o.rescans++
	}
	return nil
}

func (e *engine) appendBody(b []byte, g *simGate, j job) []byte {
	if e.cfg.Batch == 1 {
		return e.appendScan(b, g, j.scan, j.seq)
	}
	b = append(b, `{"scans":[`...)
	for i := range int64(e.cfg.Batch) {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.appendScan(b, g, j.scan+i, j.seq+i)
	}
	return append(b, "]}"...)
}

func (e *engine) appendScan(b []byte, g *simGate, k, seq int64) []byte {
	b = append(b, `{"code":`...)
	b = appendJSONString(b, e.code(k))
	b = append(b, `,"gate":`...)
	b = append(b, e.gateJSON...)
	b = append(b, `,"scan_id":"`...)
	b = append(b, g.name...)
	b = append(b, ':')
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, '"')
	if e.cfg.Direction != "" {
		b = append(b, `,"direction":"`...)
		b = append(b, e.cfg.Direction...)
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

// collector adds up the outcomes of one step; one goroutine.
type collector struct {
	e          *engine
	start      time.Time
	st         Stats
	hist, win  *hdrHist
	lastDone   time.Time
	winDecided int64
}

func (c *collector) run(results <-chan outcome, step, steps int) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastTick := c.start
	for {
		select {
		case o, ok := <-results:
			if !ok {
				return
			}
			c.add(o)
		case now := <-tick.C:
			if c.e.cfg.Progress == nil {
				continue
			}
			p := Progress{
				Step: step, Steps: steps, TargetRate: c.st.TargetRate, Elapsed: now.Sub(c.start),
				Scans: c.e.sent.Load(), Decided: c.st.Decided, Errors: c.st.Errors,
				Rate: float64(c.winDecided) / now.Sub(lastTick).Seconds(),
				P99:  time.Duration(c.win.ValueAtQuantile(99)) * time.Microsecond,
			}
			c.win.Reset()
			c.winDecided, lastTick = 0, now
			c.e.cfg.Progress(p)
		}
	}
}

func (c *collector) add(o outcome) {
	s := &c.st
	s.Requests++
	s.Scans += int64(o.scans)
	decided := int64(o.admits + len(o.denies))
	s.Decided += decided
	c.winDecided += decided
	s.Admits += int64(o.admits)
	s.Denies += int64(len(o.denies))
	for _, r := range o.denies {
		s.DenyReasons[r]++
	}
	s.Rescans += int64(o.rescans)
	s.Retries += int64(o.retries)
	s.Failed += int64(o.failed)
	for _, a := range o.errs {
		s.Errors += int64(a.scans)
		s.ErrorKinds[a.kind] += int64(a.scans)
		if s.ErrorSamples == nil {
			s.ErrorSamples = map[string]string{}
		}
		if _, ok := s.ErrorSamples[a.kind]; !ok {
			s.ErrorSamples[a.kind] = a.msg
		}
	}
	us := min(max(o.latency.Microseconds(), 1), maxLatencyUsec)
	c.hist.RecordValue(us)
	c.win.RecordValue(us)
	if o.done.After(c.lastDone) {
		c.lastDone = o.done
	}
	n := int64(len(c.e.codes))
	for k := o.scan; k < o.scan+int64(o.scans); k++ {
		p := c.e.codeIndex(k)
		c.e.maxPos = max(c.e.maxPos, p)
		if p >= n {
			c.e.wrapped = true
		}
		p %= n
		if c.e.seen[p/64]&(1<<(p%64)) == 0 {
			c.e.seen[p/64] |= 1 << (p % 64)
			s.Tickets++
		}
	}
}

// finish works out the rates: over the planned schedule, or longer when the
// answers or the sending took longer.
func (c *collector) finish(lastSent, planned time.Time) Stats {
	s := c.st
	window := planned.Sub(c.start)
	if d := c.lastDone.Sub(c.start); d > window {
		window = d
	}
	sendWindow := max(planned.Sub(c.start), lastSent.Sub(c.start))
	if window > 0 {
		s.Seconds = window.Seconds()
		s.AchievedRate = float64(s.Decided) / window.Seconds()
	}
	if sendWindow > 0 {
		s.SentRate = float64(s.Scans) / sendWindow.Seconds()
	}
	s.Latency = latencyOf(c.hist)
	return s
}
