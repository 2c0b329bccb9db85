package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/bench/loadgen"
)

func newBenchCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "bench", Short: "Measure a running cluster (open-loop scan load), or compare admit with etcd and PostgreSQL"}
	addAPIFlags(cmd, f)

	c := loadgen.DefaultConfig()
	scan := &cobra.Command{
		Use:   "scan",
		Short: "Scan tickets at a fixed rate or ramp up; report throughput and latency",
		Long: `Scan tickets from many simulated gates at a fixed rate (--rate, --duration),
or ramp up (--ramp) to find the highest rate held with p99 under --p99-bound:
from --start-rate, times --step-factor each --step-duration, stopping at the
first step with errors over 1%, p99 over the bound or under 90% of the
target achieved (at most --steps steps).

Open loop: scans leave on schedule whether or not earlier ones returned,
and latency counts from when each was due, so a stalled cluster shows in the
tail. Codes come from --codes (admit tickets load), or --load N issues N
synthetic tickets first. Each ticket is scanned --repeat times, so both the
admit and the already_used paths are measured. Without --gate-token the
gate --gate is (re)registered and scans use its new token.

Only the --cluster URLs are contacted; Ctrl-C stops and reports what ran.`,
		Example: `  admit tickets load --count 200000 --out codes.txt
  admit bench scan --codes codes.txt --rate 2000 --duration 10s
  admit bench scan --codes codes.txt --ramp --p99-bound 10ms
  admit bench scan --load 50000 --ramp --batch 100 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.Cluster = nil
			for _, u := range strings.Split(f.urls, ",") {
				if u = strings.TrimSpace(u); u != "" {
					c.Cluster = append(c.Cluster, u)
				}
			}
			c.AdminToken = adminToken(f.adminToken)
			c.AdminTimeout = f.timeout
			if cmd.Flags().Changed("load") && cmd.Flags().Changed("codes") {
				fmt.Fprintf(cmd.ErrOrStderr(), "the codes of the %d new tickets go to %s\n", c.Load, c.CodesFile)
			}
			return runBenchScan(cmd, c, f.json)
		},
	}
	fl := scan.Flags()
	fl.StringVar(&c.CodesFile, "codes", "", "file of codes to scan, one per line (admit tickets load); with --load, where to save the new codes")
	fl.IntVar(&c.Load, "load", 0, "issue this many synthetic tickets first and scan those")
	fl.IntVar(&c.Repeat, "repeat", c.Repeat, "scans per ticket: the first admits, the others are denied already_used")
	fl.IntVar(&c.RepeatGap, "repeat-gap", c.RepeatGap, "tickets scanned between two scans of one ticket")
	fl.IntVar(&c.Skip, "skip", 0, "leave out the first N codes (used by an earlier run: its report says where to go on)")
	fl.IntVar(&c.Gates, "gates", c.Gates, "simulated gates, spread round-robin over the --cluster URLs")
	fl.IntVar(&c.ConnsPerGate, "conns", c.ConnsPerGate, "connections (requests in flight) per gate")
	fl.StringVar(&c.Gate, "gate", c.Gate, "registered gate id the simulated gates scan as")
	fl.StringVar(&c.GateToken, "gate-token", "", "the gate's token (default: register --gate and use its new token)")
	fl.StringVar(&c.Zone, "zone", c.Zone, "zone to register --gate in")
	fl.StringVar(&c.Direction, "direction", c.Direction, `direction sent with each scan: in, out, or "" for the gate's own`)
	fl.IntVar(&c.Batch, "batch", c.Batch, "scans per request: above 1 sends POST /v1/scans (rates stay in scans/s)")
	fl.Float64Var(&c.Rate, "rate", c.Rate, "scans per second to hold")
	fl.DurationVar(&c.Duration, "duration", c.Duration, "how long to hold --rate")
	fl.BoolVar(&c.Ramp, "ramp", false, "ramp the rate up to find the highest one held under --p99-bound")
	fl.Float64Var(&c.StartRate, "start-rate", c.StartRate, "ramp: rate of the first step")
	fl.Float64Var(&c.StepFactor, "step-factor", c.StepFactor, "ramp: rate multiplier per step")
	fl.DurationVar(&c.StepDuration, "step-duration", c.StepDuration, "ramp: length of a step")
	fl.IntVar(&c.MaxSteps, "steps", c.MaxSteps, fmt.Sprintf("ramp: most steps (at most %d)", loadgen.MaxSteps))
	fl.DurationVar(&c.P99Bound, "p99-bound", c.P99Bound, "ramp: a step fails when its p99 latency is above this")
	fl.DurationVar(&c.Timeout, "request-timeout", c.Timeout, "how long one scan request may take")
	fl.IntVar(&c.Retries, "retries", c.Retries, "retries with the same scan id after 503/504, timeouts and connection errors")
	fl.DurationVar(&c.RetryDelay, "retry-delay", c.RetryDelay, "pause before a retry")
	cmd.AddCommand(scan, newBenchCompareCmd(), newBenchBacklogCmd(f))
	return cmd
}

func runBenchScan(cmd *cobra.Command, c loadgen.Config, asJSON bool) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stderr := cmd.ErrOrStderr()
	p := newProgress(cmd, "tickets", c.Load)
	if c.Load > 0 {
		c.LoadProgress = p.update
	}
	line := false // a progress line is showing
	loading := c.Load > 0 && p.terminal
	if p.terminal {
		c.Progress = func(pr loadgen.Progress) { // one goroutine at a time
			if loading {
				p.done()
				loading = false
			}
			step := ""
			if pr.Step > 0 {
				step = fmt.Sprintf("step %d/%d  ", pr.Step, pr.Steps)
			}
			fmt.Fprintf(stderr, "\r%s%4.0fs  target %.0f/s  achieved %.0f/s  p99 %v  scans %d  errors %d     ", step,
				pr.Elapsed.Seconds(), pr.TargetRate, pr.Rate, pr.P99.Round(10*time.Microsecond), pr.Scans, pr.Errors)
			line = true
		}
	}
	rep, err := loadgen.Run(ctx, c)
	if loading {
		p.done()
	}
	if line {
		fmt.Fprintln(stderr)
	}
	if rep.Stats == nil && rep.Steps == nil {
		if err != nil && rep.Loaded != nil {
			fmt.Fprintf(stderr, "issued %d tickets before the error\n", rep.Loaded.Issued)
		}
		return err
	}
	if asJSON {
		if perr := printJSON(cmd.OutOrStdout(), rep); perr != nil {
			return perr
		}
	} else if perr := rep.WriteText(cmd.OutOrStdout()); perr != nil {
		return perr
	}
	if err != nil && ctx.Err() != nil {
		return errors.New("interrupted: the report covers the part that ran")
	}
	return err
}
