package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
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

// writeReport writes compare.json, compare.md and compare.png to dir.
func writeReport(dir string, rep *report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
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
	return writeChart(filepath.Join(dir, "compare.png"), rep)
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

// writeMarkdown writes the table for people: compare.md.
func writeMarkdown(w io.Writer, rep *report) {
	l := rep.Load
	mode := "default"
	if rep.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "# admit vs etcd vs PostgreSQL: check-and-mark scans\n\n")
	fmt.Fprintf(w, "%s run, %s UTC. One machine, one run, one load generator (bench/loadgen, open loop, latency from each scan's intended send time), ", mode, rep.Started.Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "the same %d tickets in the same order for every system, one system running at a time.\n\n", l.Tickets)
	a := rep.system("admit")
	fmt.Fprintf(w, "| system | max sustained scans/s | p50 / p99 at %.0f scans/s | at 70 %% of max: scans/s | p50 / p99 at 70 %% | max ÷ admit's | p99 at %.0f/s ÷ admit's | p99 at 70 %% ÷ admit's |\n", l.LightRate, l.LightRate)
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for i := range rep.Systems {
		s := &rep.Systems[i]
		if s.Error != "" {
			fmt.Fprintf(w, "| %s | failed: %s | | | | | | |\n", s.Name, strings.ReplaceAll(s.Error, "|", "/"))
			continue
		}
		at70 := "–"
		if s.At70 != nil {
			at70 = fmt.Sprintf("%.0f", s.At70.AchievedRate)
		}
		var am, al, a70 float64
		if a != nil {
			am, al, a70 = a.MaxRate, p99(a.Light), p99(a.At70)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Name, fmtRate(s.MaxRate), fmtLat(s.Light), at70, fmtLat(s.At70),
			ratio(s.MaxRate, am), ratio(p99(s.Light), al), ratio(p99(s.At70), a70))
	}
	fmt.Fprintf(w, "\n**Max sustained**: the highest rate a step held: p99 ≤ %s, errors ≤ 1 %%, and at least 90 %% of the rate achieved. ", fmtMs(l.P99BoundMs))
	fmt.Fprintf(w, "Ratios: above 1× means more throughput (max) or more latency (p99) than admit.\n\n")
	for i := range rep.Systems {
		s := &rep.Systems[i]
		if s.Wrapped {
			fmt.Fprintf(w, "**Note:** %s ran out of fresh tickets (%d) and rescanned used ones: its last steps measured mostly the deny path. Raise --tickets.\n\n", s.Name, l.Tickets)
		}
	}
	fmt.Fprintf(w, "![latency against throughput](compare.png)\n\n")

	fmt.Fprintf(w, "## Machine\n\n")
	m := rep.Machine
	fmt.Fprintf(w, "- CPU: %s, %d cores, %.1f GiB memory\n- kernel: %s\n- Go: %s (load generator)\n- date: %s\n- load average at start / end: %s / %s (everything shares these cores: the 3 nodes or members, the load generator)\n- command: `%s`\n\n",
		m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Go, m.Date.Format(time.RFC3339), m.LoadAvgStart, m.LoadAvgEnd, rep.Command)

	fmt.Fprintf(w, "## Load\n\n")
	fmt.Fprintf(w, "- %d simulated gates × %d connections (requests in flight), one scan per request, request timeout %s, no retries\n", l.Gates, l.ConnsPerGate, fmtMs(l.TimeoutMs))
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
	fmt.Fprintf(w, "- %.0f s idle after every step that failed, before the next\n\n", l.CooldownS)

	fmt.Fprintf(w, "## Systems\n\n")
	for i := range rep.Systems {
		s := &rep.Systems[i]
		fmt.Fprintf(w, "### %s\n\n", s.Name)
		if s.Error != "" {
			fmt.Fprintf(w, "Failed: %s\n\n", s.Error)
			if len(s.Steps) == 0 {
				continue
			}
		}
		fmt.Fprintf(w, "- version: %s\n- per scan: %s\n- durability: %s\n", s.Info.Version, s.Info.PerScan, s.Info.Durability)
		for _, st := range s.Info.Settings {
			fmt.Fprintf(w, "- %s\n", st)
		}
		fmt.Fprintf(w, "- started in %.1f s, %d tickets loaded in %.1f s, quiet again %.0f s later\n- stopped by: %s\n\n", s.StartSeconds, l.Tickets, s.LoadSeconds, s.SettleSeconds, s.StoppedBy)
		fmt.Fprintln(w, "| phase | target/s | achieved/s | admits | denies | errors | p50 | p90 | p99 | p99.9 | max | verdict |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
		for _, st := range s.Steps {
			lt := st.Latency
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %d | %d | %d | %s | %s | %s | %s | %s | %s |\n", st.Phase, st.TargetRate, st.AchievedRate,
				st.Admits, st.Denies, st.Errors, fmtMs(lt.P50), fmtMs(lt.P90), fmtMs(lt.P99), fmtMs(lt.P999), fmtMs(lt.Max), st.Verdict)
		}
		for _, st := range s.Steps {
			for k, v := range st.ErrorSamples {
				fmt.Fprintf(w, "\n%s at %.0f/s: %d %s, e.g. `%s`\n", st.Phase, st.TargetRate, st.ErrorKinds[k], k, strings.ReplaceAll(v, "`", "'"))
			}
		}
		fmt.Fprintln(w)
	}
}
