package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/admitpark/admit/bench/loadgen"
)

// options of one comparison run.
type options struct {
	Systems  []string
	Out      string
	WorkDir  string // where the systems' data go; "": a temporary dir
	Keep     bool   // keep WorkDir's data and logs
	Quick    bool
	AdminBin string
	EchoBin  string // the echo server: this program (started again with echoEnv)
	EtcdBin  string
	PGBinDir string

	Tickets     int
	Gates       int
	Conns       int
	PGConns     int
	EtcdClients int
	Timeout     time.Duration

	WarmupRate    float64
	Warmup        time.Duration
	LightRate     float64
	LightDuration time.Duration
	StepFactor    float64
	StepDuration  time.Duration
	MaxSteps      int
	Refine        int
	Recheck       bool // a failed ramp step is run again before the ramp stops
	At70Duration  time.Duration
	// Settle is an idle pause after loading the tickets (background work
	// of the load: compactions, backend commits, checkpoints); Cooldown
	// one after every step that failed, before the next.
	Settle time.Duration
	// SettleMax: after Settle, wait until the machine's CPUs are under
	// 15 % busy, but no longer than this in all.
	SettleMax time.Duration
	Cooldown  time.Duration
	P99Bound  time.Duration

	// Single runs the single-scan phase: one scan per request (admit:
	// POST /v1/scan). Default on.
	Single bool
	// Batch > 0 runs a batched phase after the single one, on the same
	// running system and fresh tickets: Batch scans per request (admit:
	// POST /v1/scans; PostgreSQL: one statement; etcd: one Txn, or one per
	// etcdMaxTxnOps). 0: no batched phase. Default 100.
	Batch int
	// BatchStepFactor is the batched phase's ramp factor per step: its
	// rates go higher than single scans', so that MaxSteps reach them.
	// Default 2.25 (StepFactor²; quick: 4).
	BatchStepFactor float64
	// BatchWarmup is the batched phase's warm-up when the single phase
	// ran before it (the system is warm, its new connections are not);
	// without the single phase it is Warmup. Default 3 s.
	BatchWarmup time.Duration

	// RestartCheck: after the scan phases, kill one admit node (a
	// follower) with SIGKILL, start it again on its data and time it until
	// its /readyz answers 200, at most RestartTimeout. Default on,
	// timeout 5 minutes.
	RestartCheck   bool
	RestartTimeout time.Duration
}

// defaultOptions: about 3 minutes per system, two phases each (10-15
// minutes in all with signing and loading a million tickets, enough for
// a single-scan ramp to about 45,000 scans/s and a batched one beyond
// 100,000 without rescanning used ones), or about 40 s per system with
// quick.
func defaultOptions(quick bool) options {
	o := options{
		Systems: []string{"admit", "echo", "etcd", "postgres"}, Out: "bench/results", Quick: quick,
		Tickets: 1_000_000, Gates: 64, Conns: 4, PGConns: 32, EtcdClients: 16, Timeout: 3 * time.Second,
		WarmupRate: 1000, Warmup: 10 * time.Second, LightRate: 1000, LightDuration: 10 * time.Second,
		StepFactor: 1.5, StepDuration: 4 * time.Second, MaxSteps: 12, Refine: 2, Recheck: true,
		At70Duration: 10 * time.Second, P99Bound: 50 * time.Millisecond,
		Settle: 10 * time.Second, SettleMax: 2 * time.Minute, Cooldown: 3 * time.Second,
		Single: true, Batch: 100, BatchStepFactor: 2.25, BatchWarmup: 3 * time.Second,
		RestartCheck: true, RestartTimeout: 5 * time.Minute,
	}
	if quick {
		o.Tickets = 250_000
		o.Warmup, o.LightDuration = 3*time.Second, 3*time.Second
		o.StepFactor, o.StepDuration, o.Refine = 2, 2*time.Second, 1
		o.At70Duration = 3 * time.Second
		o.Settle, o.SettleMax, o.Cooldown = 5*time.Second, time.Minute, 2*time.Second
		o.BatchStepFactor, o.BatchWarmup = 4, 2*time.Second
	}
	return o
}

