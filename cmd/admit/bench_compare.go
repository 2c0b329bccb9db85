package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// compareBin is the companion program behind `admit bench compare`. It
// lives in its own Go module (bench/compare) so that the etcd client and
// the plotting library stay out of admit's go.mod; admit cannot import it
// and runs it instead.
const compareBin = "admit-bench-compare"

func newBenchCompareCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "compare [flags]",
		Short: "Compare admit with a 3-member etcd and a PostgreSQL on this machine (table and chart in bench/results)",
		Long: `Runs admit (3 nodes), echo (the ceiling: a bare fasthttp server with canned
replies), etcd (3 members, each scan a compare-and-swap Txn) and PostgreSQL
(one server, each scan UPDATE ... WHERE id = $1 AND NOT used plus its entry
event), one after another, each from scratch, loaded with the same tickets
and driven by the same open-loop load generator: warm-up, light load, a ramp
to the highest rate held with p99 under --p99-bound, 70 % of that rate; first
with single scans, then with --batch scans per request (default 100). For
admit it also reports each node's memory per ticket and how long a follower
killed with SIGKILL takes to be ready again (--restart-check). Writes
compare.md (the tables), compare.json, compare.png and compare-batched.png
(latency against throughput) to --out. Takes about 15 minutes; --quick 3-4.

This runs the companion program admit-bench-compare (bench/compare, its own
Go module), found next to this binary, then in PATH ($ADMIT_BENCH_COMPARE
names it explicitly), with every flag passed through and --admit-bin set to
this binary. 'make bench' builds both, installs etcd and PostgreSQL when
missing, and runs it. 'admit bench compare --help' lists its flags.`,
		Example: `  make bench
  admit bench compare --quick
  admit bench compare --systems admit,postgres --out /tmp/results
  admit bench compare --systems admit --single=false --batch 0 --tickets 5000000`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := findCompareBin()
			if err != nil {
				if hasArg(args, "-h", "--help", "-help") {
					cmd.Help()
				}
				return err
			}
			if !hasFlag(args, "admit-bin") {
				if self, err := os.Executable(); err == nil {
					args = append([]string{"--admit-bin", self}, args...)
				}
			}
			return runCompanion(cmd, bin, args)
		},
	}
}

// findCompareBin looks for admit-bench-compare: $ADMIT_BENCH_COMPARE, next
// to this binary, then in PATH.
func findCompareBin() (string, error) {
	if p := os.Getenv("ADMIT_BENCH_COMPARE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("ADMIT_BENCH_COMPARE=%s: %w", p, err)
		}
		return p, nil
	}
	where := "in PATH"
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), compareBin)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
		where = "next to " + self + " or in PATH"
	}
	if p, err := exec.LookPath(compareBin); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found (looked %s): run `make bench`, which builds it into bin/ with admit, "+
		"or build it: cd bench/compare && go build -o ../../bin/%s", compareBin, where, compareBin)
}

// runCompanion runs bin with args on this process's terminal, passes
// SIGINT and SIGTERM on, and returns its exit status as an error.
func runCompanion(cmd *cobra.Command, bin string, args []string) error {
	c := exec.Command(bin, args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	for {
		select {
		case s := <-sigs:
			c.Process.Signal(s) // it stops its systems and writes what it measured
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return fmt.Errorf("%s failed (%v)", compareBin, ee.ProcessState)
			}
			return err
		}
	}
}

// hasArg reports whether args hold one of names, before any "--".
func hasArg(args []string, names ...string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		for _, n := range names {
			if a == n {
				return true
			}
		}
	}
	return false
}

// hasFlag reports whether args set the flag name (-name, --name, with or
// without =value).
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		f := strings.TrimLeft(a, "-")
		if len(f) < len(a) && (f == name || strings.HasPrefix(f, name+"=")) {
			return true
		}
	}
	return false
}
