package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/admitpark/admit/bench/load"
	"github.com/admitpark/admit/validator/gateapi"
)

// Run scans the gate API of cfg.Cluster: it prepares the codes (a codes
// file, or cfg.Load new tickets) and the gate (GateTarget), then scans at a
// fixed rate or ramps. When ctx ends it stops sending, waits for the
// answers in flight (at most cfg.Timeout) and returns what it measured with
// ctx's error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	rep := Report{
		Mode: "fixed", Cluster: cfg.Cluster, Gate: cfg.Gate, Gates: cfg.Gates,
		ConnsPerGate: cfg.ConnsPerGate, Batch: cfg.Batch, Repeat: cfg.Repeat,
	}
	if cfg.Ramp {
		rep.Mode = "ramp"
	}
	admin, err := cfg.adminClient()
	if err != nil {
		return rep, err
	}

	codes, loaded, err := prepareCodes(ctx, cfg, admin)
	rep.Loaded = loaded
	if err != nil {
		return rep, err
	}
	rep.Codes = len(codes)
	if cfg.Skip >= len(codes) {
		return rep, fmt.Errorf("skip %d: there are only %d codes", cfg.Skip, len(codes))
	}
	t, err := NewGateTarget(ctx, cfg)
	if err != nil {
		return rep, err
	}
	defer t.Close()
	r, err := NewRunner(cfg, t, codes)
	if err != nil {
		return rep, err
	}
	defer r.Close()

	if !cfg.Ramp {
		st := r.e.step(ctx, 0, 0, cfg.Rate, cfg.Duration)
		rep.Stats = &st
	} else {
		rep.Steps, rep.Result = r.Ramp(ctx)
	}
	rep.Wrapped, rep.NextSkip = r.Wrapped(), r.NextSkip()
	if err := ctx.Err(); err != nil {
		rep.Interrupted = true
		return rep, err
	}
	return rep, nil
}

// Runner drives one Target with the open-loop engine: the same schedule,
// code order, collector and ramp for every target. Its steps run one after
// another and share the scan counters, so every step scans fresh tickets
// (until the codes run out: Wrapped) and scan ids stay unique. Not safe for
// concurrent use.
type Runner struct {
	cfg Config
	e   *engine
}

// NewRunner opens cfg.Gates x cfg.ConnsPerGate connections to t for
// scanning codes (from cfg.Skip, in the order of cfg.Repeat and
// cfg.RepeatGap). Only the load settings of cfg matter here (gates,
// connections, repeat, batch, timeout and retries, Progress) and, for
// Ramp, the ramp's; the cluster, tokens, gate and codes fields are
// GateTarget's and Run's. Close it to close the connections.
func NewRunner(cfg Config, t Target, codes []string) (*Runner, error) {
	if err := cfg.validateLoad(); err != nil {
		return nil, err
	}
	if len(codes) == 0 || cfg.Skip >= len(codes) {
		return nil, fmt.Errorf("skip %d: there are only %d codes", cfg.Skip, len(codes))
	}
	e, err := newEngine(cfg, codes, t)
	if err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, e: e}, nil
}

// Step scans at rate scans/s for d and returns what it measured, with
// ctx's error when ctx ended first (the Stats then cover what ran).
func (r *Runner) Step(ctx context.Context, rate float64, d time.Duration) (Stats, error) {
	if err := validateStep(rate, d); err != nil {
		return Stats{}, err
	}
	st := r.e.step(ctx, 0, 0, rate, d)
	return st, ctx.Err()
}

// Ramp raises the rate step by step (Config.StartRate, StepFactor,
// StepDuration, MaxSteps) until a step fails its verdict (Stats.Held with
// Config.P99Bound) and returns every step and the highest rate held.
// Invalid ramp settings take no step and say so in StoppedBy.
func (r *Runner) Ramp(ctx context.Context) ([]Stats, *RampResult) {
	cfg := r.cfg
	cfg.Ramp = true
	res := &RampResult{P99Bound: float64(cfg.P99Bound) / float64(time.Millisecond)}
	if err := cfg.validateRates(); err != nil {
		res.StoppedBy = err.Error()
		return nil, res
	}
	rates := cfg.stepRates()
	var steps []Stats
	for i, rate := range rates {
		st := r.e.step(ctx, i+1, len(rates), rate, cfg.StepDuration)
		if ctx.Err() != nil {
			st.Verdict = "interrupted"
			steps = append(steps, st)
			res.StoppedBy = fmt.Sprintf("interrupted in step %d", i+1)
			return steps, res
		}
		ok, why := st.Held(cfg.P99Bound)
		st.Verdict = why
		steps = append(steps, st)
		if !ok {
			res.StoppedAt = rate
			res.StoppedBy = fmt.Sprintf("step %d at %.0f/s: %s", i+1, rate, why)
			return steps, res
		}
		res.MaxRate, res.AchievedRate, res.P99 = rate, st.AchievedRate, st.Latency.P99
	}
	res.StoppedBy = fmt.Sprintf("the step limit (%d steps, all held)", len(rates))
	return steps, res
}

// Wrapped reports whether the codes ran out and used tickets were scanned
// again (which measures only the deny path).
func (r *Runner) Wrapped() bool { return r.e.wrapped }

// NextSkip is the first code no step has reached yet (Config.Skip for a
// later run on the same codes).
func (r *Runner) NextSkip() int64 { return (r.e.maxPos + 1) % int64(len(r.e.codes)) }

// Close closes the connections.
func (r *Runner) Close() error { return r.e.close() }

// prepareCodes reads the codes file, or issues cfg.Load tickets first.
func prepareCodes(ctx context.Context, cfg Config, admin *gateapi.Client) ([]string, *LoadInfo, error) {
	if len(cfg.Codes) > 0 {
		return cfg.Codes, nil, nil
	}
	if cfg.Load == 0 {
		f, err := os.Open(cfg.CodesFile)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		codes, err := readCodes(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", cfg.CodesFile, err)
		}
		return codes, nil, nil
	}
	var buf bytes.Buffer
	res, err := load.Run(ctx, admin, load.DefaultOptions(cfg.Load), &buf, cfg.LoadProgress)
	info := &LoadInfo{Issued: res.Issued, Stale: res.Stale, Seconds: res.Duration.Seconds()}
	if s := res.Duration.Seconds(); s > 0 {
		info.PerSecond = float64(res.Issued+res.Stale) / s
	}
	if err != nil {
		return nil, info, fmt.Errorf("loading tickets, after %d: %w", res.Issued+res.Stale, err)
	}
	if cfg.CodesFile != "" {
		if err := os.WriteFile(cfg.CodesFile, buf.Bytes(), 0o644); err != nil {
			return nil, info, err
		}
	}
	codes, err := readCodes(&buf)
	return codes, info, err
}

func readCodes(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var codes []string
	for sc.Scan() {
		if c := strings.TrimSpace(sc.Text()); c != "" {
			codes = append(codes, c)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(codes) == 0 {
		return nil, errors.New("no codes in the file")
	}
	return codes, nil
}
