package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/bench/loadgen"
)

// tinyOptions: a run of a few seconds per system, at rates far below what
// any of them holds, with loose bounds.
func tinyOptions(t *testing.T) options {
	o := defaultOptions(true)
	o.Out = t.TempDir()
	o.Tickets, o.Gates, o.Conns, o.PGConns, o.EtcdClients = 2000, 4, 2, 4, 2
	o.WarmupRate, o.Warmup, o.LightRate, o.LightDuration = 100, 200*time.Millisecond, 200, 300*time.Millisecond
	o.StepDuration, o.MaxSteps, o.Refine, o.At70Duration = 300*time.Millisecond, 1, 0, 200*time.Millisecond
	o.P99Bound, o.Timeout, o.Settle, o.SettleMax, o.Cooldown = 30*time.Second, 20*time.Second, 0, 0, 0
	return o
}

// TestSmoke runs admit (built from this tree), and etcd and PostgreSQL
// when their binaries are on this machine (make bench-deps), through
// the whole plan: it starts, takes the ticket set, admits every ticket
// scanned exactly once (the second scan is already_used), and the report
// files are written. It is no benchmark: it checks the plumbing.
func TestSmoke(t *testing.T) {
	o := tinyOptions(t)
	o.Systems = nil
	o.Systems, o.AdminBin = append(o.Systems, "admit"), adminBinary(t)
	if bin, err := findBinary("etcd", "/usr/bin/etcd"); err == nil {
		o.Systems, o.EtcdBin = append(o.Systems, "etcd"), bin
	} else {
		t.Log("no etcd binary: etcd not run (make bench-deps installs it)")
	}
	if havePostgres() {
		o.Systems = append(o.Systems, "postgres")
	} else {
		t.Log("no PostgreSQL binaries: postgres not run")
	}
	var log bytes.Buffer
	rep, err := compare(context.Background(), o, &log)
	t.Logf("progress:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Systems) != len(o.Systems) {
		t.Fatalf("%d results for %v", len(rep.Systems), o.Systems)
	}
	for _, s := range rep.Systems {
		if s.Error != "" {
			t.Fatalf("%s: %s", s.Name, s.Error)
		}
		// Warm-up, light, then one ramp step and 70 % (or, on a machine
		// too busy to hold even these rates, more): which depends on the
		// machine, so only the shape is checked.
		if len(s.Steps) < 3 || s.Steps[0].Phase != "warmup" || s.Light == nil || s.Info.Version == "" || (s.MaxRate > 0) != (s.At70 != nil) {
			t.Fatalf("%s: %d steps, max %.0f, info %+v", s.Name, len(s.Steps), s.MaxRate, s.Info)
		}
		var scans, admits, tickets, denied int64
		for _, st := range s.Steps {
			if st.Errors != 0 || st.Decided != st.Scans {
				t.Fatalf("%s %s: %d errors %v, %d of %d decided", s.Name, st.Phase, st.Errors, st.ErrorSamples, st.Decided, st.Scans)
			}
			scans, admits, tickets, denied = scans+st.Scans, admits+st.Admits, tickets+st.Tickets, denied+st.DenyReasons["already_used"]
		}
		if admits != tickets || denied != scans-admits || s.Wrapped {
			t.Fatalf("%s: %d admits for %d tickets, %d already_used of %d scans, wrapped %v", s.Name, admits, tickets, denied, scans, s.Wrapped)
		}
	}
	md, err := os.ReadFile(filepath.Join(o.Out, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range o.Systems {
		if !strings.Contains(string(md), "\n| "+name+" | ") {
			t.Fatalf("compare.md has no row for %s:\n%s", name, md)
		}
	}
	var back report
	if b, err := os.ReadFile(filepath.Join(o.Out, "compare.json")); err != nil || json.Unmarshal(b, &back) != nil || len(back.Systems) != len(o.Systems) {
		t.Fatalf("compare.json: %v", err)
	}
	checkPNG(t, filepath.Join(o.Out, "compare.png"))
}

// adminBinary builds admit from this repository, unless ADMIT_BIN names
// one.
func adminBinary(t *testing.T) string {
	if p := os.Getenv("ADMIT_BIN"); p != "" {
		return p
	}
	bin := filepath.Join(t.TempDir(), "admit")
	build := exec.Command("go", "build", "-o", bin, "./cmd/admit")
	build.Dir = "../.." // the main module, with its own go.sum
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("admit does not build: %v\n%s", err, out)
	}
	return bin
}

func havePostgres() bool {
	if _, err := exec.LookPath("initdb"); err == nil {
		return true
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	return len(m) > 0
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() < 500 {
		t.Fatalf("%s: %v", path, err)
	}
}

// The table and the ratios against admit, from a made-up report.
func TestMarkdown(t *testing.T) {
	step := func(phase string, rate, p50, p99 float64) stepResult {
		return stepResult{Phase: phase, Held: true, Stats: loadgen.Stats{TargetRate: rate, AchievedRate: rate, Requests: 10, Scans: 10,
			Latency: loadgen.Latency{P50: p50, P99: p99}, Verdict: "ok"}}
	}
	sys := func(name string, max, p99Light, p99At70 float64) systemResult {
		l, a := step("light", 1000, 0.5, p99Light), step("at70", 0.7*max, 1, p99At70)
		return systemResult{Name: name, MaxRate: max, Light: &l, At70: &a, Steps: []stepResult{l, step("ramp", max, 1, 2), a}}
	}
	rep := &report{Load: loadInfo{Tickets: 10, LightRate: 1000, P99BoundMs: 50}, Systems: []systemResult{
		sys("admit", 20000, 2, 4), sys("etcd", 5000, 8, 20), {Name: "postgres", Error: "start: no binaries"},
	}}
	rep.Systems[1].Wrapped = true
	var b strings.Builder
	writeMarkdown(&b, rep)
	md := b.String()
	for _, want := range []string{
		"| admit | 20000 | 0.50 ms / 2.00 ms | 14000 | 1.00 ms / 4.00 ms | 1.00× | 1.00× | 1.00× |",
		"| etcd | 5000 | 0.50 ms / 8.00 ms | 3500 | 1.00 ms / 20.0 ms | 0.25× | 4.00× | 5.00× |",
		"| postgres | failed: start: no binaries |",
		"etcd ran out of fresh tickets",
	} {
		if !strings.Contains(md, want) {
			t.Fatalf("no %q in\n%s", want, md)
		}
	}
	path := filepath.Join(t.TempDir(), "c.png")
	if err := writeChart(path, rep); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
}

func TestRoundRate(t *testing.T) {
	for in, want := range map[float64]float64{1500: 1500, 2250: 2250, 3375: 3380, 11313.7: 11300, 7.59: 7.59, 0: 0} {
		if got := roundRate(in); got < want*0.9999 || got > want*1.0001 {
			t.Errorf("roundRate(%g) = %g, want %g", in, got, want)
		}
	}
}