func (o options) validate() error {
	if len(o.Systems) == 0 {
		return errors.New("no systems to compare")
	}
	for _, s := range o.Systems {
		if s != "admit" && s != "echo" && s != "etcd" && s != "postgres" {
			return fmt.Errorf("system %q: use admit, echo, etcd, postgres", s)
		}
	}
	switch {
	case o.Tickets < 1000 || o.Tickets > 5_000_000:
		return errors.New("tickets must be 1000-5000000")
	case o.PGConns < 1 || o.PGConns > 150:
		return errors.New("pg-conns must be 1-150")
	case o.EtcdClients < 1 || o.EtcdClients > 1000:
		return errors.New("etcd-clients must be 1-1000")
	case o.StepFactor <= 1 || o.StepFactor > 10:
		return errors.New("step factor must be above 1 and at most 10")
	case o.MaxSteps < 1 || o.MaxSteps > loadgen.MaxSteps:
		return fmt.Errorf("steps must be 1-%d", loadgen.MaxSteps)
	case o.Refine < 0 || o.Refine > 5:
		return errors.New("refine must be 0-5 steps")
	case o.P99Bound <= 0:
		return errors.New("p99 bound must be positive")
	case o.WarmupRate <= 0 || o.LightRate <= 0:
		return errors.New("rates must be positive")
	case o.Settle < 0 || o.Cooldown < 0:
		return errors.New("settle and cooldown must not be negative")
	case o.Batch < 0 || o.Batch > 1000:
		return errors.New("batch must be 0-1000 scans per request (0: no batched phase)")
	case o.Batch > 0 && (o.BatchStepFactor <= 1 || o.BatchStepFactor > 10):
		return errors.New("batch step factor must be above 1 and at most 10")
	case o.BatchWarmup < 0:
		return errors.New("batch warm-up must not be negative")
	case o.RestartCheck && o.RestartTimeout <= 0:
		return errors.New("restart timeout must be positive")
	case o.Warmup < 0 || o.LightDuration < 10*time.Millisecond || o.StepDuration < 10*time.Millisecond || o.At70Duration < 10*time.Millisecond:
		return errors.New("durations must be at least 10ms (warm-up: 0 for none)")
	}
	return o.loadConfig().Validate()
}

// loadConfig is the load generator's configuration, the same for every
// system: simulated gates and their connections, one scan per request,
// every ticket scanned twice (admit, then already_used) 100 tickets
// apart, no retries (the baselines cannot retry a CAS safely).
func (o options) loadConfig() loadgen.Config {
	c := loadgen.DefaultConfig()
	c.AdminToken, c.Codes = "unused", []string{"unused"} // the gate target sets its own
	c.Gates, c.ConnsPerGate = o.Gates, o.Conns
	c.Batch, c.Repeat, c.RepeatGap = 1, 2, 100
	c.Timeout, c.Retries = o.Timeout, 0
	c.AdminTimeout = 30 * time.Second
	return c
}

// stepResult is one step of a system's run.
type stepResult struct {
	Phase string `json:"phase"` // warmup, light, ramp, recheck, down, refine, at70
	Held  bool   `json:"held"`
	loadgen.Stats
}

// phaseResult is one phase of a system's run: the whole plan (warm-up,
// light load, ramp, refinement, 70 %) at Batch scans per request.
type phaseResult struct {
	// Batch is the scans per request: 1 for the single-scan phase.
	Batch int          `json:"batch,omitempty"`
	Steps []stepResult `json:"steps"`
	// MaxRate is the highest target rate held (Stats.Held with the p99
	// bound); 0: none.
	MaxRate     float64     `json:"max_rate"`
	MaxAchieved float64     `json:"max_achieved_rate"`
	MaxP99      float64     `json:"max_p99_ms"`
	StoppedBy   string      `json:"stopped_by,omitempty"`
	Light       *stepResult `json:"light,omitempty"`
	At70        *stepResult `json:"at_70,omitempty"`
	Wrapped     bool        `json:"wrapped,omitempty"`
	// MaxOverEcho is MaxRate over echo's in the same phase (0: no echo).
	MaxOverEcho float64 `json:"max_over_echo,omitempty"`
	// Failed says why the phase did not finish (its steps so far stay).
	Failed string `json:"failed,omitempty"`
}

