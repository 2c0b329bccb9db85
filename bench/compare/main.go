// Command admit-bench-compare measures admit against two baselines on one
// machine, in one run, with one load generator and one ticket set:
//
//   - admit: 3 `admit node` processes, fsync on (their defaults), scanned
//     through the gate API;
//   - etcd: 3 `etcd` members (the machine's binary, defaults: WAL fsync),
//     each scan one Txn If(Value(key) = "valid") Then(Put(key, "used"))
//     Else(Get(key));
//   - echo: the ceiling, a bare fasthttp server (this program started
//     again) that answers every scan with a canned admit;
//   - PostgreSQL: one throwaway server (sales/pgserver) with fsync and
//     synchronous_commit on, each scan one UPDATE … SET used … WHERE id = $1
//     AND NOT used that also inserts the entry event (a single statement
//     that also tells already_used from unknown).
//
// Each system runs two phases: single scans, then batches of --batch
// (default 100) scans per request (admit POST /v1/scans, PostgreSQL one
// statement, etcd one Txn). For admit the report also has each node's
// memory per ticket and the time a follower killed with SIGKILL takes to
// be ready again.
//
// Every system is started from scratch in a temporary directory, loaded
// with the same signed tickets, then driven by bench/loadgen's engine with
// the same plan (warm-up, light load, ramp to the highest rate held,
// refinement, 70 % of that rate), and stopped before the next one starts.
// The results go to --out: compare.md (the table), compare.json (every
// step) and compare.png (latency against throughput).
//
// It is its own Go module (bench/compare) so that the etcd client and the
// plotting library stay out of admit's go.mod; `admit bench compare` runs
// it, and `make bench` builds both and installs etcd and PostgreSQL when
// they are missing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	echoMain() // serves, and never returns, when started as the echo system
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "admit-bench-compare:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	quick := false
	for _, a := range args {
		if a == "--quick" || a == "-quick" || a == "--quick=true" || a == "-quick=true" {
			quick = true
		}
	}
	o := defaultOptions(quick)
	fs := flag.NewFlagSet("admit-bench-compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	systems := fs.String("systems", strings.Join(o.Systems, ","), "systems to run, in this order: admit, echo (the ceiling: canned replies), etcd, postgres")
	fs.BoolVar(&o.Quick, "quick", quick, "a short run (about 1-2 minutes): shorter steps, a coarser ramp, fewer tickets")
	fs.StringVar(&o.Out, "out", o.Out, "directory for compare.md, compare.json and compare.png")
	fs.StringVar(&o.WorkDir, "work-dir", "", "directory for the systems' data and logs (default: a temporary one, removed afterwards)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary data and logs")
	fs.StringVar(&o.AdminBin, "admit-bin", "", "the admit binary (default: admit next to this program, then in PATH)")
	fs.StringVar(&o.EtcdBin, "etcd-bin", "", "the etcd binary (default: etcd in PATH, then /usr/bin/etcd)")
	fs.StringVar(&o.PGBinDir, "pg-bin-dir", "", "directory of initdb, pg_ctl and postgres (default: PATH, then /usr/lib/postgresql/<version>/bin)")
	fs.IntVar(&o.Tickets, "tickets", o.Tickets, "tickets in the set every system is loaded with")
	fs.IntVar(&o.Gates, "gates", o.Gates, "simulated gates")
	fs.IntVar(&o.Conns, "conns", o.Conns, "requests in flight per gate")
	fs.IntVar(&o.PGConns, "pg-conns", o.PGConns, "PostgreSQL connections (pool) the gates share")
	fs.IntVar(&o.EtcdClients, "etcd-clients", o.EtcdClients, "etcd client connections the gates share")
	fs.DurationVar(&o.Timeout, "request-timeout", o.Timeout, "how long one scan may take before it counts as an error")
	fs.Float64Var(&o.WarmupRate, "warmup-rate", o.WarmupRate, "scans/s during the warm-up")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "length of the warm-up (0: none)")
	fs.Float64Var(&o.LightRate, "light-rate", o.LightRate, "the light load: scans/s")
	fs.DurationVar(&o.LightDuration, "light-duration", o.LightDuration, "how long the light load is held")
	fs.Float64Var(&o.StepFactor, "step-factor", o.StepFactor, "ramp: rate multiplier per step")
	fs.DurationVar(&o.StepDuration, "step-duration", o.StepDuration, "ramp: length of a step")
	fs.IntVar(&o.MaxSteps, "steps", o.MaxSteps, "ramp: most steps above the light rate")
	fs.IntVar(&o.Refine, "refine", o.Refine, "steps between the highest rate held and the lowest failed")
	fs.BoolVar(&o.Recheck, "recheck", o.Recheck, "run a failed ramp step again before the ramp stops (noise on a shared machine)")
	fs.DurationVar(&o.At70Duration, "at70-duration", o.At70Duration, "how long 70 % of the highest rate is held")
	fs.DurationVar(&o.Settle, "settle", o.Settle, "idle pause after loading the tickets, before the warm-up")
	fs.DurationVar(&o.SettleMax, "settle-max", o.SettleMax, "after --settle, wait until the CPUs are under 15% busy, at most this long in all")
	fs.DurationVar(&o.Cooldown, "cooldown", o.Cooldown, "idle pause after a step that failed, before the next")
	fs.DurationVar(&o.P99Bound, "p99-bound", o.P99Bound, "a step fails when its p99 is above this")
	fs.BoolVar(&o.Single, "single", o.Single, "run the single-scan phase (one scan per request)")
	fs.IntVar(&o.Batch, "batch", o.Batch, "scans per request of the batched phase, run after the single one on fresh tickets (0: no batched phase)")
	fs.Float64Var(&o.BatchStepFactor, "batch-step-factor", o.BatchStepFactor, "batched phase: ramp rate multiplier per step")
	fs.DurationVar(&o.BatchWarmup, "batch-warmup", o.BatchWarmup, "batched phase: warm-up after the single phase (without it: --warmup)")
	fs.BoolVar(&o.RestartCheck, "restart-check", o.RestartCheck, "admit: after the phases, SIGKILL one follower, restart it and time it until /readyz answers 200")
	fs.DurationVar(&o.RestartTimeout, "restart-timeout", o.RestartTimeout, "how long the restarted node may take to be ready")
	fromJSON := fs.String("from-json", "", "run nothing: write compare.md and compare.png to --out again from this compare.json")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: admit-bench-compare [flags]\n\nRuns admit, echo (the ceiling), etcd and PostgreSQL one after another on this\nmachine with the same load generator and tickets, single scans and then batches;\nwrites compare.md, compare.json, compare.png and compare-batched.png.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *fromJSON != "" {
		b, err := os.ReadFile(*fromJSON)
		if err != nil {
			return err
		}
		var rep report
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("%s: %w", *fromJSON, err)
		}
		return writeReport(o.Out, &rep)
	}
	o.Systems = nil
	for _, s := range strings.Split(*systems, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.Systems = append(o.Systems, s)
		}
	}
	if err := o.findBinaries(); err != nil {
		return err
	}
	rep, err := compare(ctx, o, stderr)
	if rep != nil {
		fmt.Fprintf(stdout, "wrote %s/compare.md, compare.json and the charts\n\n", o.Out)
		writeSummary(stdout, rep)
	}
	return err
}

