package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/bench/loadgen"
	"github.com/admitpark/admit/validator/gateapi"
)

// TestMain serves as the echo system when the smoke test starts this
// test binary again as one (echoEnv), as main does.
func TestMain(m *testing.M) {
	echoMain()
	os.Exit(m.Run())
}

// tinyOptions: a run of a few seconds per system, at rates far below what
// any of them holds, with loose bounds. The batched phase sends 150 scans
// per request: more than the repeat gap (100), so that a batch holds some
// tickets twice, and more than etcd's 128 operations per Txn, so that
// etcd splits it.
func tinyOptions(t *testing.T) options {
	o := defaultOptions(true)
	o.Out = t.TempDir()
	o.Tickets, o.Gates, o.Conns, o.PGConns, o.EtcdClients = 2000, 4, 2, 4, 2
	o.WarmupRate, o.Warmup, o.LightRate, o.LightDuration = 100, 200*time.Millisecond, 200, 300*time.Millisecond
	o.StepDuration, o.MaxSteps, o.Refine, o.At70Duration = 300*time.Millisecond, 1, 0, 200*time.Millisecond
	o.P99Bound, o.Timeout, o.Settle, o.SettleMax, o.Cooldown = 30*time.Second, 20*time.Second, 0, 0, 0
	o.Batch, o.BatchStepFactor, o.BatchWarmup = 150, 2, 100*time.Millisecond
	o.RestartCheck, o.RestartTimeout = true, time.Minute
	return o
}

