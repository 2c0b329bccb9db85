package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// engine sends the scans of a run through a Target; its steps run one
// after another.
type engine struct {
	cfg   Config
	codes []string
	gates []*simGate

	// The scheduler's counters, carried across steps so that scan ids stay
	// unique and every step scans fresh tickets.
	nextReq  int64
	nextScan int64
	sent     atomic.Int64 // scans handed to the gates in the current step

	// The collector's: which tickets were scanned; Wrapped; the furthest
	// position in the code list.
	seen    []uint64
	wrapped bool
	maxPos  int64
}

// simGate is one simulated gate: its name and one Conn per worker.
type simGate struct {
	name  string // scan id prefix, unique per run
	conns []Conn
	seq   int64 // next scan id number; the scheduler's
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
	denies   int
	deny     string   // the first denied scan's reason
	more     []string // the reasons of the others (batches)
	errs     []attemptErr
	retries  int // scans sent again
	failed   int // scans without a decision
	canceled bool
}

func newEngine(cfg Config, codes []string, t Target) (*engine, error) {
	raw := make([]byte, 4)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	run := hex.EncodeToString(raw)
	e := &engine{
		cfg: cfg, codes: codes,
		seen: make([]uint64, (len(codes)+63)/64), maxPos: int64(cfg.Skip) - 1,
	}
	for i := range cfg.Gates {
		g := &simGate{name: fmt.Sprintf("g%d.%s", i+1, run)}
		e.gates = append(e.gates, g)
		for range cfg.ConnsPerGate {
			c, err := t.Conn(i)
			if err != nil {
				e.close()
				return nil, fmt.Errorf("connection of gate %d: %w", i+1, err)
			}
			g.conns = append(g.conns, c)
		}
	}
	return e, nil
}

func (e *engine) close() error {
	var errs []error
	for _, g := range e.gates {
		for _, c := range g.conns {
			errs = append(errs, c.Close())
		}
		g.conns = nil
	}
	return errors.Join(errs...)
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
	jobs := make([]chan job, len(e.gates))
	results := make(chan outcome, 4096)
	var wg sync.WaitGroup
	for gi, g := range e.gates {
		jobs[gi] = make(chan job, 1024)
		for _, c := range g.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.worker(ctx, g, c, jobs[gi], results)
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

// worker sends the jobs of one gate through one Conn, one at a time; its
// Request and its slices are reused from one job to the next.
func (e *engine) worker(ctx context.Context, g *simGate, c Conn, jobs <-chan job, out chan<- outcome) {
	r := &Request{Gate: g.name, Codes: make([]string, e.cfg.Batch), Results: make([]Result, e.cfg.Batch)}
	for j := range jobs {
		if ctx.Err() != nil {
			continue // interrupted: drop what is queued, unsent
		}
		r.Seq = j.seq
		for i := range r.Codes {
			r.Codes[i] = e.code(j.scan + int64(i))
		}
		out <- e.send(ctx, c, j, r)
	}
}

// send makes the attempts of one request, with the same scan ids each time.
func (e *engine) send(ctx context.Context, c Conn, j job, r *Request) outcome {
	o := outcome{scan: j.scan, scans: len(r.Codes)}
	for attempt := 0; ; attempt++ {
		r.Attempt = attempt
		r.Deadline = time.Now().Add(e.cfg.Timeout)
		clear(r.Results)
		err := c.Do(ctx, r)
		if err == nil {
			o.add(r)
			break
		}
		var ae *AttemptError
		if !errors.As(err, &ae) {
			ae = &AttemptError{Kind: "error", Msg: err.Error()}
			if errors.Is(err, context.DeadlineExceeded) {
				ae.Kind = "timeout"
			}
		}
		o.errs = append(o.errs, attemptErr{kind: ae.Kind, msg: ae.Msg, scans: o.scans})
		if !ae.Retry || attempt >= e.cfg.Retries || ctx.Err() != nil {
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

// add counts the decisions of a successful attempt.
func (o *outcome) add(r *Request) {
	for i := range r.Results {
		res := &r.Results[i]
		switch res.Decision {
		case Admit:
			o.admits++
		case Deny:
			if o.denies == 0 {
				o.deny = res.Reason
			} else {
				o.more = append(o.more, res.Reason)
			}
			o.denies++
		default:
			kind := res.Err
			if kind == "" {
				kind = "undecided"
			}
			o.errs = append(o.errs, attemptErr{kind: "scan_" + kind, msg: "no decision for scan " + r.ScanID(i), scans: 1})
			o.failed++
			continue
		}
		if res.Rescan {
			o.rescans++
		}
	}
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
	decided := int64(o.admits + o.denies)
	s.Decided += decided
	c.winDecided += decided
	s.Admits += int64(o.admits)
	s.Denies += int64(o.denies)
	if o.denies > 0 {
		s.DenyReasons[o.deny]++
	}
	for _, r := range o.more {
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