// findBinaries resolves the binaries of the systems that run, with a hint
// on how to get a missing one.
func (o *options) findBinaries() error {
	for _, s := range o.Systems {
		switch s {
		case "admit":
			cands := []string{"admit"}
			if o.AdminBin != "" {
				cands = []string{o.AdminBin}
			}
			p, err := findBinary(cands...)
			if err != nil {
				return fmt.Errorf("admit binary %s: build it with `make build` or pass --admit-bin", orDefault(o.AdminBin, "(next to this program or in PATH)"))
			}
			o.AdminBin = p
		case "echo":
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("echo runs this program again: %w", err)
			}
			o.EchoBin = self
		case "etcd":
			cands := []string{"etcd", "/usr/bin/etcd"}
			if o.EtcdBin != "" {
				cands = []string{o.EtcdBin}
			}
			p, err := findBinary(cands...)
			if err != nil {
				return fmt.Errorf("etcd binary %s not found: `make bench-deps` installs Debian's etcd-server, or pass --etcd-bin", orDefault(o.EtcdBin, "etcd"))
			}
			o.EtcdBin = p
		}
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// writeSummary prints the tables (single, batched, memory and restart)
// with their headings.
func writeSummary(w io.Writer, rep *report) {
	var md strings.Builder
	writeMarkdown(&md, rep)
	lines := strings.Split(md.String(), "\n")
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "|"):
			fmt.Fprintln(w, l)
		case strings.HasPrefix(l, "## "):
			fmt.Fprintln(w, "\n"+strings.TrimPrefix(l, "## "))
		case strings.HasPrefix(l, "**Max"):
			fmt.Fprintln(w, "\n"+l)
			return
		}
	}
}