// TestSmoke runs admit (built from this tree), echo, and etcd and
// PostgreSQL when their binaries are on this machine (make bench-deps),
// through the whole plan, single scans and then batches: each starts,
// takes the ticket set, admits every ticket scanned exactly once (the
// second scan is already_used; echo admits everything), admit reports its
// memory and comes back from a SIGKILL, and the report files are written.
// It is no benchmark: it checks the plumbing, counts and shapes, never
// timings.
func TestSmoke(t *testing.T) {
	o := tinyOptions(t)
	o.Systems = nil
	o.Systems, o.AdminBin = append(o.Systems, "admit", "echo"), adminBinary(t)
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
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	o.EchoBin = self
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
		if s.Info.Version == "" {
			t.Fatalf("%s: no version in %+v", s.Name, s.Info)
		}
		for _, batched := range []bool{false, true} {
			p := s.phase(batched)
			if p == nil {
				t.Fatalf("%s: phase batched=%v did not run", s.Name, batched)
			}
			checkPhase(t, s.Name, p, batched, o.Batch)
		}
		if s.Name != "admit" {
			if s.Memory != nil || s.Restart != nil {
				t.Fatalf("%s: memory or restart reported", s.Name)
			}
			continue
		}
		if m := s.Memory; m == nil || m.Tickets != o.Tickets || len(m.Nodes) != 3 {
			t.Fatalf("admit memory: %+v", m)
		}
		for _, n := range s.Memory.Nodes {
			if n.Loaded.Error != "" || n.Empty.Error != "" || n.Loaded.RSS <= 0 || n.Loaded.HeapInuse <= 0 || n.Loaded.HeapLive <= 0 || n.Empty.RSS <= 0 || n.RSSPerTicket <= 0 || n.HeapPerTicket <= 0 {
				t.Fatalf("admit memory of %s: %+v", n.Node, n)
			}
		}
		if r := s.Restart; r == nil || r.Error != "" || r.Node == "" || r.WasLeader || r.Seconds <= 0 || r.After.RSS <= 0 {
			t.Fatalf("admit restart: %+v", r)
		}
	}
	if len(rep.AdmitOverEcho) != 2 || rep.AdmitOverEcho[0].Batch != 1 || rep.AdmitOverEcho[1].Batch != o.Batch {
		t.Fatalf("admit over echo: %+v", rep.AdmitOverEcho)
	}
	md, err := os.ReadFile(filepath.Join(o.Out, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compare.md:\n%s", md)
	// Every system has a row in both tables.
	for _, name := range o.Systems {
		if n := strings.Count(string(md), "\n| "+name+" | "); n != 2 {
			t.Fatalf("compare.md has %d rows for %s, want 2:\n%s", n, name, md)
		}
	}
	for _, want := range []string{"## Single scans", fmt.Sprintf("## Batched: %d scans per request", o.Batch), "## Memory and restart", "| n1 | 2000 |", "| holding 2000 tickets |", "max ÷ echo's"} {
		if !strings.Contains(string(md), want) {
			t.Fatalf("compare.md has no %q:\n%s", want, md)
		}
	}
	var back report
	if b, err := os.ReadFile(filepath.Join(o.Out, "compare.json")); err != nil || json.Unmarshal(b, &back) != nil || len(back.Systems) != len(o.Systems) {
		t.Fatalf("compare.json: %v", err)
	}
	if a := back.system("admit"); a == nil || a.Batched == nil || a.Batched.Batch != o.Batch || a.Memory == nil || a.Restart == nil || len(back.AdmitOverEcho) != 2 {
		t.Fatalf("compare.json lost the batched phase, memory, restart or ratios: %+v", a)
	}
	checkPNG(t, filepath.Join(o.Out, "compare.png"))
	checkPNG(t, filepath.Join(o.Out, "compare-batched.png"))
}

// checkPhase checks one phase's counts: warm-up, light, then one ramp step
// and 70 % (or, on a machine too busy to hold even these rates, more):
// which depends on the machine, so only the shape is checked. Every scan
// is decided; every ticket admits once and its other scans are denied
// already_used, except on echo, which admits every scan.
func checkPhase(t *testing.T, name string, p *phaseResult, batched bool, batch int) {
	t.Helper()
	want := 1
	if batched {
		want = batch
	}
	if p.Failed != "" || p.Batch != want || len(p.Steps) < 3 || p.Steps[0].Phase != "warmup" || p.Light == nil || (p.MaxRate > 0) != (p.At70 != nil) {
		t.Fatalf("%s batch %d: failed %q, %d steps, max %.0f", name, p.Batch, p.Failed, len(p.Steps), p.MaxRate)
	}
	var scans, admits, tickets, denied, requests int64
	for _, st := range p.Steps {
		if st.Errors != 0 || st.Decided != st.Scans {
			t.Fatalf("%s batch %d %s: %d errors %v, %d of %d decided", name, p.Batch, st.Phase, st.Errors, st.ErrorSamples, st.Decided, st.Scans)
		}
		scans, admits, tickets, denied = scans+st.Scans, admits+st.Admits, tickets+st.Tickets, denied+st.DenyReasons["already_used"]
		requests += st.Requests
	}
	if requests == 0 || scans != requests*int64(want) {
		t.Fatalf("%s batch %d: %d scans in %d requests", name, p.Batch, scans, requests)
	}
	if name == "echo" {
		if admits != scans {
			t.Fatalf("echo batch %d: %d admits of %d scans", p.Batch, admits, scans)
		}
		return
	}
	if admits != tickets || denied != scans-admits || p.Wrapped {
		t.Fatalf("%s batch %d: %d admits for %d tickets, %d already_used of %d scans, wrapped %v", name, p.Batch, admits, tickets, denied, scans, p.Wrapped)
	}
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
		ph := phaseResult{Batch: 1, MaxRate: max, Light: &l, At70: &a, Steps: []stepResult{l, step("ramp", max, 1, 2), a}}
		batched := ph
		batched.Batch, batched.MaxRate = 100, 4*max
		return systemResult{Name: name, phaseResult: ph, Batched: &batched}
	}
	rep := &report{Load: loadInfo{Tickets: 1000, LightRate: 1000, P99BoundMs: 50, Single: true, Batch: 100}, Systems: []systemResult{
		sys("admit", 20000, 2, 4), sys("echo", 80000, 1, 1), sys("etcd", 5000, 8, 20), {Name: "postgres", Error: "start: no binaries"},
	}}
	rep.Systems[2].Wrapped = true
	rep.Systems[0].Memory = newMemoryResult(1000,
		[]nodeMemory{{Node: "n1", RSS: 50 << 20, HeapInuse: 10 << 20, HeapLive: 8 << 20}},
		[]nodeMemory{{Node: "n1", RSS: 100 << 20, HeapInuse: 60 << 20, HeapLive: 40 << 20}})
	rep.Systems[0].Restart = &restartResult{Node: "n3", Seconds: 1.5, After: nodeMemory{RSS: 90 << 20, HeapInuse: 50 << 20}}
	fillRatios(rep)
	var b strings.Builder
	writeMarkdown(&b, rep)
	md := b.String()
	for _, want := range []string{
		"## Single scans: one scan per request",
		"| admit | 20000 | 0.50 ms / 2.00 ms | 14000 | 1.00 ms / 4.00 ms | 1.00× | 1.00× | 1.00× | 0.25× |",
		"| echo | 80000 | 0.50 ms / 1.00 ms | 56000 | 1.00 ms / 1.00 ms | 4.00× | 0.50× | 0.25× | 1.00× |",
		"| etcd | 5000 | 0.50 ms / 8.00 ms | 3500 | 1.00 ms / 20.0 ms | 0.25× | 4.00× | 5.00× | 0.06× |",
		"| postgres | failed: start: no binaries |",
		"## Batched: 100 scans per request",
		"| admit | 80000 | 0.50 ms / 2.00 ms | 14000 | 1.00 ms / 4.00 ms | 1.00× | 1.00× | 1.00× | 0.25× |",
		"etcd (single scans) ran out of fresh tickets",
		"| n1 | 1000 | 100 MiB | 104858 B | 60 MiB | 62915 B | 40 MiB | 33554 B | 50 MiB / 10 MiB |",
		"| holding 1000 tickets | n3 (follower) | 1.50 s | 90 MiB | 50 MiB |",
	} {
		if !strings.Contains(md, want) {
			t.Fatalf("no %q in\n%s", want, md)
		}
	}
	if r := rep.AdmitOverEcho; len(r) != 2 || r[0].MaxRate != 0.25 || r[1].Batch != 100 || r[1].MaxRate != 0.25 || r[0].P99Light != 2 {
		t.Fatalf("admit over echo: %+v", r)
	}
	if m := rep.Systems[0].Memory.Nodes[0]; m.AddedRSSPerTicket != float64(50<<20)/1000 {
		t.Fatalf("memory: %+v", m)
	}
	for _, batched := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "c.png")
		if err := writeChart(path, rep, batched); err != nil {
			t.Fatal(err)
		}
		checkPNG(t, path)
	}
}

