package loadgen

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// The tests run on shared machines under the race detector, so they assert
// counts and shapes, never how fast: what a slower machine can change
// (latencies, achieved rates, ramp verdicts on rate) is logged, and
// checked only for consistency.

// checkLatencyShape checks that latencies were recorded (the histogram is
// not empty) and that the percentiles are ordered: 0 < p50 <= p90 <= p99 <=
// p99.9 <= max, with the mean in (0, max].
func checkLatencyShape(t *testing.T, what string, l Latency) {
	t.Helper()
	t.Logf("%s latency: p50 %.2fms  p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms  mean %.2fms", what, l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	if !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Fatalf("%s latency %+v: want 0 < p50 <= p90 <= p99 <= p99.9 <= max (no latency recorded, or percentiles out of order)", what, l)
	}
	if !(l.Mean > 0 && l.Mean <= l.Max) {
		t.Fatalf("%s latency %+v: mean %.3fms outside (0, max]", what, l, l.Mean)
	}
}

// checkRates checks that the reported rates are the counts over the
// reported duration: achieved = decided / duration, and sent > 0.
func checkRates(t *testing.T, what string, s *Stats) {
	t.Helper()
	t.Logf("%s: %d decided of %d scans over %.3fs: achieved %.1f/s, sent %.1f/s, target %.0f/s",
		what, s.Decided, s.Scans, s.Seconds, s.AchievedRate, s.SentRate, s.TargetRate)
	if s.Seconds <= 0 || s.SentRate <= 0 {
		t.Fatalf("%s: duration %.3fs, sent %.1f/s; want both reported", what, s.Seconds, s.SentRate)
	}
	if want := float64(s.Decided) / s.Seconds; math.Abs(s.AchievedRate-want) > 1e-6*want {
		t.Fatalf("%s: achieved %.3f/s, but %d decided over %.3fs is %.3f/s", what, s.AchievedRate, s.Decided, s.Seconds, want)
	}
}

// checkRamp checks the shape of a ramp: its steps are the first of rates,
// numbered from 1; each step's verdict is what Stats.Held says of its
// numbers; every step but the last held; the ramp stopped at the first
// step that did not hold, or after the last rate; and the result is the
// last step that held. Which step fails first may depend on the machine
// (a step below 90% of its rate fails), so that is left to the caller.
func checkRamp(t *testing.T, rep Report, rates []float64, bound time.Duration) {
	t.Helper()
	if rep.Mode != "ramp" || rep.Stats != nil || rep.Result == nil || len(rep.Steps) == 0 || len(rep.Steps) > len(rates) {
		t.Fatalf("mode %s, %d steps of at most %d, result %+v", rep.Mode, len(rep.Steps), len(rates), rep.Result)
	}
	var held *Stats
	for i := range rep.Steps {
		s := &rep.Steps[i]
		what := fmt.Sprintf("step %d", s.Step)
		checkRates(t, what, s)
		checkLatencyShape(t, what, s.Latency)
		t.Logf("%s verdict: %s", what, s.Verdict)
		if s.Step != i+1 || s.TargetRate != rates[i] {
			t.Fatalf("step %d: number %d, target %.0f/s; want %d, %.0f/s", i+1, s.Step, s.TargetRate, i+1, rates[i])
		}
		if ok, why := s.Held(bound); why != s.Verdict {
			t.Fatalf("%s: verdict %q, but its numbers say %v %q", what, s.Verdict, ok, why)
		}
		if s.Verdict == "ok" {
			held = s
		} else if i != len(rep.Steps)-1 {
			t.Fatalf("%s did not hold (%s) but the ramp went on to step %d", what, s.Verdict, i+2)
		}
	}
	r, last := rep.Result, rep.Steps[len(rep.Steps)-1]
	if last.Verdict == "ok" {
		if len(rep.Steps) != len(rates) || r.StoppedAt != 0 || !strings.Contains(r.StoppedBy, "step limit") {
			t.Fatalf("every one of %d steps held, result %+v; want the ramp to run all %d and stop at the step limit", len(rep.Steps), r, len(rates))
		}
	} else if r.StoppedAt != last.TargetRate || !strings.Contains(r.StoppedBy, fmt.Sprintf("step %d", last.Step)) || !strings.Contains(r.StoppedBy, last.Verdict) {
		t.Fatalf("step %d failed (%s), result %+v; want it named as where the ramp stopped", last.Step, last.Verdict, r)
	}
	var want RampResult
	if held != nil {
		want.MaxRate, want.AchievedRate, want.P99 = held.TargetRate, held.AchievedRate, held.Latency.P99
	}
	if r.MaxRate != want.MaxRate || r.AchievedRate != want.AchievedRate || r.P99 != want.P99 {
		t.Fatalf("result %+v; want the last step that held: max rate %.0f, achieved %.1f, p99 %.2f", r, want.MaxRate, want.AchievedRate, want.P99)
	}
}
