package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/admitpark/admit/bench/loadgen"
)

// TestBenchScanSmoke runs `admit bench scan` against a real 3-node cluster:
// every ticket scanned is admitted exactly once, nothing fails, and the
// rate holds.
func TestBenchScanSmoke(t *testing.T) {
	lc := startProcessCluster(t, 3, "tickets")
	urls := strings.Join(lc.URLs(), ",")
	codes := filepath.Join(t.TempDir(), "codes.txt")
	runCLI(t, true, "tickets", "load", "--count", "2000", "--out", codes, "--cluster", urls)
	if b, err := os.ReadFile(codes); err != nil || strings.Count(string(b), "\n") != 2000 {
		t.Fatalf("codes file: %v", err)
	}

	out := runCLI(t, true, "bench", "scan", "--cluster", urls, "--codes", codes, "--rate", "500", "--duration", "3s", "--json")
	var rep loadgen.Report
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&rep); err != nil || rep.Stats == nil {
		t.Fatalf("bench output is not a report: %v\n%s", err, out)
	}
	t.Logf("target %.0f/s, achieved %.1f/s, %d scans, %d tickets, %d admits, denies %v, errors %d %v, latency %+v",
		rep.TargetRate, rep.AchievedRate, rep.Scans, rep.Tickets, rep.Admits, rep.DenyReasons, rep.Errors, rep.ErrorSamples, rep.Latency)
	if rep.Scans != 1500 || rep.Tickets != 800 || rep.Errors != 0 || rep.Failed != 0 {
		t.Fatalf("scans %d, tickets %d, errors %d %v; want 1500 scans of 800 tickets, no errors", rep.Scans, rep.Tickets, rep.Errors, rep.ErrorSamples)
	}
	if rep.Admits != rep.Tickets || rep.Denies != rep.Scans-rep.Admits || rep.DenyReasons["already_used"] != rep.Denies {
		t.Fatalf("admits %d for %d tickets, denies %d %v: a ticket admitted twice or not at all", rep.Admits, rep.Tickets, rep.Denies, rep.DenyReasons)
	}
	if rep.AchievedRate <= 0 { // how close to 500/s depends on the machine: logged above
		t.Fatalf("achieved %.1f scans/s for a target of 500", rep.AchievedRate)
	}
	if len(rep.Cluster) != 3 || rep.Latency.P99 <= 0 || rep.Latency.Max < rep.Latency.P99 {
		t.Fatalf("report: %+v", rep)
	}
}

// `admit bench compare` runs admit-bench-compare from next to the admit
// binary with every flag passed through and --admit-bin set, returns its
// exit status, and says how to get it when it is missing.
func TestBenchCompareRunsCompanion(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // nothing to find there
	t.Setenv("ADMIT_BENCH_COMPARE", "")
	out := runCLI(t, false, "bench", "compare", "--quick")
	if !strings.Contains(out, "admit-bench-compare not found") || !strings.Contains(out, "make bench") {
		t.Fatalf("without the companion: %s", out)
	}

	companion := filepath.Join(filepath.Dir(admitBin), "admit-bench-compare")
	script := "#!/bin/sh\necho \"args: $*\"\n[ \"$1\" != --admit-bin ] || [ \"$3\" != --fail ] || exit 3\n"
	if err := os.WriteFile(companion, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(companion) })
	out = runCLI(t, true, "bench", "compare", "--quick", "--systems", "admit,etcd", "--out=/tmp/x")
	if want := "args: --admit-bin " + admitBin + " --quick --systems admit,etcd --out=/tmp/x"; !strings.Contains(out, want) {
		t.Fatalf("companion got %q, want %q", out, want)
	}
	out = runCLI(t, true, "bench", "compare", "--admit-bin=/usr/bin/true")
	if !strings.Contains(out, "args: --admit-bin=/usr/bin/true\n") {
		t.Fatalf("an explicit --admit-bin is kept: %q", out)
	}
	out = runCLI(t, false, "bench", "compare", "--fail")
	if !strings.Contains(out, "admit-bench-compare failed (exit status 3)") {
		t.Fatalf("exit status: %q", out)
	}
	if !hasFlag([]string{"-x", "--admit-bin", "b"}, "admit-bin") || hasFlag([]string{"--", "--admit-bin=b"}, "admit-bin") || hasFlag([]string{"admit-bin"}, "admit-bin") {
		t.Fatal("hasFlag")
	}
}
