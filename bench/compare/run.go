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
}

// defaultOptions: about 2 minutes per system (5-10 minutes in all, with
// signing and loading a million tickets, enough for a ramp to about
// 45,000 scans/s without rescanning used ones), or about 30 s per system
// with quick.
func defaultOptions(quick bool) options {
	o := options{
		Systems: []string{"admit", "etcd", "postgres"}, Out: "bench/results", Quick: quick,
		Tickets: 1_000_000, Gates: 64, Conns: 4, PGConns: 32, EtcdClients: 16, Timeout: 3 * time.Second,
		WarmupRate: 1000, Warmup: 10 * time.Second, LightRate: 1000, LightDuration: 10 * time.Second,
		StepFactor: 1.5, StepDuration: 4 * time.Second, MaxSteps: 12, Refine: 2, Recheck: true,
		At70Duration: 10 * time.Second, P99Bound: 50 * time.Millisecond,
		Settle: 10 * time.Second, SettleMax: 2 * time.Minute, Cooldown: 3 * time.Second,
	}
	if quick {
		o.Tickets = 250_000
		o.Warmup, o.LightDuration = 3*time.Second, 3*time.Second
		o.StepFactor, o.StepDuration, o.Refine = 2, 2*time.Second, 1
		o.At70Duration = 3 * time.Second
		o.Settle, o.SettleMax, o.Cooldown = 5*time.Second, time.Minute, 2*time.Second
	}
	return o
}

func (o options) validate() error {
	if len(o.Systems) == 0 {
		return errors.New("no systems to compare")
	}
	for _, s := range o.Systems {
		if s != "admit" && s != "etcd" && s != "postgres" {
			return fmt.Errorf("system %q: use admit, etcd, postgres", s)
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

// systemResult is everything measured of one system.
type systemResult struct {
	Name         string     `json:"name"`
	Info         systemInfo `json:"info"`
	StartSeconds float64    `json:"start_s"`
	LoadSeconds  float64    `json:"load_s"`
	// SettleSeconds: the wait after loading until the machine was quiet.
	SettleSeconds float64      `json:"settle_s"`
	Steps         []stepResult `json:"steps"`
	// MaxRate is the highest target rate held (Stats.Held with the p99
	// bound); 0: none.
	MaxRate     float64     `json:"max_rate"`
	MaxAchieved float64     `json:"max_achieved_rate"`
	MaxP99      float64     `json:"max_p99_ms"`
	StoppedBy   string      `json:"stopped_by,omitempty"`
	Light       *stepResult `json:"light,omitempty"`
	At70        *stepResult `json:"at_70,omitempty"`
	Wrapped     bool        `json:"wrapped,omitempty"`
	Error       string      `json:"error,omitempty"`
}

func newSystem(name string, o options) system {
	switch name {
	case "admit":
		return &admitSystem{bin: o.AdminBin, nodes: 3}
	case "etcd":
		return &etcdSystem{bin: o.EtcdBin, members: 3, clients: o.EtcdClients}
	default:
		return &pgSystem{binDir: o.PGBinDir, conns: o.PGConns}
	}
}

// runSystem starts one system in dir, loads the tickets, measures it and
// stops it.
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
	cfg := o.loadConfig()
	tgt, err := sys.target(ctx, cfg, ts)
	if err != nil {
		return fail("target", err)
	}
	r, err := loadgen.NewRunner(cfg, tgt, ts.Codes)
	if err != nil {
		return fail("load generator", err)
	}
	defer r.Close()
	if err := measure(ctx, o, r, &res, log); err != nil {
		res.Error = err.Error()
	}
	res.Wrapped = r.Wrapped()
	return res
}

// measure runs the same plan on every system: warm-up; the light rate;
// a ramp from there by StepFactor until a step fails (p99 over the bound,
// errors over 1 %, or under 90 % of the rate achieved) twice in a row
// (Recheck), or down from the
// light rate when it failed; Refine steps between the highest rate held
// and the lowest failed (geometric middle); then 70 % of the highest rate
// held.
func measure(ctx context.Context, o options, r *loadgen.Runner, res *systemResult, log io.Writer) error {
	step := func(phase string, rate float64, d time.Duration) (*stepResult, error) {
		st, err := r.Step(ctx, rate, d)
		held, why := st.Held(o.P99Bound)
		st.Verdict = why
		s := &stepResult{Phase: phase, Held: held && err == nil, Stats: st}
		res.Steps = append(res.Steps, *s)
		l := st.Latency
		fmt.Fprintf(log, "%-8s %-7s %7.0f/s  achieved %7.0f/s  p50 %8.2fms  p99 %8.2fms  max %8.2fms  errors %d  %s\n",
			res.Name, phase, rate, st.AchievedRate, l.P50, l.P99, l.Max, st.Errors, why)
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
		if failed == 0 {
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
	Machine  machineInfo    `json:"machine"`
	Command  string         `json:"command"`
	Quick    bool           `json:"quick"`
	Load     loadInfo       `json:"load"`
	Systems  []systemResult `json:"systems"`
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
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
		},
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
