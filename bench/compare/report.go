package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// machineInfo says where the numbers come from.
type machineInfo struct {
	CPU          string    `json:"cpu"`
	Cores        int       `json:"cores"`
	MemoryGiB    float64   `json:"memory_gib"`
	Kernel       string    `json:"kernel"`
	Go           string    `json:"go"`
	Date         time.Time `json:"date"`
	LoadAvgStart string    `json:"loadavg_start"`
	LoadAvgEnd   string    `json:"loadavg_end"`
}

func machine() machineInfo {
	m := machineInfo{CPU: "unknown", Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC(), LoadAvgStart: loadAvg()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemoryGiB = float64(int(kb/(1<<20)*10)) / 10
		}
	}
	return m
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// writeReport writes compare.json, compare.md and the charts of the
// phases that ran (compare.png, compare-batched.png) to dir.
func writeReport(dir string, rep *report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fillRatios(rep)
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "compare.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	writeMarkdown(&md, rep)
	if err := os.WriteFile(filepath.Join(dir, "compare.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	for _, c := range []struct {
		file    string
		batched bool
	}{{"compare.png", false}, {"compare-batched.png", true}} {
		for i := range rep.Systems {
			if rep.Systems[i].phase(c.batched) != nil {
				if err := writeChart(filepath.Join(dir, c.file), rep, c.batched); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

func (r *report) system(name string) *systemResult {
	for i := range r.Systems {
		if r.Systems[i].Name == name && r.Systems[i].Error == "" {
			return &r.Systems[i]
		}
	}
	return nil
}

func fmtRate(r float64) string {
	if r <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", r)
}

func fmtLat(s *stepResult) string {
	if s == nil || s.Requests == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s", fmtMs(s.Latency.P50), fmtMs(s.Latency.P99))
}

func fmtMs(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

// ratio is a/b as "0.42×", or "–".
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func p99(s *stepResult) float64 {
	if s == nil || s.Requests == 0 {
		return 0
	}
	return s.Latency.P99
}

// fillRatios works out every phase's max over echo's, and admit's
// numbers over echo's (compare.json's admit_over_echo).
func fillRatios(rep *report) {
	rep.AdmitOverEcho = nil
	for _, batched := range []bool{false, true} {
		var echo *phaseResult
		if e := rep.system("echo"); e != nil {
			echo = e.phase(batched)
		}
		for i := range rep.Systems {
			if p := rep.Systems[i].phase(batched); p != nil {
				p.MaxOverEcho = 0
				if echo != nil && echo.MaxRate > 0 {
					p.MaxOverEcho = p.MaxRate / echo.MaxRate
				}
			}
		}
		a := rep.system("admit")
		if a == nil || echo == nil || a.phase(batched) == nil {
			continue
		}
		ap := a.phase(batched)
		rep.AdmitOverEcho = append(rep.AdmitOverEcho, ceilingRatio{
			Batch: max(ap.Batch, 1), MaxRate: quot(ap.MaxRate, echo.MaxRate), P99Light: quot(p99(ap.Light), p99(echo.Light)),
			P99At70: quot(p99(ap.At70), p99(echo.At70)), AdmitMaxRate: ap.MaxRate, EchoMaxRate: echo.MaxRate,
		})
	}
}

// quot is a/b, or 0 when either is not positive.
func quot(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

// fmtBytes is a size in KiB, MiB or GiB.
func fmtBytes(b int64) string {
	switch {
	case b <= 0:
		return "–"
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
}

func fmtPerTicket(v float64) string {
	if v <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f B", v)
}

// writePhaseTable writes the main table of one phase: one row per system,
// ratios against admit's and echo's.
func writePhaseTable(w io.Writer, rep *report, batched bool) {
	l := rep.Load
	var a, e *phaseResult
	if s := rep.system("admit"); s != nil {
		a = s.phase(batched)
	}
	if s := rep.system("echo"); s != nil {
		e = s.phase(batched)
	}
	fmt.Fprintf(w, "| system | max sustained scans/s | p50 / p99 at %.0f scans/s | at 70 %% of max: scans/s | p50 / p99 at 70 %% | max ÷ admit's | p99 at %.0f/s ÷ admit's | p99 at 70 %% ÷ admit's | max ÷ echo's |\n", l.LightRate, l.LightRate)
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for i := range rep.Systems {
		s := &rep.Systems[i]
		if s.Error != "" {
			fmt.Fprintf(w, "| %s | failed: %s | | | | | | | |\n", s.Name, strings.ReplaceAll(s.Error, "|", "/"))
			continue
		}
		p := s.phase(batched)
		if p == nil {
			continue
		}
		if p.Failed != "" && len(p.Steps) == 0 {
			fmt.Fprintf(w, "| %s | failed: %s | | | | | | | |\n", s.Name, strings.ReplaceAll(p.Failed, "|", "/"))
			continue
		}
		at70 := "–"
		if p.At70 != nil {
			at70 = fmt.Sprintf("%.0f", p.At70.AchievedRate)
		}
		var am, al, a70, em float64
		if a != nil {
			am, al, a70 = a.MaxRate, p99(a.Light), p99(a.At70)
		}
		if e != nil {
			em = e.MaxRate
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Name, fmtRate(p.MaxRate), fmtLat(p.Light), at70, fmtLat(p.At70),
			ratio(p.MaxRate, am), ratio(p99(p.Light), al), ratio(p99(p.At70), a70), ratio(p.MaxRate, em))
	}
	fmt.Fprintln(w)
}

// writeMemoryTable writes admit's memory per node and the restart check.
func writeMemoryTable(w io.Writer, s *systemResult) {
	if s.Memory != nil {
		fmt.Fprintf(w, "| node | tickets | RSS | RSS per ticket | Go heap in use | heap per ticket | live heap after a GC | live heap added per ticket | RSS / heap before loading |\n")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, n := range s.Memory.Nodes {
			if n.Loaded.Error != "" {
				fmt.Fprintf(w, "| %s | %d | failed: %s | | | | | | |\n", n.Node, s.Memory.Tickets, strings.ReplaceAll(n.Loaded.Error, "|", "/"))
				continue
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s / %s |\n", n.Node, s.Memory.Tickets, fmtBytes(n.Loaded.RSS), fmtPerTicket(n.RSSPerTicket),
				fmtBytes(n.Loaded.HeapInuse), fmtPerTicket(n.HeapPerTicket), fmtBytes(n.Loaded.HeapLive), fmtPerTicket(n.AddedLivePerTicket),
				fmtBytes(n.Empty.RSS), fmtBytes(n.Empty.HeapInuse))
		}
		fmt.Fprintln(w)
	}
	if r := s.Restart; r != nil {
		fmt.Fprintln(w, "| restart check | node | SIGKILL to /readyz 200 | RSS after | Go heap after |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|")
		role := "follower"
		if r.WasLeader {
			role = "leader"
		}
		if r.Error != "" {
			fmt.Fprintf(w, "| failed: %s | %s (%s) | | | |\n", strings.ReplaceAll(r.Error, "|", "/"), r.Node, role)
		} else {
			fmt.Fprintf(w, "| holding %d tickets | %s (%s) | %.2f s | %s | %s |\n", memTickets(s), r.Node, role, r.Seconds, fmtBytes(r.After.RSS), fmtBytes(r.After.HeapInuse))
		}
		fmt.Fprintln(w)
	}
}

func memTickets(s *systemResult) int {
	if s.Memory != nil {
		return s.Memory.Tickets
	}
	return 0
}

// writeMarkdown writes the tables for people: compare.md.
func writeMarkdown(w io.Writer, rep *report) {
	l := rep.Load
	mode := "default"
	if rep.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "# admit vs etcd vs PostgreSQL (and echo, the ceiling): check-and-mark scans\n\n")
	fmt.Fprintf(w, "%s run, %s UTC. One machine, one run, one load generator (bench/loadgen, open loop, latency from each request's intended send time), ", mode, rep.Started.Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "the same %d tickets in the same order for every system, one system running at a time. ", l.Tickets)
	fmt.Fprintf(w, "echo is a bare fasthttp server with canned replies: what the load generator, HTTP and loopback alone hold on this machine.\n\n")
	batchedRan := false
	for i := range rep.Systems {
		batchedRan = batchedRan || rep.Systems[i].phase(true) != nil
	}
	singleRan := false
	for i := range rep.Systems {
		singleRan = singleRan || rep.Systems[i].phase(false) != nil || rep.Systems[i].Error != ""
	}
	if singleRan {
		fmt.Fprintf(w, "## Single scans: one scan per request\n\n")
		writePhaseTable(w, rep, false)
	}
	if batchedRan {
		fmt.Fprintf(w, "## Batched: %d scans per request\n\n", l.Batch)
		writePhaseTable(w, rep, true)
	}
	if a := rep.system("admit"); a != nil && (a.Memory != nil || a.Restart != nil) {
		fmt.Fprintf(w, "## Memory and restart: admit, per node\n\n")
		writeMemoryTable(w, a)
	}
	fmt.Fprintf(w, "**Max sustained**: the highest rate a step held: p99 ≤ %s, errors ≤ 1 %%, and at least 90 %% of the rate achieved. ", fmtMs(l.P99BoundMs))
	fmt.Fprintf(w, "Ratios: above 1× means more throughput (max) or more latency (p99) than admit (or echo). ")
	fmt.Fprintf(w, "Rates are scans/s in both tables; latency is per request (a batch's latency is its whole request's). ")
	fmt.Fprintf(w, "Memory: VmRSS of each `admit node` process and its Go heap in use (go_memstats_heap_inuse_bytes) after loading the tickets, over the number of tickets; the live heap is the heap in use right after a GC the probe forces (/debug/pprof/heap?gc=1), and its growth over the empty node per ticket is what a ticket costs; ")
	fmt.Fprintf(w, "restart: one follower killed with SIGKILL after the scan phases and started again on its data, until its /readyz answers 200.\n\n")
	for i := range rep.Systems {
		s := &rep.Systems[i]
		for _, p := range []*phaseResult{s.phase(false), s.phase(true)} {
			if p != nil && p.Wrapped && s.Name != "echo" {
				what := "single scans"
				if p.Batch > 1 {
					what = fmt.Sprintf("batches of %d", p.Batch)
				}
				fmt.Fprintf(w, "**Note:** %s (%s) ran out of fresh tickets (%d) and rescanned used ones: its last steps measured mostly the deny path. Raise --tickets.\n\n", s.Name, what, l.Tickets)
			}
		}
	}
	if singleRan {
		fmt.Fprintf(w, "![latency against throughput, single scans](compare.png)\n\n")
	}
	if batchedRan {
		fmt.Fprintf(w, "![latency against throughput, batched](compare-batched.png)\n\n")
	}

	fmt.Fprintf(w, "## Machine\n\n")
	m := rep.Machine
	fmt.Fprintf(w, "- CPU: %s, %d cores, %.1f GiB memory\n- kernel: %s\n- Go: %s (load generator)\n- date: %s\n- load average at start / end: %s / %s (everything shares these cores: the 3 nodes or members, the load generator)\n- command: `%s`\n\n",
		m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Go, m.Date.Format(time.RFC3339), m.LoadAvgStart, m.LoadAvgEnd, rep.Command)

	fmt.Fprintf(w, "## Load\n\n")
	fmt.Fprintf(w, "- %d simulated gates × %d connections (requests in flight), request timeout %s, no retries\n", l.Gates, l.ConnsPerGate, fmtMs(l.TimeoutMs))
	if l.Single || l.Batch == 0 {
		fmt.Fprintf(w, "- single-scan phase: one scan per request\n")
	}
	if l.Batch > 0 {
		fmt.Fprintf(w, "- batched phase, after the single one on the same running system and fresh tickets: %d scans per request; the same plan with a warm-up of %.0f s and a ramp ×%.3g per step\n", l.Batch, l.BatchWarmupS, l.BatchStepFactor)
	}
	fmt.Fprintf(w, "- each ticket scanned %d times, %d tickets apart: half the scans admit, half are denied already_used\n", l.Repeat, l.RepeatGap)
	again := ""
	if l.Recheck {
		again = " (twice in a row: a failed step is run again)"
	}
	refine := fmt.Sprintf("%d refining steps", l.Refine)
	if l.Refine == 1 {
		refine = "1 refining step"
	}
	fmt.Fprintf(w, "- per system, after loading the tickets, at least %.0f s idle and then until the CPUs are under 15 %% busy: warm-up %.0f s at %.0f/s; %.0f s at %.0f/s (light load); ramp ×%.2g every %.0f s until a step fails%s (at most %d steps); %s between the last rate held and the first failed; %.0f s at 70 %% of the highest rate held\n",
		l.SettleS, l.WarmupS, l.WarmupRate, l.LightS, l.LightRate, l.StepFactor, l.StepS, again, l.MaxSteps, refine, l.At70S)
	fmt.Fprintf(w, "- %.0f s idle after every step that failed, before the next (and, between the phases, at least that long and then until the CPUs are quiet)\n", l.CooldownS)
	if l.RestartCheck {
		fmt.Fprintf(w, "- admit, after its phases: one follower killed with SIGKILL, started again on its data, timed until /readyz answers 200\n")
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "## Systems\n\n")
	for i := range rep.Systems {
		s := &rep.Systems[i]
		fmt.Fprintf(w, "### %s\n\n", s.Name)
		if s.Error != "" {
			fmt.Fprintf(w, "Failed: %s\n\n", s.Error)
			if s.Info.Version == "" {
				continue
			}
		}
		fmt.Fprintf(w, "- version: %s\n- per scan: %s\n- durability: %s\n", s.Info.Version, s.Info.PerScan, s.Info.Durability)
		for _, st := range s.Info.Settings {
			fmt.Fprintf(w, "- %s\n", st)
		}
		fmt.Fprintf(w, "- started in %.1f s, %d tickets loaded in %.1f s, quiet again %.0f s later\n", s.StartSeconds, l.Tickets, s.LoadSeconds, s.SettleSeconds)
		for _, batched := range []bool{false, true} {
			p := s.phase(batched)
			if p == nil {
				continue
			}
			what := "single scans"
			if batched {
				what = fmt.Sprintf("batched (%d scans per request)", p.Batch)
			}
			fmt.Fprintf(w, "- %s: stopped by %s\n", what, orDefault(p.StoppedBy, "–"))
			if p.Failed != "" {
				fmt.Fprintf(w, "- %s failed: %s\n", what, p.Failed)
			}
		}
		fmt.Fprintln(w)
		for _, batched := range []bool{false, true} {
			p := s.phase(batched)
			if p == nil || len(p.Steps) == 0 {
				continue
			}
			if batched {
				fmt.Fprintf(w, "Batched, %d scans per request (rates in scans/s, latency per request):\n\n", p.Batch)
			} else {
				fmt.Fprintf(w, "Single scans:\n\n")
			}
			fmt.Fprintln(w, "| phase | target/s | achieved/s | admits | denies | errors | p50 | p90 | p99 | p99.9 | max | verdict |")
			fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
			for _, st := range p.Steps {
				lt := st.Latency
				fmt.Fprintf(w, "| %s | %.0f | %.0f | %d | %d | %d | %s | %s | %s | %s | %s | %s |\n", st.Phase, st.TargetRate, st.AchievedRate,
					st.Admits, st.Denies, st.Errors, fmtMs(lt.P50), fmtMs(lt.P90), fmtMs(lt.P99), fmtMs(lt.P999), fmtMs(lt.Max), st.Verdict)
			}
			for _, st := range p.Steps {
				for _, k := range slices.Sorted(maps.Keys(st.ErrorSamples)) {
					fmt.Fprintf(w, "\n%s at %.0f/s: %d %s, e.g. `%s`\n", st.Phase, st.TargetRate, st.ErrorKinds[k], k, strings.ReplaceAll(st.ErrorSamples[k], "`", "'"))
				}
			}
			fmt.Fprintln(w)
		}
	}
}