// ran reports whether the phase took any step or failed.
func (p *phaseResult) ran() bool { return p != nil && (len(p.Steps) > 0 || p.Failed != "") }

// systemResult is everything measured of one system.
type systemResult struct {
	Name         string     `json:"name"`
	Info         systemInfo `json:"info"`
	StartSeconds float64    `json:"start_s"`
	LoadSeconds  float64    `json:"load_s"`
	// SettleSeconds: the wait after loading until the machine was quiet.
	SettleSeconds float64 `json:"settle_s"`
	// The single-scan phase, at the top level as before the batched
	// phase existed (so older compare.json files still read).
	phaseResult
	// Batched is the phase at Options.Batch scans per request.
	Batched *phaseResult `json:"batched,omitempty"`
	// Memory and Restart: admit only.
	Memory  *memoryResult  `json:"memory,omitempty"`
	Restart *restartResult `json:"restart,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// phase returns the single-scan phase (batched false) or the batched one;
// nil when it did not run.
func (s *systemResult) phase(batched bool) *phaseResult {
	p := &s.phaseResult
	if batched {
		p = s.Batched
	}
	if !p.ran() {
		return nil
	}
	return p
}

func newSystem(name string, o options) system {
	switch name {
	case "admit":
		return &admitSystem{bin: o.AdminBin, nodes: 3}
	case "echo":
		return &echoSystem{bin: o.EchoBin}
	case "etcd":
		return &etcdSystem{bin: o.EtcdBin, members: 3, clients: o.EtcdClients}
	default:
		return &pgSystem{binDir: o.PGBinDir, conns: o.PGConns}
	}
}

// runSystem starts one system in dir, loads the tickets, measures it (the
// single-scan phase, then the batched one on fresh tickets; for admit
// also memory and a restart) and stops it.
func runSystem(ctx context.Context, o options, sys system, dir string, ts *ticketSet, log io.Writer) (res systemResult) {
	res.Name = sys.name()
	defer sys.stop()
	fail := func(what string, err error) systemResult {
		res.Error = fmt.Sprintf("%s: %v", what, err)
		fmt.Fprintf(log, "%-8s %s\n", res.Name, res.Error)
		return res
	}
	t0 := time.Now()
	info, err := sys.start(ctx, dir)
	if err != nil {
		return fail("start", err)
	}
	res.Info, res.StartSeconds = info, time.Since(t0).Seconds()
	fmt.Fprintf(log, "%-8s up in %.1fs: %s\n", res.Name, res.StartSeconds, info.Version)
	mp, _ := sys.(memoryProber)
	var empty []nodeMemory
	if mp != nil {
		empty = mp.memory(ctx)
	}
	t0 = time.Now()
	if err := sys.load(ctx, ts); err != nil {
		return fail("load tickets", err)
	}
	res.LoadSeconds = time.Since(t0).Seconds()
	fmt.Fprintf(log, "%-8s loaded %d tickets in %.1fs\n", res.Name, len(ts.Codes), res.LoadSeconds)
	waited, busy, err := settle(ctx, o.Settle, o.SettleMax, 0.15)
	if err != nil {
		return fail("settle", err)
	}
	res.SettleSeconds = waited.Seconds()
	fmt.Fprintf(log, "%-8s settled after %.0fs (CPUs %.0f%% busy)\n", res.Name, waited.Seconds(), 100*busy)
	if mp != nil {
		res.Memory = newMemoryResult(len(ts.Codes), empty, mp.memory(ctx))
		for _, n := range res.Memory.Nodes {
			fmt.Fprintf(log, "%-8s %s holds %d tickets: RSS %s (%.0f B/ticket), Go heap in use %s (%.0f B/ticket), live after a GC %s (%.0f B/ticket above empty)%s\n", res.Name, n.Node,
				len(ts.Codes), fmtBytes(n.Loaded.RSS), n.RSSPerTicket, fmtBytes(n.Loaded.HeapInuse), n.HeapPerTicket,
				fmtBytes(n.Loaded.HeapLive), n.AddedLivePerTicket, errSuffix(n.Loaded.Error))
		}
	}
	// A phase that fails says so in its table row; the other phase and the
	// restart check still run, unless the run was interrupted.
	phaseFailed := func(what string, ph *phaseResult, err error) bool {
		if err == nil {
			return false
		}
		ph.Failed = err.Error()
		fmt.Fprintf(log, "%-8s %s: %v\n", res.Name, what, err)
		if ctx.Err() != nil {
			res.Error = fmt.Sprintf("%s: %v", what, err)
			return true
		}
		return false
	}
	var skip int64
	if o.Single {
		r, next, err := runPhase(ctx, o, sys, ts, 1, 0, log)
		res.phaseResult, skip = r, next
		if phaseFailed("single-scan phase", &res.phaseResult, err) {
			return res
		}
	}
	if o.Batch > 0 {
		if o.Single {
			// The single phase's top rates leave work behind (compactions,
			// checkpoints, a saturated queue draining).
			if _, _, err := settle(ctx, o.Cooldown, o.SettleMax, 0.15); err != nil {
				return fail("settle", err)
			}
		}
		r, _, err := runPhase(ctx, o, sys, ts, o.Batch, skip, log)
		res.Batched = &r
		if phaseFailed("batched phase", res.Batched, err) {
			return res
		}
	}
	if rc, ok := sys.(restartChecker); ok && o.RestartCheck {
		r := rc.restartCheck(ctx, o.RestartTimeout)
		res.Restart = &r
		if r.Error != "" {
			fmt.Fprintf(log, "%-8s restart check: %s\n", res.Name, r.Error)
		} else {
			fmt.Fprintf(log, "%-8s restart check: %s killed (SIGKILL) and ready again in %.2fs, RSS %s, Go heap in use %s\n",
				res.Name, r.Node, r.Seconds, fmtBytes(r.After.RSS), fmtBytes(r.After.HeapInuse))
		}
	}
	return res
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (" + e + ")"
}

// runPhase measures sys with the plan at batch scans per request, from
// code skip on; it returns the first code it did not reach (where a later
// phase starts, so that it scans fresh tickets).
func runPhase(ctx context.Context, o options, sys system, ts *ticketSet, batch int, skip int64, log io.Writer) (phaseResult, int64, error) {
	ph := phaseResult{Batch: batch}
	cfg := o.loadConfig()
	cfg.Batch, cfg.Skip = batch, int(skip)
	label := sys.name()
	if batch > 1 {
		label = fmt.Sprintf("%s×%d", label, batch)
		o.StepFactor = o.BatchStepFactor
		if o.Single {
			o.Warmup = min(o.Warmup, o.BatchWarmup)
		}
	}
	tgt, err := sys.target(ctx, cfg, ts)
	if err != nil {
		return ph, skip, fmt.Errorf("target: %w", err)
	}
	r, err := loadgen.NewRunner(cfg, tgt, ts.Codes)
	if err != nil {
		return ph, skip, fmt.Errorf("load generator: %w", err)
	}
	defer r.Close()
	err = measure(ctx, o, r, &ph, label, log)
	ph.Wrapped = r.Wrapped()
	return ph, r.NextSkip(), err
}

// measure runs the same plan on every system: warm-up; the light rate;
// a ramp from there by StepFactor until a step fails (p99 over the bound,
// errors over 1 %, or under 90 % of the rate achieved) twice in a row
// (Recheck), or down from the
// light rate when it failed; Refine steps between the highest rate held
// and the lowest failed (geometric middle); then 70 % of the highest rate
// held.
func measure(ctx context.Context, o options, r *loadgen.Runner, res *phaseResult, label string, log io.Writer) error {
	step := func(phase string, rate float64, d time.Duration) (*stepResult, error) {
		st, err := r.Step(ctx, rate, d)
		held, why := st.Held(o.P99Bound)
		st.Verdict = why
		s := &stepResult{Phase: phase, Held: held && err == nil, Stats: st}
		res.Steps = append(res.Steps, *s)
		l := st.Latency
		fmt.Fprintf(log, "%-12s %-7s %7.0f/s  achieved %7.0f/s  p50 %8.2fms  p99 %8.2fms  max %8.2fms  errors %d  %s\n",
			label, phase, rate, st.AchievedRate, l.P50, l.P99, l.Max, st.Errors, why)
		if err == nil && !held {
			err = idle(ctx, o.Cooldown) // let a saturated system drain before the next step
		}
		return s, err
	}
	best := func(s *stepResult) {
		if s.Held && s.TargetRate > res.MaxRate {
			res.MaxRate, res.MaxAchieved, res.MaxP99 = s.TargetRate, s.AchievedRate, s.Latency.P99
		}
	}
	if o.Warmup > 0 {
		if _, err := step("warmup", o.WarmupRate, o.Warmup); err != nil {
			return err
		}
	}
	light, err := step("light", o.LightRate, o.LightDuration)
	if err == nil && !light.Held && o.Recheck {
		// As on the ramp: one bad step (a compaction, a neighbour) is not
		// a verdict on the rate.
		light, err = step("light", o.LightRate, o.LightDuration)
	}
	res.Light = light
	if err != nil {
		return err
	}
	best(light)
	failed := 0.0
	if light.Held {
		rate := o.LightRate
		for range o.MaxSteps {
			rate = roundRate(rate * o.StepFactor)
			if rate > loadgen.MaxRate {
				res.StoppedBy = fmt.Sprintf("the load generator's limit (%.0f scans/s)", loadgen.MaxRate)
				break
			}
			s, err := step("ramp", rate, o.StepDuration)
			if err == nil && !s.Held && o.Recheck {
				// One bad step on a shared machine (a pause, a neighbour)
				// should not end the ramp: a rate fails when it fails twice.
				s, err = step("recheck", rate, o.StepDuration)
			}
			if err != nil {
				return err
			}
			if !s.Held {
				failed = rate
				res.StoppedBy = fmt.Sprintf("%.0f/s: %s", rate, s.Verdict)
				break
			}
			best(s)
		}
		if failed == 0 && res.StoppedBy == "" {
			res.StoppedBy = fmt.Sprintf("the step limit (%d steps held)", o.MaxSteps)
		}
	} else {
		failed = o.LightRate
		res.StoppedBy = fmt.Sprintf("the light rate %.0f/s: %s", o.LightRate, light.Verdict)
		rate := o.LightRate
		for range 3 {
			rate = roundRate(rate / o.StepFactor)
			s, err := step("down", rate, o.StepDuration)
			if err != nil {
				return err
			}
			if s.Held {
				best(s)
				break
			}
			failed = rate
		}
	}
	for range o.Refine {
		if res.MaxRate == 0 || failed == 0 {
			break
		}
		mid := roundRate(math.Sqrt(res.MaxRate * failed))
		if mid <= res.MaxRate || mid >= failed {
			break
		}
		s, err := step("refine", mid, o.StepDuration)
		if err != nil {
			return err
		}
		if s.Held {
			best(s)
		} else {
			failed = mid
		}
	}
	if res.MaxRate > 0 {
		s, err := step("at70", roundRate(0.7*res.MaxRate), o.At70Duration)
		res.At70 = s
		if err != nil {
			return err
		}
	}
	return nil
}

// idle waits for d or until ctx ends.
func idle(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// roundRate keeps 3 significant digits.
func roundRate(r float64) float64 {
	if r <= 0 {
		return r
	}
	p := math.Pow(10, math.Floor(math.Log10(r))-2)
	return math.Round(r/p) * p
}

// report is the whole comparison: compare.json.
type report struct {
	Machine machineInfo    `json:"machine"`
	Command string         `json:"command"`
	Quick   bool           `json:"quick"`
	Load    loadInfo       `json:"load"`
	Systems []systemResult `json:"systems"`
	// AdmitOverEcho: admit's numbers over the ceiling's, per phase.
	AdmitOverEcho []ceilingRatio `json:"admit_over_echo,omitempty"`
	Started       time.Time      `json:"started"`
	Finished      time.Time      `json:"finished"`
}

// loadInfo is the load generator's setup, the same for every system.
type loadInfo struct {
	Tickets      int     `json:"tickets"`
	Gates        int     `json:"gates"`
	ConnsPerGate int     `json:"conns_per_gate"`
	Repeat       int     `json:"repeat"`
	RepeatGap    int     `json:"repeat_gap"`
	TimeoutMs    float64 `json:"timeout_ms"`
	P99BoundMs   float64 `json:"p99_bound_ms"`
	WarmupRate   float64 `json:"warmup_rate"`
	WarmupS      float64 `json:"warmup_s"`
	LightRate    float64 `json:"light_rate"`
	LightS       float64 `json:"light_s"`
	StepFactor   float64 `json:"step_factor"`
	StepS        float64 `json:"step_s"`
	MaxSteps     int     `json:"max_steps"`
	Refine       int     `json:"refine_steps"`
	Recheck      bool    `json:"recheck"`
	SettleS      float64 `json:"settle_s"`
	CooldownS    float64 `json:"cooldown_s"`
	At70S        float64 `json:"at70_s"`
	// Single: the single-scan phase ran; Batch: the batched phase's scans
	// per request (0: none), its ramp factor and warm-up.
	Single          bool    `json:"single"`
	Batch           int     `json:"batch"`
	BatchStepFactor float64 `json:"batch_step_factor,omitempty"`
	BatchWarmupS    float64 `json:"batch_warmup_s,omitempty"`
	RestartCheck    bool    `json:"restart_check"`
}

// ceilingRatio is admit against echo in one phase: max sustained rates,
// and p99 at the light rate and at 70 % of each one's max.
type ceilingRatio struct {
	Batch        int     `json:"batch"`
	MaxRate      float64 `json:"max_rate"`
	P99Light     float64 `json:"p99_light"`
	P99At70      float64 `json:"p99_at_70"`
	AdmitMaxRate float64 `json:"admit_max_rate"`
	EchoMaxRate  float64 `json:"echo_max_rate"`
}

// compare runs every system of o one after another (never two at once)
// and writes the report to o.Out.
func compare(ctx context.Context, o options, log io.Writer) (*report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	work := o.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "admit-bench-compare-")
		if err != nil {
			return nil, err
		}
		work = d
		if !o.Keep {
			defer os.RemoveAll(d)
		}
	}
	cfg := o.loadConfig()
	rep := &report{
		Machine: machine(), Command: strings.Join(os.Args, " "), Quick: o.Quick, Started: time.Now().UTC(),
		Load: loadInfo{
			Tickets: o.Tickets, Gates: cfg.Gates, ConnsPerGate: cfg.ConnsPerGate, Repeat: cfg.Repeat, RepeatGap: cfg.RepeatGap,
			TimeoutMs: ms(cfg.Timeout), P99BoundMs: ms(o.P99Bound), WarmupRate: o.WarmupRate, WarmupS: o.Warmup.Seconds(),
			LightRate: o.LightRate, LightS: o.LightDuration.Seconds(), StepFactor: o.StepFactor, StepS: o.StepDuration.Seconds(),
			MaxSteps: o.MaxSteps, Refine: o.Refine, Recheck: o.Recheck, SettleS: o.Settle.Seconds(), CooldownS: o.Cooldown.Seconds(), At70S: o.At70Duration.Seconds(),
			Single: o.Single, Batch: o.Batch, RestartCheck: o.RestartCheck,
		},
	}
	if o.Batch > 0 {
		rep.Load.BatchStepFactor = o.BatchStepFactor
		rep.Load.BatchWarmupS = o.Warmup.Seconds()
		if o.Single {
			rep.Load.BatchWarmupS = min(o.Warmup, o.BatchWarmup).Seconds()
		}
	}
	t0 := time.Now()
	ts, err := makeTickets(o.Tickets)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "signed %d ticket codes in %.1fs; data under %s\n", o.Tickets, time.Since(t0).Seconds(), work)
	for _, name := range o.Systems {
		if ctx.Err() != nil {
			break
		}
		dir := filepath.Join(work, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		rep.Systems = append(rep.Systems, runSystem(ctx, o, newSystem(name, o), dir, ts, log))
	}
	rep.Finished = time.Now().UTC()
	rep.Machine.LoadAvgEnd = loadAvg()
	if err := writeReport(o.Out, rep); err != nil {
		return rep, err
	}
	return rep, ctx.Err()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