func TestParseMetric(t *testing.T) {
	text := []byte("# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.\n# TYPE go_memstats_heap_inuse_bytes gauge\n" +
		"go_memstats_heap_inuse_bytes_total 1\ngo_memstats_heap_inuse_bytes 1.2345e+07\n")
	if v, err := parseMetric(text, "go_memstats_heap_inuse_bytes"); err != nil || v != 1.2345e7 {
		t.Fatalf("got %v, %v", v, err)
	}
	if _, err := parseMetric(text, "nope"); err == nil {
		t.Fatal("no error for a missing metric")
	}
}

// The echo server's canned replies decode as the gate API's.
func TestEchoReply(t *testing.T) {
	var one gateapi.ScanResponse
	if err := json.Unmarshal(echoReply(1), &one); err != nil || one.Result != "admit" {
		t.Fatalf("single: %+v, %v", one, err)
	}
	var batch gateapi.ScanBatchResponse
	if err := json.Unmarshal(echoReply(100), &batch); err != nil || len(batch.Results) != 100 || batch.Results[99].Result != "admit" {
		t.Fatalf("batch: %d results, %v", len(batch.Results), err)
	}
}

func TestRoundRate(t *testing.T) {
	for in, want := range map[float64]float64{1500: 1500, 2250: 2250, 3375: 3380, 11313.7: 11300, 7.59: 7.59, 0: 0} {
		if got := roundRate(in); got < want*0.9999 || got > want*1.0001 {
			t.Errorf("roundRate(%g) = %g, want %g", in, got, want)
		}
	}
}
