package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the outcome of Run. For a fixed rate the run's Stats sit at the
// top level; a ramp has Steps and Result instead.
type Report struct {
	Mode         string    `json:"mode"` // "fixed" or "ramp"
	Cluster      []string  `json:"cluster"`
	Gate         string    `json:"gate"`
	Gates        int       `json:"gates"`
	ConnsPerGate int       `json:"conns_per_gate"`
	Batch        int       `json:"batch"` // scans per request; 1: POST /v1/scan
	Repeat       int       `json:"repeat"`
	Codes        int       `json:"codes"`             // codes available to scan
	Wrapped      bool      `json:"wrapped,omitempty"` // ran out of fresh tickets and rescanned used ones
	NextSkip     int64     `json:"next_skip"`         // the first code this run did not reach
	Loaded       *LoadInfo `json:"loaded,omitempty"`
	Interrupted  bool      `json:"interrupted,omitempty"`

	*Stats             // fixed rate: the run
	Steps  []Stats     `json:"steps,omitempty"`  // ramp: every step taken
	Result *RampResult `json:"result,omitempty"` // ramp: the answer
}

// LoadInfo says how the tickets were issued (Config.Load).
type LoadInfo struct {
	Issued    int     `json:"issued"`
	Stale     int     `json:"stale"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
}

// Stats are the numbers of one run or ramp step. Scans, errors and retries
// count scans (a failed batch request of 100 is 100 errors).
type Stats struct {
	Step         int               `json:"step,omitempty"`
	TargetRate   float64           `json:"target_rate"`   // scans/s asked for
	AchievedRate float64           `json:"achieved_rate"` // decided scans/s
	SentRate     float64           `json:"sent_rate"`     // scans/s put on the wire
	Seconds      float64           `json:"duration_s"`    // first intended send to last answer
	Requests     int64             `json:"requests"`
	Scans        int64             `json:"scans"`
	Decided      int64             `json:"decided"` // scans that got admit or deny
	Tickets      int64             `json:"tickets"` // tickets scanned for the first time in this run
	Admits       int64             `json:"admits"`
	Denies       int64             `json:"denies"`
	DenyReasons  map[string]int64  `json:"deny_reasons"`
	Rescans      int64             `json:"rescans"` // answers to a retried scan id: the original decision
	Errors       int64             `json:"errors"`  // failed attempts, retried or not
	ErrorKinds   map[string]int64  `json:"error_kinds"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"` // one message per kind
	Retries      int64             `json:"retries"`                 // scans sent again with the same scan id
	Failed       int64             `json:"failed"`                  // scans left without a decision
	Latency      Latency           `json:"latency_ms"`
	Verdict      string            `json:"verdict,omitempty"` // ramp: "ok" or why the step failed
}

// Latency in milliseconds per request, from its intended send time to its
// final answer (retries included).
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// RampResult is the highest rate a ramp held.
type RampResult struct {
	P99Bound     float64 `json:"p99_bound_ms"`
	MaxRate      float64 `json:"max_rate"` // target of the last step that held; 0: none did
	AchievedRate float64 `json:"achieved_rate"`
	P99          float64 `json:"p99_ms"`
	StoppedAt    float64 `json:"stopped_at_rate,omitempty"` // target of the step that failed
	StoppedBy    string  `json:"stopped_by"`
}

// Progress is a live view of the current run or step, about once a second.
type Progress struct {
	Step       int // 0: fixed rate
	Steps      int
	TargetRate float64
	Elapsed    time.Duration
	Scans      int64         // sent so far
	Decided    int64         // answered so far
	Rate       float64       // decided scans/s over the last interval
	P99        time.Duration // over the last interval
	Errors     int64
}

type hdrHist = hdrhistogram.Histogram

// newHist records latencies of 1µs to 60s in µs, 3 significant digits.
func newHist() *hdrHist { return hdrhistogram.New(1, maxLatencyUsec, 3) }

func latencyOf(h *hdrHist) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: float64(int64(h.Mean())) / 1000,
	}
}

// Held says whether a step held its rate: errors at most 1% of its scans,
// p99 at most bound, and at least 90% of the target rate achieved; why is
// "ok" or what failed.
func (s *Stats) Held(bound time.Duration) (ok bool, why string) {
	boundMs := float64(bound) / float64(time.Millisecond)
	switch {
	case s.Scans == 0:
		return false, "nothing sent"
	case float64(s.Errors) > maxErrorShare*float64(s.Scans):
		return false, fmt.Sprintf("errors %.1f%% over %.0f%%", 100*float64(s.Errors)/float64(s.Scans), 100*maxErrorShare)
	case s.Latency.P99 > boundMs:
		return false, fmt.Sprintf("p99 %s over %s", fmtMs(s.Latency.P99), fmtMs(boundMs))
	case s.AchievedRate < minAchieved*s.TargetRate:
		return false, fmt.Sprintf("achieved %.0f/s under %.0f%% of %.0f/s", s.AchievedRate, 100*minAchieved, s.TargetRate)
	}
	return true, "ok"
}

func fmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	default:
		return fmt.Sprintf("%.2fms", ms)
	}
}

func kinds(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func (r *Report) what() string {
	req := "single scans (POST /v1/scan)"
	if r.Batch > 1 {
		req = fmt.Sprintf("batches of %d (POST /v1/scans)", r.Batch)
	}
	return fmt.Sprintf("%s from %d gates x %d conns over %d nodes", req, r.Gates, r.ConnsPerGate, len(r.Cluster))
}

// WriteText prints the report as a table for people.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if r.Loaded != nil {
		fmt.Fprintf(tw, "loaded\t%d tickets (%d already there) in %.1fs, %.0f tickets/s\n", r.Loaded.Issued, r.Loaded.Stale, r.Loaded.Seconds, r.Loaded.PerSecond)
	}
	if r.Stats != nil {
		s := r.Stats
		fmt.Fprintf(tw, "load\t%s\n", r.what())
		fmt.Fprintf(tw, "target\t%.0f scans/s\n", s.TargetRate)
		fmt.Fprintf(tw, "achieved\t%.1f scans/s (sent %.1f/s)\n", s.AchievedRate, s.SentRate)
		fmt.Fprintf(tw, "duration\t%.2fs\n", s.Seconds)
		fmt.Fprintf(tw, "scans\t%d in %d requests, %d tickets, repeat %d\n", s.Scans, s.Requests, s.Tickets, r.Repeat)
		fmt.Fprintf(tw, "admits\t%d\n", s.Admits)
		fmt.Fprintf(tw, "denies\t%d%s\n", s.Denies, kinds(s.DenyReasons))
		fmt.Fprintf(tw, "rescans\t%d\n", s.Rescans)
		fmt.Fprintf(tw, "errors\t%d%s\n", s.Errors, kinds(s.ErrorKinds))
		fmt.Fprintf(tw, "retries\t%d, %d scans failed for good\n", s.Retries, s.Failed)
		l := s.Latency
		fmt.Fprintf(tw, "latency\tp50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max))
		for _, k := range slices.Sorted(maps.Keys(s.ErrorSamples)) {
			fmt.Fprintf(tw, "  %s\te.g. %s\n", k, s.ErrorSamples[k])
		}
	}
	if r.Wrapped {
		fmt.Fprintf(tw, "note\tran out of fresh tickets (%d codes): later scans were of used tickets\n", r.Codes)
	} else {
		fmt.Fprintf(tw, "codes\t%d; fresh tickets for the next run from --skip %d\n", r.Codes, r.NextSkip)
	}
	if r.Interrupted {
		fmt.Fprintln(tw, "note\tinterrupted: the numbers cover the part that ran")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Result == nil {
		return nil
	}
	fmt.Fprintf(w, "ramp: %s\n\n", r.what())
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STEP\tTARGET/s\tACHIEVED/s\tSCANS\tADMITS\tDENIES\tERRORS\tP50\tP90\tP99\tP99.9\tMAX\t  VERDICT\t")
	for _, s := range r.Steps {
		l := s.Latency
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t  %s\t\n", s.Step, s.TargetRate, s.AchievedRate, s.Scans, s.Admits, s.Denies, s.Errors,
			fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max), s.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	res := r.Result
	fmt.Fprintln(w)
	if res.MaxRate == 0 {
		fmt.Fprintf(w, "no step held p99 under %s: %s\n", fmtMs(res.P99Bound), res.StoppedBy)
	} else {
		fmt.Fprintf(w, "highest rate held with p99 under %s: %.0f scans/s (achieved %.0f/s, p99 %s); stopped by %s\n",
			fmtMs(res.P99Bound), res.MaxRate, res.AchievedRate, fmtMs(res.P99), res.StoppedBy)
	}
	for _, s := range r.Steps {
		for _, k := range slices.Sorted(maps.Keys(s.ErrorSamples)) {
			fmt.Fprintf(w, "step %d: %d %s, e.g. %s\n", s.Step, s.ErrorKinds[k], k, s.ErrorSamples[k])
		}
	}
	return nil
}
